/**
 * The model pool's vocabulary: keys, options, events, states, leases, and the error a failed load
 * answers with. Kept apart from model-pool.ts, which holds the pool's behaviour.
 */
import { SlipwayError } from '../core/errors.js';
import type { ActiveProvider, Backend, ExecutionProviderName, LoadedModel, SessionSettings } from './backend.js';
import type { BatchingOptions } from './batcher.js';
import type { WarmupOutcome, WarmupPlan } from './warmup.js';

/** Why a model left the pool. */
export type UnloadReason = 'lru' | 'explicit' | 'close' | 'reload';

/** Which model version a pool entry holds. */
export interface ModelKey {
  readonly model: string;
  readonly version: string;
}

/** `model@version`, for log lines and as the pool's map key (never parsed back). */
export function modelKeyText(key: ModelKey): string {
  return `${key.model}@${key.version}`;
}

/** Finds the local path of a version's model file; called only when it must be loaded. */
export type ArtifactLocator = (key: ModelKey) => Promise<string> | string;

/** Lifecycle events for logs and metrics. */
export type PoolEvent =
  | { readonly type: 'loading'; readonly key: ModelKey }
  /** `warmup.skipped` is set when the generated warm-up failed and the version loaded without it (a warning). */
  | {
      readonly type: 'loaded';
      readonly key: ModelKey;
      readonly durationMs: number;
      readonly warmup: WarmupOutcome;
      /** Where it runs; `fallbacks` name the preferred providers passed over and why (a warning). */
      readonly provider?: ActiveProvider;
    }
  /** `error` is what failed (the backend's load, the warm-up, locating the file); acquires get it wrapped by {@link loadFailure} when the model itself failed. */
  | { readonly type: 'load-failed'; readonly key: ModelKey; readonly durationMs: number; readonly error: SlipwayError }
  /** `error` is set when the backend failed to free the model; it is out of the pool either way. */
  | { readonly type: 'unloaded'; readonly key: ModelKey; readonly reason: UnloadReason; readonly error?: SlipwayError };

/**
 * `unloading`: asked to unload, waiting for its leases to end; new acquires wait and then load it again.
 */
export type ModelStatus = 'unloaded' | 'loading' | 'ready' | 'failed' | 'unloading';

export interface ModelPoolOptions {
  readonly backend: Backend;
  /** Where a version's model file is, asked at each load. */
  readonly locate: ArtifactLocator;
  /** Most models kept loaded; at least 1. Leased models may push the count above it briefly. */
  readonly maxLoaded: number;
  readonly intraOpThreads?: number;
  readonly interOpThreads?: number;
  /** Called synchronously; must not throw (a throw is turned into a process warning). */
  readonly onEvent?: (event: PoolEvent) => void;
  /**
   * Dynamic batching settings for a key, read at each (re)load; undefined = no batcher. Applied only
   * when the backend `supportsBatching`.
   */
  readonly batching?: (key: ModelKey) => Promise<BatchingOptions | undefined> | BatchingOptions | undefined;
  /**
   * A key's session settings and execution-provider preference, read at each (re)load; they override
   * `intraOpThreads` / `interOpThreads` above. Undefined = the process defaults on the CPU.
   */
  readonly loadSettings?: (key: ModelKey) => Promise<ModelLoadSettings | undefined> | ModelLoadSettings | undefined;
  /** How a key is warmed up, read at each (re)load; undefined = `generated`. */
  readonly warmup?: (key: ModelKey) => Promise<WarmupPlan | undefined> | WarmupPlan | undefined;
  /** How long acquires answer a failed load's error before loading again (default 1000 ms; 0 = every acquire retries). */
  readonly failedLoadRetryMs?: number;
  /** Told about every successful batched run: the key, its rows, how many requests share it and the run's ms. Must not throw. */
  readonly onBatch?: (key: ModelKey, rows: number, requests: number, computeMs: number) => void;
  /** Wall clock for `loadedAt` / `lastUsedAt` (epoch ms); default `Date.now`. */
  readonly now?: () => number;
}

/** What a model's serving config asks of its ONNX Runtime session (serving/batching-for.ts `loadSettingsFor`). */
export interface ModelLoadSettings {
  readonly session?: SessionSettings;
  readonly executionProviders?: readonly ExecutionProviderName[];
}

/** A ready model that stays loaded until `release()` (idempotent). Release after every run. */
export interface ModelLease {
  readonly model: LoadedModel;
  release(): void;
}

/** One row of {@link ModelPool.list}. */
export interface PooledModelInfo {
  readonly key: ModelKey;
  readonly status: ModelStatus;
  /** Epoch ms when the model became ready; null while loading or after a failed load. */
  readonly loadedAt: number | null;
  /** Epoch ms of the last acquire. */
  readonly lastUsedAt: number;
  /** Leases held, plus acquires waiting on the load. */
  readonly inFlight: number;
}

/** Errors made by {@link loadFailure}: a server-side failure, counted as `error` (not `rejected`) by the request path. */
const loadFailures = new WeakSet<SlipwayError>();

/**
 * What requests to a version whose load failed get: 503 naming the cause, with Retry-After (the
 * failure is answered from memory until then). Not the cause's own code: a warm-up the user gave
 * that fails is INVALID_ARGUMENT, yet the request that meets it made no mistake.
 */
export function loadFailure(key: ModelKey, cause: SlipwayError, retryMs: number): SlipwayError {
  const error = new SlipwayError('UNAVAILABLE', `model ${modelKeyText(key)} failed to load: ${cause.message}`, {
    cause,
    retryAfterSeconds: Math.max(1, Math.ceil(retryMs / 1000)),
  });
  loadFailures.add(error);
  return error;
}

/** Whether `error` is a version's failed load ({@link loadFailure}). */
export function isLoadFailure(error: unknown): boolean {
  return error instanceof SlipwayError && loadFailures.has(error);
}

/** A log line for the pool events an operator should see (failed loads, a skipped warm-up); undefined for the rest. */
export function poolEventLine(event: PoolEvent): string | undefined {
  if (event.type === 'load-failed') return `model ${modelKeyText(event.key)} failed to load: ${event.error.message}`;
  if (event.type !== 'loaded') return undefined;
  const warnings = [
    ...(event.provider !== undefined && event.provider.fallbacks.length > 0
      ? [`runs on ${event.provider.name}, not the preferred ${event.provider.fallbacks.join('; ')}`]
      : []),
    ...(event.warmup.skipped !== undefined ? [event.warmup.skipped] : []),
  ];
  return warnings.length === 0 ? undefined : `model ${modelKeyText(event.key)}: warning: ${warnings.join('; ')}`;
}
