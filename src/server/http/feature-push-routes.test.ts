import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BASE,
  generate,
  openFeaturePlatform,
  readRows,
  type TestPlatform,
} from '../../features/offline/feature-data.test-support.js';
import { pushLogFiles } from '../../features/offline/view-sources.js';
import { buildApp } from '../app.js';

describe('POST /api/v1/features/push', () => {
  let platform: TestPlatform;
  let app: FastifyInstance;

  beforeAll(async () => {
    platform = await openFeaturePlatform(generate(9, 20));
    app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      features: platform.features,
    });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  it('pushes rows online and to the push log', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/features/push',
      payload: { view: 'b', rows: [{ k1: 77, event_ts: BASE + 5000, b_val: 2.25 }] },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ rows: 1, written: 1, stale: 0 });
    const value = (await platform.features.online.read('b', ['b_val'], [{ k1: 77 }]))[0]![0];
    expect(value).toEqual({ status: 'PRESENT', value: 2.25, eventTimeMs: BASE + 5000 });
    const files = await pushLogFiles(platform.features, 'b');
    expect(files).toHaveLength(1);
    expect(await readRows(files[0]!)).toEqual([{ k1: 77, event_ts: BASE + 5000, b_val: 2.25 }]);
    const again = await app.inject({
      method: 'POST',
      url: '/api/v1/features/push',
      payload: { view: 'b', rows: [{ k1: 77, event_ts: BASE, b_val: 1 }], to: 'online' },
    });
    expect(again.json()).toEqual({ rows: 1, written: 0, stale: 1 });
  });

  it('answers 400 naming bad rows, 404 for an unknown view', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: '/api/v1/features/push',
      payload: { view: 'b', rows: [{ k1: 1, event_ts: BASE, b_val: 'high' }] },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({
      code: 'INVALID_ARGUMENT',
      error: expect.stringContaining('rows[0].b_val: expected float64, got "high"') as string,
    });
    const missing = await app.inject({
      method: 'POST',
      url: '/api/v1/features/push',
      payload: { view: 'nope', rows: [] },
    });
    expect(missing.statusCode).toBe(404);
    const shape = await app.inject({ method: 'POST', url: '/api/v1/features/push', payload: { view: 'b', rows: 'x' } });
    expect(shape.statusCode).toBe(400);
    const target = await app.inject({
      method: 'POST',
      url: '/api/v1/features/push',
      payload: { view: 'b', rows: [], to: 'sideways' },
    });
    expect(target.statusCode).toBe(400);
  });

  it('refuses an event time past the skew limit (it used to shadow every real value, issue 13 item 2)', async () => {
    const poisoned = await app.inject({
      method: 'POST',
      url: '/api/v1/features/push',
      payload: { view: 'b', rows: [{ k1: 88, event_ts: '+099999-01-01', b_val: 666 }] },
    });
    expect(poisoned.statusCode).toBe(400);
    expect(poisoned.json()).toMatchObject({
      code: 'INVALID_ARGUMENT',
      error:
        'push to view "b" refused, nothing written: rows[0].event_ts: +099999-01-01T00:00:00.000Z is more than 5m in the future (entity {"k1":88}; limit SLIPWAY_FEATURE_MAX_FUTURE_SKEW=5m)',
    });
    expect(await pushLogFiles(platform.features, 'b')).toHaveLength(1);
    const real = await app.inject({
      method: 'POST',
      url: '/api/v1/features/push',
      payload: { view: 'b', rows: [{ k1: 88, event_ts: BASE, b_val: 1.5 }] },
    });
    expect(real.json()).toEqual({ rows: 1, written: 1, stale: 0 });
  });

  it('DELETE /api/v1/features/views/{view}/online removes a key, so a normal push is accepted again', async () => {
    // Poisoned before the check existed: written to the online store directly.
    await platform.features.online.write('b', [
      { key: { k1: 89 }, values: { b_val: 666 }, eventTimeMs: Date.UTC(99_999, 0, 1) },
    ]);
    const push = () =>
      app.inject({
        method: 'POST',
        url: '/api/v1/features/push',
        payload: { view: 'b', rows: [{ k1: 89, event_ts: BASE, b_val: 2 }], to: 'online' },
      });
    expect((await push()).json()).toEqual({ rows: 1, written: 0, stale: 1 });
    const deleted = await app.inject({ method: 'DELETE', url: '/api/v1/features/views/b/online?k1=89' });
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toEqual({ view: 'b', entities: 1, deleted: 1 });
    expect((await push()).json()).toEqual({ rows: 1, written: 1, stale: 0 });
    const value = (await platform.features.online.read('b', ['b_val'], [{ k1: 89 }]))[0]![0];
    expect(value).toEqual({ status: 'PRESENT', value: 2, eventTimeMs: BASE });
    const again = await app.inject({ method: 'DELETE', url: '/api/v1/features/views/b/online?k1=12345' });
    expect(again.json()).toEqual({ view: 'b', entities: 1, deleted: 0 });
  });

  it('DELETE .../online names a missing, mistyped or unknown join key and an unknown view', async () => {
    const cases: [string, number, string][] = [
      ['/api/v1/features/views/b/online', 400, 'entities[0] is missing join key "k1" (int64)'],
      ['/api/v1/features/views/b/online?k1=x', 400, 'join key "k1" must be an integer (int64), got "x"'],
      ['/api/v1/features/views/b/online?k1=1&k9=2', 400, 'unknown join key "k9"'],
      ['/api/v1/features/views/b/online?k1=1&k1=2', 400, 'join key "k1" is given 2 times'],
      ['/api/v1/features/views/a/online?k1=1', 400, 'entities[0] is missing join key "k2" (int64)'],
      ['/api/v1/features/views/nope/online?k1=1', 404, 'feature view "nope" does not exist'],
    ];
    for (const [url, status, message] of cases) {
      const response = await app.inject({ method: 'DELETE', url });
      expect([url, response.statusCode]).toEqual([url, status]);
      expect(response.json<{ error: string }>().error).toContain(message);
    }
  });
});
