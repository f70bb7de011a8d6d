/**
 * The model pool: which model versions are loaded, and their lifecycle.
 *
 * Invariants it owns: one load per key at a time (concurrent acquires share it); a model is
 * handed out only after it loaded and its warm-up ran as planned (src/runtime/warmup.ts); a failed
 * load is remembered (`status()`, `loadState()`) and its error answered for `failedLoadRetryMs`, then
 * retried by the next acquire (an explicit `reload` retries at once); a leased model is never released under a run; at
 * most `maxLoaded` idle models stay loaded (least recently acquired goes first); nothing is
 * handed out after `close()`.
 */
import { SlipwayError, toSlipwayError } from '../core/errors.js';
import type { Tensor } from '../tensor/datatypes.js';
import { throwIfAborted, waitUnlessAborted } from './abort.js';
import type { Backend, LoadedModel, RunOptions } from './backend.js';
import { withBatching, type BatchingModel, type BatchingOptions, type BatcherStats } from './batcher.js';
import { runWarmup, type WarmupOutcome, type WarmupPlan } from './warmup.js';

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
  | { readonly type: 'loaded'; readonly key: ModelKey; readonly durationMs: number; readonly warmup: WarmupOutcome }
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
  /** How a key is warmed up, read at each (re)load; undefined = `generated`. */
  readonly warmup?: (key: ModelKey) => Promise<WarmupPlan | undefined> | WarmupPlan | undefined;
  /** How long acquires answer a failed load's error before loading again (default 1000 ms; 0 = every acquire retries). */
  readonly failedLoadRetryMs?: number;
  /** Told about every successful batched run: the key, its rows, how many requests share it and the run's ms. Must not throw. */
  readonly onBatch?: (key: ModelKey, rows: number, requests: number, computeMs: number) => void;
  /** Wall clock for `loadedAt` / `lastUsedAt` (epoch ms); default `Date.now`. */
  readonly now?: () => number;
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

interface Entry {
  readonly key: ModelKey;
  /** modelKeyText(key): the entries map's key. */
  readonly id: string;
  state: Exclude<ModelStatus, 'unloaded'>;
  model: LoadedModel | undefined;
  /** Settles when the current load ends; set for every entry that ever loaded. */
  loading: Promise<LoadedModel>;
  unloading: Promise<void> | undefined;
  /** Leases granted plus acquires waiting on `loading`; the model is not released while > 0. */
  leases: number;
  onIdle: (() => void) | undefined;
  loadedAt: number | null;
  lastUsedAt: number;
  /** Why the load failed (state `failed`), and when (the pool's clock). */
  error: SlipwayError | undefined;
  failedAt: number;
  /** What the warm-up of the loaded copy did. */
  warmup: WarmupOutcome | undefined;
  /** Monotonic acquire order, so LRU does not depend on clock resolution. */
  useOrder: number;
}

/**
 * The set of loaded model versions, by {@link ModelKey}.
 *
 * @example
 * const pool = new ModelPool({ backend: createOrtBackend(), maxLoaded: 16, locate: (key) => registry.artifactPathOf(key) });
 * const [label] = await pool.run({ model: 'fraud', version: '1.2.0' }, [input], ['label']);
 */
