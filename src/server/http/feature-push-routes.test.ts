import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE, generate, openFeaturePlatform, readRows, type TestPlatform } from '../../features/offline/feature-data.test-support.js';
import { pushLogFiles } from '../../features/offline/view-sources.js';
import { buildApp } from '../app.js';

describe('POST /api/v1/features/push', () => {
  let platform: TestPlatform;
  let app: FastifyInstance;

  beforeAll(async () => {
    platform = await openFeaturePlatform(generate(9, 20));
    app = await buildApp({ config: platform.config, registry: platform.registry, inference: platform.inference, features: platform.features });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  it('pushes rows online and to the push log', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/features/push', payload: { view: 'b', rows: [{ k1: 77, event_ts: BASE + 5000, b_val: 2.25 }] } });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ rows: 1, written: 1, stale: 0 });
    const value = (await platform.features.online.read('b', ['b_val'], [{ k1: 77 }]))[0]![0];
    expect(value).toEqual({ status: 'PRESENT', value: 2.25, eventTimeMs: BASE + 5000 });
    const files = await pushLogFiles(platform.features, 'b');
    expect(files).toHaveLength(1);
    expect(await readRows(files[0]!)).toEqual([{ k1: 77, event_ts: BASE + 5000, b_val: 2.25 }]);
    const again = await app.inject({ method: 'POST', url: '/api/v1/features/push', payload: { view: 'b', rows: [{ k1: 77, event_ts: BASE, b_val: 1 }], to: 'online' } });
    expect(again.json()).toEqual({ rows: 1, written: 0, stale: 1 });
  });

  it('answers 400 naming bad rows, 404 for an unknown view', async () => {
    const bad = await app.inject({ method: 'POST', url: '/api/v1/features/push', payload: { view: 'b', rows: [{ k1: 1, event_ts: BASE, b_val: 'high' }] } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'INVALID_ARGUMENT', error: expect.stringContaining('rows[0].b_val: expected float64, got "high"') as string });
    const missing = await app.inject({ method: 'POST', url: '/api/v1/features/push', payload: { view: 'nope', rows: [] } });
    expect(missing.statusCode).toBe(404);
    const shape = await app.inject({ method: 'POST', url: '/api/v1/features/push', payload: { view: 'b', rows: 'x' } });
    expect(shape.statusCode).toBe(400);
    const target = await app.inject({ method: 'POST', url: '/api/v1/features/push', payload: { view: 'b', rows: [], to: 'sideways' } });
    expect(target.statusCode).toBe(400);
  });
});
