import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readOnnxModel } from '../../registry/onnx/read-onnx.js';
import { decodeModel } from '../onnx/model-proto.js';
import { graphOptimizationPass, GRAPH_LEVELS } from './graph-optimize.js';
import { maxAbsDiff, modelBytes, readTable, runModel } from './passes.test-support.js';

const workDir = mkdtempSync(path.join(os.tmpdir(), 'graph-pass-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function context(bytes: Uint8Array) {
  return { signature: readOnnxModel(bytes).signature, workDir, progress: () => {} };
}

describe('graphOptimizationPass', () => {
  for (const [file, table] of [
    ['digits_mlp_wide.onnx', 'digits_test.csv'],
    ['breast_cancer.onnx', 'breast_cancer_test.csv'],
  ] as const) {
    it(`${file}: every level loads and gives the parent's outputs within 1e-5`, async () => {
      const bytes = modelBytes(file);
      const rows = readTable(table);
      const dims = [rows.rows, rows.width];
      const parent = await runModel(bytes, rows.features, dims);
      for (const level of GRAPH_LEVELS) {
        const pass = graphOptimizationPass({ level });
        expect(pass.settings).toEqual({ level, portable: level === 'basic' });
        const candidate = await pass.apply(bytes, context(bytes));
        const out = await runModel(candidate, rows.features, dims);
        expect(maxAbsDiff(out.probabilities!, parent.probabilities!)).toBeLessThanOrEqual(1e-5);
        expect(out.label).toEqual(parent.label);
      }
    });
  }

  it("digits_mlp_wide at 'all': a different graph (fused nodes), no temporary file left", async () => {
    const bytes = modelBytes('digits_mlp_wide.onnx');
    const candidate = await graphOptimizationPass({ level: 'all' }).apply(bytes, context(bytes));
    const before = decodeModel(bytes).graph.node.map((n) => n.opType);
    const after = decodeModel(candidate).graph.node.map((n) => `${n.domain ? `${n.domain}.` : ''}${n.opType}`);
    expect(before.filter((t) => t === 'MatMul')).toHaveLength(3);
    expect(after).not.toContain('MatMul');
    expect(after.length).toBeLessThan(before.length);
    expect(Buffer.compare(Buffer.from(candidate), Buffer.from(bytes))).not.toBe(0);
    expect(readOnnxModel(candidate).signature).toEqual(readOnnxModel(bytes).signature);
    expect(readdirSync(workDir)).toEqual([]);
  });

  it('refuses an unknown level or setting by name', () => {
    expect(() => graphOptimizationPass({ level: 'max' } as never)).toThrow(
      /"level" must be one of basic, extended, all/,
    );
    expect(() => graphOptimizationPass({ lvl: 'all' } as never)).toThrow(/no setting "lvl"/);
  });
});
