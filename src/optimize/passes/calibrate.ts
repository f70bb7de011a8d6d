/**
 * Range collection for static quantization: the model's intermediate tensors are exposed as extra
 * graph outputs, the model runs over the calibration rows in ONNX Runtime in batches, and each
 * tensor's range is reduced by one of three methods:
 *
 * - `minmax`: the smallest and largest value seen;
 * - `percentile:<p>`: the p-th percentile t of |x| from a 2048-bin histogram over [0, max|x|]
 *   (symmetric, like ONNX Runtime's percentile calibrator), intersected with the observed range, so
 *   a non-negative tensor gets [0, t] rather than a half-wasted [-t, t];
 * - `entropy`: TensorRT's KL-divergence threshold: over the same |x| histogram, the threshold whose
 *   clipped, 128-level quantized distribution is closest (smallest KL divergence) to the observed
 *   one; intersected with the observed range like the percentile.
 */
import ort from 'onnxruntime-node';
import { invalid, SlipwayError } from '../../core/errors.js';
import { ORT_TYPE_OF } from '../../runtime/onnx/ort-tensors.js';
import { decodeModel, ElementType, encodeModel } from '../onnx/model-proto.js';
import type { EvalSet, FeedTensor } from '../types.js';

export type CalibrationMethod =
  | { readonly kind: 'minmax' }
  | { readonly kind: 'percentile'; readonly percentile: number }
  | { readonly kind: 'entropy' };

export interface TensorRange {
  readonly min: number;
  readonly max: number;
}

/** Bins of the |x| histogram (percentile and entropy). */
export const HISTOGRAM_BINS = 2048;
/** Levels the entropy method quantizes the clipped histogram to (TensorRT's 128). */
const QUANTIZED_BINS = 128;
const BATCH_ROWS = 64;

/** Parse `minmax`, `percentile:<p>` (0 < p <= 100) or `entropy`; INVALID_ARGUMENT naming the setting otherwise. */
export function parseCalibrationMethod(text: string): CalibrationMethod {
  if (text === 'minmax' || text === 'entropy') return { kind: text };
  const match = /^percentile:(\d+(?:\.\d+)?)$/.exec(text);
  if (match !== null) {
    const percentile = Number(match[1]);
    if (percentile > 0 && percentile <= 100) return { kind: 'percentile', percentile };
  }
  throw invalid(
    `calibration method "${text}" is not one of minmax, percentile:<p> (0 < p <= 100, e.g. percentile:99.99), entropy`,
  );
}

/** What one pass over the rows accumulates per tensor. */
interface Observed {
  min: number;
  max: number;
  histogram?: Float64Array;
  /** The histogram's upper edge (max |x| from the first pass). */
  edge?: number;
}

/**
 * Collect the range of each named float tensor of the model (graph inputs or node outputs) over the
 * calibration rows. INVALID_ARGUMENT when a name is no tensor of the graph, an initializer, or the
 * rows lack a model input; FAILED_PRECONDITION when there are no rows or a tensor is not FLOAT.
 */
