import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDefinitionsFile } from '../../features/definitions/parse-definitions.js';
import { openTestPlatform } from '../../testing/fixtures.js';
import { buildApp } from '../app.js';

const HOUR = 3_600_000;

describe('feature routes', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  const now = Date.now();

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.features.apply(
      await readDefinitionsFile(
        fileURLToPath(new URL('../../../fixtures/features/entity-inference/drivers.yaml', import.meta.url)),
      ),
    );
    await platform.features.online.write('driver_stats', [
      { key: { driver_id: 1 }, values: { trips: 10, rating: 4.5, active: true }, eventTimeMs: now - 60_000 },
      { key: { driver_id: 2 }, values: { trips: 3, rating: 3.9, active: false }, eventTimeMs: now - 3 * HOUR },
    ]);
    await platform.features.online.write('driver_city', [
      { key: { driver_id: 1, city: 'Oslo' }, values: { trips_in_city: 6, zone: 'north' }, eventTimeMs: now - 5 * HOUR },
      { key: { driver_id: 2, city: 'Oslo' }, values: { trips_in_city: 1, zone: 'south' }, eventTimeMs: now - 4 * HOUR },
    ]);
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

  const get = (payload: unknown) =>
    app.inject({ method: 'POST', url: '/api/v1/features:get', payload: payload as Record<string, unknown> });

  it('GET /api/v1/features/definitions returns the applied definitions', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/v1/features/definitions' });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<{
      entities: { name: string }[];
      views: { name: string; ttlMs: number }[];
      services: { name: string; version: number; features: string[] }[];
    }>();
    expect(body.entities.map((e) => e.name)).toEqual(['city', 'driver']);
    expect(body.views.map((v) => [v.name, v.ttlMs])).toEqual([
      ['driver_city', 0],
      ['driver_stats', HOUR],
    ]);
    expect(body.services).toEqual([
      expect.objectContaining({
        name: 'dispatch',
        version: 1,
        features: [
          'driver_city:zone',
          'driver_stats:rating',
          'request:distance',
          'driver_city:trips_in_city',
          'driver_stats:trips',
        ],
      }),
    ]);
  });

  it('POST /api/v1/features:get with explicit refs: statuses PRESENT, EXPIRED, NOT_FOUND with event times', async () => {
    const response = await get({
      features: ['driver_stats:trips', 'driver_stats:active'],
      entities: [{ driver_id: 1 }, { driver_id: 2 }, { driver_id: 3 }],
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      features: ['driver_stats:trips', 'driver_stats:active'],
      results: [
        {
          entity: { driver_id: 1 },
          values: [10, true],
          statuses: ['PRESENT', 'PRESENT'],
          eventTimes: [now - 60_000, now - 60_000],
        },
        {
          entity: { driver_id: 2 },
          values: [null, null],
          statuses: ['EXPIRED', 'EXPIRED'],
          eventTimes: [now - 3 * HOUR, now - 3 * HOUR],
        },
        {
          entity: { driver_id: 3 },
          values: [null, null],
          statuses: ['NOT_FOUND', 'NOT_FOUND'],
          eventTimes: [null, null],
        },
      ],
    });
  });

  it('POST /api/v1/features:get with a service and composite keys', async () => {
    const response = await get({
      service: 'dispatch',
      entities: [
        { driver_id: 2, city: 'Oslo' },
        { driver_id: 1, city: 'Oslo' },
        { driver_id: 1, city: 'Rome' },
      ],
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      features: ['driver_city:zone', 'driver_stats:rating', 'driver_city:trips_in_city', 'driver_stats:trips'],
      results: [
        {
          entity: { driver_id: 2, city: 'Oslo' },
          values: ['south', null, 1, null],
          statuses: ['PRESENT', 'EXPIRED', 'PRESENT', 'EXPIRED'],
          eventTimes: [now - 4 * HOUR, now - 3 * HOUR, now - 4 * HOUR, now - 3 * HOUR],
        },
        {
          entity: { driver_id: 1, city: 'Oslo' },
          values: ['north', 4.5, 6, 10],
          statuses: ['PRESENT', 'PRESENT', 'PRESENT', 'PRESENT'],
          eventTimes: [now - 5 * HOUR, now - 60_000, now - 5 * HOUR, now - 60_000],
        },
        {
          entity: { driver_id: 1, city: 'Rome' },
          values: [null, 4.5, null, 10],
          statuses: ['NOT_FOUND', 'PRESENT', 'NOT_FOUND', 'PRESENT'],
          eventTimes: [null, now - 60_000, null, now - 60_000],
        },
      ],
    });
  });

  it('answers 400 and 404 naming the problem', async () => {
    const cases: [unknown, number, RegExp][] = [
      [{ service: 'dispatch', entities: [{ driver_id: 1 }] }, 400, /entities\[0\] is missing join key "city"/],
      [
        { features: ['driver_stats:trips'], entities: [{ driver_id: 'a' }] },
        400,
        /join key "driver_id" must be an integer/,
      ],
      [{ features: ['driver_stats:trips'] }, 400, /"entities" must be a non-empty list/],
      [{ entities: [{ driver_id: 1 }] }, 400, /exactly one of "service"/],
      [{ service: 'dispatch', entity: [] }, 400, /unknown field "entity"/],
      [[1, 2], 400, /request body must be/],
      [{ service: 42, entities: [{ driver_id: 1 }] }, 400, /"service" must be a string/],
      [
        { features: 'driver_stats:trips', entities: [{ driver_id: 1 }] },
        400,
        /"features" must be a non-empty list of "view:feature" refs/,
      ],
      [
        { features: [['driver_stats:trips']], entities: [{ driver_id: 1 }] },
        400,
        /features\[0\] must be a "view:feature" ref/,
      ],
      [{ service: 'nope', entities: [{ driver_id: 1 }] }, 404, /feature service "nope" does not exist/],
      [{ features: ['ghost:x'], entities: [{ driver_id: 1 }] }, 404, /feature view "ghost" does not exist/],
      [
        { features: ['driver_stats:x'], entities: [{ driver_id: 1 }] },
        404,
        /feature view "driver_stats" has no feature "x"/,
      ],
    ];
    for (const [payload, status, message] of cases) {
      const response = await get(payload);
      expect([response.statusCode, response.json<{ error: string }>().error], JSON.stringify(payload)).toEqual([
        status,
        expect.stringMatching(message),
      ]);
    }
  });

  it('other actions on /api/v1/features are not routes', async () => {
    expect((await app.inject({ method: 'POST', url: '/api/v1/features:put', payload: {} })).statusCode).toBe(404);
  });
});
