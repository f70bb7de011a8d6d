import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { SESSION_DEFAULTS } from '../runtime/onnx/session-settings.js';
import type { Signature } from '../tensor/datatypes.js';
import { fixtureBytes } from '../testing/fixtures.js';
import { readEvalSet } from './eval-set.js';
import { defaultTuneGrid, TUNE_MIN_GAIN, tuneSessionSettings, TUNE_TOLERANCE } from './tune.js';

const CANCER_TEST = fileURLToPath(new URL('../../fixtures/optimize/breast_cancer_test.csv', import.meta.url));

const SIGNATURE: Signature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 30] }],
  outputs: [
    { name: 'label', datatype: 'INT64', shape: [-1] },
    { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
  ],
};

describe('tuneSessionSettings', () => {
  it('the default grid covers threads 1/2/cores, both execution modes, extended/all and memory pattern on/off', () => {
    const grid = defaultTuneGrid(4);
    expect(grid).toHaveLength(3 * 2 * 2 * 2);
    expect(new Set(grid.map((g) => g.intraOpThreads))).toEqual(new Set([1, 2, 4]));
    expect(grid.filter((g) => g.executionMode === 'parallel').every((g) => (g.interOpThreads ?? 1) > 1)).toBe(true);
    expect(defaultTuneGrid(2)).toHaveLength(2 * 2 * 2 * 2);
  });

  it('on breast_cancer: every grid row measured at both batch sizes, the winner keeps outputs equal to the default', async () => {
    const bytes = fixtureBytes('breast_cancer.onnx');
    const sampleFeeds = await readEvalSet(CANCER_TEST, SIGNATURE, { purpose: 'data', labelColumn: 'label' });
    const result = await tuneSessionSettings({
      bytes,
      signature: SIGNATURE,
      sampleFeeds,
      rounds: 3,
      batchSizes: [1, 64],
    });
    expect(result.rows).toHaveLength(defaultTuneGrid().length);
    expect(result.batchSizes).toEqual([1, 64]);
    expect(result.baseline).toEqual(SESSION_DEFAULTS);
    for (const row of result.rows) {
      expect(row.timings.map((t) => t.batchSize)).toEqual([1, 64]);
      for (const t of row.timings) {
        expect(t.msPerRun).toBeGreaterThan(0);
        expect(t.defaultMsPerRun).toBeGreaterThan(0);
        expect(t.speedup).toBeCloseTo(t.defaultMsPerRun / t.msPerRun, 9);
      }
      const geo = Math.sqrt(row.timings[0]!.speedup * row.timings[1]!.speedup);
      expect(row.speedup).toBeCloseTo(geo, 9);
    }
    const faster = result.rows.filter(
      (r) => r.outputsEqual && r.speedup >= TUNE_MIN_GAIN && r.timings.every((t) => t.speedup >= 1),
    );
    expect(result.best.outputsEqual).toBe(true);
    if (faster.length > 0) expect(result.best.speedup).toBe(Math.max(...faster.map((r) => r.speedup)));
    else expect(result.best.settings).toEqual(SESSION_DEFAULTS);

    // Independently: the winning setting's outputs on every held-out row equal the default session's.
    const rows = sampleFeeds.inputs.input!.data as Float32Array;
    const feeds = { input: new ort.Tensor('float32', rows.slice(), [sampleFeeds.rowCount, 30]) };
    const s = result.best.settings;
    const winner = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: s.intraOpThreads,
      interOpNumThreads: s.interOpThreads,
      executionMode: s.executionMode,
      graphOptimizationLevel: s.graphOptimizationLevel,
      enableCpuMemArena: s.enableCpuMemArena,
      enableMemPattern: s.enableMemPattern,
    });
    const reference = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const [a, b] = [await winner.run(feeds), await reference.run(feeds)];
    expect(Array.from(a.label!.data as BigInt64Array)).toEqual(Array.from(b.label!.data as BigInt64Array));
    const pa = a.probabilities!.data as Float32Array;
    const pb = b.probabilities!.data as Float32Array;
    expect(Math.max(...pa.map((v, i) => Math.abs(v - pb[i]!)))).toBeLessThanOrEqual(TUNE_TOLERANCE);
    await winner.release();
    await reference.release();
  }, 20_000);

  it('without sample rows it runs 128 synthetic ones, caps batch sizes at them, and refuses bad rounds', async () => {
    const bytes = fixtureBytes('breast_cancer.onnx');
    // A baseline of graph level "disabled" against one "all" row: the graph rewrites keep the outputs.
    const result = await tuneSessionSettings({
      bytes,
      signature: SIGNATURE,
      rounds: 2,
      batchSizes: [1, 500],
      grid: [{ graphOptimizationLevel: 'all' }],
      baseline: { graphOptimizationLevel: 'disabled' },
    });
    expect(result.sampleRows).toBe(128);
    expect(result.batchSizes).toEqual([1, 128]);
    expect(result.rows).toHaveLength(1);
    expect(result.rows[0]!.outputsEqual).toBe(true);
    await expect(tuneSessionSettings({ bytes, signature: SIGNATURE, rounds: 0 })).rejects.toThrow(
      'rounds must be an integer from 1 to 1000, got 0',
    );
  });
});
