#!/usr/bin/env node
// Data for the batch scoring group (issue 6), one step per process.
//
//   node bench/batch/data.mjs gen <file.parquet> <rows>   # breast-cancer-like rows, written with DuckDB
//   node bench/batch/data.mjs check <file.parquet>        # rows, columns, and the label count of a prediction file
//
// Each step prints one JSON line.
//
// `gen` writes `id` (BIGINT, 0..rows-1, in order) and 30 FLOAT columns `input_0..input_29`: the
// names Slipway's default mapping finds for breast_cancer's one input `input` ([-1, 30] FP32),
// in the order of fixtures/monitor/breast_cancer_train.csv's 30 feature columns. Row i is training
// row hash(i) % 426 with each value scaled by its own pseudo-random factor in [0.95, 1.05], rounded
// to float32: realistic ranges, both classes, and little for Parquet to compress (about 1.2 GB for
// 10M rows). Uses @duckdb/node-api directly (not Slipway's code), default settings.
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ROOT } from '../lib/config.mjs';

export const FEATURES = 30;
export const INPUT_COLUMNS = Array.from({ length: FEATURES }, (_, k) => `input_${k}`);
const TRAIN_CSV = join(ROOT, 'fixtures', 'monitor', 'breast_cancer_train.csv');

/** The 30 feature columns of the training CSV, column by column (the last column, target, dropped). */
function trainingColumns() {
  const lines = readFileSync(TRAIN_CSV, 'utf8').trim().split('\n').slice(1);
  const rows = lines.map((line) => line.split(',').slice(0, FEATURES).map(Number));
  return Array.from({ length: FEATURES }, (_, k) => rows.map((row) => row[k]));
}

const quote = (path) => `'${path.replaceAll("'", "''")}'`;

async function generate(file, rows) {
  const columns = trainingColumns();
  const n = columns[0].length;
  const select = columns.map((values, k) => {
    // A list literal per column, indexed by the sampled training row (DuckDB lists are 1-based).
    const list = `[${values.map((v) => String(v)).join(',')}]::DOUBLE[]`;
    const factor = `(0.95 + (hash(i * 31 + ${k + 1}) % 100001) / 1000000.0)`;
    return `CAST((${list})[CAST(hash(i) % ${n} AS BIGINT) + 1] * ${factor} AS FLOAT) AS input_${k}`;
  });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const temp = `${file}.tmp-${process.pid}`;
  try {
    await connection.run(
      `COPY (SELECT i AS id, ${select.join(', ')} FROM range(${rows}) t(i)) TO ${quote(temp)} (FORMAT parquet)`,
    );
    renameSync(temp, file);
  } finally {
    rmSync(temp, { force: true });
    connection.closeSync();
    instance.closeSync();
  }
}

/** Rows and columns of a Parquet file, and how many rows have label = 1 when a `label` column exists. */
async function check(file) {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${quote(file)})`);
    const columns = described.getRowObjectsJS().map((r) => `${r.column_name} ${r.column_type}`);
    const hasLabel = columns.some((c) => c.startsWith('label '));
    const counted = await connection.runAndReadAll(
      `SELECT count(*) AS rows, ${hasLabel ? 'sum(CAST(label AS BIGINT))' : 'NULL'} AS label1 FROM read_parquet(${quote(file)})`,
    );
    const [row] = counted.getRowObjectsJS();
    return { rows: Number(row.rows), label1: row.label1 === null ? null : Number(row.label1), columns };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function main() {
  const [mode, file, rows] = process.argv.slice(2);
  const started = performance.now();
  if (mode === 'gen' && file && rows) {
    await generate(file, Number(rows));
    console.log(
      JSON.stringify({ rows: Number(rows), seconds: Number(((performance.now() - started) / 1000).toFixed(2)) }),
    );
  } else if (mode === 'check' && file) {
    console.log(
      JSON.stringify({ ...(await check(file)), seconds: Number(((performance.now() - started) / 1000).toFixed(2)) }),
    );
  } else {
    throw new Error('usage: data.mjs gen <file.parquet> <rows> | check <file.parquet>');
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) await main();
