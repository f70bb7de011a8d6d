import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { readOnnxModel } from '../../registry/onnx/read-onnx.js';
import { decodeModel, ElementType } from '../onnx/model-proto.js';
import { fp16Pass } from './fp16.js';
import { contextFor, modelBytes, readTable, runModel } from './passes.test-support.js';

/** Largest |candidate - parent| over the parent's largest magnitude (a relative error for the whole output). */
function relativeDiff(candidate: readonly number[], parent: readonly number[]): number {
  const scale = Math.max(...parent.map(Math.abs), 1e-6);
  let max = 0;
  for (let i = 0; i < parent.length; i++) max = Math.max(max, Math.abs(candidate[i]! - parent[i]!) / scale);
  return max;
}

describe('fp16Pass', () => {
  for (const [file, table] of [
    ['breast_cancer.onnx', 'breast_cancer_test.csv'],
    ['digits_mlp_wide.onnx', 'digits_test.csv'],
  ] as const) {
    it(`${file}: outputs within 1e-2 relative, FLOAT initializers halved, signature unchanged`, async () => {
      const bytes = modelBytes(file);
      const rows = readTable(table);
      const pass = fp16Pass();
      const candidate = await pass.apply(bytes, contextFor(bytes));
      expect(readOnnxModel(candidate).signature).toEqual(readOnnxModel(bytes).signature);

      const before = decodeModel(bytes).graph.initializer.filter((t) => t.dataType === ElementType.FLOAT);
      const after = decodeModel(candidate).graph.initializer;
      expect(after.filter((t) => t.dataType === ElementType.FLOAT)).toHaveLength(0);
      for (const t of before) {
        const half = after.find((h) => h.name === `${t.name}_fp16`)!;
        expect(half.dataType).toBe(ElementType.FLOAT16);
        expect(half.rawData!.byteLength * 2).toBe(t.rawData!.byteLength);
      }
      expect(pass.settings).toMatchObject({ compute: 'fp32', converted: before.length, keptFloat: [] });

      const dims = [rows.rows, rows.width];
      const parent = await runModel(bytes, rows.features, dims);
      const out = await runModel(candidate, rows.features, dims);
      expect(relativeDiff(out.probabilities!, parent.probabilities!)).toBeLessThan(1e-2);
      expect(out.label!.filter((l, i) => l === parent.label![i]).length / rows.rows).toBeGreaterThanOrEqual(0.99);
    });
  }

  it('digits_mlp_wide: the file is about half the size and ONNX Runtime folds the weight Casts at load', async () => {
    const bytes = modelBytes('digits_mlp_wide.onnx');
    const candidate = await fp16Pass().apply(bytes, contextFor(bytes));
    expect(candidate.byteLength / bytes.byteLength).toBeLessThan(0.51);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fp16-'));
    try {
      const file = path.join(dir, 'loaded.onnx');
      const session = await ort.InferenceSession.create(candidate, {
        logSeverityLevel: 3,
        graphOptimizationLevel: 'basic',
        optimizedModelFilePath: file,
      });
      await session.release();
      const loaded = decodeModel(readFileSync(file)).graph;
      expect(loaded.node.map((n) => n.opType)).not.toContain('Cast');
      expect(loaded.initializer.find((t) => t.name === 'W2')?.dataType).toBe(ElementType.FLOAT);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses compute 'fp16' and unknown settings by name", () => {
    expect(() => fp16Pass({ compute: 'fp16' } as never)).toThrow(/"compute" must be 'fp32'.*no FP16 kernels/);
    expect(() => fp16Pass({ keepIo: true } as never)).toThrow(/no setting "keepIo"/);
  });
});
