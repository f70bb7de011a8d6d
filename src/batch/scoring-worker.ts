/**
 * The code of a scoring worker, plain CommonJS evaluated with `eval: true` (see `scoring-pool.ts`).
 * It is a string rather than a file because vitest cannot start a worker from TypeScript and the
 * compiled path differs from the source one; a string runs the same everywhere. onnxruntime-node
 * and @duckdb/node-api are required by the absolute paths the parent resolved, so they load
 * whatever the working folder is.
 *
 * Each worker owns an ONNX Runtime session and a small DuckDB instance (one thread). For every
 * chunk it gets the feeds and the part's columns, runs the session, and writes the part file
 * itself: the values go into DuckDB vectors (typed arrays, flushed in bulk), 2,048 rows per data
 * chunk, through an appender into a temp table that one COPY writes as Parquet to a hidden temp
 * file, which is fsynced and renamed into place (then the folder fsynced), so a part file that
 * exists is complete. Writing here rather than on the reading thread is what lets reading,
 * scoring and writing use both cores; the messages carry only typed arrays (transferred) and,
 * for text id or kept columns, arrays of strings.
 *
 * A part column (see `PartColumnSpec` in scoring-pool.ts) is one of:
 * - `row`: the input row number, `base + valid[k]` (appended as INTEGER offsets, added in SQL);
 * - `values`: the id or a kept column, already gathered for the scored rows;
 * - `output`: element `element` of `width` of a fetched output, for every scored row.
 */
export const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const ort = require(workerData.ortPath);
const duckdb = require(workerData.duckdbPath);

const VECTOR_ROWS = 2048;
const TYPES = { BIGINT: duckdb.BIGINT, DOUBLE: duckdb.DOUBLE, BOOLEAN: duckdb.BOOLEAN, VARCHAR: duckdb.VARCHAR, INTEGER: duckdb.INTEGER };

const ready = (async () => {
  const session = await ort.InferenceSession.create(workerData.modelPath, {
    intraOpNumThreads: workerData.intraOpThreads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all', logSeverityLevel: 4,
  });
  const instance = await duckdb.DuckDBInstance.create(':memory:', {
    threads: '1', memory_limit: workerData.duckdbMemoryLimit,
    autoinstall_known_extensions: 'false', autoload_known_extensions: 'false',
    temp_directory: workerData.duckdbTempDirectory,
  });
  const connection = await instance.connect();
  return { session, connection };
})();
ready.then(() => parentPort.postMessage({ ready: true }), (error) => parentPort.postMessage({ ready: false, error: String(error && error.message || error) }));

// One task at a time: a task awaits DuckDB, and a second one started meanwhile would share the temp table.
let queue = Promise.resolve();
parentPort.on('message', (message) => {
  queue = queue.then(() => run(message));
});

async function run(message) {
  try {
    const { session, connection } = await ready;
    const inputs = {};
    for (const f of message.feeds) inputs[f.name] = new ort.Tensor(f.type, f.data, f.dims);
    const rows = message.valid.length;
    const results = rows === 0 ? {} : await session.run(inputs, message.fetches);
    const outputs = message.fetches.map((name) => results[name]);
    await writePart(connection, message.part, message.valid, outputs);
    parentPort.postMessage({ id: message.id });
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: String(error && error.message || error) });
  }
}

const quote = (name) => '"' + name.replaceAll('"', '""') + '"';

/** How a column is appended (its temp-table type) and selected into the part. */
function layout(column, index) {
  const name = 'c' + index;
  if (column.source === 'row') return { type: 'INTEGER', select: '(CAST(' + name + ' AS BIGINT) + ' + column.base + ') AS ' + quote(column.name) };
  return { type: column.type, select: name + ' AS ' + quote(column.name) };
}

async function writePart(connection, part, valid, outputs) {
  const layouts = part.columns.map(layout);
  await connection.run('CREATE OR REPLACE TEMP TABLE part (' + layouts.map((l, i) => 'c' + i + ' ' + l.type).join(', ') + ')');
  const appender = await connection.createAppender('part', 'main', 'temp');
  try {
    const types = layouts.map((l) => TYPES[l.type]);
    for (let from = 0; from < valid.length; from += VECTOR_ROWS) {
      const count = Math.min(VECTOR_ROWS, valid.length - from);
      const chunk = duckdb.DuckDBDataChunk.create(types, count);
      part.columns.forEach((column, index) => {
        const vector = chunk.getColumnVector(index);
        fill(vector, column, valid, outputs, from, count);
        vector.flush();
      });
      appender.appendDataChunk(chunk);
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  const folder = path.dirname(part.file);
  const temp = path.join(folder, '.' + path.basename(part.file) + '.' + crypto.randomBytes(6).toString('hex') + '.tmp');
  try {
    await connection.run('COPY (SELECT ' + layouts.map((l) => l.select).join(', ') + ' FROM temp.main.part) TO $1 (FORMAT parquet)', [temp]);
    syncFile(temp, 'r+');
    fs.renameSync(temp, part.file);
    syncFile(folder, 'r');
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw new Error('writing part ' + part.file + ' failed: ' + String(error && error.message || error));
  } finally {
    await connection.run('DROP TABLE IF EXISTS temp.main.part');
  }
}

function syncFile(file, flags) {
  let fd;
  try {
    fd = fs.openSync(file, flags);
  } catch (error) {
    if (flags === 'r') return; // a folder that cannot be opened (Windows): the rename is as durable as it gets
    throw error;
  }
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Values [from, from + count) of one part column into a fresh vector (all valid until set null). */
function fill(vector, column, valid, outputs, from, count) {
  const items = vector.items;
  if (column.source === 'row') {
    items.set(valid.subarray(from, from + count));
    return;
  }
  if (column.source === 'values') {
    const { values, nulls } = column;
    for (let i = 0; i < count; i++) {
      const k = from + i;
      if (nulls !== undefined && nulls[k] === 1) vector.setItem(i, null);
      else put(vector, items, column.type, i, values[k]);
    }
    return;
  }
  const data = outputs[column.output].data;
  const { width, element } = column;
  if (width === 1 && column.type === 'BIGINT' && data instanceof BigInt64Array) {
    items.set(data.subarray(from, from + count));
    return;
  }
  for (let i = 0; i < count; i++) put(vector, items, column.type, i, data[(from + i) * width + element]);
}

/** One value, converted the way the output column's type wants it. */
function put(vector, items, type, i, value) {
  if (value === null || value === undefined) vector.setItem(i, null);
  else if (type === 'DOUBLE') items[i] = typeof value === 'bigint' ? Number(value) : value;
  else if (type === 'BIGINT') items[i] = typeof value === 'bigint' ? value : BigInt(Math.trunc(value));
  else if (type === 'BOOLEAN') vector.setItem(i, value === true || value === 1);
  else vector.setItem(i, typeof value === 'string' ? value : JSON.stringify(value));
}
`;
