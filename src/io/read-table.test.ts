import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTable } from './describe-table.js';
import { closeDuckDb, getDuckDb } from './duckdb.js';
import { failure, plain, readAll, readColumns, tempFolder } from './io.test-support.js';
import { readTable } from './read-table.js';
import { writeTable } from './write-table.js';
import type { TableChunk, WriteColumn } from './types.js';

let folder: Awaited<ReturnType<typeof tempFolder>>;
const at = (name: string): string => path.join(folder.dir, name);

/** `count` rows: id 0..count-1, x = id * 0.5, s = 'r' + id. */
async function writeNumbered(file: string, count: number, offset = 0): Promise<void> {
  const columns: WriteColumn[] = [
    { name: 'id', type: 'integer' },
    { name: 'x', type: 'number' },
    { name: 's', type: 'string' },
  ];
  function* batches(): Generator<unknown[][]> {
    for (let start = 0; start < count; start += 10_000) {
      const size = Math.min(10_000, count - start);
      yield Array.from({ length: size }, (_, i) => [
        offset + start + i,
        (offset + start + i) * 0.5,
        `r${offset + start + i}`,
      ]);
    }
  }
  await writeTable(file, columns, batches());
}

beforeAll(async () => {
  folder = await tempFolder();
  await writeNumbered(at('numbered.parquet'), 120_000);
});
afterAll(async () => {
  await closeDuckDb();
  await folder.remove();
});

describe('readTable', () => {
  it('streams 120,000 rows as chunks of 50,000, 50,000 and 20,000, in file order', async () => {
    const chunks = await readAll(at('numbered.parquet'), { chunkRows: 50_000 });
    expect(chunks.map((c) => c.rows)).toEqual([50_000, 50_000, 20_000]);
    let expected = 0;
    for (const chunk of chunks) {
      const id = chunk.columns.get('id');
      expect(id?.type).toBe('number');
      if (id?.type !== 'number') return;
      expect(id.values.length).toBe(chunk.rows);
      expect(id.nullCount).toBe(0);
      const wrong = id.values.findIndex((value, i) => value !== expected + i);
      expect(wrong).toBe(-1);
      expected += chunk.rows;
      expect((chunk.columns.get('s')?.values as string[]).at(-1)).toBe(`r${expected - 1}`);
    }
    expect(expected).toBe(120_000);
  });

  it('defaults to chunks of 50,000 rows and handles a chunk size that does not divide DuckDB batches', async () => {
    expect((await readAll(at('numbered.parquet'))).map((c) => c.rows)).toEqual([50_000, 50_000, 20_000]);
    const odd = await readAll(at('numbered.parquet'), { chunkRows: 7_777, columns: ['x'] });
    expect(odd.length).toBe(Math.ceil(120_000 / 7_777));
    expect(odd.at(-1)?.rows).toBe(120_000 % 7_777);
    const xs = odd.flatMap((c) => plain(c.columns.get('x')));
    expect(xs[7_777]).toBe(7_777 * 0.5);
    expect(xs[119_999]).toBe(119_999 * 0.5);
  });

  it('reads only the requested columns, in the requested order', async () => {
    let first: TableChunk | undefined;
    for await (const chunk of readTable(at('numbered.parquet'), { columns: ['s', 'id', 's'], chunkRows: 3 })) {
      first = chunk;
      break;
    }
    expect([...(first?.columns.keys() ?? [])]).toEqual(['s', 'id']);
    expect(plain(first?.columns.get('s'))).toEqual(['r0', 'r1', 'r2']);
    expect(plain(first?.columns.get('id'))).toEqual([0, 1, 2]);
  });

  it('names an unknown column and lists the available ones', async () => {
    const message = await failure(readAll(at('numbered.parquet'), { columns: ['id', 'nope'] }), 'INVALID_ARGUMENT');
    expect(message).toBe(`table "${at('numbered.parquet')}" has no column "nope"; its columns are "id", "x", "s"`);
  });

  it('reads every file a glob matches', async () => {
    await Promise.all([0, 1, 2].map((part) => writeNumbered(at(`part-${part}.parquet`), 1_000, part * 1_000)));
    const read = await readColumns(at('part-*.parquet'), { columns: ['id'] });
    expect(read.id?.length).toBe(3_000);
    expect([...(read.id ?? [])].sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 3_000 }, (_, i) => i),
    );
  });

  it('converts booleans to 0/1, timestamps and dates to epoch ms, other types to text', async () => {
    const file = at('typed.parquet');
    const connection = await (await getDuckDb()).connect();
    try {
      await connection.run(
        `COPY (SELECT * FROM (VALUES
           (true, TIMESTAMP '2024-01-02 03:04:05.678', TIMESTAMPTZ '2024-01-02 03:04:05+02', DATE '2024-01-02', [1, 2], 1.25::DECIMAL(5,2)),
           (NULL, NULL, NULL, NULL, NULL, NULL)) AS t(b, ts, tz, d, l, dec)) TO $1 (FORMAT parquet)`,
        [file],
      );
    } finally {
      connection.closeSync();
    }
    const { columns } = await describeTable(file);
    expect(columns.map((c) => [c.name, c.type, c.duckdbType])).toEqual([
      ['b', 'boolean', 'BOOLEAN'],
      ['ts', 'timestamp', 'TIMESTAMP'],
      ['tz', 'timestamp', 'TIMESTAMP WITH TIME ZONE'],
      ['d', 'timestamp', 'DATE'],
      ['l', 'other', 'INTEGER[]'],
      ['dec', 'number', 'DECIMAL(5,2)'],
    ]);
    const [chunk] = await readAll(file);
    expect(chunk?.columns.get('b')?.type).toBe('boolean');
    expect(plain(chunk?.columns.get('b'))).toEqual([1, null]);
    expect(plain(chunk?.columns.get('ts'))).toEqual([Date.UTC(2024, 0, 2, 3, 4, 5, 678), null]);
    expect(plain(chunk?.columns.get('tz'))).toEqual([Date.UTC(2024, 0, 2, 1, 4, 5), null]);
    expect(plain(chunk?.columns.get('d'))).toEqual([Date.UTC(2024, 0, 2), null]);
    expect(plain(chunk?.columns.get('l'))).toEqual(['[1, 2]', null]);
    expect(plain(chunk?.columns.get('dec'))).toEqual([1.25, null]);
    const b = chunk?.columns.get('b');
    if (b?.type !== 'boolean') throw new Error('expected a boolean column');
    expect([...b.nulls]).toEqual([0, 1]);
    expect(b.nullCount).toBe(1);
    expect(b.values[1]).toBeNaN();
  });

  it('reads a header-only CSV as zero chunks, and still describes its columns', async () => {
    await writeFile(at('header-only.csv'), 'a,b,c\n');
    expect(await readAll(at('header-only.csv'))).toEqual([]);
    expect((await describeTable(at('header-only.csv'))).columns.map((c) => c.name)).toEqual(['a', 'b', 'c']);
  });

  it('reads CSV written by other tools: RFC 4180 quotes, unicode, CRLF line ends', async () => {
    await writeFile(at('foreign.csv'), 'name,note\r\n"Zoë ""Z"", Jr.",café 🦆\r\n"multi\nline",\r\n');
    expect(await readColumns(at('foreign.csv'))).toEqual({
      name: ['Zoë "Z", Jr.', 'multi\nline'],
      note: ['café 🦆', null],
    });
  });

  it('stops early without error when the caller breaks out of the loop', async () => {
    let seen = 0;
    for await (const chunk of readTable(at('numbered.parquet'), { chunkRows: 10_000 })) {
      seen += chunk.rows;
      break;
    }
    expect(seen).toBe(10_000);
  });

  it('stops with CANCELLED when the signal aborts', async () => {
    const controller = new AbortController();
    const reading = (async () => {
      for await (const chunk of readTable(at('numbered.parquet'), { chunkRows: 1_000, signal: controller.signal })) {
        expect(chunk.rows).toBe(1_000);
        controller.abort();
      }
    })();
    await failure(reading, 'CANCELLED');
  });
});

