/**
 * Shadow traffic: after the primary answered, a copy of the request goes into a bounded queue;
 * a pump runs copies on the shadow version one (or a few) at a time and stores both outputs with
 * the request id. A full queue drops the copy and counts it. Nothing here can fail or delay the
 * primary's response: `offer` only pushes to an array, and the pump starts on a later turn.
 *
 * ONNX Runtime runs on the JS thread, so a shadow's compute does share the CPU with primaries;
 * the concurrency limit bounds that share.
 */
import type { Tensor } from '../tensor/datatypes.js';
import type { ActiveDeployment } from './router.js';
import { compareOutputs, outputsJson } from './shadow-compare.js';
import type { ShadowResult, SqlShadowStore } from './shadow-store.js';
import { isRetryableWriteError } from '../store/database-errors.js';

/** Results kept for a later flush while the database is locked. */
const MAX_UNWRITTEN = 10_000;

export interface ShadowCopy {
  readonly requestId: string;
  /** The version that answered. */
  readonly version: string;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  /** The primary's run, ms. */
  readonly latencyMs: number;
}

interface Pending {
  readonly deployment: string;
  readonly model: string;
  readonly shadowVersion: string;
  readonly copy: ShadowCopy;
  readonly timeMs: number;
}

export interface ShadowQueueOptions {
  /** Runs a shadow version on the copied inputs (the inference service, unobserved). */
  readonly run: (model: string, version: string, inputs: readonly Tensor[]) => Promise<readonly Tensor[]>;
  readonly store: SqlShadowStore;
  /** Identifies this process's drop totals. */
  readonly source: string;
  /** Copies waiting at most; more are dropped (default 1,000). */
  readonly capacity?: number;
  /** Copies running at once (default 1). */
  readonly concurrency?: number;
  readonly flushIntervalMs?: number;
  readonly onError?: (error: unknown) => void;
}

export class ShadowQueue {
  private readonly pending: Pending[] = [];
  private head = 0;
  private running = 0;
  private results: ShadowResult[] = [];
  private readonly drops = new Map<string, { deployment: string; shadowVersion: string; dropped: number }>();
  private dropsChanged = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private idleWaiters: Array<() => void> = [];
  private closed = false;
  private readonly capacity: number;
  private readonly concurrency: number;
  /** Results dropped unwritten because more than MAX_UNWRITTEN waited (the database was unreachable). */
  droppedResults = 0;

  constructor(private readonly options: ShadowQueueOptions) {
    this.capacity = options.capacity ?? 1000;
    this.concurrency = options.concurrency ?? 1;
  }

  /** Copies waiting now. */
  get depth(): number {
    return this.pending.length - this.head;
  }

  /** Mirror one answered request to the deployment's shadows (each at its percent). */
  offer(active: ActiveDeployment, copy: ShadowCopy): void {
    if (this.closed) return;
    const timeMs = Date.now();
    for (const shadow of active.shadows) {
      if (shadow.percent < 100 && Math.random() * 100 >= shadow.percent) continue;
      if (this.depth >= this.capacity) {
        const key = `${active.name}\u0000${shadow.version}`;
        const entry = this.drops.get(key) ?? { deployment: active.name, shadowVersion: shadow.version, dropped: 0 };
        entry.dropped++;
        this.drops.set(key, entry);
        this.dropsChanged = true;
        continue;
      }
      this.pending.push({ deployment: active.name, model: active.model, shadowVersion: shadow.version, copy, timeMs });
    }
    if (this.running < this.concurrency && this.depth > 0) setImmediate(() => this.pump());
    this.timer ??= setInterval(() => void this.flush(), this.options.flushIntervalMs ?? 500).unref();
  }

  private pump(): void {
    while (this.running < this.concurrency && this.depth > 0) {
      const item = this.pending[this.head++] as Pending;
      if (this.head > 1024 && this.head * 2 > this.pending.length) {
        this.pending.splice(0, this.head);
        this.head = 0;
      }
      this.running++;
      void this.runOne(item).finally(() => {
        this.running--;
        if (this.depth > 0) setImmediate(() => this.pump());
        else if (this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
    }
  }

  private async runOne(item: Pending): Promise<void> {
    const { copy } = item;
    const base = {
      deployment: item.deployment,
      requestId: copy.requestId,
      timeMs: item.timeMs,
      primaryVersion: copy.version,
      shadowVersion: item.shadowVersion,
      primaryMs: copy.latencyMs,
      primaryOutputs: outputsJson(copy.outputs),
    };
    const started = performance.now();
    try {
      const outputs = await this.options.run(item.model, item.shadowVersion, copy.inputs);
      const shadowMs = performance.now() - started;
      const compared = compareOutputs(copy.outputs, outputs);
      this.results.push({
        ...base,
        shadowMs,
        agree: compared.agree,
        absDiffMean: compared.absDiffMean,
        absDiffMax: compared.absDiffMax,
        error: compared.mismatch,
        shadowOutputs: outputsJson(outputs),
      });
    } catch (error) {
      this.results.push({
        ...base,
        shadowMs: null,
        agree: null,
        absDiffMean: null,
        absDiffMax: null,
        error: error instanceof Error ? error.message : String(error),
        shadowOutputs: null,
      });
    }
  }

  /** Store the results and drop counts gathered since the last flush. */
  flush(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const results = this.results;
      if (results.length === 0 && !this.dropsChanged) return;
      this.results = [];
      this.dropsChanged = false;
      try {
        await this.options.store.write(results, this.drops, this.options.source);
      } catch (error) {
        // Kept for the next flush (at most MAX_UNWRITTEN, the oldest dropped and counted); a locked database is routine.
        const kept = [...results, ...this.results];
        if (kept.length > MAX_UNWRITTEN) this.droppedResults += kept.length - MAX_UNWRITTEN;
        this.results = kept.slice(-MAX_UNWRITTEN);
        this.dropsChanged = true;
        if (!isRetryableWriteError(error)) this.options.onError?.(error);
      }
    });
    return this.writing;
  }

  /** Resolves when no copy is waiting or running. */
  idle(): Promise<void> {
    if (this.depth === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stop taking copies, let the queued ones finish (up to `drainMs`), and store everything. */
  async close(drainMs = 2000): Promise<void> {
    this.closed = true;
    await Promise.race([this.idle(), new Promise((resolve) => setTimeout(resolve, drainMs).unref())]);
    if (this.timer !== undefined) clearInterval(this.timer);
    for (let attempt = 0; attempt < 20; attempt++) {
      await this.flush();
      if (this.results.length === 0 && !this.dropsChanged) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
