import { describe, expect, it } from 'vitest';
import { decodeModel, type OnnxModel } from '../onnx/model-proto.js';
import { readFloats } from '../onnx/tensor-proto.js';
import { agreement, contextFor, digitsWide, maxAbsDiff, modelBytes, runModel } from './passes.test-support.js';
import { magnitudePruningPass, zeroSmallest } from './prune-magnitude.js';

const zerosOf = (model: OnnxModel, name: string): { zeros: number; total: number } => {
  const values = readFloats(model.graph.initializer.find((t) => t.name === name)!);
  return { zeros: values.filter((v) => v === 0).length, total: values.length };
};

describe('magnitudePruningPass', () => {
  // Measured on fixtures/optimize/digits_test.csv (parent accuracy 0.9733): 0.5 -> 0.9578 (max |dp| 0.42),
  // 0.9 -> 0.8489 (max |dp| 0.87). The bounds leave a little room below those figures.
  for (const [sparsity, minAccuracy, maxProbDiff] of [
    [0.5, 0.95, 0.5],
    [0.9, 0.83, 1],
  ] as const) {
    it(`digits_mlp_wide at ${sparsity}: exactly floor(${sparsity} * n) zeros per weight, biases unchanged, accuracy >= ${minAccuracy}`, async () => {
      const { bytes, table, parent } = await digitsWide();
      const pass = magnitudePruningPass({ sparsity });
      const candidate = await pass.apply(bytes, contextFor(bytes));
      const before = decodeModel(bytes);
      const after = decodeModel(candidate);
      for (const w of ['W1', 'W2', 'W3']) {
        const { zeros, total } = zerosOf(after, w);
        expect(zeros).toBe(Math.floor(sparsity * total));
        expect(zerosOf(before, w).zeros).toBe(0);
      }
      for (const b of ['b1', 'b2', 'b3', 'pixel_max']) {
        const original = before.graph.initializer.find((t) => t.name === b)!;
        const kept = after.graph.initializer.find((t) => t.name === b)!;
        expect(Array.from(readFloats(kept))).toEqual(Array.from(readFloats(original)));
      }
      // The survivors keep their values; every zeroed weight was no larger than any survivor.
      const w2 = readFloats(before.graph.initializer.find((t) => t.name === 'W2')!);
      const p2 = readFloats(after.graph.initializer.find((t) => t.name === 'W2')!);
      let largestZeroed = 0;
      let smallestKept = Infinity;
      let changedSurvivors = 0;
      for (let i = 0; i < w2.length; i++)
        if (p2[i] === 0) largestZeroed = Math.max(largestZeroed, Math.abs(w2[i]!));
        else {
          if (p2[i] !== w2[i]) changedSurvivors++;
          smallestKept = Math.min(smallestKept, Math.abs(w2[i]!));
        }
      expect(changedSurvivors).toBe(0);
      expect(largestZeroed).toBeLessThanOrEqual(smallestKept);
      expect(pass.settings).toMatchObject({ sparsity, opTypes: ['MatMul', 'Gemm', 'Conv'], scope: 'per-tensor' });

      const out = await runModel(candidate, table.features, [table.rows, table.width]);
      const accuracy = agreement(out.label!, table.labels);
      const diff = maxAbsDiff(out.probabilities!, parent.probabilities!);
      console.log(
        `prune-magnitude ${sparsity}: accuracy ${accuracy.toFixed(4)} (parent 0.9733), max |dp| ${diff.toFixed(4)}`,
      );
      expect(accuracy).toBeGreaterThanOrEqual(minAccuracy);
      expect(diff).toBeLessThanOrEqual(maxProbDiff);
      expect(diff).toBeGreaterThan(0);
    });
  }

  it("scope 'global': floor(sparsity * total) zeros over all weights together", async () => {
    const bytes = modelBytes('digits_mlp_wide.onnx');
    const after = decodeModel(
      await magnitudePruningPass({ sparsity: 0.7, scope: 'global' }).apply(bytes, contextFor(bytes)),
    );
    const counts = ['W1', 'W2', 'W3'].map((w) => zerosOf(after, w));
    const total = counts.reduce((n, c) => n + c.total, 0);
    expect(counts.reduce((n, c) => n + c.zeros, 0)).toBe(Math.floor(0.7 * total));
    // One threshold: the layers end up with different sparsities.
    expect(new Set(counts.map((c) => (c.zeros / c.total).toFixed(3))).size).toBeGreaterThan(1);
  });

  it('zeroSmallest breaks ties by position, so the count is exact', () => {
    const a = Float32Array.from([1, -1, 0.5, 1, -2]);
    expect(zeroSmallest([a], 3)).toBe(3);
    expect(Array.from(a)).toEqual([0, 0, 0, 1, -2]);
    const b = Float32Array.from([3, 3]);
    const c = Float32Array.from([3, 1]);
    zeroSmallest([b, c], 2);
    expect([...b, ...c]).toEqual([0, 3, 3, 0]);
  });

  it('refuses sparsity outside (0, 1), unknown settings, and a model with nothing to prune', async () => {
    for (const sparsity of [0, 1, -0.1, 1.5, Number.NaN])
      expect(() => magnitudePruningPass({ sparsity })).toThrow(/"sparsity" must be a number in \(0, 1\)/);
    expect(() => magnitudePruningPass({ sparsity: 0.5, scope: 'layer' } as never)).toThrow(/"scope" must be one of/);
    expect(() => magnitudePruningPass({ sparsity: 0.5, amount: 1 } as never)).toThrow(/no setting "amount"/);
    const bytes = modelBytes('wine_forest.onnx');
    await expect(magnitudePruningPass({ sparsity: 0.5 }).apply(bytes, contextFor(bytes))).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
    });
  });
});
