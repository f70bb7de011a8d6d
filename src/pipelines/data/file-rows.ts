import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { invalid } from '../../core/errors.js';
import type { FeatureStore } from '../../features/feature-store.js';
import { buildTrainingSet } from '../../features/offline/training-set.js';
import { describeTable, readTable } from '../../io/index.js';
import type { ColumnValues, TableColumn, WriteColumn } from '../../io/types.js';
import type { RunTable, TableRow } from './run-table.js';

const INTEGER_DUCKDB = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$/;

/**
 * The rows of a label file (entity keys, timestamps, labels) whose time is in [sinceMs, untilMs], with
 * the feature service's features joined point-in-time by `buildTrainingSet` (the function behind
 * `slipway features training-set`, so the rows equal its output for the same entities). Columns keep
 * the training set's order; the file's label column is renamed to `labelColumn`; timestamps are
 * written as ISO text.
 */
export async function fileRows(options: {
  readonly features: FeatureStore;
  readonly service: string;
  readonly file: string;
  readonly timestampColumn: string;
  readonly fileLabelColumn: string;
  readonly labelColumn: string;
  readonly sinceMs: number;
  readonly untilMs: number;
  readonly workDir: string;
}): Promise<RunTable> {
  const joined = path.join(options.workDir, `.labels-joined.${randomBytes(6).toString('hex')}.parquet`);
  try {
    const result = await buildTrainingSet(options.features, {
      service: options.service,
      entities: path.resolve(options.file),
      out: joined,
      timestampColumn: options.timestampColumn,
    });
    const described = (await describeTable(joined)).columns;
    const names = described.map((c) => c.name);
    if (!names.includes(options.fileLabelColumn))
      throw invalid(
        `label file "${options.file}" has no label column "${options.fileLabelColumn}"; its columns are ${names.join(', ')}`,
      );
    if (options.labelColumn !== options.fileLabelColumn && names.includes(options.labelColumn))
      throw invalid(
        `data.labelColumn "${options.labelColumn}" is already a column of the training set (the file's label is "${options.fileLabelColumn}")`,
      );
    const columns: WriteColumn[] = described.map((c) => ({
      name: c.name === options.fileLabelColumn ? options.labelColumn : c.name,
      type: writeType(c),
    }));
    const rows: TableRow[] = [];
    let noTime = 0;
    for await (const chunk of readTable(joined)) {
      const values = described.map((c) => chunk.columns.get(c.name)!);
      const times = chunk.columns.get(options.timestampColumn)!;
      for (let i = 0; i < chunk.rows; i++) {
        const timeMs = timeValue(times, i);
        if (Number.isNaN(timeMs)) noTime++;
        if (!(timeMs >= options.sinceMs && timeMs <= options.untilMs)) continue;
        rows.push({ timeMs, values: values.map((column) => cellValue(column, i)) });
      }
    }
    return {
      columns,
      rows,
      featureColumns: result.featureColumns,
      excluded: noTime > 0 ? { 'no event time': noTime } : {},
    };
  } finally {
    await rm(joined, { force: true });
  }
}

function writeType(column: TableColumn): WriteColumn['type'] {
  if (column.type === 'number') return INTEGER_DUCKDB.test(column.duckdbType) ? 'integer' : 'number';
  if (column.type === 'boolean') return 'boolean';
  return 'string';
}

function cellValue(column: ColumnValues, i: number): unknown {
  switch (column.type) {
    case 'number':
      return column.nulls[i] === 1 ? null : column.values[i];
    case 'boolean':
      return column.nulls[i] === 1 ? null : column.values[i] === 1;
    case 'timestamp':
      return column.nulls[i] === 1 ? null : new Date(column.values[i]!).toISOString();
    case 'string':
    case 'other':
      return column.values[i] ?? null;
  }
}

/** Epoch ms of a timestamp cell: a timestamp, epoch-ms number or date text; NaN when missing. */
function timeValue(column: ColumnValues, i: number): number {
  if (column.type === 'string' || column.type === 'other') {
    const text = column.values[i];
    return text === null || text === undefined ? NaN : Date.parse(text);
  }
  return column.nulls[i] === 1 ? NaN : column.values[i]!;
}
