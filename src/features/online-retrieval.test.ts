import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { openTestPlatform } from '../testing/fixtures.js';
import { parseDefinitions } from './definitions/parse-definitions.js';
import { getOnlineFeatures } from './online-retrieval.js';

const HOUR = 3_600_000;
const NOW = 1_767_225_600_000;

/** Two views over different keys: one per driver (with a 1 h TTL), one per (driver, city) without. */
const DRIVER_DEFINITIONS = readFileSync(
  fileURLToPath(new URL('../../fixtures/features/entity-inference/drivers.yaml', import.meta.url)),
  'utf8',
);

async function failure(promise: Promise<unknown>): Promise<SlipwayError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SlipwayError) return error;
    throw error;
  }
  throw new Error('expected a SlipwayError');
}

describe('getOnlineFeatures', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.features.apply(parseDefinitions(DRIVER_DEFINITIONS, { baseDir: '/data' }));
    const online = platform.features.online;
    await online.write('driver_stats', [
      { key: { driver_id: 1 }, values: { trips: 10, rating: 4.5, active: true }, eventTimeMs: NOW - 10 * 60_000 },
      { key: { driver_id: 2 }, values: { trips: 3, rating: 3.9, active: false }, eventTimeMs: NOW - 2 * HOUR },
      { key: { driver_id: 3 }, values: { trips: 7 }, eventTimeMs: NOW - HOUR },
    ]);
    await online.write('driver_city', [
      { key: { driver_id: 1, city: 'Oslo' }, values: { trips_in_city: 6, zone: 'north' }, eventTimeMs: NOW - 5 * HOUR },
      {
        key: { driver_id: 1, city: 'Bergen' },
        values: { trips_in_city: 4, zone: 'west' },
        eventTimeMs: NOW - 3 * HOUR,
      },
      // Keys that concatenate alike: ("12","3") must not read ("1","23").
      { key: { driver_id: 12, city: '3' }, values: { trips_in_city: 99, zone: 'x' }, eventTimeMs: NOW },
    ]);
  });
  afterAll(async () => {
    await platform.dispose();
  });

  it('reads explicit refs for several entities with statuses, event times and the view TTL', async () => {
    const response = await getOnlineFeatures(
      platform.features,
      {
        features: ['driver_stats:rating', 'driver_stats:trips', 'driver_stats:active'],
        entities: [{ driver_id: 1 }, { driver_id: 2 }, { driver_id: 3 }, { driver_id: 4 }],
      },
      { now: NOW },
    );
    expect(response).toEqual({
      features: ['driver_stats:rating', 'driver_stats:trips', 'driver_stats:active'],
      results: [
        {
          entity: { driver_id: 1 },
          values: [4.5, 10, true],
          statuses: ['PRESENT', 'PRESENT', 'PRESENT'],
          eventTimes: [NOW - 600_000, NOW - 600_000, NOW - 600_000],
        },
        // Older than the 1 h TTL: EXPIRED, no value, the event time says how old.
        {
          entity: { driver_id: 2 },
          values: [null, null, null],
          statuses: ['EXPIRED', 'EXPIRED', 'EXPIRED'],
          eventTimes: [NOW - 2 * HOUR, NOW - 2 * HOUR, NOW - 2 * HOUR],
        },
        // Exactly at the TTL bound is still fresh; a feature the snapshot lacks is NOT_FOUND.
        {
          entity: { driver_id: 3 },
          values: [null, 7, null],
          statuses: ['NOT_FOUND', 'PRESENT', 'NOT_FOUND'],
          eventTimes: [null, NOW - HOUR, null],
        },
        {
          entity: { driver_id: 4 },
          values: [null, null, null],
          statuses: ['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND'],
          eventTimes: [null, null, null],
        },
      ],
    });
  });

  it("reads a service's view features in service order across views with composite keys (request entries left out)", async () => {
    const response = await getOnlineFeatures(
      platform.features,
      {
        service: 'dispatch',
        entities: [
          { driver_id: 1, city: 'Bergen' },
          { city: 'Oslo', driver_id: 1 },
          { driver_id: 1, city: '23' },
          { driver_id: 12, city: '3' },
        ],
      },
      { now: NOW },
    );
    expect(response.features).toEqual([
      'driver_city:zone',
      'driver_stats:rating',
      'driver_city:trips_in_city',
      'driver_stats:trips',
    ]);
    expect(response.results.map((r) => r.entity)).toEqual([
      { driver_id: 1, city: 'Bergen' },
      { driver_id: 1, city: 'Oslo' },
      { driver_id: 1, city: '23' },
      { driver_id: 12, city: '3' },
    ]);
    expect(response.results.map((r) => r.values)).toEqual([
      ['west', 4.5, 4, 10],
      ['north', 4.5, 6, 10],
      [null, 4.5, null, 10],
      ['x', null, 99, null],
    ]);
    expect(response.results[3]?.statuses).toEqual(['PRESENT', 'NOT_FOUND', 'PRESENT', 'NOT_FOUND']);
    expect(response.results[0]?.eventTimes).toEqual([NOW - 3 * HOUR, NOW - 600_000, NOW - 3 * HOUR, NOW - 600_000]);
  });

  it('refuses bad requests, naming what is wrong', async () => {
    const cases: [Parameters<typeof getOnlineFeatures>[1], string, RegExp][] = [
      [{ entities: [{ driver_id: 1 }] }, 'INVALID_ARGUMENT', /exactly one of "service".*or "features"/],
      [
        { service: 'dispatch', features: ['driver_stats:trips'], entities: [{ driver_id: 1 }] },
        'INVALID_ARGUMENT',
        /exactly one/,
      ],
      [{ service: 'nope', entities: [{ driver_id: 1 }] }, 'NOT_FOUND', /feature service "nope" does not exist/],
      [{ features: ['ghost:trips'], entities: [{ driver_id: 1 }] }, 'NOT_FOUND', /feature view "ghost" does not exist/],
      [
        { features: ['driver_stats:speed'], entities: [{ driver_id: 1 }] },
        'NOT_FOUND',
        /feature view "driver_stats" has no feature "speed"/,
      ],
      [
        { features: ['trips'], entities: [{ driver_id: 1 }] },
        'INVALID_ARGUMENT',
        /features\[0\] must be a "view:feature" ref/,
      ],
      [
        { features: ['driver_stats:trips', 'driver_stats:trips'], entities: [{ driver_id: 1 }] },
        'INVALID_ARGUMENT',
        /listed twice/,
      ],
      [{ features: ['driver_stats:trips'], entities: [] }, 'INVALID_ARGUMENT', /"entities" must be a non-empty list/],
      [
        { service: 'dispatch', entities: [{ driver_id: 1 }] },
        'INVALID_ARGUMENT',
        /entities\[0\] is missing join key "city" \(string\)/,
      ],
      [
        { features: ['driver_stats:trips'], entities: [{ driver_id: '1' }] },
        'INVALID_ARGUMENT',
        /entities\[0\]: join key "driver_id" must be an integer \(int64\), got "1"/,
      ],
      [{ features: ['driver_stats:trips'], entities: [{ driver_id: 1.5 }] }, 'INVALID_ARGUMENT', /must be an integer/],
      [
        { service: 'dispatch', entities: [{ driver_id: 1, city: 7 }] },
        'INVALID_ARGUMENT',
        /join key "city" must be a string \(string\), got 7/,
      ],
      [
        { features: ['driver_stats:trips'], entities: [{ driver_id: 1 }, { driver_id: 2, city: 'Oslo' }] },
        'INVALID_ARGUMENT',
        /entities\[1\]: unknown join key "city"; expected driver_id/,
      ],
    ];
    for (const [request, code, message] of cases) {
      const error = await failure(getOnlineFeatures(platform.features, request));
      expect([error.code, error.message], JSON.stringify(request)).toEqual([code, expect.stringMatching(message)]);
    }
  });

  it('sees newly applied definitions (plans are cached per definitions object)', async () => {
    const entities = [{ driver_id: 1, city: 'Oslo' }];
    expect(
      (await getOnlineFeatures(platform.features, { service: 'dispatch', entities }, { now: NOW })).results[0]?.values,
    ).toEqual(['north', 4.5, 6, 10]);
    await platform.features.apply(
      parseDefinitions(DRIVER_DEFINITIONS.replace(', driver_stats:trips]', ']'), { baseDir: '/data' }),
    );
    const response = await getOnlineFeatures(platform.features, { service: 'dispatch', entities }, { now: NOW });
    expect(response.features).toEqual(['driver_city:zone', 'driver_stats:rating', 'driver_city:trips_in_city']);
    expect(response.results[0]?.values).toEqual(['north', 4.5, 6]);
    await platform.features.apply(parseDefinitions(DRIVER_DEFINITIONS, { baseDir: '/data' }));
  });
});
