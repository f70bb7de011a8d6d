import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Tensor } from '../tensor/datatypes.js';
import { toJsonElements } from '../tensor/json-codec.js';
import type { StoredPrediction } from './prediction-store.js';

/**
 * Logged predictions as JSON text, produced in pieces (issue 13 item 7: one 332 MB
 * JSON.stringify stalled inference for 4.7 s and the next one failed with "Invalid string
 * length"). A tensor's elements are encoded SLICE_ELEMENTS at a time, yielding to the event loop
 * between slices, so requests keep being served while a large row is written out; no piece is
 * larger than a slice. Tensors over SUMMARY_OVER elements are summarised (their first
 * PREVIEW_ELEMENTS elements and `"truncated": true`) unless `full` is asked.
 */

export interface PredictionJsonOptions {
  /** Every stored element of every tensor (still in pieces). */
  readonly full: boolean;
}

export const SUMMARY_OVER = 1024;
export const PREVIEW_ELEMENTS = 16;
const SLICE_ELEMENTS = 65_536;

/** One prediction as a JSON object, in pieces. */
export async function* predictionJsonPieces(
  p: StoredPrediction,
  options: PredictionJsonOptions,
): AsyncGenerator<string> {
  const head = JSON.stringify({
    request_id: p.requestId,
    time: new Date(p.timeMs).toISOString(),
    deployment: p.deployment ?? null,
    model: p.model,
    version: p.version,
    protocol: p.protocol,
    latency_ms: p.latencyMs,
    ...(p.payload === undefined || p.payload === 'full' ? {} : { payload: p.payload }),
  });
  yield `${head.slice(0, -1)},"inputs":[`;
  yield* tensorsJson(p.inputs, p.servedShapes?.inputs, options);
  yield '],"outputs":[';
  yield* tensorsJson(p.outputs, p.servedShapes?.outputs, options);
  const shadow = p.shadow === null || p.shadow === undefined ? '' : `,"shadow":${JSON.stringify(p.shadow)}`;
  const features = p.features === null || p.features === undefined ? '' : `,"features":${JSON.stringify(p.features)}`;
  yield `]${shadow}${features}}`;
}

/** A list of tensors as a JSON array, in pieces (what `log export` writes in its inputs/outputs columns). */
export async function tensorListJson(
  tensors: readonly Tensor[],
  served: readonly (readonly number[])[] | undefined,
  options: PredictionJsonOptions,
): Promise<string> {
  let text = '[';
  for await (const piece of tensorsJson(tensors, served, options)) text += piece;
  return `${text}]`;
}

async function* tensorsJson(
  tensors: readonly Tensor[],
  served: readonly (readonly number[])[] | undefined,
  options: PredictionJsonOptions,
): AsyncGenerator<string> {
  for (let i = 0; i < tensors.length; i++) {
    if (i > 0) yield ',';
    yield* tensorJson(tensors[i]!, served?.[i], options);
  }
}

async function* tensorJson(
  t: Tensor,
  served: readonly number[] | undefined,
  options: PredictionJsonOptions,
): AsyncGenerator<string> {
  const count = t.data.length;
  const summarised = !options.full && count > SUMMARY_OVER;
  const cut = served !== undefined && (served.length !== t.shape.length || served.some((d, k) => d !== t.shape[k]));
  const head = JSON.stringify({
    name: t.name,
    datatype: t.datatype,
    shape: cut ? served : t.shape,
    ...(cut ? { stored_shape: t.shape } : {}),
    ...(cut || summarised ? { truncated: true } : {}),
  });
  yield `${head.slice(0, -1)},"data":[`;
  const n = summarised ? PREVIEW_ELEMENTS : count;
  for (let start = 0; start < n; start += SLICE_ELEMENTS) {
    if (start > 0) {
      await nextTurn();
      yield ',';
    }
    const end = Math.min(n, start + SLICE_ELEMENTS);
    const data = Array.isArray(t.data) ? t.data.slice(start, end) : t.data.subarray(start, end);
    yield JSON.stringify(toJsonElements({ name: t.name, datatype: t.datatype, shape: [end - start], data })).slice(
      1,
      -1,
    );
  }
  yield ']}';
}
