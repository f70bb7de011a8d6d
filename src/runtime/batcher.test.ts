import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { DATATYPES, type Datatype, type Tensor } from '../tensor/datatypes.js';
import type { LoadedModel } from './backend.js';
import { DEFAULT_BATCHING, withBatching, type BatchingOptions } from './batcher.js';
import { fixturePath, readExpected, tempFolder } from './fixtures.test-support.js';
import { createOrtBackend } from './onnx/ort-backend.js';
import { sampleTensor, sharedBatchModel, tinyModel } from './onnx/tiny-onnx.test-support.js';

const backend = createOrtBackend();
const options = (overrides: Partial<BatchingOptions> = {}): BatchingOptions => ({ ...DEFAULT_BATCHING, ...overrides });

async function rejection(promise: Promise<unknown>): Promise<SlipwayError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SlipwayError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** Rows [from, from + n) of a [N, k] tensor. */
function rows(t: Tensor, from: number, n: number): Tensor {
  const k = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const data = Array.isArray(t.data)
    ? t.data.slice(from * k, (from + n) * k)
    : (t.data as Float32Array).slice(from * k, (from + n) * k);
  return { ...t, shape: [n, ...t.shape.slice(1)], data };
}

describe('dynamic batcher on real models', () => {
  let cancer: LoadedModel;
  let folder: Awaited<ReturnType<typeof tempFolder>>;

  beforeAll(async () => {
    cancer = await backend.load({ path: fixturePath('breast_cancer.onnx') });
    folder = await tempFolder();
  });
  afterAll(async () => {
    await cancer.release();
    await folder.dispose();
  });

  it('gives many concurrent requests of different sizes the same results as unbatched runs, in fewer runs', async () => {
    const expected = await readExpected('breast_cancer');
    const input = expected.inputs[0]!;
    const requests = Array.from({ length: 300 }, (_, i) => {
      const n = 1 + (i % 4);
      return [rows(input, i % (20 - n), n)];
    });
    const unbatched: Tensor[][] = [];
    for (const r of requests) unbatched.push(await cancer.run(r, []));
    const batcher = withBatching(cancer, options({ maxBatchSize: 32 }), false);
    const batched = await Promise.all(requests.map((r) => batcher.run(r, [])));
    batched.forEach((outputs, i) => {
      const want = unbatched[i]!;
      expect(outputs.map((o) => [o.name, o.shape])).toEqual(want.map((o) => [o.name, o.shape]));
      expect(Array.from(outputs[0]!.data as BigInt64Array)).toEqual(Array.from(want[0]!.data as BigInt64Array));
      const got = outputs[1]!.data as Float32Array;
      (want[1]!.data as Float32Array).forEach((v, j) => expect(Math.abs(got[j]! - v)).toBeLessThanOrEqual(1e-6));
    });
    const stats = batcher.stats();
    expect(stats.requests).toBe(300);
    expect(stats.rows).toBe(requests.reduce((n, r) => n + r[0]!.shape[0]!, 0));
    expect(stats.runs).toBeLessThan(40);
    expect(stats.queued).toBe(0);
  });

  it('keeps requests with different inner dimensions and datatypes apart and splits outputs exactly', async () => {
    const anyWidth = (datatype: Datatype) =>
      tinyModel({
        nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
        inputs: [{ name: 'x', type: { tensor: datatype, shape: ['N', 'M'] } }],
        outputs: [{ name: 'y', type: { tensor: datatype, shape: ['N', 'M'] } }],
      });
    for (const datatype of DATATYPES) {
      const model = await backend.load({ path: await folder.write(`id-${datatype}.onnx`, anyWidth(datatype)) });
      const batcher = withBatching(model, options(), false);
      const sample = sampleTensor(datatype); // [3, 2]
      const wide: Tensor = { ...sample, shape: [2, 3] };
      const requests = Array.from({ length: 12 }, (_, i) => (i % 3 === 2 ? wide : rows(sample, i % 3, 1 + (i % 2))));
      const results = await Promise.all(requests.map((r) => batcher.run([r], [])));
      results.forEach(([y], i) => {
        expect(y!.shape, datatype).toEqual(requests[i]!.shape);
        expect(Array.from(y!.data as ArrayLike<unknown>), datatype).toEqual(
          Array.from(requests[i]!.data as ArrayLike<unknown>),
        );
      });
      expect(batcher.stats().runs, datatype).toBeLessThan(12);
      await batcher.release();
    }
  });

  it('refuses requests beyond maxQueueSize with RESOURCE_EXHAUSTED and a retry hint', async () => {
    const batcher = withBatching(cancer, options({ maxQueueSize: 2 }), false);
    const input = (await readExpected('breast_cancer')).inputs[0]!;
    const calls = Array.from({ length: 5 }, () => batcher.run([rows(input, 0, 1)], []));
    const settled = await Promise.allSettled(calls);
    const refused = settled.filter((s) => s.status === 'rejected').map((s) => s.reason as SlipwayError);
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(2);
    expect(refused.map((e) => [e.code, e.retryAfterSeconds])).toEqual([
      ['RESOURCE_EXHAUSTED', 1],
      ['RESOURCE_EXHAUSTED', 1],
      ['RESOURCE_EXHAUSTED', 1],
    ]);
    expect(refused[0]!.message).toMatch(/queue for this model is full \(2 requests waiting\)/);
    expect(batcher.stats().rejected).toBe(3);
  });

  it('expires a request whose timeout passes while it waits', async () => {
    const batcher = withBatching(cancer, options(), false);
    const input = (await readExpected('breast_cancer')).inputs[0]!;
    const late = batcher.run([rows(input, 0, 1)], [], { deadline: performance.now() + 0.5 });
    const onTime = batcher.run([rows(input, 1, 1)], []);
    const until = performance.now() + 2;
    while (performance.now() < until) {
      // hold the event loop past the first request's deadline before the queue drains
    }
    const error = await rejection(late);
    expect(error.code).toBe('DEADLINE_EXCEEDED');
    expect((await onTime).map((t) => t.name)).toEqual(['label', 'probabilities']);
    expect(batcher.stats().expired).toBe(1);
  });

  it('drops a request whose client went away before it ran', async () => {
    const batcher = withBatching(cancer, options(), false);
    const input = (await readExpected('breast_cancer')).inputs[0]!;
    const controller = new AbortController();
    const gone = batcher.run([rows(input, 0, 1)], [], { signal: controller.signal });
    controller.abort();
    expect((await rejection(gone)).code).toBe('CANCELLED');
    await new Promise((resolve) => setImmediate(resolve));
    expect(batcher.stats()).toMatchObject({ cancelled: 1, runs: 0, queued: 0 });
  });

  it('serves higher priority first and validates the level', async () => {
    const batcher = withBatching(cancer, options({ maxBatchSize: 1 }), false);
    const input = (await readExpected('breast_cancer')).inputs[0]!;
    const order: string[] = [];
    const call = (name: string, priority?: number) =>
      batcher.run([rows(input, 0, 1)], [], { priority }).then(() => order.push(name));
    await Promise.all([call('low-1'), call('low-2'), call('high', 1)]);
    expect(order).toEqual(['high', 'low-1', 'low-2']);
    expect((await rejection(batcher.run([rows(input, 0, 1)], [], { priority: 7 }))).message).toMatch(
      /priority must be an integer from 1 \(highest\) to 2, got 7/,
    );
  });

  it('waits up to maxQueueDelayMicros for a fuller batch when asked to', async () => {
    const batcher = withBatching(cancer, options({ maxQueueDelayMicros: 50_000 }), false);
    const input = (await readExpected('breast_cancer')).inputs[0]!;
    const first = batcher.run([rows(input, 0, 1)], []);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = batcher.run([rows(input, 1, 1)], []);
    await Promise.all([first, second]);
    expect(batcher.stats()).toMatchObject({ runs: 1, requests: 2 });
  });
});

