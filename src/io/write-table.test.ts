import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDuckDb } from './duckdb.js';
import { failure, readColumns, tempFolder } from './io.test-support.js';
import { writeTable } from './write-table.js';
import type { WriteColumn } from './types.js';

let folder: Awaited<ReturnType<typeof tempFolder>>;
let sub = 0;
/** A fresh empty folder per test, so "no temp file left behind" means an empty listing. */
async function freshDir(): Promise<string> {
  const dir = path.join(folder.dir, `t${sub++}`);
  await mkdir(dir);
  return dir;
}

beforeAll(async () => {
  folder = await tempFolder();
});
afterAll(async () => {
  await closeDuckDb();
  await folder.remove();
});

const COLUMNS: WriteColumn[] = [
  { name: 'id', type: 'integer' },
  { name: 'note, "quoted"', type: 'string' },
  { name: 'x', type: 'number' },
  { name: 'ok', type: 'boolean' },
];

describe('writeTable output', () => {
  it('writes CSV with a header and RFC 4180 quoting; null is an empty field, "" an empty string', async () => {
    const file = path.join(await freshDir(), 'out.csv');
    const rows = [
      [1, 'plain', 0.1, true],
      [2, 'a,b', null, false],
      [3, 'say "hi"', -1e21, null],
      [4, 'two\nlines', Number.NaN, 1],
      [5, '', 2.5, 0],
      [6, null, 3, undefined],
    ];
    expect(await writeTable(file, COLUMNS, [rows])).toEqual({ rows: 6 });
    expect(await readFile(file, 'utf8')).toBe(
      [
        'id,"note, ""quoted""",x,ok',
        '1,plain,0.1,true',
        '2,"a,b",,false',
        '3,"say ""hi""",-1e+21,',
        '4,"two\nlines",NaN,true',
        '5,"",2.5,false',
        '6,,3,',
        '',
      ].join('\n'),
    );
  });

  it('writes JSONL, one object per row with keys in column order', async () => {
    const file = path.join(await freshDir(), 'out.jsonl');
    await writeTable(file, COLUMNS, [[[1, 'é "q"', 0.5, true]], [[2n ** 62n, null, Number.NEGATIVE_INFINITY, null]]]);
    expect((await readFile(file, 'utf8')).split('\n')).toEqual([
      '{"id":1,"note, \\"quoted\\"":"é \\"q\\"","x":0.5,"ok":true}',
      `{"id":${2n ** 62n},"note, \\"quoted\\"":null,"x":null,"ok":null}`,
      '',
    ]);
  });

  it('accepts an async iterable of batches and counts every row', async () => {
    const file = path.join(await freshDir(), 'out.parquet');
    async function* batches(): AsyncGenerator<unknown[][]> {
      for (let b = 0; b < 5; b++) {
        await Promise.resolve();
        yield Array.from({ length: 1_000 }, (_, i) => [b * 1_000 + i, `n${i}`, i / 7, i % 2 === 0]);
      }
    }
    expect(await writeTable(file, COLUMNS, batches())).toEqual({ rows: 5_000 });
    const read = await readColumns(file, { columns: ['id'] });
    expect(read.id).toEqual(Array.from({ length: 5_000 }, (_, i) => i));
  });

  it('replaces an existing file', async () => {
    const file = path.join(await freshDir(), 'out.csv');
    await writeFile(file, 'old');
    await writeTable(file, [{ name: 'a', type: 'number' }], [[[1]]]);
    expect(await readFile(file, 'utf8')).toBe('a\n1\n');
  });
});

