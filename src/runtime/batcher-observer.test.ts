import { describe, expect, it } from 'vitest';
import type { Tensor } from '../tensor/datatypes.js';
import type { LoadedModel } from './backend.js';
import { DEFAULT_BATCHING, withBatching } from './batcher.js';

/** Echoes `x` as `y` after 5 ms; refuses a run holding a NaN, so a batch with one fails as a whole. */
const echo: LoadedModel = {
  signature: {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
  },
  async run(inputs: readonly Tensor[]): Promise<Tensor[]> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    const x = inputs[0] as Tensor;
    if (Array.from(x.data as Float32Array).some(Number.isNaN)) throw new Error('NaN input');
    return [{ name: 'y', datatype: 'FP32', shape: x.shape, data: x.data }];
  },
  release: () => Promise.resolve(),
};

const input = (...values: number[]): Tensor[] => [
  { name: 'x', datatype: 'FP32', shape: [values.length, 1], data: Float32Array.from(values) },
];

describe('the batcher observer', () => {
  it('reports each successful run with its rows, requests and compute ms, before the requests resolve', async () => {
    const runs: [number, number, number][] = [];
    const batcher = withBatching(echo, DEFAULT_BATCHING, false, (rows, requests, ms) =>
      runs.push([rows, requests, ms]),
    );
    const first = batcher.run(input(1), []);
    await new Promise((resolve) => setImmediate(resolve));
    // Queued while the first run is in flight: one run of 1 + 2 + 3 rows.
    const rest = [batcher.run(input(2), []), batcher.run(input(3, 4), []), batcher.run(input(5, 6, 7), [])];
    const seenAtResolve = await Promise.all([first, ...rest].map((p) => p.then(() => runs.length)));
    expect(runs.map(([rows, requests]) => [rows, requests])).toEqual([
      [1, 1],
      [6, 3],
    ]);
    for (const [, , ms] of runs) expect(ms).toBeGreaterThanOrEqual(4);
    expect(seenAtResolve).toEqual([1, 2, 2, 2]);
    expect(batcher.stats().runs).toBe(2);
  });

  it('leaves a failed batch out and reports each request that then succeeds on its own', async () => {
    const runs: [number, number][] = [];
    const batcher = withBatching(echo, DEFAULT_BATCHING, false, (rows, requests) => runs.push([rows, requests]));
    const first = batcher.run(input(1), []);
    await new Promise((resolve) => setImmediate(resolve));
    const results = await Promise.allSettled([
      first,
      batcher.run(input(2, 3), []),
      batcher.run(input(Number.NaN), []),
      batcher.run(input(4), []),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(runs).toEqual([
      [1, 1],
      [2, 1],
      [1, 1],
    ]);
  });
});
