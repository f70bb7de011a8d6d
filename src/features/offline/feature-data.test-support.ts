import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeTable } from '../../io/index.js';
import { mulberry32 } from '../../stats/random.js';
import { openTestPlatform } from '../../testing/fixtures.js';
import { parseDefinitions } from '../definitions/parse-definitions.js';
import type { PredictionEntry } from '../../monitor/prediction-store.js';
import type { FeatureScalar } from '../online/online-store.js';
import type { ServedRow, ServedStatus } from '../served-features.js';
import { readRows, type ReferenceView, type Row } from './point-in-time.test-support.js';

export { readRows };

/**
 * A platform with two feature views over generated data, for the training-set, materialization,
 * push and skew tests: view `a` (composite key k1+k2, created_ts, TTL 10 s, CSV with ISO times)
 * and view `b` (key k1, no created time, no TTL, Parquet with epoch-ms times), and service `svc`
 * interleaving them with a request column.
 */

export const BASE = Date.UTC(2026, 0, 1);
export const SECOND = 1000;

export const SERVICE_FEATURES = ['b:b_val', 'request:req', 'a:a_val', 'a:a_str'] as const;

export function definitionsYaml(options: { aTable?: boolean } = {}): string {
  return `
entities:
  - name: pair
    join_keys: [{ name: k1, type: int64 }, { name: k2, type: int64 }]
  - name: one
    join_keys: { k1: int64 }
feature_views:
  - name: a
    entities: [pair]
    source: ${options.aTable === true ? '{ table: a_rows }' : '{ path: a.csv }'}
    timestamp_field: event_ts
    created_timestamp_field: created_ts
    ttl: 10s
    features:
      - { name: a_val, type: int64 }
      - { name: a_str, type: string, default: none }
  - name: b
    entities: [one]
    source: { path: b.parquet }
    timestamp_field: event_ts
    features:
      - { name: b_val, type: float64, default: -1 }
feature_services:
  - name: svc
    features: [${SERVICE_FEATURES.join(', ')}]
`;
}

export interface Generated {
  readonly entities: Row[];
  readonly views: ReferenceView[];
}

/** Entity rows with ties, expired rows, unknown and colliding composite keys, duplicates. */
export function generate(seed: number, size = 200): Generated {
  const random = mulberry32(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const entities: Row[] = [];
  for (let i = 0; i < size; i++)
    entities.push({ id: `r${i}`, k1: int(8), k2: int(3), ts: BASE + int(60) * SECOND, req: int(100) / 4 });
  entities.push(
    { id: 'c1', k1: 1, k2: 23, ts: BASE + 30 * SECOND, req: 1 },
    { id: 'c2', k1: 12, k2: 3, ts: BASE + 30 * SECOND, req: 2 },
  );
  entities.push({ id: 'unknown', k1: 99, k2: 0, ts: BASE + 30 * SECOND, req: 3 });
  entities.push(
    { id: 'dup', k1: 2, k2: 1, ts: BASE + 20 * SECOND, req: 4 },
    { id: 'dup', k1: 2, k2: 1, ts: BASE + 20 * SECOND, req: 4 },
  );
  const a: Row[] = [
    { k1: 1, k2: 23, event_ts: BASE + 29 * SECOND, created_ts: BASE, a_val: 123, a_str: 'one-twentythree' },
  ];
  const b: Row[] = [];
  for (let i = 0; i < size * 2; i++) {
    const event = BASE + int(60) * SECOND;
    for (let copy = 0; copy < 1 + int(2); copy++) {
      const created = random() < 0.1 ? null : BASE + int(100) * SECOND;
      a.push({ k1: int(8), k2: int(3), event_ts: event, created_ts: created, a_val: int(1000), a_str: `s${int(50)}` });
    }
    b.push({ k1: int(8), event_ts: event, b_val: random() < 0.1 ? null : int(1000) / 8 });
  }
  for (const entity of entities.slice(0, 30)) {
    a.push({
      k1: entity.k1 ?? null,
      k2: entity.k2 ?? null,
      event_ts: (entity.ts as number) - 10 * SECOND,
      created_ts: BASE,
      a_val: 5000 + int(100),
      a_str: 'edge',
    });
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
    ],
  };
}

