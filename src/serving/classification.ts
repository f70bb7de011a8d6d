/**
 * Triton's classification extension: a requested output with `parameters.classification: k`
 * is answered with its top-k classes per row instead of its scores, as BYTES elements
 * `"<score>:<index>"` or `"<score>:<index>:<label>"`. Pure: no I/O, no registry.
 *
 * Rules (Triton's server, src/classification.cc, where its docs are silent):
 * - Rows: an output of rank 2 or more is one row per entry of its first (batch) dimension, the
 *   other dimensions flattened into the classes; the answer has shape [rows, n]. A rank-1 output
 *   is a single row and answers shape [n]; a scalar is one class.
 * - n = min(k, classes): asking for more classes than the output has returns them all.
 * - Order: by score, highest first, compared in the output's own datatype (INT64 as bigint);
 *   equal scores by index, lowest first (Triton's sort leaves ties unordered); NaN last.
 * - Score text: integers in decimal; FP16/FP32/FP64 as C's `%f` (Triton's `std::to_string`), six
 *   decimals, ties rounded to even, `nan`, `inf`, `-inf`, `-0.000000`: a client that compared
 *   strings against Triton sees the same strings.
 * - Labels: the version's labels (registry/labels.ts) are added when their count equals the
 *   row's class count, else left out for that output.
 * - Only numeric outputs: BYTES and BOOL are refused by name (Triton refuses them, and FP16, too).
 */
import { invalid } from '../core/errors.js';
import type { Datatype, Signature, Tensor } from '../tensor/datatypes.js';
import { decodeFp16 } from '../tensor/fp16.js';
import { quote } from '../tensor/format.js';

/** The parameter name, as Triton's clients send it. */
export const CLASSIFICATION_PARAMETER = 'classification';

/** A requested output as the adapters decode it: REST `outputs[i]`, gRPC `InferRequestedOutputTensor`. */
export interface RequestedOutput {
  readonly name: string;
  /** JSON-like values: gRPC's int64_param arrives as a number (grpc/parameters.ts). */
  readonly parameters?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * Which requested outputs want top-k classification: output name -> k. Empty when none asked.
 *
 * @throws INVALID_ARGUMENT naming the output: k not a positive integer, an output the model
 *   does not have, or a BYTES/BOOL output
 * @example parseClassification([{ name: 'probabilities', parameters: { classification: 2 } }], signature)
 *   // Map { 'probabilities' => 2 }
 */
export function parseClassification(
  requested: readonly RequestedOutput[] | undefined,
  signature: Signature,
): ReadonlyMap<string, number> {
  const wanted = new Map<string, number>();
  for (const output of requested ?? []) {
    const k = output.parameters?.[CLASSIFICATION_PARAMETER];
    if (k === undefined) continue;
    const at = `output ${quote(output.name)}: "parameters.${CLASSIFICATION_PARAMETER}"`;
    if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 1) {
      throw invalid(`${at} must be a positive integer (how many classes to return), got ${JSON.stringify(k)}`);
    }
    const spec = signature.outputs.find((o) => o.name === output.name);
    if (spec === undefined) throw invalid(`${at} names an output the model does not have`);
    if (!isClassifiable(spec.datatype))
      throw invalid(`${at} needs a numeric output, and ${quote(output.name)} is ${spec.datatype}`);
    wanted.set(output.name, k);
  }
  return wanted;
}

function isClassifiable(datatype: Datatype): boolean {
  return datatype !== 'BYTES' && datatype !== 'BOOL';
}

/**
 * The top-k classes of each row of `tensor` as a BYTES tensor of the same name (module rules).
 *
 * @example classify({ name: 'p', datatype: 'FP32', shape: [1, 4], data: Float32Array.of(1.1, 3.3, 0.5, 2.4) }, 2)
 *   // { name: 'p', datatype: 'BYTES', shape: [1, 2], data: ['3.300000:1', '2.400000:3'] }
 */
