/**
 * The candidate-vs-parent report of an optimize or distill run (issue 16, "The gate and the report"):
 * both models in this process, on every row of the eval set, then timed side by side.
 */
import * as ort from 'onnxruntime-node';
import { SlipwayError, invalid } from '../core/errors.js';
import { readOnnxModel } from '../registry/onnx/read-onnx.js';
import type { Signature, TensorSpec } from '../tensor/datatypes.js';
import { decodeFp16 } from '../tensor/fp16.js';
import { evalSetSlice } from './eval-set.js';
import { SERVING_SESSION_OPTIONS, effectiveBatchSizes, measureLatency, medianLoadMs } from './latency.js';
import { signatureDifferences } from './onnx/check-model.js';
import {
  classificationMetrics,
  isFloatOutput,
  labelKeys,
  metricDelta,
  regressionTaskMetrics,
  taskOutputs,
  type TaskOutputs,
} from './task-metrics.js';
import type { EvalSet, OptimizationReport } from './types.js';

export interface EvaluateOptions {
  readonly parent: Uint8Array;
  readonly candidate: Uint8Array;
  /** The parent's signature; the candidate must have exactly the same. */
  readonly signature: Signature;
  readonly evalSet: EvalSet;
  /** The parent version's class labels (index = class index): text labels in the file map through them. */
  readonly classLabels?: readonly string[];
  /** Default [1, 64]; each capped at the set's row count. */
  readonly batchSizes?: readonly number[];
  /** Seconds each model runs at least, per batch size; default 1. */
  readonly minSeconds?: number;
  readonly progress?: (message: string) => void;
}

/** Rows per run when computing outputs on the whole set. */
const OUTPUT_BATCH = 256;
/** Regression agreement: |candidate - parent| <= this * max(1, |parent|). */
export const REGRESSION_AGREEMENT_TOLERANCE = 1e-3;

/** One output of one model over every row. */
interface OutputColumn {
  readonly spec: TensorSpec;
  /** Elements per row. */
  width: number;
  /** Float outputs as numbers; labels as numbers or strings. */
  readonly values: (number | string)[];
}

/**
 * Evaluate `candidate` against `parent` on every row of `evalSet`: agreement, absolute differences,
 * task metrics when the set has labels, size, load time and latency at each batch size (types.ts
 * OptimizationReport). A candidate whose outputs differ wildly is reported, not refused (gates decide);
 * one whose signature or output shapes differ is refused with FAILED_PRECONDITION naming them.
 */
export async function evaluateCandidate(options: EvaluateOptions): Promise<OptimizationReport> {
  const { signature, evalSet } = options;
  const progress = options.progress ?? ((): void => {});
  for (const [side, bytes] of [
    ['parent', options.parent],
    ['candidate', options.candidate],
  ] as const) {
    const differences = signatureDifferences(signature, readOnnxModel(bytes).signature);
    if (differences.length > 0)
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `the ${side}'s signature differs from the parent version's: ${differences.join('; ')}`,
        { details: differences },
      );
  }
  const outputs = taskOutputs(signature);
  const batchSizes = effectiveBatchSizes(options.batchSizes ?? [1, 64], evalSet.rowCount);
  const minSeconds = options.minSeconds ?? 1;
  if (!(minSeconds >= 0)) throw invalid(`minSeconds must be a number >= 0, got ${minSeconds}`);
  const parent = await ort.InferenceSession.create(options.parent, SERVING_SESSION_OPTIONS);
  try {
    const candidate = await ort.InferenceSession.create(options.candidate, SERVING_SESSION_OPTIONS);
    try {
      const columns = await collectOutputs(parent, candidate, signature, evalSet, progress);
      const comparison = compareOutputs(columns.parent, columns.candidate, outputs);
      const metrics = taskMetrics(columns, outputs, evalSet, options.classLabels);
      progress('load time');
      const loadMs = await medianLoadMs(options.parent, options.candidate);
      const latency = await measureLatency(parent, candidate, evalSet, {
        batchSizes,
        minSeconds,
        progress,
      });
      return {
        rows: evalSet.rowCount,
        source: evalSet.source,
        task: outputs.task,
        ...comparison,
        ...(metrics === undefined ? {} : { metrics }),
        size: {
          parentBytes: options.parent.byteLength,
          candidateBytes: options.candidate.byteLength,
          ratio: options.candidate.byteLength / options.parent.byteLength,
        },
        loadMs,
        latency,
      };
    } finally {
      await candidate.release();
    }
  } finally {
    await parent.release();
  }
}

