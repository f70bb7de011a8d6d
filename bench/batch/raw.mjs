#!/usr/bin/env node
// The batch scoring baseline (issue 6): "raw onnxruntime-node in-process batched", with no Slipway
// code at all. Reads the Parquet file with DuckDB (@duckdb/node-api, streamed, 2,048-row vectors
// read with the public getItem), packs `chunkRows` rows at a time into one Float32Array
// [chunkRows, 30], runs it and counts label = 1 in the answer. Writes nothing.
//
//   node bench/batch/raw.mjs <file.parquet> --chunk-rows 100000 [--workers 0] [--threads 1]
//
// --workers 0 (default): ONE session on the main thread, read then run, chunk after chunk (the
//   stated baseline of issue 6's 80% budget).
// --workers N: the main thread reads and hands each chunk (transferred, not copied) to N
//   worker_threads, each with its own session, at most 2 chunks in flight per worker, so reading
//   overlaps inference and every core can work.
//
// Prints one JSON line: { variant, rows, chunks, seconds, rowsPerSec, readSeconds, runSeconds,
// inferenceRowsPerSec, label1, peakRssMb }. readSeconds = reading and packing (main thread);
// runSeconds = time inside session.run summed over chunks (over every worker for --workers N);
// peakRssMb = this process's maxRSS (getrusage = VmHWM), threads included.
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { join } from 'node:path';
import { MODELS_DIR } from '../lib/config.mjs';

const MODEL = join(MODELS_DIR, 'breast_cancer.onnx');
const FEATURES = 30;
const INPUTS = Array.from({ length: FEATURES }, (_, k) => `input_${k}`);

const createSession = (threads) =>
  ort.InferenceSession.create(MODEL, { intraOpNumThreads: threads, interOpNumThreads: 1 });

/** Runs one chunk: { label1, runMs }. */
async function score(session, data, rows) {
  const t0 = performance.now();
  const out = await session.run({ input: new ort.Tensor('float32', data, [rows, FEATURES]) });
  const runMs = performance.now() - t0;
  const labels = out.label.data;
  let label1 = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1n) label1++;
  return { label1, runMs };
}

/** Yields { data: Float32Array(rows * 30), rows } of `chunkRows` rows (the last one shorter). */
async function* readChunks(file, chunkRows, timing) {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const list = INPUTS.map((c) => `"${c}"`).join(', ');
    const result = await connection.stream(`SELECT ${list} FROM read_parquet('${file.replaceAll("'", "''")}')`);
    let data = new Float32Array(chunkRows * FEATURES);
    let filled = 0;
    let t0 = performance.now();
    for (;;) {
      const batch = await result.fetchChunk();
      if (batch === null || batch.rowCount === 0) break;
      const total = batch.rowCount;
      const vectors = INPUTS.map((_, c) => batch.getColumnVector(c));
      let from = 0;
      while (from < total) {
        const count = Math.min(total - from, chunkRows - filled);
        for (let c = 0; c < FEATURES; c++) {
          const vector = vectors[c];
          for (let r = 0; r < count; r++) {
            const value = vector.getItem(from + r);
            data[(filled + r) * FEATURES + c] = value === null ? Number.NaN : value;
          }
        }
        filled += count;
        from += count;
        if (filled === chunkRows) {
          timing.readMs += performance.now() - t0;
          yield { data, rows: filled };
          t0 = performance.now();
          data = new Float32Array(chunkRows * FEATURES);
          filled = 0;
        }
      }
    }
    timing.readMs += performance.now() - t0;
    if (filled > 0) yield { data: data.subarray(0, filled * FEATURES), rows: filled };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

export async function single(file, chunkRows, threads) {
  const session = await createSession(threads);
  const timing = { readMs: 0, runMs: 0 };
  let rows = 0;
  let chunks = 0;
  let label1 = 0;
  const started = performance.now();
  for await (const chunk of readChunks(file, chunkRows, timing)) {
    const scored = await score(session, chunk.data, chunk.rows);
    timing.runMs += scored.runMs;
    label1 += scored.label1;
    rows += chunk.rows;
    chunks++;
  }
  const seconds = (performance.now() - started) / 1000;
  await session.release();
  return { variant: 'single session, main thread', rows, chunks, seconds, label1, ...timing };
}

async function pool(file, chunkRows, threads, workers) {
  const self = fileURLToPath(import.meta.url);
  const started0 = performance.now();
  const slots = await Promise.all(
    Array.from(
      { length: workers },
      () =>
        new Promise((resolve, reject) => {
          const worker = new Worker(self, { workerData: { threads } });
          worker.once('error', reject);
          worker.once('message', () => resolve({ worker, inFlight: 0, waiting: new Map() }));
        }),
    ),
  );
  const setupMs = performance.now() - started0;
  let nextId = 0;
  let label1 = 0;
  let runMs = 0;
  let rows = 0;
  let chunks = 0;
  const pending = new Set();
  for (const slot of slots) {
    slot.worker.on('message', (msg) => {
      const done = slot.waiting.get(msg.id);
      slot.waiting.delete(msg.id);
      slot.inFlight--;
      done(msg);
    });
  }
  const timing = { readMs: 0, runMs: 0 };
  const started = performance.now();
  for await (const chunk of readChunks(file, chunkRows, timing)) {
    // Least busy worker; wait while every worker has 2 chunks.
    let slot = slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    while (slot.inFlight >= 2) {
      await Promise.race(pending);
      slot = slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    }
    const id = nextId++;
    const data =
      chunk.data.byteOffset === 0 && chunk.data.length * 4 === chunk.data.buffer.byteLength
        ? chunk.data
        : chunk.data.slice();
    const promise = new Promise((resolve) => slot.waiting.set(id, resolve)).then((msg) => {
      pending.delete(promise);
      label1 += msg.label1;
      runMs += msg.runMs;
    });
    pending.add(promise);
    slot.inFlight++;
    slot.worker.postMessage({ id, data, rows: chunk.rows }, [data.buffer]);
    rows += chunk.rows;
    chunks++;
  }
  await Promise.all(pending);
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(slots.map((s) => s.worker.terminate()));
  return {
    variant: `${workers} worker_threads, a session each`,
    rows,
    chunks,
    seconds,
    label1,
    readMs: timing.readMs,
    runMs,
    setupMs,
  };
}

if (!isMainThread) {
  const session = await createSession(workerData.threads);
  parentPort.on('message', async ({ id, data, rows }) => {
    const scored = await score(session, data, rows);
    parentPort.postMessage({ id, ...scored });
  });
  parentPort.postMessage('ready');
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'chunk-rows': { type: 'string', default: '100000' },
      workers: { type: 'string', default: '0' },
      threads: { type: 'string', default: '1' },
    },
  });
  const [file] = positionals;
  if (!file) throw new Error('usage: raw.mjs <file.parquet> [--chunk-rows N] [--workers N] [--threads N]');
  const chunkRows = Number(values['chunk-rows']);
  const workers = Number(values.workers);
  const threads = Number(values.threads);
  const r = workers > 0 ? await pool(file, chunkRows, threads, workers) : await single(file, chunkRows, threads);
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(
    JSON.stringify({
      ...r,
      seconds: Number(r.seconds.toFixed(3)),
      rowsPerSec: Math.round(r.rows / r.seconds),
      readSeconds: Number((r.readMs / 1000).toFixed(3)),
      runSeconds: Number((r.runMs / 1000).toFixed(3)),
      inferenceRowsPerSec: Math.round(r.rows / (r.runMs / 1000)),
      peakRssMb: Math.round(peakRssMb),
      chunkRows,
      workers,
      threads,
    }),
  );
}