export async function calibrate(
  bytes: Uint8Array,
  tensorNames: readonly string[],
  rows: EvalSet,
  method: CalibrationMethod | string = 'minmax',
): Promise<Map<string, TensorRange>> {
  const how = typeof method === 'string' ? parseCalibrationMethod(method) : method;
  if (rows.rowCount === 0)
    throw new SlipwayError('FAILED_PRECONDITION', `the calibration rows (${rows.source}) are empty`);
  const model = decodeModel(bytes);
  const graph = model.graph;
  const initializers = new Set(graph.initializer.map((t) => t.name));
  const modelInputs = graph.input.map((i) => i.name).filter((name) => !initializers.has(name));
  const produced = new Set(graph.node.flatMap((n) => n.output));
  for (const name of tensorNames) {
    if (initializers.has(name)) throw invalid(`calibration: "${name}" is an initializer (a weight), not an activation`);
    if (!produced.has(name) && !modelInputs.includes(name))
      throw invalid(`calibration: the model has no tensor "${name}" (no node writes it and it is no graph input)`);
  }
  for (const name of modelInputs)
    if (rows.inputs[name] === undefined)
      throw invalid(`calibration rows (${rows.source}) have no values for model input "${name}"`);
  for (const name of tensorNames) {
    if (graph.output.some((o) => o.name === name) || modelInputs.includes(name)) continue;
    graph.output.push({ name, type: { tensorType: { elemType: ElementType.FLOAT } } });
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 3 });
  } catch (error) {
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `calibration: ONNX Runtime cannot run the model with ${tensorNames.join(', ')} exposed as FLOAT outputs: ${(error as Error).message.split('\n')[0]}`,
    );
  }
  try {
    const observed = new Map<string, Observed>(tensorNames.map((n) => [n, { min: Infinity, max: -Infinity }]));
    await forEachBatch(session, modelInputs, rows, tensorNames, (name, values) => {
      const o = observed.get(name)!;
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        if (v < o.min) o.min = v;
        if (v > o.max) o.max = v;
      }
    });
    if (how.kind === 'minmax') return new Map([...observed].map(([n, o]) => [n, { min: o.min, max: o.max }]));
    for (const o of observed.values()) {
      o.edge = Math.max(Math.abs(o.min), Math.abs(o.max));
      o.histogram = new Float64Array(HISTOGRAM_BINS);
    }
    await forEachBatch(session, modelInputs, rows, tensorNames, (name, values) => {
      const o = observed.get(name)!;
      const histogram = o.histogram!;
      const perBin = o.edge! > 0 ? HISTOGRAM_BINS / o.edge! : 0;
      for (let i = 0; i < values.length; i++)
        histogram[Math.min(HISTOGRAM_BINS - 1, Math.floor(Math.abs(values[i]!) * perBin))]! += 1;
    });
    const ranges = new Map<string, TensorRange>();
    for (const [name, o] of observed) {
      const threshold =
        how.kind === 'percentile'
          ? percentileThreshold(o.histogram!, o.edge!, how.percentile)
          : entropyThreshold(o.histogram!, o.edge!);
      ranges.set(name, { min: Math.max(o.min, -threshold), max: Math.min(o.max, threshold) });
    }
    return ranges;
  } finally {
    await session.release();
  }
}

/** Run the model over the rows, BATCH_ROWS at a time, handing each wanted tensor's values to `visit`. */
async function forEachBatch(
  session: ort.InferenceSession,
  modelInputs: readonly string[],
  rows: EvalSet,
  names: readonly string[],
  visit: (name: string, values: ArrayLike<number>) => void,
): Promise<void> {
  const fetched = names.filter((n) => !modelInputs.includes(n));
  for (let start = 0; start < rows.rowCount; start += BATCH_ROWS) {
    const end = Math.min(rows.rowCount, start + BATCH_ROWS);
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of modelInputs) feeds[name] = sliceFeed(rows.inputs[name]!, start, end);
    for (const name of names) if (modelInputs.includes(name)) visit(name, numericData(name, feeds[name]!));
    if (fetched.length === 0) continue;
    const outputs = await session.run(feeds, fetched);
    for (const name of fetched) visit(name, numericData(name, outputs[name]!));
  }
}

function numericData(name: string, tensor: ort.Tensor): ArrayLike<number> {
  if (tensor.type !== 'float32')
    throw new SlipwayError('FAILED_PRECONDITION', `calibration: tensor "${name}" is ${tensor.type}, not float32`);
  return tensor.data as Float32Array;
}