async function collectOutputs(
  parent: ort.InferenceSession,
  candidate: ort.InferenceSession,
  signature: Signature,
  set: EvalSet,
  progress: (message: string) => void,
): Promise<{ parent: OutputColumn[]; candidate: OutputColumn[] }> {
  const make = (): OutputColumn[] => signature.outputs.map((spec) => ({ spec, width: -1, values: [] }));
  const columns = { parent: make(), candidate: make() };
  const names = signature.outputs.map((o) => o.name);
  for (let start = 0; start < set.rowCount; start += OUTPUT_BATCH) {
    const end = Math.min(set.rowCount, start + OUTPUT_BATCH);
    const feeds = evalSetSlice(set, start, end);
    const results = { parent: await parent.run(feeds, names), candidate: await candidate.run(feeds, names) };
    for (const spec of signature.outputs) {
      const a = results.parent[spec.name]!;
      const b = results.candidate[spec.name]!;
      if (a.dims.join(',') !== b.dims.join(',') || a.type !== b.type)
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `output "${spec.name}" differs in shape or type: the parent gives ${a.type} [${a.dims.join(', ')}], the candidate ${b.type} [${b.dims.join(', ')}] for rows ${start + 1}..${end}`,
        );
    }
    signature.outputs.forEach((spec, i) => {
      appendOutput(columns.parent[i]!, results.parent[spec.name]!, end - start);
      appendOutput(columns.candidate[i]!, results.candidate[spec.name]!, end - start);
    });
    progress(`outputs: ${end}/${set.rowCount} rows`);
  }
  return columns;
}

function appendOutput(column: OutputColumn, tensor: ort.Tensor, rows: number): void {
  const width = rows === 0 ? 0 : tensor.size / rows;
  if (column.width >= 0 && column.width !== width)
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `output "${column.spec.name}" has ${width} values per row in one batch and ${column.width} in another`,
    );
  column.width = width;
  const data = tensor.data;
  if (tensor.type === 'float16') {
    const view = data as ArrayBufferView;
    const bits = data instanceof Uint16Array ? data : new Uint16Array(view.buffer, view.byteOffset, tensor.size);
    for (const value of decodeFp16(bits)) column.values.push(value);
  } else if (Array.isArray(data)) {
    for (const value of data) column.values.push(value);
  } else {
    const numbers = data as ArrayLike<number | bigint>;
    for (let i = 0; i < numbers.length; i++) column.values.push(Number(numbers[i]));
  }
}

/** |a - b| with NaN equal to NaN and a lone NaN (or unequal infinities) infinitely far. */
function absDiff(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  if (a === b) return 0;
  const d = Math.abs(a - b);
  return Number.isNaN(d) ? Infinity : d;
}

