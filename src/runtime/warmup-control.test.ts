/**
 * Warm-up under the user's control, in the model pool with the real ONNX Runtime backend: the plan
 * per key (`none`, `generated`, a request run `count` times), the generated default that fails but
 * loads with a warning, a user request that fails and refuses the load (UNAVAILABLE naming the
 * cause, answered from memory for `failedLoadRetryMs`), and the log lines of those events.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import type { Tensor } from '../tensor/datatypes.js';
import type { Backend } from './backend.js';
import { fixturePath, readExpected, tempFolder } from './fixtures.test-support.js';
import { ModelPool, isLoadFailure, poolEventLine, type ModelKey, type PoolEvent } from './model-pool.js';
import { createOrtBackend } from './onnx/ort-backend.js';
import { failsOnZerosModel } from './onnx/tiny-onnx.test-support.js';
import type { WarmupPlan } from './warmup.js';

const ort = createOrtBackend();
let temp: Awaited<ReturnType<typeof tempFolder>>;
let reshapePath: string;
let cancerRow: number[];
/** scikit-learn's label for `cancerRow`. */
let cancerLabel: number;
beforeAll(async () => {
  temp = await tempFolder();
  reshapePath = await temp.write('reshape.onnx', failsOnZerosModel());
  const expected = await readExpected('breast_cancer');
  cancerRow = Array.from(expected.inputs[0]!.data as Float32Array).slice(0, 30);
  cancerLabel = Number(expected.outputs.find((o) => o.name === 'label')!.data[0]);
});
afterAll(() => temp.dispose());

const pools: ModelPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

/** The real ORT backend, recording the inputs of every run of every model it loads. */
function recordingBackend(): { backend: Backend; runs: Tensor[][] } {
  const runs: Tensor[][] = [];
  const backend: Backend = {
    name: ort.name,
    capabilities: ort.capabilities,
    load: async (options) => {
      const model = await ort.load(options);
      return {
        signature: model.signature,
        run: (inputs, names, runOptions) => {
          runs.push([...inputs]);
          return model.run(inputs, names, runOptions);
        },
        release: () => model.release(),
      };
    },
  };
  return { backend, runs };
}

interface Setup {
  readonly pool: ModelPool;
  readonly events: PoolEvent[];
  readonly runs: Tensor[][];
  /** Each model's file and warm-up plan, by model name (changeable between loads). */
  readonly models: Map<string, { path: string; plan?: WarmupPlan }>;
  /** The pool's clock, in ms; tests move it. */
  readonly clock: { now: number };
}

function setup(): Setup {
  const { backend, runs } = recordingBackend();
  const events: PoolEvent[] = [];
  const models = new Map<string, { path: string; plan?: WarmupPlan }>();
  const clock = { now: 1_000_000 };
  const pool = new ModelPool({
    backend,
    maxLoaded: 4,
    locate: (key) => models.get(key.model)?.path ?? fixturePath('breast_cancer.onnx'),
    warmup: (key) => models.get(key.model)?.plan,
    onEvent: (event) => events.push(event),
    now: () => clock.now,
  });
  pools.push(pool);
  return { pool, events, runs, models, clock };
}

const key = (model: string): ModelKey => ({ model, version: '1.0.0' });
const cancerRequest = (row: readonly number[]) => ({
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }],
});
const reshapeInputs = (shape: number): Tensor[] => [
  { name: 'x', datatype: 'FP32', shape: [1, 2], data: Float32Array.from([3.5, -2]) },
  { name: 'shape', datatype: 'INT64', shape: [1], data: BigInt64Array.from([BigInt(shape)]) },
];
const REFUSED = /^inputs "x", "shape": the model refused them: Reshape node: /;

async function rejection(promise: Promise<unknown>): Promise<SlipwayError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SlipwayError);
  return error as SlipwayError;
}

