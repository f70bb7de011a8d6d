#!/usr/bin/env node
// A stand-in for `slipway` that only knows `push` (does nothing) and `batch run` (the raw baseline's
// single-session loop, then the ids copied to the output), to test the batch group's harness
// before the engine exists: BENCH_BATCH_CLI=bench/batch/stub-cli.mjs BENCH_ONLY=batch node bench/run.mjs
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { single } from './raw.mjs';

const [command, sub, ...rest] = process.argv.slice(2);
if (command === 'push') process.exit(0);
if (command !== 'batch' || sub !== 'run') throw new Error(`stub-cli: ${command} ${sub}: not supported`);
if (rest.includes('--help')) {
  console.log(
    'Usage: stub-cli batch run --model <m> --input <file> --output <file> [--chunk-rows N] [--workers N] [--json]',
  );
  process.exit(0);
}
const { values } = parseArgs({
  args: rest,
  options: {
    model: { type: 'string' },
    input: { type: 'string' },
    output: { type: 'string' },
    'chunk-rows': { type: 'string', default: '100000' },
    workers: { type: 'string' },
    json: { type: 'boolean' },
  },
});
const r = await single(values.input, Number(values['chunk-rows']), 1);
const instance = await DuckDBInstance.create(':memory:');
const connection = await instance.connect();
const q = (p) => `'${p.replaceAll("'", "''")}'`;
await connection.run(
  `COPY (SELECT id, CAST(1 AS BIGINT) AS label FROM read_parquet(${q(values.input)})) TO ${q(values.output)} (FORMAT parquet)`,
);
connection.closeSync();
const seconds = r.seconds;
process.stderr.write(`stub: ${r.rows} rows\n`);
console.log(
  JSON.stringify(
    {
      jobId: 'stub',
      status: 'succeeded',
      model: values.model,
      version: '1.0.0',
      rows: r.rows,
      scored: r.rows,
      rejected: 0,
      resumedChunks: 0,
      seconds,
      rowsPerSecond: r.rows / seconds,
      output: values.output,
      rejects: null,
    },
    null,
    values.json ? 2 : 0,
  ),
);
