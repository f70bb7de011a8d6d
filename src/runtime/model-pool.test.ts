import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import type { Tensor } from '../tensor/datatypes.js';
import { fixturePath, readExpected, tempFolder } from './fixtures.test-support.js';
import type { ModelKey, ModelLease, PoolEvent } from './model-pool.js';
import type { RunOptions } from './backend.js';
import { ModelPool } from './model-pool.js';
import { createOrtBackend } from './onnx/ort-backend.js';
import { failsOnZerosModel } from './onnx/tiny-onnx.test-support.js';

const backend = createOrtBackend();
const FILES = { a: 'breast_cancer.onnx', b: 'digits_mlp.onnx', c: 'wine_forest.onnx' } as const;
let breastCancerRows: Tensor[];
beforeAll(async () => {
  breastCancerRows = (await readExpected('breast_cancer')).inputs;
});

const pools: ModelPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function makePool(
  maxLoaded = 4,
  failedLoadRetryMs?: number,
): { pool: ModelPool; events: PoolEvent[]; count: (type: PoolEvent['type'], key?: string) => number } {
  const events: PoolEvent[] = [];
  const pool = new ModelPool({
    backend,
    maxLoaded,
    ...(failedLoadRetryMs === undefined ? {} : { failedLoadRetryMs }),
    locate: (key) => (locators.get(key.model) ?? locate(key.model as keyof typeof FILES))(),
    onEvent: (e) => events.push(e),
  });
  pools.push(pool);
  const count = (type: PoolEvent['type'], key?: string): number =>
    events.filter((e) => e.type === type && (key === undefined || e.key.model === key)).length;
  return { pool, events, count };
}

const locate = (key: keyof typeof FILES) => (): Promise<string> => Promise.resolve(fixturePath(FILES[key]));

/** The pool is built with one locator; a test may say where a model's file is found (by model name). */
const locators = new Map<string, () => Promise<string>>();
afterEach(() => locators.clear());
const k = (model: string): ModelKey => ({ model, version: '1' });

/** Acquire `model`, whose file `find` locates (default: the fixture named in FILES). */
function acquire(
  pool: ModelPool,
  model: string,
  find?: () => Promise<string>,
  options?: RunOptions,
): Promise<ModelLease> {
  if (find !== undefined) locators.set(model, find);
  return pool.acquire(k(model), options);
}

/** A locate function that waits until `open()`; counts its calls. */
function gatedLocate(file: string): { locate: () => Promise<string>; open: () => void; calls: () => number } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let calls = 0;
  return {
    locate: async () => {
      calls += 1;
      await gate;
      return fixturePath(file);
    },
    open,
    calls: () => calls,
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SlipwayError);
  return (error as SlipwayError).code;
}

