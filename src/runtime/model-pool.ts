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
import type { ActiveProvider, LoadedModel, RunOptions } from './backend.js';
import { withBatching, type BatchingModel, type BatcherStats } from './batcher.js';
import { runWarmup, type WarmupOutcome } from './warmup.js';
import {
  loadFailure,
  type ModelKey,
  type ModelLease,
  type ModelLoadSettings,
  type ModelPoolOptions,
  type ModelStatus,
  type PoolEvent,
  type PooledModelInfo,
  type UnloadReason,
  modelKeyText,
} from './pool-types.js';

export {
  isLoadFailure,
  loadFailure,
  modelKeyText,
  poolEventLine,
  type ArtifactLocator,
  type ModelKey,
  type ModelLease,
  type ModelLoadSettings,
  type ModelPoolOptions,
  type ModelStatus,
  type PoolEvent,
  type PooledModelInfo,
  type UnloadReason,
} from './pool-types.js';

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
  /** The loaded copy's execution provider (the backend's, read before any batcher wraps it). */
  provider: ActiveProvider | undefined;
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
      if (
        entry?.state === 'failed' &&
        entry.error !== undefined &&
        this.now() - entry.failedAt < this.failedLoadRetryMs
      )
        throw entry.error;
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

  /** The execution provider of `key`'s ready copy; undefined while it is not ready or the backend names none. */
  activeProvider(key: ModelKey): ActiveProvider | undefined {
    const entry = this.entries.get(modelKeyText(key));
    return entry?.state === 'ready' ? entry.provider : undefined;
  }

  /** Every ready version with its execution provider (the `slipway_model_execution_provider` gauge). */
  providers(): { key: ModelKey; provider: ActiveProvider }[] {
    return [...this.entries.values()].flatMap((e) =>
      e.state === 'ready' && e.provider !== undefined ? [{ key: e.key, provider: e.provider }] : [],
    );
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
      if (entry.state === 'ready' && typeof model?.stats === 'function')
        out.push({ key: entry.key, stats: model.stats() });
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
      provider: undefined,
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
      const settings: ModelLoadSettings = (await this.options.loadSettings?.(entry.key)) ?? {};
      throwIfAborted(signal);
      modelFailed = true;
      model = await this.options.backend.load({
        path,
        intraOpThreads: this.options.intraOpThreads,
        interOpThreads: this.options.interOpThreads,
        ...(settings.session === undefined ? {} : { session: settings.session }),
        ...(settings.executionProviders === undefined ? {} : { executionProviders: settings.executionProviders }),
        signal,
      });
      entry.provider = model.executionProvider;
      warmup = await runWarmup(model, plan, entry.id, { signal });
      modelFailed = false;
      throwIfAborted(signal);
      const { capabilities } = this.options.backend;
      const batching = capabilities.supportsBatching ? await this.options.batching?.(entry.key) : undefined;
      if (batching !== undefined)
        model = withBatching(model, batching, capabilities.supportsConcurrentRuns, this.batchObserver(entry.key));
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
    this.emit({
      type: 'loaded',
      key: entry.key,
      durationMs: performance.now() - started,
      warmup,
      ...(entry.provider === undefined ? {} : { provider: entry.provider }),
    });
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
      this.emit(
        error === undefined
          ? { type: 'unloaded', key: entry.key, reason }
          : { type: 'unloaded', key: entry.key, reason, error },
      );
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
