/**
 * The pluggable inference backend. The pool, the batcher and the server talk to
 * this interface only; they branch on {@link BackendCapabilities}, never on `Backend.name`.
 * Vendor types (ONNX Runtime sessions and tensors) stay inside each implementation's folder.
 */
import type { CancelSignal } from './abort.js';
import type { Datatype, Signature, Tensor } from '../tensor/datatypes.js';

/** What a backend can do. Anything a backend does not declare is assumed unsupported. */
export interface BackendCapabilities {
  /** Models accept a variable leading (batch) dimension, so requests may be stacked into one run. */
  readonly supportsBatching: boolean;
  /** Several `run` calls on one loaded model actually execute in parallel (not merely interleave). */
  readonly supportsConcurrentRuns: boolean;
  /** Tensor datatypes the backend can feed and fetch. */
  readonly datatypes: readonly Datatype[];
}

/** The conservative capabilities: no batching, one run at a time, no datatypes claimed. */
export const DEFAULT_CAPABILITIES: BackendCapabilities = Object.freeze({
  supportsBatching: false,
  supportsConcurrentRuns: false,
  datatypes: Object.freeze([]),
});

/**
 * Fill the capabilities a backend leaves out with the safe defaults.
 *
 * @example
 * readonly capabilities = defineCapabilities({ supportsBatching: true, datatypes: ['FP32'] });
 */
export function defineCapabilities(declared: Partial<BackendCapabilities>): BackendCapabilities {
  return Object.freeze({ ...DEFAULT_CAPABILITIES, ...definedOnly(declared) });
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** How to load one model artifact. */
export interface LoadOptions {
  /** Local path of the model file. */
  readonly path: string;
  /** Threads used inside one operator; backends default to 1. */
  readonly intraOpThreads?: number;
  /** Threads used across independent operators; backends default to 1. */
  readonly interOpThreads?: number;
  /** Per-model session settings over the backend's defaults (a model's serving config `session`). */
  readonly session?: SessionSettings;
  /**
   * Execution providers in preference order; the backend tries each and falls back to `cpu` (always
   * the last resort) with {@link LoadedModel.executionProvider} saying why.
   */
  readonly executionProviders?: readonly ExecutionProviderName[];
  /** Abandons the load; a backend rejects with CANCELLED and frees anything it created. */
  readonly signal?: AbortSignal;
}

/** An execution provider a model may ask for; the same names as registry/serving-session-config.ts. */
export type ExecutionProviderName = 'cuda' | 'tensorrt' | 'cpu';

/** Session settings per model; unset fields keep the backend's defaults (see runtime/onnx/session-settings.ts). */
export interface SessionSettings {
  readonly intraOpThreads?: number;
  readonly interOpThreads?: number;
  readonly executionMode?: 'sequential' | 'parallel';
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  readonly enableCpuMemArena?: boolean;
  readonly enableMemPattern?: boolean;
}

/** Which execution provider a loaded model runs on, and why the preferred ones were passed over. */
export interface ActiveProvider {
  readonly name: ExecutionProviderName;
  /** One entry per preferred provider that failed, e.g. `cuda: Failed to load shared library`. */
  readonly fallbacks: readonly string[];
}

/** Per-run options. */
export interface RunOptions {
  /** A run whose signal is aborted is not started, and its result is discarded if it already was. */
  readonly signal?: CancelSignal;
  /** Give up with DEADLINE_EXCEEDED if the run has not started by then (`performance.now()` ms). */
  readonly deadline?: number;
  /** Queue priority: 1 is the highest; larger numbers wait behind smaller ones. Default: the lowest level. */
  readonly priority?: number;
  /** Filled in as the run proceeds, for metrics: how long it queued and computed. */
  readonly timing?: RunTiming;
}

/**
 * Where a request's time went, written by the batcher (or the pool when there is none). A mutable
 * record rather than an event so the hot path allocates nothing per request beyond it.
 */
export interface RunTiming {
  /** Milliseconds waiting in the batch queue (0 without batching). */
  queueMs: number;
  /** Milliseconds of the model run that carried this request (-1 until known). */
  computeMs: number;
  /** Rows in that run (this request's and the ones batched with it). */
  batchRows: number;
}

/** A fresh {@link RunTiming}. */
export function newRunTiming(): RunTiming {
  return { queueMs: 0, computeMs: -1, batchRows: 0 };
}

/** One loaded model, ready to run. Not usable after `release()`. */
export interface LoadedModel {
  /** Inputs and outputs as the model file declares them (`-1` for variable dimensions). */
  readonly signature: Signature;
  /**
   * Run the model once. `outputNames` selects and orders the outputs; an empty list means all of
   * them in signature order. Bad inputs reject with INVALID_ARGUMENT, backend failures with INTERNAL.
   */
  run(inputs: readonly Tensor[], outputNames: readonly string[], options?: RunOptions): Promise<Tensor[]>;
  /** Where the model runs (backends without providers leave it unset). */
  readonly executionProvider?: ActiveProvider;
  /** Free the model's native resources. Idempotent; later runs reject with UNAVAILABLE. */
  release(): Promise<void>;
}

/** An inference engine that turns model files into {@link LoadedModel}s. */
export interface Backend {
  /** For logs and metrics only; never branch on it. */
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  /**
   * Load a model file. A file the backend cannot load rejects with INVALID_ARGUMENT, a missing
   * file with NOT_FOUND.
   */
  load(options: LoadOptions): Promise<LoadedModel>;
}