export function classify(tensor: Tensor, k: number, labels?: readonly string[]): Tensor {
  if (!isClassifiable(tensor.datatype))
    throw invalid(`output ${quote(tensor.name)}: classification needs a numeric output, not ${tensor.datatype}`);
  if (!Number.isSafeInteger(k) || k < 1)
    throw invalid(`output ${quote(tensor.name)}: classification count must be a positive integer, got ${k}`);
  const batched = tensor.shape.length >= 2;
  const rows = batched ? (tensor.shape[0] ?? 0) : 1;
  const classes = batched ? tensor.shape.slice(1).reduce((a, b) => a * b, 1) : (tensor.shape[0] ?? 1);
  const n = Math.min(k, classes);
  const rowLabels = labels !== undefined && labels.length === classes ? labels : undefined;
  const values = scoresOf(tensor);
  const isFloat = tensor.datatype === 'FP16' || tensor.datatype === 'FP32' || tensor.datatype === 'FP64';
  const format = (score: number | bigint): string => (isFloat ? formatFloat(score as number) : score.toString());
  const data: string[] = [];
  for (let row = 0; row < rows; row++) {
    const offset = row * classes;
    for (const index of topIndices(values, offset, classes, n)) {
      const score = values[offset + index] as number | bigint;
      const label = rowLabels?.[index];
      data.push(`${format(score)}:${index}${label === undefined ? '' : `:${label}`}`);
    }
  }
  return { name: tensor.name, datatype: 'BYTES', shape: batched ? [rows, n] : [n], data };
}

type Scores = ArrayLike<number> | ArrayLike<bigint>;

function scoresOf(tensor: Tensor): Scores {
  if (tensor.datatype === 'FP16') return decodeFp16(tensor.data as Uint16Array);
  return tensor.data as Scores;
}

/** `a` ranks before `b`: higher score; NaN after every number. Equal scores keep index order (callers scan ascending). */
function ranksBefore(a: number | bigint, b: number | bigint): boolean {
  if (typeof a === 'number' && Number.isNaN(a)) return false;
  if (typeof b === 'number' && Number.isNaN(b)) return true;
  return a > b;
}

/** Bounded insertion keeps top-k at O(classes × k) for the usual small k; past this, one sort is cheaper. */
const INSERTION_LIMIT = 32;

/** Indices (0-based within the row) of the `n` best scores of one row, best first. */
function topIndices(values: Scores, offset: number, classes: number, n: number): number[] {
  const score = (index: number): number | bigint => values[offset + index] as number | bigint;
  if (n > INSERTION_LIMIT) {
    const all = Array.from({ length: classes }, (_, i) => i);
    // Array.prototype.sort is stable, so equal scores stay in index order.
    all.sort((a, b) => (ranksBefore(score(a), score(b)) ? -1 : ranksBefore(score(b), score(a)) ? 1 : 0));
    return all.slice(0, n);
  }
  const best: number[] = [];
  for (let index = 0; index < classes; index++) {
    const value = score(index);
    if (best.length === n && !ranksBefore(value, score(best[n - 1] as number))) continue;
    // Insert after every kept index that ranks at least as high (ties: the lower index stays first).
    let at = best.length;
    while (at > 0 && ranksBefore(value, score(best[at - 1] as number))) at--;
    best.splice(at, 0, index);
    if (best.length > n) best.pop();
  }
  return best;
}

/** 2^53: from here on every double is an integer, and toFixed would switch to exponent notation past 1e21. */
const INTEGRAL = 2 ** 53;

/**
 * C's `%f` (glibc): six decimals, correctly rounded with ties to even. `toFixed` rounds ties away
 * from zero; a tie at the sixth decimal means the value is an odd multiple of 1/128 (only those
 * have a 5 in the seventh decimal and nothing after it), so those few are rounded here exactly.
 */
export function formatFloat(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  const sign = value < 0 || Object.is(value, -0) ? '-' : '';
  const magnitude = Math.abs(value);
  if (magnitude >= INTEGRAL) return `${sign}${BigInt(magnitude).toString()}.000000`;
  const sevenBits = magnitude * 128;
  if (Number.isInteger(sevenBits) && sevenBits % 2 === 1) {
    // magnitude × 10^6 = sevenBits × 15625 / 2 exactly, halfway between two integers.
    const lower = (BigInt(sevenBits) * 15625n - 1n) / 2n;
    const even = lower % 2n === 0n ? lower : lower + 1n;
    const digits = even.toString().padStart(7, '0');
    return `${sign}${digits.slice(0, -6)}.${digits.slice(-6)}`;
  }
  return `${sign}${magnitude.toFixed(6)}`;
}