describe('readTable and describeTable errors', () => {
  it('NOT_FOUND names a missing file', async () => {
    const missing = at('missing.parquet');
    expect(await failure(readAll(missing), 'NOT_FOUND')).toBe(`table file "${missing}" does not exist`);
    expect(await failure(describeTable(missing), 'NOT_FOUND')).toBe(`table file "${missing}" does not exist`);
  });

  it('NOT_FOUND names a glob that matches nothing', async () => {
    const pattern = at('nothing-*.parquet');
    expect(await failure(readAll(pattern), 'NOT_FOUND')).toBe(`no table files match "${pattern}"`);
  });

  it('INVALID_ARGUMENT for an unknown extension, listing the known ones', async () => {
    expect(await failure(readAll(at('table.xlsx')), 'INVALID_ARGUMENT')).toBe(
      `cannot tell the format of "${at('table.xlsx')}": expected a name ending in .csv, .parquet, .jsonl, .ndjson`,
    );
  });

  it("INVALID_ARGUMENT with DuckDB's shortened message for a file that is not what its name says", async () => {
    await writeFile(at('broken.parquet'), 'this is not parquet');
    const message = await failure(readAll(at('broken.parquet')), 'INVALID_ARGUMENT');
    expect(message).toMatch(new RegExp(`^cannot read table "${at('broken.parquet')}": .*(parquet|magic)`, 'i'));
    expect(message).not.toContain('LINE 1');
    expect(message.length).toBeLessThan(450);

    await writeFile(at('broken.jsonl'), '{"a": 1}\n{not json\n');
    expect(await failure(readAll(at('broken.jsonl')), 'INVALID_ARGUMENT')).toMatch(
      /^cannot read table ".*broken\.jsonl": .*JSON/,
    );
  });

  it('INVALID_ARGUMENT midway when a CSV column stops matching the type DuckDB sniffed', async () => {
    await writeFile(at('drifting.csv'), `a\n${'1\n'.repeat(30_000)}x\n`);
    const message = await failure(readAll(at('drifting.csv'), { chunkRows: 1_000 }), 'INVALID_ARGUMENT');
    expect(message).toMatch(/^cannot read table ".*drifting\.csv": .*Line: 30002.*Could not convert string "x"/);
  });

  it('INVALID_ARGUMENT for a folder, an empty path and a bad chunk size', async () => {
    await mkdir(at('folder.parquet'));
    expect(await failure(readAll(at('folder.parquet')), 'INVALID_ARGUMENT')).toBe(
      `table path "${at('folder.parquet')}" is not a file`,
    );
    expect(await failure(readAll(''), 'INVALID_ARGUMENT')).toBe('invalid table path ""');
    expect(await failure(readAll(at('numbered.parquet'), { chunkRows: 0 }), 'INVALID_ARGUMENT')).toBe(
      'chunkRows must be an integer from 1 to 10000000, got 0',
    );
  });
});
