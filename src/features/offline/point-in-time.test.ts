import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../stats/random.js';
import { pointInTimeJoin, type PointInTimeView } from './point-in-time.js';
import { readRows, referencePointInTimeJoin, type ReferenceView, type Row } from './point-in-time.test-support.js';

const BASE = Date.UTC(2026, 0, 1);
const SECOND = 1000;

const STRATEGIES = ['asof', 'window'] as const;
const TIMESTAMPS = new Set(['ts', 'event_ts', 'created_ts']);

function toCsv(columns: readonly string[], rows: readonly Row[]): string {
  const cell = (name: string, value: string | number | null | undefined): string => {
    if (value === null || value === undefined) return '';
    return TIMESTAMPS.has(name) ? new Date(value).toISOString().replace('T', ' ').replace('Z', '') : String(value);
  };
  return (
    [columns.join(','), ...rows.map((row) => columns.map((name) => cell(name, row[name])).join(','))].join('\n') + '\n'
  );
}

interface Generated {
  entities: Row[];
  views: ReferenceView[];
}

function generate(seed: number): Generated {
  const random = mulberry32(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const entities: Row[] = [];
  for (let i = 0; i < 300; i++) entities.push({ id: `r${i}`, k1: int(8), k2: int(3), ts: BASE + int(60) * SECOND });
  // Composite keys that collide when concatenated, an unknown key, and duplicate rows.
  entities.push(
    { id: 'c1', k1: 1, k2: 23, ts: BASE + 30 * SECOND },
    { id: 'c2', k1: 12, k2: 3, ts: BASE + 30 * SECOND },
  );
  entities.push({ id: 'unknown', k1: 99, k2: 0, ts: BASE + 30 * SECOND });
  entities.push(
    { id: 'dup', k1: 2, k2: 1, ts: BASE + 20 * SECOND },
    { id: 'dup', k1: 2, k2: 1, ts: BASE + 20 * SECOND },
  );
  const a: Row[] = [
    { k1: 1, k2: 23, event_ts: BASE + 29 * SECOND, created_ts: BASE, a_val: 123, a_str: 'one-twentythree' },
  ];
  const b: Row[] = [];
  const c: Row[] = [];
  for (let i = 0; i < 400; i++) {
    const event = BASE + int(60) * SECOND;
    // Duplicate event times (ties) on purpose: created_ts decides, null created_ts loses.
    for (let copy = 0; copy < 1 + int(2); copy++) {
      const created = random() < 0.1 ? null : BASE + int(100) * SECOND;
      a.push({ k1: int(8), k2: int(3), event_ts: event, created_ts: created, a_val: int(1000), a_str: `s${int(50)}` });
      c.push({ k1: int(8), event_ts: event, created_ts: created, c_val: random() < 0.1 ? null : int(1000) / 8 });
    }
    b.push({ k1: int(8), event_ts: event, b_val: int(1000) });
  }
  // Rows exactly at T and exactly at T - ttl for some entity rows (both inclusive).
  for (const entity of entities.slice(0, 40)) {
    const t = entity.ts as number;
    const k1 = entity.k1 ?? null;
    const k2 = entity.k2 ?? null;
    a.push({ k1, k2, event_ts: t - 10 * SECOND, created_ts: BASE, a_val: 5000 + int(100), a_str: 'edge' });
    c.push({ k1, event_ts: t, created_ts: BASE, c_val: 9000 + int(100) });
  }
  return {
    entities,
    views: [
      {
        name: 'a',
        rows: a,
        joinKeys: ['k1', 'k2'],
        eventTimestamp: 'event_ts',
        createdTimestamp: 'created_ts',
        ttlMs: 10 * SECOND,
        features: ['a_val', 'a_str'],
      },
      { name: 'b', rows: b, joinKeys: ['k1'], eventTimestamp: 'event_ts', features: ['b_val'] },
      {
        name: 'c',
        rows: c,
        joinKeys: ['k1'],
        eventTimestamp: 'event_ts',
        createdTimestamp: 'created_ts',
        ttlMs: 3 * SECOND,
        features: ['c_val'],
      },
    ],
  };
}

let dir: string;
let data: Generated;
let views: PointInTimeView[];
let entitiesFile: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-pit-'));
  data = generate(42);
  entitiesFile = path.join(dir, 'entities.csv');
  await writeFile(entitiesFile, toCsv(['id', 'k1', 'k2', 'ts'], data.entities));
  views = [];
  for (const view of data.views) {
    const source = path.join(dir, `${view.name}.csv`);
    const columns = [
      ...view.joinKeys,
      view.eventTimestamp,
      ...(view.createdTimestamp === undefined ? [] : [view.createdTimestamp]),
      ...view.features,
    ];
    await writeFile(source, toCsv(columns, view.rows));
    const { name, joinKeys, eventTimestamp, createdTimestamp, ttlMs, features } = view;
    views.push({
      name,
      source,
      joinKeys,
      eventTimestamp,
      features,
      ...(createdTimestamp === undefined ? {} : { createdTimestamp }),
      ...(ttlMs === undefined ? {} : { ttlMs }),
    });
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each(STRATEGIES)('pointInTimeJoin, %s strategy', (strategy) => {
  it('matches the brute-force reference row by row', async () => {
    const out = path.join(dir, `out-${strategy}.parquet`);
    const result = await pointInTimeJoin({ entities: entitiesFile, entityTimestamp: 'ts', views, out, strategy });
    const actual = await readRows(out);
    const expected = referencePointInTimeJoin(data.entities, 'ts', data.views);
    expect(result.rows).toBe(data.entities.length);
    expect(actual).toHaveLength(expected.length);
    for (const [i, row] of expected.entries()) expect(actual[i], `row ${i}`).toEqual(row);
  });

  it('exercises the edge cases it claims to', () => {
    const expected = referencePointInTimeJoin(data.entities, 'ts', data.views);
    const byId = (id: string): Row[] => expected.filter((row) => row.id === id);
    expect(byId('c1')[0]!.a__a_val).toBe(123);
    expect(byId('c2')[0]!.a__a_val).toBeNull();
    expect(byId('unknown')[0]).toMatchObject({ a__a_val: null, b__b_val: null, c__c_val: null });
    expect(byId('dup')).toHaveLength(2);
    const values = (name: string): (string | number | null | undefined)[] => expected.map((row) => row[name]);
    expect(values('a__a_str')).toContain('edge'); // a row exactly at T - ttl matched
    expect(values('c__c_val').some((v) => typeof v === 'number' && v >= 9000)).toBe(true); // exactly at T
    expect(values('a__a_val').filter((v) => v === null).length).toBeGreaterThan(0); // expired or missing
  });

  it('keeps entity columns first, then <view>__<feature>, in input order', async () => {
    const out = path.join(dir, `order-${strategy}.csv`);
    await pointInTimeJoin({ entities: entitiesFile, entityTimestamp: 'ts', views, out, strategy });
    const header = (await readFile(out, 'utf8')).split('\n')[0];
    expect(header).toBe('id,k1,k2,ts,a__a_val,a__a_str,b__b_val,c__c_val');
    const ids = (await readRows(out)).map((row) => row.id);
    expect(ids).toEqual(data.entities.map((row) => row.id));
  });

  it.each(['parquet', 'csv'])('gives byte-identical %s output on repeated runs', async (format) => {
    const first = path.join(dir, `run1-${strategy}.${format}`);
    const second = path.join(dir, `run2-${strategy}.${format}`);
    await pointInTimeJoin({ entities: entitiesFile, entityTimestamp: 'ts', views, out: first, strategy });
    await pointInTimeJoin({ entities: entitiesFile, entityTimestamp: 'ts', views, out: second, strategy });
    expect((await readFile(first)).equals(await readFile(second))).toBe(true);
  });

  it('rejects invalid options with every problem listed', async () => {
    const bad: PointInTimeView = {
      name: 'x',
      source: entitiesFile,
      joinKeys: [],
      eventTimestamp: 'ts',
      ttlMs: -1,
      features: [],
    };
    await expect(
      pointInTimeJoin({ entities: entitiesFile, entityTimestamp: 'ts', views: [bad], out: path.join(dir, 'x.csv') }),
    ).rejects.toThrow(/join key.*feature.*ttlMs/);
  });

  it('treats hostile identifiers and paths as data', async () => {
    const view: PointInTimeView = {
      name: 'v"; DROP',
      source: views[1]!.source,
      joinKeys: ['k1'],
      eventTimestamp: 'event_ts',
      features: ['b_val'],
    };
    const out = path.join(dir, `it's out ${strategy}.csv`);
    const result = await pointInTimeJoin({
      entities: entitiesFile,
      entityTimestamp: 'ts',
      views: [view],
      out,
      strategy,
    });
    expect(result.rows).toBe(data.entities.length);
    expect((await readFile(out, 'utf8')).split('\n')[0]).toBe('id,k1,k2,ts,"v""; DROP__b_val"');
  });
});

describe.each(STRATEGIES)('pointInTimeJoin against pandas.merge_asof, %s strategy', (strategy) => {
  // Inputs and expected output from fixtures/features/point-in-time/generate.py (committed; re-run it to regenerate).
  const fixture = (name: string): string =>
    path.join(import.meta.dirname, '../../../fixtures/features/point-in-time', name);

  it('equals the merge_asof fixture row by row', async () => {
    const out = path.join(dir, `pandas-${strategy}.parquet`);
    const result = await pointInTimeJoin({
      entities: fixture('entities.csv'),
      entityTimestamp: 'ts',
      views: [
        {
          name: 'a',
          source: fixture('view_a.csv'),
          joinKeys: ['k1', 'k2'],
          eventTimestamp: 'event_ts',
          createdTimestamp: 'created_ts',
          ttlMs: 10 * SECOND,
          features: ['a_val'],
        },
        { name: 'b', source: fixture('view_b.csv'), joinKeys: ['k1'], eventTimestamp: 'event_ts', features: ['b_val'] },
      ],
      out,
      strategy,
    });
    const expected = await readRows(fixture('expected.csv'));
    const actual = (await readRows(out)).map(({ id, a__a_val, b__b_val }) => ({ id, a__a_val, b__b_val }));
    expect(result.rows).toBe(expected.length);
    expect(expected.filter((row) => row.a__a_val === null).length).toBeGreaterThan(0);
    for (const [i, row] of expected.entries()) expect(actual[i], `row ${i}`).toEqual(row);
  });
});
