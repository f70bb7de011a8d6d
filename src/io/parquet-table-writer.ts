import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { listValue, type DuckDBAppender, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { SlipwayError } from '../core/errors.js';
import { shortDuckDbMessage, withConnection } from './duckdb.js';
import type { CheckedBatch } from './row-batches.js';
import { quoteIdentifier } from './table-source.js';
import type { WriteColumn, WriteColumnType } from './types.js';

const DUCKDB_TYPES: Readonly<Record<WriteColumnType, string>> = {
  number: 'DOUBLE',
  integer: 'BIGINT',
  boolean: 'BOOLEAN',
  string: 'VARCHAR',
};

type AppendValue = (appender: DuckDBAppender, value: unknown) => void;

/** One appender call per value, by column type; values were checked by `checkRow`. */
const APPEND: Readonly<Record<WriteColumnType, AppendValue>> = {
  number: (appender, value) => {
    if (typeof value === 'number') appender.appendDouble(value);
    else if (typeof value === 'bigint') appender.appendDouble(Number(value));
    else appender.appendNull();
  },
  integer: (appender, value) => {
    if (typeof value === 'bigint') appender.appendBigInt(value);
    else if (typeof value === 'number') appender.appendBigInt(BigInt(value));
    else appender.appendNull();
  },
  boolean: (appender, value) => {
    if (value === null || value === undefined) appender.appendNull();
    else appender.appendBoolean(value === true || value === 1);
  },
  string: (appender, value) => {
    if (typeof value === 'string') appender.appendVarchar(value);
    else appender.appendNull();
  },
};

/** Rows staged in memory before they are moved to a part file: about 32 MB of doubles. */
const PART_CELLS = 4_000_000;
/**
 * Characters of strings staged before the rows move to a part file, whatever the row count: long
 * strings (a prediction's tensors as JSON) filled DuckDB's memory limit before PART_CELLS was
 * reached (issue 13 item 6: "Out of Memory" exporting about twenty image predictions).
 */
const PART_CHARS = 32 * 1024 * 1024;
/**
 * DuckDB holds a whole row group in memory while it writes one (122,880 rows by default). When
 * rows carry long strings the files get row groups of fewer rows, about this many characters each,
 * down to DuckDB's vector size (2,048 rows); with fewer, DuckDB still ran out of memory when tried.
 */
const ROW_GROUP_CHARS = 64 * 1024 * 1024;
const MIN_ROW_GROUP_ROWS = 2_048;
const DEFAULT_ROW_GROUP_ROWS = 122_880;

export interface ParquetWriteOptions {
  /** Rows per staged part; by default 4,000,000 cells' worth. For tests. */
  partRows?: number;
}

/**
 * Writes Parquet with bounded memory. Rows go through DuckDB's appender into an in-memory temp
 * table; each time it holds `partRows` rows it is copied to a part file next to `file` and
 * emptied. At the end a single part (or the table itself) is copied to `file`, or several parts
 * are merged, in order, by one streaming `COPY`. Part files are removed whatever happens.
 * Returns the rows written. Column names only appear as quoted identifiers; paths are bound parameters.
 */
export async function writeParquetTable(
  file: string,
  columns: readonly WriteColumn[],
  batches: AsyncIterable<CheckedBatch>,
  options: ParquetWriteOptions = {},
): Promise<number> {
  const partRows = options.partRows ?? Math.max(2_048, Math.floor(PART_CELLS / columns.length));
  return withConnection(async (connection) => {
    const stage = await ParquetStage.create(connection, file, columns);
    try {
      for await (const batch of batches) {
        for (const row of batch) {
          stage.append(row);
          if (stage.stagedRows >= partRows || stage.stagedChars >= PART_CHARS) await stage.movePart();
        }
      }
      await stage.finish();
      return stage.totalRows;
    } finally {
      await stage.dispose();
    }
  });
}

class ParquetStage {
  readonly parts: string[] = [];
  stagedRows = 0;
  /** Characters of the strings staged. */
  stagedChars = 0;
  totalRows = 0;
  /** Characters of every string appended, for the row group size. */
  totalChars = 0;
  private readonly appends: AppendValue[];

  private constructor(
    private readonly connection: DuckDBConnection,
    private readonly file: string,
    private readonly columns: readonly WriteColumn[],
    private readonly table: string,
    private appender: DuckDBAppender | undefined,
  ) {
    this.appends = columns.map((column) => APPEND[column.type]);
  }

  static async create(
    connection: DuckDBConnection,
    file: string,
    columns: readonly WriteColumn[],
  ): Promise<ParquetStage> {
    const table = `slipway_stage_${randomBytes(6).toString('hex')}`;
    const stage = new ParquetStage(connection, file, columns, table, undefined);
    await stage.createTable();
    return stage;
  }

  append(row: readonly unknown[]): void {
    const appender = this.appender;
    if (appender === undefined) throw new Error('parquet stage used after dispose');
    for (let index = 0; index < this.appends.length; index++) {
      const value = row[index];
      if (typeof value === 'string') {
        this.stagedChars += value.length;
        this.totalChars += value.length;
      }
      this.appends[index]?.(appender, value);
    }
    appender.endRow();
    this.stagedRows++;
    this.totalRows++;
  }

  /** Copies the staged rows to a new part file and empties the table. */
  async movePart(): Promise<void> {
    const part = `${this.file}.part-${this.parts.length}.parquet`;
    this.parts.push(part);
    await this.copyTableTo(part);
    await this.createTable();
  }

  /** Writes `file`: straight from the table when nothing was moved out, else by merging the parts. */
  async finish(): Promise<void> {
    if (this.parts.length === 0) {
      await this.copyTableTo(this.file);
      return;
    }
    if (this.stagedRows > 0) await this.movePart();
    this.closeAppender();
    await this.run(
      `COPY (SELECT * FROM read_parquet($1)) TO $2 (FORMAT parquet, USE_TMP_FILE false, ROW_GROUP_SIZE ${this.rowGroupRows()})`,
      [listValue(this.parts), this.file],
    );
  }

  async dispose(): Promise<void> {
    try {
      this.appender?.clear(); // after a failure, do not flush rows nobody will read
      this.closeAppender();
    } catch {
      // The connection is closed next anyway; the original error is the one to report.
    }
    await this.connection.run(`DROP TABLE IF EXISTS temp.main.${this.table}`).catch(() => undefined);
    await Promise.all(this.parts.map((part) => rm(part, { force: true })));
  }

  private async createTable(): Promise<void> {
    this.closeAppender();
    const definitions = this.columns
      .map((column) => `${quoteIdentifier(column.name)} ${DUCKDB_TYPES[column.type]}`)
      .join(', ');
    await this.run(`CREATE OR REPLACE TEMP TABLE ${this.table} (${definitions})`);
    this.appender = await this.connection.createAppender(this.table, 'main', 'temp');
    this.stagedRows = 0;
    this.stagedChars = 0;
  }

  private async copyTableTo(target: string): Promise<void> {
    this.closeAppender();
    await this.run(
      `COPY temp.main.${this.table} TO $1 (FORMAT parquet, USE_TMP_FILE false, ROW_GROUP_SIZE ${this.rowGroupRows()})`,
      [target],
    );
  }

  /** Rows per row group: DuckDB's default, fewer when the strings so far average long. */
  private rowGroupRows(): number {
    const charsPerRow = this.totalRows === 0 ? 0 : this.totalChars / this.totalRows;
    if (charsPerRow === 0) return DEFAULT_ROW_GROUP_ROWS;
    return Math.max(MIN_ROW_GROUP_ROWS, Math.min(DEFAULT_ROW_GROUP_ROWS, Math.floor(ROW_GROUP_CHARS / charsPerRow)));
  }

  /** DuckDB failures (a full disk, say) as INTERNAL; the row source's own errors never pass here. */
  private async run(sql: string, values: DuckDBValue[] = []): Promise<void> {
    try {
      await this.connection.run(sql, values);
    } catch (error) {
      throw new SlipwayError('INTERNAL', `writing Parquet failed: ${shortDuckDbMessage(error)}`, { cause: error });
    }
  }

  private closeAppender(): void {
    this.appender?.closeSync();
    this.appender = undefined;
  }
}
