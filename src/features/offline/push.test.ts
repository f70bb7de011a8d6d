import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BASE,
  SECOND,
  generate,
  openFeaturePlatform,
  readRows,
  type TestPlatform,
} from './feature-data.test-support.js';
import { materialize } from './materialize.js';
import { pushFeatures } from './push.js';
import { buildTrainingSet } from './training-set.js';

describe('pushFeatures', () => {
  const data = generate(5, 60);
  let platform: TestPlatform & { entitiesFile: string };

  beforeAll(async () => {
    platform = await openFeaturePlatform(data);
  });
  afterAll(async () => {
    await platform.dispose();
  });

  it('writes online and appends one Parquet file per push to the push log', async () => {
    const result = await pushFeatures(platform.features, {
      view: 'a',
      rows: [
        { k1: 500, k2: 1, event_ts: '2026-01-01T00:01:00Z', a_val: 7, a_str: 'pushed' },
        { k1: 500, k2: 2, event_ts: BASE + 61 * SECOND, created_ts: BASE, a_val: 8, a_str: null },
      ],
    });
    expect(result).toMatchObject({ rows: 2, written: 2, stale: 0 });
    expect(path.basename(result.file!)).toMatch(/^\d{13}-[0-9a-f]{12}\.parquet$/);
    const online = await platform.features.online.read(
      'a',
      ['a_val', 'a_str'],
      [
        { k1: 500, k2: 1 },
        { k1: 500, k2: 2 },
      ],
    );
    expect(online.map((row) => row.map((v) => v.value))).toEqual([
      [7, 'pushed'],
      [8, null],
    ]);
    expect(online[0]![0]!.eventTimeMs).toBe(BASE + 60 * SECOND);
    const logged = await readRows(result.file!);
    expect(logged).toEqual([
      {
        k1: 500,
        k2: 1,
        event_ts: BASE + 60 * SECOND,
        created_ts: expect.any(Number) as number,
        a_val: 7,
        a_str: 'pushed',
      },
      { k1: 500, k2: 2, event_ts: BASE + 61 * SECOND, created_ts: BASE, a_val: 8, a_str: null },
    ]);
  });

  it('reports stale rows online and honours "to"', async () => {
    const stale = await pushFeatures(platform.features, {
      view: 'a',
      rows: [{ k1: 500, k2: 1, event_ts: BASE, a_val: 1, a_str: 'old' }],
      to: 'online',
    });
    expect(stale).toEqual({ rows: 1, written: 0, stale: 1 });
    const before = (await readdir(platform.features.pushLogDir('a'))).length;
    expect(before).toBe(1);
    const offline = await pushFeatures(platform.features, {
      view: 'b',
      rows: [{ k1: 600, event_ts: BASE, b_val: 1.5 }],
      to: 'offline',
    });
    expect(offline).toMatchObject({ rows: 1, written: 0, stale: 0 });
    const value = (await platform.features.online.read('b', ['b_val'], [{ k1: 600 }]))[0]![0];
    expect(value!.status).toBe('NOT_FOUND');
  });

  it('makes pushed rows visible to training sets and materialization, winning ties with the source', async () => {
    // A source row of b repeated with another value at the same event time: the pushed row comes later, so it wins.
    const sourceRow = data.views[1]!.rows.find((r) => r.b_val !== null)!;
    await pushFeatures(platform.features, {
      view: 'b',
      rows: [{ k1: sourceRow.k1, event_ts: sourceRow.event_ts, b_val: 31337 }],
      to: 'offline',
    });
    const entities = path.join(platform.home, 'push-entities.csv');
    await writeFile(
      entities,
      `id,k1,k2,ts,req\np,500,1,2026-01-01 00:01:05,0\nq,${sourceRow.k1},0,${new Date(sourceRow.event_ts as number).toISOString().replace('T', ' ').replace('Z', '')},0\n`,
    );
    const out = path.join(platform.home, 'push-train.parquet');
    await buildTrainingSet(platform.features, { service: 'svc', entities, out, timestampColumn: 'ts' });
    const rows = await readRows(out);
    expect(rows[0]).toMatchObject({ id: 'p', a__a_val: 7, a__a_str: 'pushed' });
    // b has no created time: every source row at that event time ties with the push, which comes last.
    expect(rows[1]!.b__b_val).toBe(31337);
    const [run] = await materialize(platform.features, {
      views: ['b'],
      start: sourceRow.event_ts as number,
      end: sourceRow.event_ts as number,
    });
    expect(run!.rows).toBeGreaterThanOrEqual(1);
    const value = (await platform.features.online.read('b', ['b_val'], [{ k1: sourceRow.k1 as number }]))[0]![0];
    expect(value!.value).toBe(31337);
  });

  it('refuses bad rows naming each row and column, writing nothing', async () => {
    const before = await readdir(platform.features.pushLogDir('a'));
    const attempt = pushFeatures(platform.features, {
      view: 'a',
      rows: [
        { k1: 1, k2: 1, event_ts: BASE, a_val: 1, a_str: 'ok' },
        { k1: '1', k2: 1, event_ts: BASE, a_val: 1.5, a_str: 'x', extra: 1 },
        { k1: 1, k2: 1, event_ts: 'yesterday', a_val: 1 },
        { k1: 1, k2: 1, a_str: 3 },
      ],
    });
    await expect(attempt).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const message = await attempt.catch((error: Error) => error.message);
    expect(message).toContain('rows[1].extra: view "a" has no such column');
    expect(message).toContain('rows[1].k1: join key must be an int64, got "1"');
    expect(message).toContain('rows[1].a_val: expected int64, got 1.5');
    expect(message).toContain('rows[2].event_ts: expected an ISO-8601 time or epoch milliseconds, got "yesterday"');
    expect(message).toContain('rows[3].event_ts: the event timestamp is required');
    expect(message).toContain('rows[3].a_str: expected string, got 3');
    expect(message).not.toContain('rows[0]');
    expect(await readdir(platform.features.pushLogDir('a'))).toEqual(before);
    await expect(pushFeatures(platform.features, { view: 'nope', rows: [] })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});