describe('a bad request does not fail the requests batched with it (issue 14 section 3)', () => {
  const pair = (n: number, m = n, first = 0): Tensor[] => [
    { name: 'a', datatype: 'FP32', shape: [n, 3], data: Float32Array.from({ length: n * 3 }, (_, i) => first + i) },
    { name: 'b', datatype: 'FP32', shape: [m, 2], data: Float32Array.from({ length: m * 2 }, (_, i) => -first - i) },
  ];

  it('inputs disagreeing on the shared batch dimension fail alone, naming both inputs', async () => {
    const folder = await tempFolder();
    const model = await backend.load({ path: await folder.write('pair.onnx', sharedBatchModel()) });
    try {
      const batcher = withBatching(model, options(), false);
      const [good1, bad, good2] = await Promise.allSettled([
        batcher.run(pair(1, 1, 100), []),
        batcher.run(pair(2, 3), []),
        batcher.run(pair(2, 2, 200), []),
      ]);
      expect(bad).toMatchObject({
        status: 'rejected',
        reason: {
          code: 'INVALID_ARGUMENT',
          message: 'input "b": dimension 0 ("N") is 3, but input "a" has 2 there; inputs sharing "N" must agree',
        },
      });
      const values = (r: PromiseSettledResult<Tensor[]>): unknown =>
        r.status === 'fulfilled'
          ? r.value.map((t) => [t.name, t.shape, Array.from(t.data as Float32Array)])
          : (r.reason as unknown);
      expect(values(good1)).toEqual([
        ['ya', [1, 3], [100, 101, 102]],
        ['yb', [1, 2], [-100, -101]],
      ]);
      expect(values(good2)).toEqual([
        ['ya', [2, 3], [200, 201, 202, 203, 204, 205]],
        ['yb', [2, 2], [-200, -201, -202, -203]],
      ]);
    } finally {
      await model.release();
      await folder.dispose();
    }
  });

  it('a request the model refuses inside a shared run is retried alone; the others get their outputs', async () => {
    const runs: number[] = [];
    // Refuses any row holding NaN, as ORT refuses values it cannot use; otherwise y = x.
    const model: LoadedModel = {
      signature: {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1] }],
        outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
      },
      run: (inputs) => {
        const x = inputs[0]!;
        runs.push(x.shape[0]!);
        if (Array.from(x.data as Float32Array).some(Number.isNaN))
          return Promise.reject(new SlipwayError('INVALID_ARGUMENT', 'input "x": the model refused it: NaN'));
        return Promise.resolve([{ ...x, name: 'y' }]);
      },
      release: () => Promise.resolve(),
    };
    const batcher = withBatching(model, options(), false);
    const x = (v: number): Tensor[] => [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: Float32Array.of(v) }];
    const first = batcher.run(x(0), []); // all four are queued in this turn and share one run
    const settled = await Promise.allSettled([
      first,
      batcher.run(x(1), []),
      batcher.run(x(Number.NaN), []),
      batcher.run(x(3), []),
    ]);
    expect(
      settled.map((r) =>
        r.status === 'fulfilled' ? Array.from(r.value[0]!.data as Float32Array) : (r.reason as Error).message,
      ),
    ).toEqual([[0], [1], 'input "x": the model refused it: NaN', [3]]);
    expect(runs).toEqual([4, 1, 1, 1, 1]); // the shared run, then each request alone
  });
});
