import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PoolEvent } from '../runtime/model-pool.js';
import { expectedOutputs, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { startServer, type RunningServer } from './serve.js';

const row = expectedOutputs('breast_cancer').inputs[0]!.data.slice(0, 30);
const body = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }], ...extra });

interface LoadResult {
  statuses: Map<number, number>;
  versions: Set<string>;
  total: number;
}

/** Keep `connections` requests in flight against `path` until `stop()` resolves; count the answers. */
function loadUntil(url: string, path: string, connections: number, stop: Promise<unknown>): Promise<LoadResult> {
  const result: LoadResult = { statuses: new Map(), versions: new Set(), total: 0 };
  let done = false;
  void stop.then(() => (done = true));
  const loop = async () => {
    while (!done) {
      const response = await fetch(url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: body(),
      });
      await response.arrayBuffer();
      result.total++;
      result.statuses.set(response.status, (result.statuses.get(response.status) ?? 0) + 1);
      result.versions.add(response.headers.get('x-slipway-version') ?? '-');
    }
  };
  return Promise.all(Array.from({ length: connections }, loop)).then(() => result);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('model lifecycle without downtime', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let server: RunningServer;
  const events: PoolEvent[] = [];

  beforeEach(async () => {
    events.length = 0;
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer_retrained.onnx') });
    await platform.registry.setAlias('cancer', 'champion', '1.0.0');
    server = await startServer(platform, { host: '127.0.0.1', port: 0 });
    await server.preloaded;
  });
  afterEach(async () => {
    await server.stop(5000);
    await platform.dispose();
  });

  it('reloads a version under concurrent load with zero failed requests', async () => {
    const reloads = (async () => {
      await sleep(100);
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`${server.url}/v2/repository/models/cancer/load`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"parameters":{"version":"champion"}}',
        });
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({ name: 'cancer', version: '1.0.0', state: 'READY' });
        await sleep(100);
      }
    })();
    const result = await loadUntil(server.url, '/v2/models/cancer/versions/champion/infer', 8, reloads);
    // Load ran through the reloads (8 loops until the last one answered); how many requests fit
    // depends on the machine's load (100+ when idle, ~70 on a busy 2-core CI), so the floor is low.
    expect(result.total).toBeGreaterThan(40);
    expect([...result.statuses.entries()]).toEqual([[200, result.total]]);
  });

  it('moves an alias to an unloaded version under load: the old one answers until the new one is warm', async () => {
    const move = (async () => {
      await sleep(100);
      await platform.registry.setAlias('cancer', 'champion', '1.1.0', 'promote');
      await sleep(1800);
    })();
    const result = await loadUntil(server.url, '/v2/models/cancer/versions/champion/infer', 8, move);
    expect([...result.statuses.entries()]).toEqual([[200, result.total]]);
    expect([...result.versions].sort()).toEqual(['1.0.0', '1.1.0']);
    const index = await (await fetch(`${server.url}/v2/repository/index`, { method: 'POST' })).json();
    expect(index).toEqual(
      expect.arrayContaining([
        { name: 'cancer', version: '1.1.0', state: 'READY', reason: '' },
        { name: 'cancer', version: '1.0.0', state: 'READY', reason: '' },
      ]),
    );
  });

  it('unloads, then loads again on demand', async () => {
    const unload = await fetch(`${server.url}/v2/repository/models/cancer/unload`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"parameters":{"version":"1.0.0"}}',
    });
    expect(await unload.json()).toEqual({ name: 'cancer', version: '1.0.0', state: 'UNAVAILABLE', unloaded: true });
    expect((await fetch(`${server.url}/v2/models/cancer/versions/1.0.0/ready`)).status).toBe(503);
    const infer = await fetch(`${server.url}/v2/models/cancer/versions/1.0.0/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body(),
    });
    expect(infer.status).toBe(200);
    expect((await fetch(`${server.url}/v2/models/cancer/versions/1.0.0/ready`)).status).toBe(200);
  });

  it('applies a serving config at reload: a full queue answers 503 with Retry-After', async () => {
    const put = await fetch(`${server.url}/api/v1/models/cancer/serving`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"maxQueueSize": 1, "maxBatchSize": 1}',
    });
    expect(await put.json()).toEqual({ maxQueueSize: 1, maxBatchSize: 1 });
    const bad = await fetch(`${server.url}/api/v1/models/cancer/serving`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"maxQueueSize": -1, "speed": 3}',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe(
      'invalid serving config: maxQueueSize must be an integer from 0 to 16777216, got -1; unknown setting "speed" (known: batching, logPayload, maxBatchSize, maxQueueDelayMicros, maxQueueSize, instances, priorityLevels, logMaxElements, sequence, warmup, session, executionProviders)',
    );
    await fetch(`${server.url}/v2/repository/models/cancer/load`, { method: 'POST' });
    const responses = await Promise.all(
      Array.from({ length: 40 }, () =>
        server.app.inject({
          method: 'POST',
          url: '/v2/models/cancer/infer',
          headers: { 'content-type': 'application/json' },
          payload: body(),
        }),
      ),
    );
    const refused = responses.filter((r) => r.statusCode === 503);
    expect(refused.length).toBeGreaterThan(0);
    expect(responses.every((r) => r.statusCode === 200 || r.statusCode === 503)).toBe(true);
    expect(refused[0]!.headers['retry-after']).toBe('1');
    expect(refused[0]!.json<{ error: string; code: string }>()).toEqual({
      error: 'the queue for this model is full (1 requests waiting); retry shortly',
      code: 'RESOURCE_EXHAUSTED',
    });
  });

  it('checks the protocol timeout and priority parameters', async () => {
    const bad = await server.app.inject({
      method: 'POST',
      url: '/v2/models/cancer/infer',
      headers: { 'content-type': 'application/json' },
      payload: body({ parameters: { timeout: 'soon' } }),
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: string }>().error).toBe(
      'parameter "timeout" must be a non-negative integer of microseconds, got "soon"',
    );
    const priority = await server.app.inject({
      method: 'POST',
      url: '/v2/models/cancer/infer',
      headers: { 'content-type': 'application/json' },
      payload: body({ parameters: { priority: 1, timeout: 5_000_000 } }),
    });
    expect(priority.statusCode).toBe(200);
    const responses = await Promise.all(
      Array.from({ length: 30 }, () =>
        server.app.inject({
          method: 'POST',
          url: '/v2/models/cancer/infer',
          headers: { 'content-type': 'application/json' },
          payload: body({ parameters: { timeout: 1 } }),
        }),
      ),
    );
    expect(responses.every((r) => r.statusCode === 200 || r.statusCode === 504)).toBe(true);
    expect(responses.some((r) => r.statusCode === 504)).toBe(true);
  });
});

describe('graceful shutdown', () => {
  it('answers every accepted request, then refuses new connections', async () => {
    const platform = await openTestPlatform();
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    const server = await startServer(platform, { host: '127.0.0.1', port: 0 });
    await server.preloaded;
    const url = server.url;
    // Stop at the moment the 64th request reaches the server: all 64 were accepted, most are still
    // queued or running.
    let seen = 0;
    let stopped: Promise<boolean> | undefined;
    server.app.server.on('request', () => {
      if (++seen === 64) stopped = server.stop(5000);
    });
    const statuses = await Promise.all(
      Array.from({ length: 64 }, () =>
        fetch(`${url}/v2/models/cancer/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', connection: 'close' },
          body: body(),
        }).then((r) => r.status),
      ),
    );
    expect(seen).toBe(64);
    expect(await stopped).toBe(true);
    expect(statuses).toEqual(new Array(64).fill(200));
    await expect(fetch(`${url}/v2/health/live`)).rejects.toThrow();
    await platform.dispose();
  });
});