describe('ModelPool', () => {
  it('rejects a maxLoaded below 1', () => {
    expect(() => new ModelPool({ backend, maxLoaded: 0, locate: locate('a') })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('loads, warms up and leases a ready model; list() reports it', async () => {
    const { pool, events } = makePool();
    expect(pool.status(k('a'))).toBe('unloaded');
    const lease = await acquire(pool, 'a', locate('a'));
    expect(pool.status(k('a'))).toBe('ready');
    expect(events.map((e) => e.type)).toEqual(['loading', 'loaded']);
    expect(events[1]).toMatchObject({ key: k('a'), durationMs: expect.any(Number) });
    const [label] = await lease.model.run(breastCancerRows, ['label']);
    expect(label!.shape).toEqual([20]);
    expect(pool.list()).toEqual([
      { key: k('a'), status: 'ready', loadedAt: expect.any(Number), lastUsedAt: expect.any(Number), inFlight: 1 },
    ]);
    lease.release();
    lease.release(); // idempotent
    expect(pool.list()[0]!.inFlight).toBe(0);
  });

  it('shares one load between concurrent acquires, including late joiners', async () => {
    const { pool, count } = makePool();
    const gate = gatedLocate(FILES.a);
    const first = [1, 2, 3].map(() => acquire(pool, 'a', gate.locate));
    await Promise.resolve();
    expect(pool.status(k('a'))).toBe('loading');
    const late = acquire(pool, 'a', gate.locate);
    expect(pool.list()[0]!.inFlight).toBe(4);
    gate.open();
    const leases = await Promise.all([...first, late]);
    expect(new Set(leases.map((l) => l.model)).size).toBe(1);
    expect(count('loading')).toBe(1);
    expect(gate.calls()).toBe(1);
    const again = await acquire(pool, 'a', gate.locate);
    expect(again.model).toBe(leases[0].model);
    expect(count('loading')).toBe(1);
    for (const lease of [...leases, again]) lease.release();
  });

  it('unloads the least recently acquired idle model beyond maxLoaded', async () => {
    const { pool, events } = makePool(2);
    (await acquire(pool, 'a', locate('a'))).release();
    (await acquire(pool, 'b', locate('b'))).release();
    (await acquire(pool, 'a', locate('a'))).release(); // a is now more recent than b
    (await acquire(pool, 'c', locate('c'))).release();
    await vi.waitFor(() => expect(pool.status(k('b'))).toBe('unloaded'));
    expect(pool.status(k('a'))).toBe('ready');
    expect(pool.status(k('c'))).toBe('ready');
    expect(events.filter((e) => e.type === 'unloaded')).toEqual([{ type: 'unloaded', key: k('b'), reason: 'lru' }]);
  });

  it('never unloads a leased model; evicts it once its lease ends', async () => {
    const { pool, count } = makePool(1);
    const leaseA = await acquire(pool, 'a', locate('a'));
    const leaseB = await acquire(pool, 'b', locate('b'));
    expect(pool.list().map((m) => m.status)).toEqual(['ready', 'ready']); // over the limit, both leased
    expect(count('unloaded')).toBe(0);
    await expect(leaseA.model.run(breastCancerRows, ['label'])).resolves.toHaveLength(1);
    leaseA.release();
    await vi.waitFor(() => expect(pool.status(k('a'))).toBe('unloaded'));
    expect(pool.status(k('b'))).toBe('ready');
    leaseB.release();
    expect(count('unloaded')).toBe(1);
    expect(pool.status(k('b'))).toBe('ready');
  });

  it('unload() waits for leases, then releases the session; acquires meanwhile get a fresh load', async () => {
    const { pool, events, count } = makePool();
    const lease = await acquire(pool, 'a', locate('a'));
    let unloaded = false;
    const unloading = pool.unload(k('a')).then((r) => ((unloaded = true), r));
    expect(pool.status(k('a'))).toBe('unloading');
    const reacquire = acquire(pool, 'a', locate('a'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unloaded).toBe(false);
    await expect(lease.model.run(breastCancerRows, ['label'])).resolves.toHaveLength(1); // in-flight run still works
    lease.release();
    await expect(unloading).resolves.toBe(true);
    expect(events.find((e) => e.type === 'unloaded')).toEqual({ type: 'unloaded', key: k('a'), reason: 'explicit' });
    expect(await codeOf(lease.model.run(breastCancerRows, ['label']))).toBe('UNAVAILABLE'); // the session is gone
    const fresh = await reacquire;
    expect(fresh.model).not.toBe(lease.model);
    expect(count('loading')).toBe(2);
    fresh.release();
    expect(await pool.unload(k('nothing'))).toBe(false);
  });

  it('does not cache a failed load: the next acquire retries (failedLoadRetryMs 0)', async () => {
    const { pool, events, count } = makePool(4, 0);
    let file = 'not_onnx.onnx';
    const fickle = (): Promise<string> => Promise.resolve(fixturePath(file));
    const failures = await Promise.all([acquire(pool, 'a', fickle), acquire(pool, 'a', fickle)].map(codeOf));
    // Acquires get the model's failure as UNAVAILABLE naming it; the event keeps the cause.
    expect(failures).toEqual(['UNAVAILABLE', 'UNAVAILABLE']);
    expect(pool.status(k('a'))).toBe('failed');
    expect(count('loading')).toBe(1);
    expect(events[1]).toMatchObject({ type: 'load-failed', key: k('a'), error: { code: 'INVALID_ARGUMENT' } });
    file = FILES.a;
    const lease = await acquire(pool, 'a', fickle);
    expect(pool.status(k('a'))).toBe('ready');
    expect(count('loading')).toBe(2);
    lease.release();
  });

  it('a locate that throws fails the load with its error', async () => {
    const { pool } = makePool();
    const missing = (): Promise<string> => Promise.reject(new SlipwayError('NOT_FOUND', 'artifact gone'));
    expect(await codeOf(acquire(pool, 'a', missing))).toBe('NOT_FOUND');
    expect(pool.status(k('a'))).toBe('failed');
  });

  it('marks ready a model that fails its generated warm-up run, with the warning in its loaded event (src/runtime/warmup-control.test.ts)', async () => {
    const temp = await tempFolder();
    try {
      const path = await temp.write('reshape.onnx', failsOnZerosModel());
      const { pool, events } = makePool();
      (await acquire(pool, 'r', () => Promise.resolve(path))).release();
      expect(pool.status(k('r'))).toBe('ready');
      expect(events.find((e) => e.type === 'loaded')).toMatchObject({
        warmup: { plan: 'generated', runs: 0, skipped: expect.stringContaining('Reshape') },
      });
    } finally {
      await temp.dispose();
    }
  });

  it('a waiter whose signal aborts gives up; the shared load carries on for the others', async () => {
    const { pool } = makePool();
    const gate = gatedLocate(FILES.a);
    const controller = new AbortController();
    const impatient = acquire(pool, 'a', gate.locate, { signal: controller.signal });
    const patient = acquire(pool, 'a', gate.locate);
    controller.abort();
    expect(await codeOf(impatient)).toBe('CANCELLED');
    gate.open();
    const lease = await patient;
    expect(pool.list()[0]!.inFlight).toBe(1);
    lease.release();
  });

  it('run() acquires, runs and releases, also when the run fails', async () => {
    const { pool } = makePool();
    const [probabilities] = await pool.run(k('a'), breastCancerRows, ['probabilities']);
    expect(probabilities!.shape).toEqual([20, 2]);
    expect(await codeOf(pool.run(k('a'), [], ['label']))).toBe('INVALID_ARGUMENT');
    expect(pool.list()[0]!.inFlight).toBe(0);
  });

  it('close() unloads everything once leases end, then refuses acquires', async () => {
    const { pool, events } = makePool();
    (await acquire(pool, 'a', locate('a'))).release();
    const held = await acquire(pool, 'b', locate('b'));
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    expect(await codeOf(acquire(pool, 'a', locate('a')))).toBe('UNAVAILABLE');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closed).toBe(false);
    held.release();
    await closing;
    expect(
      events
        .filter((e) => e.type === 'unloaded')
        .map((e) => e.key.model)
        .sort(),
    ).toEqual(['a', 'b']);
    expect(
      events.filter((e) => e.type === 'unloaded').every((e) => e.type === 'unloaded' && e.reason === 'close'),
    ).toBe(true);
    expect(pool.list()).toEqual([]);
    expect(await codeOf(pool.run(k('a'), breastCancerRows, []))).toBe('UNAVAILABLE');
    await pool.close(); // idempotent
  });

  it('close() during a load fails its waiters with UNAVAILABLE and frees the model', async () => {
    const { pool, count } = makePool();
    const gate = gatedLocate(FILES.a);
    const waiting = acquire(pool, 'a', gate.locate);
    const closing = pool.close();
    gate.open();
    expect(await codeOf(waiting)).toBe('UNAVAILABLE');
    await closing;
    expect(count('load-failed')).toBe(1);
    expect(pool.status(k('a'))).toBe('unloaded');
  });
});
