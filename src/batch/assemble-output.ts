import { listValue } from '@duckdb/node-api';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SlipwayError } from '../core/errors.js';
import { writeFileAtomically } from '../io/atomic-file.js';
import { shortDuckDbMessage, withConnection } from '../io/duckdb.js';
import { quoteIdentifier, resolveTableTarget, type TableFormat } from '../io/table-source.js';
import { writeTable, type WriteColumn } from '../io/index.js';

const COPY_FORMAT: Readonly<Record<TableFormat, string>> = { csv: 'csv, HEADER true', parquet: 'parquet', jsonl: 'json' };

/**
 * Concatenates the parts, in order, into `output` (format by extension) with one streaming COPY,
 * written atomically. DuckDB keeps insertion order, so a list of files reads file by file, row by
 * row. With no parts (an empty input) the output is written empty, with its columns.
 */
export async function assembleOutput(output: string, parts: readonly string[], columns: readonly WriteColumn[]): Promise<void> {
  const target = resolveTableTarget(output);
  if (parts.length === 0) {
    await writeTable(target.path, columns, []);
    return;
  }
  await writeFileAtomically(target.path, (temp) =>
    withConnection(async (connection) => {
      try {
        await connection.run(`COPY (SELECT ${selectList(columns)} FROM read_parquet($1)) TO $2 (FORMAT ${COPY_FORMAT[target.format]})`, [listValue([...parts]), temp]);
      } catch (error) {
        throw new SlipwayError('INTERNAL', `cannot write "${output}": ${shortDuckDbMessage(error)}`, { cause: error });
      }
    }),
  );
}

/** The output's columns from a part's: number columns (FP32 outputs are FLOAT in parts) as DOUBLE. */
function selectList(columns: readonly WriteColumn[]): string {
  return columns.map((c) => (c.type === 'number' ? `CAST(${quoteIdentifier(c.name)} AS DOUBLE) AS ${quoteIdentifier(c.name)}` : quoteIdentifier(c.name))).join(', ');
}

/** `out/predictions.parquet` -> `out/predictions.rejects.jsonl`. */
export function rejectsFileOf(output: string): string {
  const extension = path.extname(output);
  return `${output.slice(0, output.length - extension.length)}.rejects.jsonl`;
}

/** Concatenates the per-part rejects (JSONL) into one file, atomically. */
export async function assembleRejects(file: string, parts: readonly string[]): Promise<void> {
  await writeFileAtomically(file, async (temp) => {
    const texts: string[] = [];
    for (const part of parts) texts.push(await readFile(part, 'utf8'));
    await writeFile(temp, texts.join(''));
  });
}