function compareOutputs(
  parent: readonly OutputColumn[],
  candidate: readonly OutputColumn[],
  outputs: TaskOutputs,
): { agreement: number; maxAbsDiff: number; meanAbsDiff: number } {
  let max = 0;
  let total = 0;
  let count = 0;
  parent.forEach((column, i) => {
    if (!isFloatOutput(column.spec)) return;
    const other = candidate[i]!.values;
    column.values.forEach((value, j) => {
      const d = absDiff(value as number, other[j] as number);
      max = Math.max(max, d);
      total += d;
      count++;
    });
  });
  const decisive = outputs.labelOutput ?? outputs.valueOutput!;
  const index = parent.findIndex((c) => c.spec.name === decisive.name);
  const a = parent[index]!;
  const b = candidate[index]!;
  const rows = a.width === 0 ? 0 : a.values.length / a.width;
  let agreeing = 0;
  for (let row = 0; row < rows; row++) {
    let same = true;
    for (let k = row * a.width; k < (row + 1) * a.width && same; k++) {
      const p = a.values[k]!;
      const c = b.values[k]!;
      same =
        outputs.task === 'regression'
          ? absDiff(p as number, c as number) <= REGRESSION_AGREEMENT_TOLERANCE * Math.max(1, Math.abs(p as number))
          : p === c;
    }
    if (same) agreeing++;
  }
  return { agreement: rows === 0 ? 1 : agreeing / rows, maxAbsDiff: max, meanAbsDiff: count === 0 ? 0 : total / count };
}

function taskMetrics(
  columns: { parent: OutputColumn[]; candidate: OutputColumn[] },
  outputs: TaskOutputs,
  set: EvalSet,
  classLabels: readonly string[] | undefined,
): OptimizationReport['metrics'] {
  if (set.labels === undefined) return undefined;
  const labelColumn = set.labelColumn ?? 'label';
  const find = (side: OutputColumn[], spec: TensorSpec | undefined): OutputColumn | undefined =>
    spec === undefined ? undefined : side.find((c) => c.spec.name === spec.name);
  if (outputs.task === 'regression') {
    const sides = [columns.parent, columns.candidate].map((side) => {
      const column = find(side, outputs.valueOutput)!;
      if (column.width !== 1)
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `regression metrics need one value per row, but output "${column.spec.name}" has ${column.width}`,
        );
      return regressionTaskMetrics(set.labels!, labelColumn, column.values as number[]);
    });
    return { parent: sides[0]!, candidate: sides[1]!, delta: metricDelta(sides[0]!, sides[1]!) };
  }
  const truth = labelKeys(set.labels, labelColumn, outputs.labelOutput!, classLabels);
  const parentLabels = find(columns.parent, outputs.labelOutput)!.values.map(String);
  const positive =
    outputs.task === 'binary' ? positiveClass(columns.parent, outputs, parentLabels, classLabels) : undefined;
  const sides = [columns.parent, columns.candidate].map((side) => {
    const predicted = find(side, outputs.labelOutput)!.values.map(String);
    const probabilities = find(side, outputs.probabilityOutput);
    const scores =
      outputs.task === 'binary' && probabilities !== undefined
        ? Float64Array.from({ length: predicted.length }, (_, row) => probabilities.values[row * 2 + 1] as number)
        : undefined;
    return classificationMetrics(outputs.task as 'binary' | 'multiclass', truth, predicted, positive, scores);
  });
  return { parent: sides[0]!, candidate: sides[1]!, delta: metricDelta(sides[0]!, sides[1]!) };
}

/**
 * The label value of class index 1 (the positive class of f1 and auc): the parent's predicted label
 * on a row where probability column 1 wins; failing that (every row predicted negative), class
 * label 1 for a text label output, 1 for a numeric one.
 */
function positiveClass(
  parent: readonly OutputColumn[],
  outputs: TaskOutputs,
  parentLabels: readonly string[],
  classLabels: readonly string[] | undefined,
): string {
  const probabilities = parent.find((c) => c.spec.name === outputs.probabilityOutput?.name);
  if (probabilities !== undefined)
    for (let row = 0; row < parentLabels.length; row++)
      if ((probabilities.values[row * 2 + 1] as number) > (probabilities.values[row * 2] as number))
        return parentLabels[row]!;
  if (outputs.labelOutput?.datatype === 'BYTES') {
    if (classLabels?.[1] !== undefined) return classLabels[1];
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `cannot tell the positive class of text label output "${outputs.labelOutput.name}": the parent predicts no row as class 1 and the version has no class labels`,
    );
  }
  return '1';
}
