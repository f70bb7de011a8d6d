import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { rejection } from '../../testing/rejection.js';
import { deleteOnlineEntities } from '../online-delete.js';
import { BASE, SECOND, generate, openFeaturePlatform, type TestPlatform } from './feature-data.test-support.js';
import { materialize } from './materialize.js';
import { pushFeatures } from './push.js';

const MINUTE = 60 * SECOND;
/** `+099999-01-01`: the event time that poisoned the online store in issue 13 item 2. */
const FAR_FUTURE = '+099999-01-01T00:00:00Z';

describe('event times in the future (issue 13 item 2)', () => {
  let platform: TestPlatform;

  beforeAll(async () => {
    platform = await openFeaturePlatform(generate(11, 20));
  });
  afterAll(async () => {
    await platform.dispose();
  });

  const readB = async (k1: number) => (await platform.features.online.read('b', ['b_val'], [{ k1 }]))[0]![0]!;
  const logFiles = async (view: string) => readdir(platform.features.pushLogDir(view)).catch(() => []);

  it('a push with an absurd event time is refused naming the row, its key and the limit; nothing of the batch is written', async () => {
    const before = await logFiles('a');
    const error = await rejection(
      pushFeatures(platform.features, {
        view: 'a',
        rows: [
          { k1: 900, k2: 1, event_ts: BASE, a_val: 1, a_str: 'fine' },
          { k1: 900, k2: 2, event_ts: FAR_FUTURE, a_val: 666, a_str: 'poison' },
        ],
      }),
      'INVALID_ARGUMENT',
    );
    expect(error.message).toMatch(
      /rows\[1\]\.event_ts: \+099999-01-01T00:00:00\.000Z is more than 5m in the future \(entity \{"k1":900,"k2":2\}; limit SLIPWAY_FEATURE_MAX_FUTURE_SKEW=5m\)/,
    );
    expect(error.message).not.toContain('rows[0]');
    const online = await platform.features.online.read(
      'a',
      ['a_val'],
      [
        { k1: 900, k2: 1 },
        { k1: 900, k2: 2 },
      ],
    );
    expect(online.map((row) => row[0]!.status)).toEqual(['NOT_FOUND', 'NOT_FOUND']);
    expect(await logFiles('a')).toEqual(before);
    // The real value that the poisoned row used to shadow forever is taken.
    const real = await pushFeatures(platform.features, {
      view: 'a',
      rows: [{ k1: 900, k2: 2, event_ts: BASE + SECOND, a_val: 7, a_str: 'real' }],
    });
    expect(real).toMatchObject({ rows: 1, written: 1, stale: 0 });
  });

  it('refuses epoch numbers and created times past the limit too, and accepts a clock slightly ahead', async () => {
    const now = Date.now();
    const micros = await rejection(
      pushFeatures(platform.features, { view: 'b', rows: [{ k1: 901, event_ts: now * 1000, b_val: 1 }] }),
      'INVALID_ARGUMENT',
    );
    expect(micros.message).toContain('rows[0].event_ts: ');
    expect(micros.message).toContain('entity {"k1":901}');
    const created = await rejection(
      pushFeatures(platform.features, {
        view: 'a',
        rows: [{ k1: 901, k2: 0, event_ts: now, created_ts: now + 60 * MINUTE, a_val: 1 }],
      }),
      'INVALID_ARGUMENT',
    );
    expect(created.message).toMatch(
      /rows\[0\]\.created_ts: .* is more than 5m in the future \(entity \{"k1":901,"k2":0\}/,
    );
    // Within the skew: a producer whose clock runs a minute ahead is not refused.
    const ahead = await pushFeatures(platform.features, {
      view: 'b',
      rows: [{ k1: 902, event_ts: now + MINUTE, b_val: 2.5 }],
    });
    expect(ahead).toMatchObject({ rows: 1, written: 1 });
    expect(await readB(902)).toEqual({ status: 'PRESENT', value: 2.5, eventTimeMs: now + MINUTE });
  });

  it('the limit is SLIPWAY_FEATURE_MAX_FUTURE_SKEW (a duration, default 5m)', () => {
    expect(loadConfig({}).featureMaxFutureSkewMs).toBe(5 * MINUTE);
    expect(loadConfig({ SLIPWAY_FEATURE_MAX_FUTURE_SKEW: '2h' }).featureMaxFutureSkewMs).toBe(120 * MINUTE);
    expect(loadConfig({ SLIPWAY_FEATURE_MAX_FUTURE_SKEW: '0s' }).featureMaxFutureSkewMs).toBe(0);
    expect(() => loadConfig({ SLIPWAY_FEATURE_MAX_FUTURE_SKEW: 'soon' })).toThrow(
      /SLIPWAY_FEATURE_MAX_FUTURE_SKEW "soon"/,
    );
    expect(platform.features.maxFutureSkewMs).toBe(5 * MINUTE);
  });

  it('materialize refuses a window ending past the limit (rows stamped later than now stay offline until their time)', async () => {
    const now = Date.now();
    const error = await rejection(
      materialize(platform.features, { views: ['b'], start: BASE, end: now + 60 * MINUTE, now }),
      'INVALID_ARGUMENT',
    );
    expect(error.message).toContain('is more than 5m in the future');
    expect(error.message).toContain('SLIPWAY_FEATURE_MAX_FUTURE_SKEW');
    const [run] = await materialize(platform.features, { views: ['b'], start: BASE, end: now + MINUTE, now });
    expect(run!.rows).toBeGreaterThan(0);
  });

  it('deleteOnlineEntities removes a poisoned key so a normal push is accepted again', async () => {
    // A store poisoned before this check existed (or under a larger skew): written directly.
    await platform.features.online.write('b', [
      { key: { k1: 903 }, values: { b_val: 666 }, eventTimeMs: Date.UTC(99_999, 0, 1) },
    ]);
    const shadowed = await pushFeatures(platform.features, {
      view: 'b',
      rows: [{ k1: 903, event_ts: BASE, b_val: 1 }],
      to: 'online',
    });
    expect(shadowed).toEqual({ rows: 1, written: 0, stale: 1 });
    expect(await deleteOnlineEntities(platform.features, 'b', [{ k1: 903 }, { k1: 904 }])).toEqual({
      view: 'b',
      entities: 2,
      deleted: 1,
    });
    expect((await readB(903)).status).toBe('NOT_FOUND');
    expect(
      await pushFeatures(platform.features, { view: 'b', rows: [{ k1: 903, event_ts: BASE, b_val: 1 }], to: 'online' }),
    ).toEqual({ rows: 1, written: 1, stale: 0 });
    expect(await readB(903)).toEqual({ status: 'PRESENT', value: 1, eventTimeMs: BASE });
  });

  it('deleteOnlineEntities checks entities against the view: join keys present, typed, nothing extra', async () => {
    expect(
      (await rejection(deleteOnlineEntities(platform.features, 'a', [{ k1: 1 }]), 'INVALID_ARGUMENT')).message,
    ).toContain('entities[0] is missing join key "k2" (int64)');
    expect(
      (await rejection(deleteOnlineEntities(platform.features, 'b', [{ k1: '1' }]), 'INVALID_ARGUMENT')).message,
    ).toContain('join key "k1" must be an integer (int64), got "1"');
    expect(
      (await rejection(deleteOnlineEntities(platform.features, 'b', [{ k1: 1, k9: 2 }]), 'INVALID_ARGUMENT')).message,
    ).toContain('unknown join key "k9"');
    expect((await rejection(deleteOnlineEntities(platform.features, 'b', []), 'INVALID_ARGUMENT')).message).toContain(
      '"entities" must be a non-empty list',
    );
    await rejection(deleteOnlineEntities(platform.features, 'nope', [{ k1: 1 }]), 'NOT_FOUND');
  });
});
