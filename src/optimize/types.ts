/**
 * The optimize module's shared vocabulary: the rows a run evaluates on, one optimization pass, the
 * report comparing a candidate with its parent, and the gates that decide whether it is registered.
 */
import type { Datatype, Signature } from '../tensor/datatypes.js';

/** One model input for every row of a table: `[rowCount, width]` row-major, as ONNX Runtime takes it. */
export interface FeedTensor {
  readonly datatype: Datatype;
  readonly dims: readonly number[];
  readonly data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | readonly string[];
}

/**
 * Rows read from a table file (`--eval`, `--calibration`, `--train`, distillation data) shaped for a
 * model's inputs through tensor/column-mapping.ts, with the label column when one was named.
 */
export interface EvalSet {
  readonly rowCount: number;
  /** input name -> all rows */
  readonly inputs: Readonly<Record<string, FeedTensor>>;
  /** The label column's values in row order (numbers stay numbers, text stays text). */
  readonly labels?: readonly (number | string)[];
  readonly labelColumn?: string;
  /** The file it came from, for reports. */
  readonly source: string;
}

/** What a pass may use besides the model bytes. */
export interface PassContext {
  /** The parent's signature: a pass must keep it exactly. */
  readonly signature: Signature;
  /** A private temporary folder for this run (deleted afterwards). */
  readonly workDir: string;
  /** Rows for static quantization's calibration (`--calibration`). */
  readonly calibration?: EvalSet;
  /** Labelled rows for a fine-tune after pruning (`--train`). */
  readonly training?: EvalSet;
  /** Unlabeled rows the teacher labels for distillation (`--data`); labels, if present, are not used. */
  readonly data?: EvalSet;
  /** Class labels of the parent version (index = class index), when it has them. */
  readonly classLabels?: readonly string[];
  /** Progress for the job record and the CLI: one short line. */
  readonly progress: (message: string) => void;
}

/** One rewrite of an ONNX model, composable in order. */
export interface OptimizationPass {
  /** 'graph', 'quantize-dynamic', 'quantize-static', 'prune-magnitude', 'prune-neurons', 'fp16', 'distill'. */
  readonly name: string;
  /** Every setting it was given, defaults filled in: stored as the new version's params. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** The rewritten model; throws SlipwayError (INVALID_ARGUMENT / FAILED_PRECONDITION) naming what it cannot do. */
  apply(model: Uint8Array, context: PassContext): Promise<Uint8Array>;
}

export type Task = 'binary' | 'multiclass' | 'regression';

/** Latency of one model at one batch size, measured after warm-up, alternating with the other model. */
export interface LatencyFigures {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly rowsPerSecond: number;
}

export interface LatencyComparison {
  readonly batchSize: number;
  readonly parent: LatencyFigures;
  readonly candidate: LatencyFigures;
  /** parent mean time per run / candidate mean time per run. */
  readonly speedup: number;
}

/** How a candidate compares with its parent on the same rows, in the same process. */
export interface OptimizationReport {
  readonly rows: number;
  readonly source: string;
  readonly task: Task;
  /** Share of rows whose predicted label is equal (regression: |diff| <= 1e-3 * max(1, |parent|)). */
  readonly agreement: number;
  /** Over every element of every floating-point output. */
  readonly maxAbsDiff: number;
  readonly meanAbsDiff: number;
  /** Task metrics when labels were given: accuracy, f1, auc (binary) / mae, rmse, r2. */
  readonly metrics?: {
    readonly parent: Readonly<Record<string, number>>;
    readonly candidate: Readonly<Record<string, number>>;
    /** candidate - parent */
    readonly delta: Readonly<Record<string, number>>;
  };
  readonly size: { readonly parentBytes: number; readonly candidateBytes: number; readonly ratio: number };
  /** Session creation time, median of a few loads each. */
  readonly loadMs: { readonly parent: number; readonly candidate: number };
  /** batch 1 and batch 64 (or fewer rows when the set is smaller). */
  readonly latency: readonly LatencyComparison[];
}

/** One `--gate 'metric op value'`. */
export interface Gate {
  readonly metric: string;
  readonly op: '>=' | '<=' | '>' | '<';
  readonly value: number;
  /** The text as given, for messages. */
  readonly text: string;
}

export interface GateResult extends Gate {
  readonly actual: number | null;
  readonly passed: boolean;
}