/** Rows [start, end) of one input as an ONNX Runtime tensor. */
function sliceFeed(feed: FeedTensor, start: number, end: number): ort.Tensor {
  const width = feed.dims.slice(1).reduce((a, b) => a * b, 1);
  const dims = [end - start, ...feed.dims.slice(1)];
  const data = Array.isArray(feed.data)
    ? (feed.data as readonly string[]).slice(start * width, end * width)
    : (feed.data as Float32Array).subarray(start * width, end * width);
  return new ort.Tensor(ORT_TYPE_OF[feed.datatype], data, dims);
}

/** The |x| value below which `percentile` % of the histogram's mass lies (upper edge of that bin). */
export function percentileThreshold(histogram: Float64Array, edge: number, percentile: number): number {
  const total = histogram.reduce((a, b) => a + b, 0);
  const wanted = (percentile / 100) * total;
  let cumulative = 0;
  for (let i = 0; i < histogram.length; i++) {
    cumulative += histogram[i]!;
    if (cumulative >= wanted) return ((i + 1) * edge) / histogram.length;
  }
  return edge;
}

/**
 * TensorRT's entropy calibration: for each candidate bin count i (128..2048), p is the histogram's
 * first i bins with everything beyond folded into bin i-1, q is those i bins merged into 128 levels
 * and spread back evenly over the bins that were non-empty; returns the upper edge of the i with the
 * smallest KL(p || q). The zero bin counts as at most the fullest other bin.
 */
export function entropyThreshold(observed: Float64Array, edge: number): number {
  const bins = observed.length;
  if (edge === 0) return 0;
  // The zero bin (every value a Relu clamped, every empty pixel) would outweigh the rest and pull the
  // threshold down to a few bins: count it as at most the fullest other bin (pytorch-quantization sets
  // it to bin 1's count, which leaves a spiky histogram such as an image's 0..16 pixels with one
  // non-empty bin inside a small window, a perfect but useless fit).
  const histogram = observed.slice();
  let fullest = 0;
  for (let i = 1; i < bins; i++) fullest = Math.max(fullest, histogram[i]!);
  histogram[0] = Math.min(histogram[0]!, fullest);
  let best = bins;
  let bestDivergence = Infinity;
  let beyond = histogram.reduce((a, b) => a + b, 0);
  for (let i = 0; i < QUANTIZED_BINS; i++) beyond -= histogram[i]!;
  for (let i = QUANTIZED_BINS; i <= bins; i++) {
    if (i > QUANTIZED_BINS) beyond -= histogram[i - 1]!;
    const p = histogram.slice(0, i);
    p[i - 1]! += Math.max(0, beyond);
    const q = new Float64Array(i);
    const merge = i / QUANTIZED_BINS;
    for (let level = 0; level < QUANTIZED_BINS; level++) {
      const from = Math.floor(level * merge);
      const to = level === QUANTIZED_BINS - 1 ? i : Math.floor((level + 1) * merge);
      let sum = 0;
      let nonEmpty = 0;
      for (let j = from; j < to; j++) {
        sum += histogram[j]!;
        if (histogram[j]! > 0) nonEmpty++;
      }
      if (nonEmpty > 0) for (let j = from; j < to; j++) if (histogram[j]! > 0) q[j] = sum / nonEmpty;
    }
    const divergence = klDivergence(p, q);
    if (divergence < bestDivergence) {
      bestDivergence = divergence;
      best = i;
    }
  }
  return (best * edge) / bins;
}

/** KL(p || q) of two unnormalised histograms; bins where p > 0 and q = 0 count with q smoothed to 1e-4 of a count. */
function klDivergence(p: Float64Array, q: Float64Array): number {
  let pTotal = 0;
  let qTotal = 0;
  for (let i = 0; i < p.length; i++) {
    pTotal += p[i]!;
    qTotal += q[i]!;
  }
  if (pTotal === 0 || qTotal === 0) return Infinity;
  let divergence = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i]! === 0) continue;
    const pi = p[i]! / pTotal;
    const qi = Math.max(q[i]!, 1e-4) / qTotal;
    divergence += pi * Math.log(pi / qi);
  }
  return divergence;
}
