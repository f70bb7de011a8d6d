import { fromHalfBits } from '../tensor/fp16.js';
import { parquetCodec } from './parquet-part.js';

/**
 * The code of a scoring worker, plain CommonJS evaluated with `eval: true` (see `scoring-pool.ts`).
 * It is a string rather than a file because vitest cannot start a worker from TypeScript and the
 * compiled path differs from the source one; a string runs the same everywhere. The Parquet
 * codec is a real TypeScript function whose compiled text is pasted in (it is self-contained).
 * onnxruntime-node is required by the absolute path the parent resolved, so it loads whatever the
 * working folder is.
 *
 * For every chunk a worker gets the feeds and the part's columns, runs its session, and writes
 * the part file itself: encoded by `parquetCodec().encodePart` into a hidden temp file that is fsynced and
 * renamed into place (then the folder fsynced), so a part file that exists is complete. Doing this
 * here rather than on the reading thread is what lets reading and scoring use both cores; the
 * messages carry typed arrays (transferred) and, for text id or kept columns, arrays of strings.
 *
 * A part column (`PartColumnSpec` in scoring-pool.ts) is one of:
 * - `row`: the input row number, `base + valid[k]`;
 * - `values`: the id or a kept column, already gathered for the scored rows;
 * - `output`: element `element` of `width` of a fetched output, for every scored row.
 */
export const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const ort = require(workerData.ortPath);

const { encodePart } = (${parquetCodec.toString()})();
const fromHalfBits = ${fromHalfBits.toString()};

const ready = ort.InferenceSession.create(workerData.modelPath, {
  intraOpNumThreads: workerData.intraOpThreads, interOpNumThreads: 1, executionMode: 'sequential',
  graphOptimizationLevel: 'all', logSeverityLevel: 4,
});
ready.then(() => parentPort.postMessage({ ready: true }), (error) => parentPort.postMessage({ ready: false, error: String(error && error.message || error) }));

parentPort.on('message', async (message) => {
  try {
    const session = await ready;
    const inputs = {};
    for (const f of message.feeds) inputs[f.name] = new ort.Tensor(f.type, f.data, f.dims);
    const rows = message.valid.length;
    // A chunk whose every row was rejected runs nothing; its part has the columns and no rows.
    const results = rows === 0 ? {} : await session.run(inputs, message.fetches);
    const outputs = message.fetches.map((name) => results[name] || { data: [] });
    const columns = message.part.columns.map((column) => partColumn(column, message.valid, outputs));
    writePart(message.part.file, encodePart(columns, rows));
    // The feed and row buffers go back to be filled again.
    const buffers = [...new Set([...message.feeds.filter((f) => !Array.isArray(f.data)).map((f) => f.data.buffer), message.valid.buffer])];
    parentPort.postMessage({ id: message.id, buffers }, buffers);
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: String(error && error.message || error) });
  }
});

const PARQUET_TYPE = { BIGINT: 'INT64', DOUBLE: 'DOUBLE', BOOLEAN: 'BOOLEAN', VARCHAR: 'BYTE_ARRAY' };

/** A part column's values for the scored rows, in the encoder's form. */
function partColumn(column, valid, outputs) {
  const n = valid.length;
  if (column.source === 'row') {
    // Row numbers as int64 words without a BigInt per row (x86 and ARM are little-endian).
    const values = new BigInt64Array(n);
    const words = new Uint32Array(values.buffer);
    for (let k = 0; k < n; k++) {
      const row = column.base + valid[k];
      words[2 * k] = row % 4294967296;
      words[2 * k + 1] = Math.floor(row / 4294967296);
    }
    return { name: column.name, type: 'INT64', values };
  }
  const type = PARQUET_TYPE[column.type];
  if (column.source === 'values') {
    const values = column.values;
    if (column.type === 'DOUBLE' || column.type === 'VARCHAR') return { name: column.name, type, values, nulls: column.nulls };
    return { name: column.name, type, values: convert(column.type, n, (k) => values[k]), nulls: column.nulls };
  }
  const data = outputs[column.output].data;
  const { width, element } = column;
  if (width === 1 && column.type === 'BIGINT' && data instanceof BigInt64Array) return { name: column.name, type, values: data };
  // FP16 outputs come as half bits (a Uint16Array); the online path answers their numbers.
  const read = column.half ? (k) => fromHalfBits(data[k * width + element]) : (k) => data[k * width + element];
  if (column.type === 'VARCHAR') {
    const nulls = new Uint8Array(n);
    const values = new Array(n);
    for (let k = 0; k < n; k++) {
      const value = read(k);
      if (value === null || value === undefined) nulls[k] = 1;
      else values[k] = typeof value === 'string' ? value : JSON.stringify(value);
    }
    return { name: column.name, type, values, nulls };
  }
  return { name: column.name, type, values: convert(column.type, n, read) };
}

/** Values as the typed array of a numeric or boolean part column. */
function convert(type, n, read) {
  if (type === 'DOUBLE') {
    const out = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const value = read(k);
      out[k] = typeof value === 'bigint' ? Number(value) : value;
    }
    return out;
  }
  if (type === 'BIGINT') {
    const out = new BigInt64Array(n);
    for (let k = 0; k < n; k++) {
      const value = read(k);
      out[k] = typeof value === 'bigint' ? value : BigInt(Math.trunc(value));
    }
    return out;
  }
  const out = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const value = read(k);
    out[k] = value === true || value === 1 ? 1 : 0;
  }
  return out;
}

/** Writes the pieces to a hidden temp file, fsyncs it, renames it into place and fsyncs the folder. */
function writePart(file, pieces) {
  const folder = path.dirname(file);
  const temp = path.join(folder, '.' + path.basename(file) + '.' + crypto.randomBytes(6).toString('hex') + '.tmp');
  try {
    const fd = fs.openSync(temp, 'w');
    try {
      for (const piece of pieces) fs.writeSync(fd, piece);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw new Error('writing part ' + file + ' failed: ' + String(error && error.message || error));
  }
  let folderFd;
  try {
    folderFd = fs.openSync(folder, 'r');
  } catch {
    return; // a folder that cannot be opened (Windows): the rename is as durable as it gets
  }
  try {
    fs.fsyncSync(folderFd);
  } finally {
    fs.closeSync(folderFd);
  }
}
`;
