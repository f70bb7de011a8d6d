import type { ScoringPool, WireTensor } from './scoring-pool.js';

type Data = WireTensor['data'];

/**
 * Scores one chunk's feeds on the pool: split into one slice per worker (so every core works on
 * the chunk), the outputs concatenated back in row order. An empty chunk (every row rejected)
 * runs nothing and yields empty outputs.
 */
export async function scoreChunk(pool: ScoringPool, feeds: readonly WireTensor[], fetches: readonly string[], rows: number): Promise<WireTensor[]> {
  if (rows === 0) return fetches.map((name) => ({ name, type: 'float32', data: new Float32Array(0), dims: [0] }));
  const slices = Math.min(pool.size, Math.ceil(rows / MIN_SLICE_ROWS));
  if (slices <= 1) return pool.run(feeds, fetches);
  const per = Math.ceil(rows / slices);
  const runs: Promise<WireTensor[]>[] = [];
  for (let from = 0; from < rows; from += per) {
    const to = Math.min(rows, from + per);
    runs.push(pool.run(feeds.map((f) => sliceRows(f, from, to)), fetches));
  }
  const parts = await Promise.all(runs);
  return fetches.map((name, i) => concat(parts.map((p) => p[i] as WireTensor), name));
}

/** Below this a slice costs more in messaging than it saves. */
const MIN_SLICE_ROWS = 4096;

function sliceRows(tensor: WireTensor, from: number, to: number): WireTensor {
  const width = tensor.dims.slice(1).reduce((a, b) => a * b, 1);
  // A copy: each slice's buffer is transferred to its worker.
  return { ...tensor, data: tensor.data.slice(from * width, to * width), dims: [to - from, ...tensor.dims.slice(1)] };
}

function concat(parts: readonly WireTensor[], name: string): WireTensor {
  const first = parts[0] as WireTensor;
  const length = parts.reduce((n, p) => n + p.data.length, 0);
  const data = new (first.data.constructor as new (n: number) => Data)(length);
  let at = 0;
  for (const part of parts) {
    (data as Float64Array).set(part.data as Float64Array, at);
    at += part.data.length;
  }
  const rows = parts.reduce((n, p) => n + (p.dims[0] ?? 0), 0);
  return { name, type: first.type, data, dims: [rows, ...first.dims.slice(1)] };
}