export class ModelPool {
  private readonly entries = new Map<string, Entry>();
  private readonly shutdown = new AbortController();
  private readonly now: () => number;
  private readonly failedLoadRetryMs: number;
  private useCounter = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: ModelPoolOptions) {
    if (!Number.isInteger(options.maxLoaded) || options.maxLoaded < 1) {
      throw new SlipwayError('INVALID_ARGUMENT', `maxLoaded must be an integer >= 1, got ${options.maxLoaded}`);
    }
    this.now = options.now ?? Date.now;
    this.failedLoadRetryMs = options.failedLoadRetryMs ?? 1000;
  }

  /**
   * Lease the ready model for `key`, loading and warming it up first if needed. A caller whose
   * signal aborts stops waiting; a load other callers share carries on.
   */
  async acquire(key: ModelKey, options: RunOptions = {}): Promise<ModelLease> {
    const id = modelKeyText(key);
    for (;;) {
      this.assertOpen();
      throwIfAborted(options.signal);
      let entry = this.entries.get(id);
      if (entry?.state === 'unloading') {
        await waitUnlessAborted(entry.unloading ?? Promise.resolve(), options.signal);
        continue;
      }
      if (entry?.state === 'failed' && entry.error !== undefined && this.now() - entry.failedAt < this.failedLoadRetryMs) throw entry.error;
      if (entry === undefined || entry.state === 'failed') entry = this.startLoad(key);
      entry.lastUsedAt = this.now();
      entry.useOrder = ++this.useCounter;
      entry.leases += 1;
      if (entry.state === 'loading') {
        try {
          await waitUnlessAborted(entry.loading, options.signal);
        } catch (error) {
          this.endLease(entry);
          throw error;
        }
      }
      // An explicit unload may have started between the load finishing and this continuation.
      if (entry.state === 'ready' && entry.model !== undefined) return this.lease(entry, entry.model);
      this.endLease(entry);
    }
  }

  /** Acquire, run once, release. */
  async run(
    key: ModelKey,
    inputs: readonly Tensor[],
    outputNames: readonly string[],
    options: RunOptions = {},
  ): Promise<Tensor[]> {
    const lease = await this.acquire(key, options);
    try {
      const { timing } = options;
      if (timing === undefined) return await lease.model.run(inputs, outputNames, options);
      const started = performance.now();
      const outputs = await lease.model.run(inputs, outputNames, options);
      // A batcher already wrote its own figures; without one the whole run is compute.
      if (timing.computeMs < 0) {
        timing.computeMs = performance.now() - started;
        timing.batchRows = inputs[0]?.shape[0] ?? 1;
      }
      return outputs;
    } finally {
      lease.release();
    }
  }

  status(key: ModelKey): ModelStatus {
    return this.entries.get(modelKeyText(key))?.state ?? 'unloaded';
  }

  /** The status with why a load failed (`error`, what acquires answer) or what the serving copy's warm-up did. */
  loadState(key: ModelKey): { status: ModelStatus; error?: SlipwayError; warmup?: WarmupOutcome } {
    const entry = this.entries.get(modelKeyText(key));
    if (entry === undefined) return { status: 'unloaded' };
    if (entry.state === 'failed' && entry.error !== undefined) return { status: 'failed', error: entry.error };
    return entry.warmup === undefined ? { status: entry.state } : { status: entry.state, warmup: entry.warmup };
  }

  list(): PooledModelInfo[] {
    return [...this.entries.values()].map((e) => ({
      key: e.key,
      status: e.state,
      loadedAt: e.loadedAt,
      lastUsedAt: e.lastUsedAt,
      inFlight: e.leases,
    }));
  }

  /** The batch queue of every loaded model that has one: requests waiting and runs in flight. */
  queueStats(): { key: ModelKey; stats: BatcherStats }[] {
    const out: { key: ModelKey; stats: BatcherStats }[] = [];
    for (const entry of this.entries.values()) {
      const model = entry.model as Partial<BatchingModel> | undefined;
      if (entry.state === 'ready' && typeof model?.stats === 'function') out.push({ key: entry.key, stats: model.stats() });
    }
    return out;
  }

  private batchObserver(key: ModelKey): ((rows: number, requests: number, computeMs: number) => void) | undefined {
    const { onBatch } = this.options;
    if (onBatch === undefined) return undefined;
    return (rows, requests, computeMs) => {
      try {
        onBatch(key, rows, requests, computeMs);
      } catch (error) {
        process.emitWarning(`ModelPool onBatch listener threw: ${String(error)}`);
      }
    };
  }

  /**
   * Unload `key` once its leases end (a load in progress finishes first). Resolves true when a
   * loaded model was unloaded, false when there was none (a failed load is forgotten).
   */
  async unload(key: ModelKey): Promise<boolean> {
    const entry = this.entries.get(modelKeyText(key));
    if (entry === undefined) return false;
    switch (entry.state) {
      case 'failed':
        this.entries.delete(entry.id);
        return false;
      case 'loading':
        await entry.loading.catch(() => undefined);
        return this.unload(key);
      case 'unloading':
        await entry.unloading;
        return true;
      case 'ready':
        await this.startUnload(entry, 'explicit');
        return true;
    }
  }

  /**
   * Load a fresh copy of `key` beside the one serving, warm it up, then swap it in: new acquires
   * get the fresh copy at once, and the old one is released after its in-flight runs end. Nothing
   * waits or fails meanwhile. When `key` is not loaded this is a plain load, at once even if a
   * failed load is still being answered from memory. A failed reload leaves the old copy serving and rejects.
   */
  async reload(key: ModelKey): Promise<void> {
    this.assertOpen();
    const id = modelKeyText(key);
    const old = this.entries.get(id);
    if (old === undefined || old.state !== 'ready') {
      if (old?.state === 'failed') this.entries.delete(id);
      (await this.acquire(key)).release();
      return;
    }
    const fresh = this.newEntry(key);
    fresh.loading = this.load(fresh);
    await fresh.loading;
    if (this.entries.get(id) === old && old.state === 'ready') {
      this.entries.set(id, fresh);
      void this.startUnload(old, 'reload');
    } else {
      // Unloaded or closed meanwhile: the fresh copy is not wanted.
      await fresh.model?.release().catch(() => undefined);
    }
  }

  /** Refuse new acquires, let loads in progress end, then unload everything once its leases end. */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<void> {
    this.shutdown.abort(closedError());
    await Promise.allSettled([...this.entries.values()].map((e) => e.loading));
    await Promise.all(
      [...this.entries.values()].map((entry) => {
        if (entry.state === 'ready') return this.startUnload(entry, 'close');
        if (entry.state === 'unloading') return entry.unloading ?? Promise.resolve();
        this.entries.delete(entry.id);
        return Promise.resolve();
      }),
    );
  }

  private assertOpen(): void {
    if (this.shutdown.signal.aborted) throw closedError();
  }

  private startLoad(key: ModelKey): Entry {
    const entry = this.newEntry(key);
    this.entries.set(entry.id, entry);
    entry.loading = this.load(entry);
    // Waiters observe the failure; this keeps it from being unhandled when every waiter gave up.
    entry.loading.catch(() => undefined);
    return entry;
  }

  /** An entry in state `loading`; its `loading` promise is assigned by the caller, as the load needs the entry. */
  private newEntry(key: ModelKey): Entry {
    return {
      key: { model: key.model, version: key.version },
      id: modelKeyText(key),
      state: 'loading',
      model: undefined,
      unloading: undefined,
      leases: 0,
      onIdle: undefined,
      loadedAt: null,
      lastUsedAt: this.now(),
      error: undefined,
      failedAt: 0,
      warmup: undefined,
      useOrder: 0,
    } as Entry;
  }

  private async load(entry: Entry): Promise<LoadedModel> {
    this.emit({ type: 'loading', key: entry.key });
    const started = performance.now();
    const signal = this.shutdown.signal;
    let model: LoadedModel | undefined;
    let warmup: WarmupOutcome | undefined;
    // Failures of the model itself (its file, its warm-up) answer UNAVAILABLE naming it; failures to find its file or settings keep their own code.
    let modelFailed = false;
    try {
      const path = await this.options.locate(entry.key);
      const plan = (await this.options.warmup?.(entry.key)) ?? 'generated';
      throwIfAborted(signal);
      modelFailed = true;
      model = await this.options.backend.load({
        path,
        intraOpThreads: this.options.intraOpThreads,
        interOpThreads: this.options.interOpThreads,
        signal,
      });
      warmup = await runWarmup(model, plan, entry.id, { signal });
      modelFailed = false;
      throwIfAborted(signal);
      const { capabilities } = this.options.backend;
      const batching = capabilities.supportsBatching ? await this.options.batching?.(entry.key) : undefined;
      if (batching !== undefined) model = withBatching(model, batching, capabilities.supportsConcurrentRuns, this.batchObserver(entry.key));
    } catch (raw) {
      await model?.release().catch(() => undefined);
      const error = signal.aborted ? closedError() : toSlipwayError(raw);
      entry.state = 'failed';
      entry.error = modelFailed && !signal.aborted ? loadFailure(entry.key, error, this.failedLoadRetryMs) : error;
      entry.failedAt = this.now();
      this.emit({ type: 'load-failed', key: entry.key, durationMs: performance.now() - started, error });
      throw entry.error;
    }
    entry.state = 'ready';
    entry.model = model;
    entry.warmup = warmup;
    entry.loadedAt = this.now();
    this.emit({ type: 'loaded', key: entry.key, durationMs: performance.now() - started, warmup });
    this.evictIdleBeyondLimit();
    return model;
  }

  private lease(entry: Entry, model: LoadedModel): ModelLease {
    let released = false;
    return {
      model,
      release: () => {
        if (released) return;
        released = true;
        this.endLease(entry);
      },
    };
  }

  private endLease(entry: Entry): void {
    entry.leases -= 1;
    if (entry.leases > 0) return;
    const onIdle = entry.onIdle;
    entry.onIdle = undefined;
    if (onIdle !== undefined) onIdle();
    else this.evictIdleBeyondLimit();
  }

  /** Unload least recently acquired idle models until at most `maxLoaded` stay ready. */
  private evictIdleBeyondLimit(): void {
    const ready = [...this.entries.values()].filter((e) => e.state === 'ready');
    const excess = ready.length - this.options.maxLoaded;
    if (excess <= 0) return;
    const idle = ready.filter((e) => e.leases === 0).sort((a, b) => a.useOrder - b.useOrder);
    for (const entry of idle.slice(0, excess)) void this.startUnload(entry, 'lru');
  }

  /** Mark unloading now; release the model once its leases end. Never rejects. */
  private startUnload(entry: Entry, reason: UnloadReason): Promise<void> {
    entry.state = 'unloading';
    entry.unloading = (async () => {
      if (entry.leases > 0) await new Promise<void>((resolve) => (entry.onIdle = resolve));
      let error: SlipwayError | undefined;
      try {
        await entry.model?.release();
      } catch (raw) {
        error = toSlipwayError(raw);
      }
      entry.model = undefined;
      if (this.entries.get(entry.id) === entry) this.entries.delete(entry.id);
      this.emit(error === undefined ? { type: 'unloaded', key: entry.key, reason } : { type: 'unloaded', key: entry.key, reason, error });
    })();
    return entry.unloading;
  }

  private emit(event: PoolEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch (error) {
      process.emitWarning(`ModelPool onEvent listener threw on "${event.type}": ${String(error)}`);
    }
  }
}

function closedError(): SlipwayError {
  return new SlipwayError('UNAVAILABLE', 'the model pool is closed');
}

/** Errors made by {@link loadFailure}: a server-side failure, counted as `error` (not `rejected`) by the request path. */
const loadFailures = new WeakSet<SlipwayError>();

/**
 * What requests to a version whose load failed get: 503 naming the cause, with Retry-After (the
 * failure is answered from memory until then). Not the cause's own code: a warm-up the user gave
 * that fails is INVALID_ARGUMENT, yet the request that meets it made no mistake.
 */
export function loadFailure(key: ModelKey, cause: SlipwayError, retryMs: number): SlipwayError {
  const error = new SlipwayError('UNAVAILABLE', `model ${modelKeyText(key)} failed to load: ${cause.message}`, { cause, retryAfterSeconds: Math.max(1, Math.ceil(retryMs / 1000)) });
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
  if (event.type === 'loaded' && event.warmup.skipped !== undefined) return `model ${modelKeyText(event.key)}: warning: ${event.warmup.skipped}`;
  return undefined;
}
