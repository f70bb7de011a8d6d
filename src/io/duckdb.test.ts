import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { closeDuckDb, configureDuckDb, getDuckDb, shortDuckDbMessage, withConnection } from './duckdb.js';
import { failure, readAll, tempFolder } from './io.test-support.js';

// This file closes the process's instance: it must stay the only test in its file (vitest isolates files).
describe('the shared DuckDB instance', () => {
  it('takes settings before first use, is created once, and refuses use once closed', async () => {
    configureDuckDb({ memoryLimit: '256MB', threads: 1 });
    const [first, second] = await Promise.all([getDuckDb(), getDuckDb()]);
    expect(first).toBe(second);
    const settings = await withConnection(async (connection) =>
      (await connection.runAndReadAll("SELECT current_setting('memory_limit'), current_setting('threads')")).getRows(),
    );
    expect(settings).toEqual([['244.1 MiB', 1n]]);
    expect(() => configureDuckDb({ memoryLimit: '1GB' })).toThrow(SlipwayError);

    await closeDuckDb();
    await closeDuckDb(); // closing twice is harmless
    expect(await failure(getDuckDb(), 'FAILED_PRECONDITION')).toBe('DuckDB has been closed');
    const folder = await tempFolder();
    try {
      await writeFile(path.join(folder.dir, 'a.csv'), 'a\n1\n');
      expect(await failure(readAll(path.join(folder.dir, 'a.csv')), 'FAILED_PRECONDITION')).toBe(
        'DuckDB has been closed',
      );
    } finally {
      await folder.remove();
    }
  });
});

describe('shortDuckDbMessage', () => {
  it('keeps the leading lines and drops the SQL excerpt and hints', () => {
    const message =
      'Invalid Input Error: Error when sniffing file "/x.csv".\nIt was not possible to detect the dialect\nThe search space used was:\n...\n\nLINE 1: SELECT ...';
    expect(shortDuckDbMessage(new Error(message))).toBe(
      'Invalid Input Error: Error when sniffing file "/x.csv". It was not possible to detect the dialect',
    );
    expect(shortDuckDbMessage(new Error(`${'x'.repeat(400)}\nLINE 1: y`))).toBe(`${'x'.repeat(299)}…`);
  });
});