const iso = (ms: number | string | null | undefined): string =>
  typeof ms === 'number' ? new Date(ms).toISOString() : '';

/** Writes `a.csv` (ISO times), `b.parquet` (epoch-ms times) and `entities.csv` into `dir`. */
export async function writeGenerated(dir: string, data: Generated): Promise<{ entities: string }> {
  const [a, b] = data.views;
  const cell = (value: string | number | null | undefined): string =>
    value === null || value === undefined ? '' : String(value);
  const aLines = [
    'k1,k2,event_ts,created_ts,a_val,a_str',
    ...a!.rows.map((r) =>
      [r.k1, r.k2, iso(r.event_ts), iso(r.created_ts), r.a_val, r.a_str]
        .map((v, i) => (i === 2 || i === 3 ? v : cell(v)))
        .join(','),
    ),
  ];
  await writeFile(path.join(dir, 'a.csv'), `${aLines.join('\n')}\n`);
  await writeTable(
    path.join(dir, 'b.parquet'),
    [
      { name: 'k1', type: 'integer' },
      { name: 'event_ts', type: 'integer' },
      { name: 'b_val', type: 'number' },
    ],
    [b!.rows.map((r) => [r.k1, r.event_ts, r.b_val])],
  );
  const entities = path.join(dir, 'entities.csv');
  await writeFile(
    entities,
    `${['id,k1,k2,ts,req', ...data.entities.map((e) => [e.id, e.k1, e.k2, iso(e.ts).replace('T', ' ').replace('Z', ''), e.req].join(','))].join('\n')}\n`,
  );
  return { entities };
}

export type TestPlatform = Awaited<ReturnType<typeof openTestPlatform>>;

/** A test platform whose home holds the generated files and the applied definitions. */
export async function openFeaturePlatform(
  data: Generated,
  options: { aTable?: boolean } = {},
): Promise<TestPlatform & { entitiesFile: string }> {
  const platform = await openTestPlatform();
  const { entities } = await writeGenerated(platform.home, data);
  await platform.features.apply(parseDefinitions(definitionsYaml(options), { baseDir: platform.home }));
  return Object.assign(platform, { entitiesFile: entities });
}

/** Defaults of the service's view features as served (see definitionsYaml); a_val has none, so a missing a_val is served as null here. */
const DEFAULTS: Readonly<Record<string, FeatureScalar>> = { 'a:a_val': null, 'a:a_str': 'none', 'b:b_val': -1 };

/** Served rows equal to the offline truth, except where `tamper` says; defaults where offline has nothing. */
export function servedRow(
  expected: Row,
  tamper: (ref: string, value: FeatureScalar) => FeatureScalar = (_ref, value) => value,
): ServedRow {
  const values: Record<string, FeatureScalar> = {};
  const statuses: Record<string, ServedStatus> = {};
  const eventTimes: Record<string, number | null> = {};
  for (const ref of SERVICE_FEATURES) {
    if (ref.startsWith('request:')) {
      values[ref] = expected.req ?? null;
      statuses[ref] = 'REQUEST';
      eventTimes[ref] = null;
      continue;
    }
    const offline = expected[ref.replace(':', '__')] ?? null;
    if (offline === null && DEFAULTS[ref] !== null) {
      values[ref] = DEFAULTS[ref] ?? null;
      statuses[ref] = 'DEFAULT';
    } else {
      values[ref] = tamper(ref, offline);
      statuses[ref] = 'PRESENT';
    }
    eventTimes[ref] = null;
  }
  return { entity: { k1: expected.k1 as number, k2: expected.k2 as number }, values, statuses, eventTimes };
}

export function prediction(id: string, timeMs: number, features: unknown): PredictionEntry {
  return {
    requestId: id,
    timeMs,
    deployment: undefined,
    model: 'm',
    version: '1.0.0',
    protocol: 'http',
    inputs: [],
    outputs: [],
    latencyMs: 1,
    features,
  };
}