describe('warm-up plans in the model pool', () => {
  it('generated (the default): one run on zeros before the model is ready', async () => {
    const { pool, events, runs } = setup();
    (await pool.acquire(key('cancer'))).release();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toEqual([{ name: 'input', datatype: 'FP32', shape: [1, 30], data: new Float32Array(30) }]);
    expect(events.map((e) => e.type)).toEqual(['loading', 'loaded']);
    expect(events[1]).toMatchObject({ type: 'loaded', warmup: { plan: 'generated', runs: 1 } });
    expect(pool.loadState(key('cancer'))).toEqual({ status: 'ready', warmup: { plan: 'generated', runs: 1 } });
    expect(poolEventLine(events[1]!)).toBeUndefined();
  });

  it('none: no run before the model is ready; the first run is the request', async () => {
    const { pool, runs, models } = setup();
    models.set('cancer', { path: fixturePath('breast_cancer.onnx'), plan: 'none' });
    (await pool.acquire(key('cancer'))).release();
    expect(runs).toHaveLength(0);
    expect(pool.loadState(key('cancer'))).toEqual({ status: 'ready', warmup: { plan: 'none', runs: 0 } });
    const [label] = await pool.run(
      key('cancer'),
      [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: Float32Array.from(cancerRow) }],
      ['label'],
    );
    expect(runs).toHaveLength(1);
    expect(Array.from(label!.data as BigInt64Array)).toEqual([BigInt(cancerLabel)]);
  });

  it('a request the user gave runs `count` times with exactly its tensors, decoded by the request codec', async () => {
    const { pool, events, runs, models } = setup();
    models.set('cancer', {
      path: fixturePath('breast_cancer.onnx'),
      plan: { request: cancerRequest(cancerRow), count: 3 },
    });
    (await pool.acquire(key('cancer'))).release();
    expect(runs).toHaveLength(3);
    for (const run of runs)
      expect(run).toEqual([{ name: 'input', datatype: 'FP32', shape: [1, 30], data: Float32Array.from(cancerRow) }]);
    expect(events[1]).toMatchObject({ type: 'loaded', warmup: { plan: 'request', runs: 3 } });
  });

  it('a generated warm-up the model refuses is skipped: the version loads, with a warning, and serves', async () => {
    const { pool, events, models } = setup();
    models.set('reshape', { path: reshapePath });
    (await pool.acquire(key('reshape'))).release();
    expect(pool.status(key('reshape'))).toBe('ready');
    const loaded = events.find((e) => e.type === 'loaded');
    expect(loaded).toMatchObject({ warmup: { plan: 'generated', runs: 0 } });
    const skipped = pool.loadState(key('reshape')).warmup?.skipped ?? '';
    expect(skipped.replace('the generated warm-up (zeros) failed, so the version loaded without it: ', '')).toMatch(
      REFUSED,
    );
    expect(poolEventLine(loaded!)).toBe(`model reshape@1.0.0: warning: ${skipped}`);
    const [y] = await pool.run(key('reshape'), reshapeInputs(2), []);
    expect(y).toEqual({ name: 'y', datatype: 'FP32', shape: [2], data: Float32Array.from([3.5, -2]) });
  });

  it('a request the user gave that the model refuses fails the load: UNAVAILABLE naming the model and its message', async () => {
    const { pool, events, models } = setup();
    const request = {
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [1, 2], data: [3.5, -2] },
        { name: 'shape', datatype: 'INT64', shape: [1], data: [3] },
      ],
    };
    models.set('reshape', { path: reshapePath, plan: { request } });
    const error = await rejection(pool.acquire(key('reshape')));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.retryAfterSeconds).toBe(1);
    expect(isLoadFailure(error)).toBe(true);
    const prefix = 'model reshape@1.0.0 failed to load: warm-up of reshape@1.0.0 failed: ';
    expect(error.message.startsWith(prefix)).toBe(true);
    expect(error.message.slice(prefix.length)).toMatch(REFUSED);
    expect(pool.loadState(key('reshape'))).toEqual({ status: 'failed', error });
    // The event carries what failed; its log line says it once.
    const failed = events.find((e) => e.type === 'load-failed');
    expect(failed).toMatchObject({
      error: { code: 'INVALID_ARGUMENT', message: error.message.slice('model reshape@1.0.0 failed to load: '.length) },
    });
    expect(poolEventLine(failed!)).toBe(error.message);
  });

  it('a request that does not fit the signature fails the load with the validation message', async () => {
    const { pool, models } = setup();
    models.set('cancer', {
      path: fixturePath('breast_cancer.onnx'),
      plan: { request: cancerRequest(cancerRow.slice(0, 29)) },
    });
    // Shape [1, 30] with 29 values: the request codec's message.
    expect((await rejection(pool.acquire(key('cancer')))).message).toBe(
      'model cancer@1.0.0 failed to load: warm-up of cancer@1.0.0 failed: input "input": data has 29 elements but shape [1,30] needs 30',
    );
    models.set('cancer', {
      path: fixturePath('breast_cancer.onnx'),
      plan: {
        request: { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 29], data: cancerRow.slice(0, 29) }] },
      },
    });
    const again = await pool.reload(key('cancer')).then(
      () => undefined,
      (e: unknown) => e as SlipwayError,
    );
    expect(again?.message).toBe(
      'model cancer@1.0.0 failed to load: warm-up of cancer@1.0.0 failed: input "input": expected shape [-1,30], got [1,29] (dimension 1 must be 30)',
    );
  });

  it('a failed load is answered from memory for failedLoadRetryMs, then retried; reload retries at once', async () => {
    const { pool, events, models, clock } = setup();
    models.set('cancer', {
      path: fixturePath('breast_cancer.onnx'),
      plan: { request: cancerRequest(cancerRow.slice(0, 29)) },
    });
    const first = await rejection(pool.acquire(key('cancer')));
    clock.now += 999;
    expect(await rejection(pool.acquire(key('cancer')))).toBe(first);
    expect(events.filter((e) => e.type === 'loading')).toHaveLength(1);
    clock.now += 1;
    const second = await rejection(pool.acquire(key('cancer')));
    expect(second).not.toBe(first);
    expect(events.filter((e) => e.type === 'loading')).toHaveLength(2);
    // Fixed: an explicit reload does not wait out the memory of the failure.
    models.set('cancer', { path: fixturePath('breast_cancer.onnx'), plan: { request: cancerRequest(cancerRow) } });
    await pool.reload(key('cancer'));
    expect(pool.loadState(key('cancer'))).toEqual({ status: 'ready', warmup: { plan: 'request', runs: 1 } });
  });

  it('failures to find the file keep their own code and are not load failures', async () => {
    const { backend } = recordingBackend();
    const pool = new ModelPool({
      backend,
      maxLoaded: 1,
      locate: () => Promise.reject(new SlipwayError('NOT_FOUND', 'artifact gone')),
    });
    pools.push(pool);
    const error = await rejection(pool.acquire(key('gone')));
    expect(error).toMatchObject({ code: 'NOT_FOUND', message: 'artifact gone' });
    expect(isLoadFailure(error)).toBe(false);
  });
});
