import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachDialect } from '../../testing/databases.js';
import { FeatureDefinitionsStore } from '../definitions/definitions-store.js';
import { parseDefinitions } from '../definitions/parse-definitions.js';
import { FeatureStore } from '../feature-store.js';
import { openSqliteOnlineStore } from '../online/index.js';
import {
  definitionsYaml,
  generate,
  openFeaturePlatform,
  readRows,
  writeGenerated,
  type Generated,
  type TestPlatform,
} from './feature-data.test-support.js';
import { referencePointInTimeJoin, type Row } from './point-in-time.test-support.js';
import { buildTrainingSet } from './training-set.js';

/** The reference, with the output in the service's column order. */
function expected(data: Generated): Row[] {
  return referencePointInTimeJoin(data.entities, 'ts', data.views);
}

describe('buildTrainingSet', () => {
  const data = generate(7);
  let platform: TestPlatform & { entitiesFile: string };

  beforeAll(async () => {
    platform = await openFeaturePlatform(data);
  });
  afterAll(async () => {
    await platform.dispose();
  });

  it('equals the brute-force reference through the service (ties, TTL, unknown and composite keys, two views, a request column)', async () => {
    const out = path.join(platform.home, 'train.parquet');
    const result = await buildTrainingSet(platform.features, {
      service: 'svc',
      entities: platform.entitiesFile,
      out,
      timestampColumn: 'ts',
    });
    expect(result.rows).toBe(data.entities.length);
    expect(result.featureColumns).toEqual(['b__b_val', 'req', 'a__a_val', 'a__a_str']);
    const actual = await readRows(out);
    const reference = expected(data);
    expect(actual).toHaveLength(reference.length);
    for (const [i, row] of reference.entries()) expect(actual[i], `row ${i}`).toEqual(row);
    // The cases the data claims to cover.
    const byId = (id: string): Row[] => actual.filter((row) => row.id === id);
    expect(byId('c1')[0]!.a__a_val).toBe(123);
    expect(byId('c2')[0]!.a__a_val).toBeNull();
    expect(byId('unknown')[0]).toMatchObject({ a__a_val: null, b__b_val: null, req: 3 });
    expect(byId('dup')).toHaveLength(2);
    expect(actual.some((row) => row.a__a_str === 'edge')).toBe(true);
  });

  it('writes entity columns then the service refs in service order (CSV)', async () => {
    const out = path.join(platform.home, 'train.csv');
    await buildTrainingSet(platform.features, {
      service: 'svc',
      entities: platform.entitiesFile,
      out,
      timestampColumn: 'ts',
    });
    const header = (await readFile(out, 'utf8')).split('\n')[0];
    expect(header).toBe('id,k1,k2,ts,req,b__b_val,a__a_val,a__a_str');
  });

  it('names a missing join key, timestamp column or request column', async () => {
    const bad = path.join(platform.home, 'bad-entities.csv');
    await writeFile(bad, 'id,k1,when\nx,1,2026-01-01 00:00:10\n');
    const out = path.join(platform.home, 'never.parquet');
    const error = buildTrainingSet(platform.features, { service: 'svc', entities: bad, out });
    await expect(error).rejects.toThrow(
      /lacks "event_timestamp" \(the timestamp column.*"k2" \(a join key of view "a"\).*"req" \(request feature/,
    );
    await expect(
      buildTrainingSet(platform.features, { service: 'svc', entities: bad, out, timestampColumn: 'when' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(buildTrainingSet(platform.features, { service: 'nope', entities: bad, out })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('accepts epoch-ms entity timestamps', async () => {
    const file = path.join(platform.home, 'epoch-entities.csv');
    const rows = data.entities.slice(0, 20);
    await writeFile(
      file,
      `id,k1,k2,ts,req\n${rows.map((e) => [e.id, e.k1, e.k2, e.ts, e.req].join(',')).join('\n')}\n`,
    );
    const out = path.join(platform.home, 'epoch.parquet');
    await buildTrainingSet(platform.features, { service: 'svc', entities: file, out, timestampColumn: 'ts' });
    const actual = await readRows(out);
    const reference = referencePointInTimeJoin(rows, 'ts', data.views);
    expect(actual.map(({ ts: _ts, ...rest }) => rest)).toEqual(reference.map(({ ts: _ts, ...rest }) => rest));
  });
});

describeEachDialect('buildTrainingSet over a table on the metadata database', (fixture) => {
  it('snapshots the table (epoch-ms and ISO-text times) and equals the reference', async () => {
    const data = generate(11, 80);
    const database = await fixture.open();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-table-source-'));
    const store = new FeatureStore({
      definitions: new FeatureDefinitionsStore(database),
      online: openSqliteOnlineStore({ path: ':memory:' }),
      database,
      offlineDir: path.join(dir, 'log'),
      signatureOf: () => Promise.reject(new Error('no models here')),
    });
    try {
      const { entities } = await writeGenerated(dir, data);
      await store.apply(parseDefinitions(definitionsYaml({ aTable: true }), { baseDir: dir }));
      const db = database.db;
      await sql`create table a_rows (k1 integer, k2 integer, event_ts bigint, created_ts text, a_val integer, a_str text)`.execute(
        db,
      );
      for (const row of data.views[0]!.rows) {
        const created = typeof row.created_ts === 'number' ? new Date(row.created_ts).toISOString() : null;
        await sql`insert into a_rows values (${row.k1}, ${row.k2}, ${row.event_ts}, ${created}, ${row.a_val}, ${row.a_str})`.execute(
          db,
        );
      }
      const out = path.join(dir, 'train-table.parquet');
      const result = await buildTrainingSet(store, { service: 'svc', entities, out, timestampColumn: 'ts' });
      expect(result.rows).toBe(data.entities.length);
      const actual = await readRows(out);
      for (const [i, row] of expected(data).entries()) expect(actual[i], `row ${i}`).toEqual(row);
    } finally {
      await store.online.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