describe.each(['csv', 'parquet', 'jsonl'])('writeTable to %s is atomic', (format) => {
  it('leaves no file behind when the row source throws midway', async () => {
    const dir = await freshDir();
    const sourceError = new Error('source failed');
    function* batches(): Generator<unknown[][]> {
      yield Array.from({ length: 5_000 }, (_, i) => [i, 's', 1, true]);
      throw sourceError;
    }
    await expect(writeTable(path.join(dir, `out.${format}`), COLUMNS, batches())).rejects.toBe(sourceError);
    expect(await readdir(dir)).toEqual([]);
  });

  it('leaves an existing file untouched when a value does not fit its column', async () => {
    const dir = await freshDir();
    const file = path.join(dir, `out.${format}`);
    await writeFile(file, 'previous contents');
    const batches = [
      [[1, 'a', 1, true]],
      [
        [2, 'b', 2, false],
        [3, 'c', '3', true],
      ],
    ];
    expect(await failure(writeTable(file, COLUMNS, batches), 'INVALID_ARGUMENT')).toBe(
      'row 3, column "x": expected a number, got "3"',
    );
    expect(await readdir(dir)).toEqual([`out.${format}`]);
    expect(await readFile(file, 'utf8')).toBe('previous contents');
  });

  it('stops with CANCELLED between batches and leaves nothing behind', async () => {
    const dir = await freshDir();
    const controller = new AbortController();
    function* batches(): Generator<unknown[][]> {
      yield [[1, 'a', 1, true]];
      controller.abort();
      yield [[2, 'b', 2, false]];
    }
    await failure(
      writeTable(path.join(dir, `out.${format}`), COLUMNS, batches(), { signal: controller.signal }),
      'CANCELLED',
    );
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('writeTable errors', () => {
  const one = [[[1]]];

  it('rejects bad column lists', async () => {
    const file = path.join(folder.dir, 'x.csv');
    expect(await failure(writeTable(file, [], one), 'INVALID_ARGUMENT')).toBe('a table needs at least one column');
    expect(
      await failure(
        writeTable(
          file,
          [
            { name: 'a', type: 'number' },
            { name: 'a', type: 'string' },
          ],
          one,
        ),
        'INVALID_ARGUMENT',
      ),
    ).toBe('column "a" appears twice');
    expect(await failure(writeTable(file, [{ name: '', type: 'number' }], one), 'INVALID_ARGUMENT')).toBe(
      'column names must be non-empty strings',
    );
    expect(await failure(writeTable(file, [{ name: 'a', type: 'float' as 'number' }], one), 'INVALID_ARGUMENT')).toBe(
      'column "a" has type "float"; expected one of number, string, integer, boolean',
    );
  });

  it('rejects values that do not fit, naming row and column', async () => {
    const file = path.join(folder.dir, 'x.csv');
    const write = (type: WriteColumn['type'], value: unknown): Promise<unknown> =>
      writeTable(file, [{ name: 'v', type }], [[[value]]]);
    expect(await failure(write('integer', 1.5), 'INVALID_ARGUMENT')).toBe(
      'row 1, column "v": expected an integer, got 1.5',
    );
    expect(await failure(write('integer', 2n ** 63n), 'INVALID_ARGUMENT')).toBe(
      `row 1, column "v": expected an integer, got ${2n ** 63n}n`,
    );
    expect(await failure(write('boolean', 'yes'), 'INVALID_ARGUMENT')).toBe(
      'row 1, column "v": expected a boolean, got "yes"',
    );
    expect(await failure(write('string', 5), 'INVALID_ARGUMENT')).toBe('row 1, column "v": expected a string, got 5');
    expect(await failure(write('number', { a: 1 }), 'INVALID_ARGUMENT')).toBe(
      'row 1, column "v": expected a number, got an object',
    );
    expect(await failure(writeTable(file, [{ name: 'v', type: 'number' }], [[[1, 2]]]), 'INVALID_ARGUMENT')).toBe(
      'row 1 has 2 values, expected 1 (v)',
    );
  });

  it('INVALID_ARGUMENT for an unknown extension, NOT_FOUND for a missing folder', async () => {
    expect(
      await failure(
        writeTable(path.join(folder.dir, 'x.txt'), [{ name: 'a', type: 'number' }], one),
        'INVALID_ARGUMENT',
      ),
    ).toMatch(/^cannot tell the format of ".*x\.txt"/);
    const inMissing = path.join(folder.dir, 'no-such-folder', 'x.parquet');
    expect(await failure(writeTable(inMissing, [{ name: 'a', type: 'number' }], one), 'NOT_FOUND')).toBe(
      `cannot write "${inMissing}": folder "${path.dirname(inMissing)}" does not exist`,
    );
  });
});
