/**
 * The adaptive dynamic batcher (issue 3): one per loaded model version, wrapping its LoadedModel.
 *
 * No added delay when idle: a request is run in the same turn of the event loop it arrived in.
 * While a run is in flight, new requests queue; when the run ends, every queued request that fits
 * (same inputs, datatypes and inner dimensions; up to `maxBatchSize` rows) is concatenated into
 * the next run and the outputs are split back. A fixed batching window is available
 * (`maxQueueDelayMicros`) but off by default: measured, it puts a floor under every request.
 */
import { SlipwayError } from '../core/errors.js';
import type { Signature, Tensor } from '../tensor/datatypes.js';
import { abortError, type CancelSignal } from './abort.js';
import type { LoadedModel, RunOptions, RunTiming } from './backend.js';
import { batchKey, concatInputs, requestRows, splitOutputs } from './batch-tensors.js';

export interface BatchingOptions {
  /** Most rows (sum of the requests' first dimensions) in one run. */
  readonly maxBatchSize: number;
  /** Wait up to this long for a fuller batch when one is not full; 0 = never wait. */
  readonly maxQueueDelayMicros: number;
  /** Most requests waiting; beyond it requests are refused with RESOURCE_EXHAUSTED. 0 = unbounded. */
  readonly maxQueueSize: number;
  /** Runs in flight at once (model instances). */
  readonly instances: number;
  /** Priority levels 1 (highest) .. priorityLevels; requests without one get the lowest. */
  readonly priorityLevels: number;
}

export const DEFAULT_BATCHING: BatchingOptions = Object.freeze({
  maxBatchSize: 64,
  maxQueueDelayMicros: 0,
  maxQueueSize: 4096,
  instances: 1,
  priorityLevels: 2,
});

/** Counters for metrics and tests. */
export interface BatcherStats {
  queued: number;
  inFlight: number;
  runs: number;
  requests: number;
  rows: number;
  rejected: number;
  expired: number;
  cancelled: number;
}

interface Pending {
  readonly inputs: readonly Tensor[];
  readonly outputNames: readonly string[];
  /** undefined: cannot share a run (its inputs disagree on the batch dimension, or the model is not batch-major). */
  readonly rows: number | undefined;
  readonly key: string;
  readonly deadline: number | undefined;
  readonly enqueuedAt: number;
  readonly signal: CancelSignal | undefined;
  readonly timing: RunTiming | undefined;
  readonly level: number;
  readonly resolve: (outputs: Tensor[]) => void;
  readonly reject: (error: unknown) => void;
  done: boolean;
  onAbort: (() => void) | undefined;
}

/** A LoadedModel that batches concurrent runs, plus its counters. */
export interface BatchingModel extends LoadedModel {
  stats(): BatcherStats;
}

/** Whether every input and output has a variable first dimension, so requests can be stacked on it. */
export function isBatchMajor(signature: Signature): boolean {
  const specs = [...signature.inputs, ...signature.outputs];
  return specs.length > 0 && specs.every((s) => s.shape.length > 0 && s.shape[0] === -1);
}

/**
 * Told about every model run the batcher completed successfully: its rows, how many requests shared
 * it and how long the run took in ms (the model's `run`, excluding the batcher's concatenation and split).
 */
export type BatchObserver = (rows: number, requests: number, computeMs: number) => void;

/** Wrap a loaded model with a dynamic batcher. `concurrentRuns` false caps `instances` at 1. */
export function withBatching(
  model: LoadedModel,
  options: BatchingOptions,
  concurrentRuns: boolean,
  onBatch?: BatchObserver,
): BatchingModel {
  return new Batcher(model, { ...options, instances: concurrentRuns ? Math.max(1, options.instances) : 1 }, onBatch);
}

class Batcher implements BatchingModel {
  readonly signature: Signature;
  private readonly queues: Pending[][];
  private readonly batchMajor: boolean;
  private readonly counters: BatcherStats = {
    queued: 0,
    inFlight: 0,
    runs: 0,
    requests: 0,
    rows: 0,
    rejected: 0,
    expired: 0,
    cancelled: 0,
  };
  private drainScheduled = false;
  private delayTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly model: LoadedModel,
    private readonly options: BatchingOptions,
    private readonly onBatch: BatchObserver | undefined,
  ) {
    this.signature = model.signature;
    this.batchMajor = isBatchMajor(model.signature);
    this.queues = Array.from({ length: Math.max(1, options.priorityLevels) }, () => []);
  }

  stats(): BatcherStats {
    return { ...this.counters };
  }

  run(inputs: readonly Tensor[], outputNames: readonly string[], options: RunOptions = {}): Promise<Tensor[]> {
    const { signal, deadline } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    let level: number;
    try {
      level = this.level(options.priority);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const { maxQueueSize } = this.options;
    if (maxQueueSize > 0 && this.counters.queued >= maxQueueSize) {
      this.counters.rejected++;
      return Promise.reject(
        new SlipwayError(
          'RESOURCE_EXHAUSTED',
          `the queue for this model is full (${maxQueueSize} requests waiting); retry shortly`,
          { retryAfterSeconds: 1 },
        ),
      );
    }
    const rows = this.batchMajor ? requestRows(inputs) : undefined;
    return new Promise<Tensor[]>((resolve, reject) => {
      const item: Pending = {
        inputs,
        outputNames,
        rows,
        deadline,
        signal,
        resolve,
        reject,
        level,
        timing: options.timing,
        key: rows === undefined ? '' : batchKey(inputs, outputNames),
        enqueuedAt: performance.now(),
        done: false,
        onAbort: undefined,
      };
      if (signal) {
        // A client that went away leaves the queue at once; a run already started is not interrupted.
        item.onAbort = () => {
          if (item.done) return;
          this.settle(item);
          this.counters.queued--;
          this.counters.cancelled++;
          reject(abortError(signal));
        };
        signal.addEventListener('abort', item.onAbort, { once: true });
      }
      this.queues[level]?.push(item);
      this.counters.queued++;
      this.scheduleDrain();
    });
  }

  release(): Promise<void> {
    clearTimeout(this.delayTimer);
    return this.model.release();
  }

  private level(priority: number | undefined): number {
    const levels = this.queues.length;
    if (priority === undefined || priority === 0) return levels - 1;
    if (!Number.isInteger(priority) || priority < 1 || priority > levels) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `priority must be an integer from 1 (highest) to ${levels}, got ${priority}`,
      );
    }
    return priority - 1;
  }

  private settle(item: Pending): void {
    item.done = true;
    if (item.onAbort) item.signal?.removeEventListener('abort', item.onAbort);
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.counters.inFlight >= this.options.instances) return;
    this.drainScheduled = true;
    // setImmediate, not a microtask: requests parsed in the same poll phase join this run.
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    while (this.counters.inFlight < this.options.instances) {
      const batch = this.nextBatch();
      if (batch === undefined) return;
      void this.execute(batch);
    }
  }

  /** Take the next runnable batch off the queues, or undefined (nothing queued, or waiting for a fuller batch). */
  private nextBatch(): Pending[] | undefined {
    const now = performance.now();
    const head = this.takeHead(now);
    if (head === undefined) return undefined;
    if (head.rows === undefined || head.rows >= this.options.maxBatchSize) return [head];
    const batch = [head];
    let rows = head.rows;
    for (const queue of this.queues) {
      for (let i = 0; i < queue.length && rows < this.options.maxBatchSize;) {
        const item = queue[i] as Pending;
        if (item.done || this.expire(item, now)) {
          queue.splice(i, 1);
          continue;
        }
        if (item.key === head.key && item.rows !== undefined && rows + item.rows <= this.options.maxBatchSize) {
          queue.splice(i, 1);
          batch.push(item);
          rows += item.rows;
          continue;
        }
        i++;
      }
    }
    const delayMs = this.options.maxQueueDelayMicros / 1000;
    if (delayMs > 0 && rows < this.options.maxBatchSize && now - head.enqueuedAt < delayMs) {
      // Not full and the oldest request may still wait: put the batch back in front and wait.
      for (const item of [...batch].reverse()) this.queues[item.level]?.unshift(item);
      this.delayTimer ??= setTimeout(
        () => {
          this.delayTimer = undefined;
          this.scheduleDrain();
        },
        delayMs - (now - head.enqueuedAt),
      );
      return undefined;
    }
    return batch;
  }

  private takeHead(now: number): Pending | undefined {
    for (const queue of this.queues) {
      while (queue.length > 0) {
        const item = queue.shift() as Pending;
        if (item.done || this.expire(item, now)) continue;
        return item;
      }
    }
    return undefined;
  }

  /** Reject a request whose deadline passed while it waited; true if it did. */
  private expire(item: Pending, now: number): boolean {
    if (item.deadline === undefined || now <= item.deadline) return false;
    this.settle(item);
    this.counters.queued--;
    this.counters.expired++;
    item.reject(
      new SlipwayError('DEADLINE_EXCEEDED', 'the request timed out waiting in the queue (its "timeout" parameter)'),
    );
    return true;
  }

  /** Run one request of a failed batch by itself; a success is a run of its own for the observer. */
  private async runAlone(item: Pending): Promise<void> {
    const started = performance.now();
    let outputs: Tensor[];
    try {
      outputs = await this.model.run(item.inputs, item.outputNames);
    } catch (error) {
      item.reject(error);
      return;
    }
    this.onBatch?.(item.rows ?? 1, 1, performance.now() - started);
    item.resolve(outputs);
  }

  private async execute(batch: Pending[]): Promise<void> {
    for (const item of batch) this.settle(item);
    this.counters.queued -= batch.length;
    this.counters.inFlight++;
    this.counters.runs++;
    this.counters.requests += batch.length;
    const started = performance.now();
    let rows = 0;
    for (const item of batch) rows += item.rows ?? 1;
    this.counters.rows += rows;
    for (const item of batch) {
      if (item.timing) {
        item.timing.queueMs = started - item.enqueuedAt;
        item.timing.batchRows = rows;
      }
    }
    try {
      if (batch.length === 1) {
        const only = batch[0] as Pending;
        const outputs = await this.model.run(only.inputs, only.outputNames);
        this.onBatch?.(rows, 1, computed(batch, started));
        only.resolve(outputs);
        return;
      }
      const rowCounts = batch.map((item) => item.rows as number);
      const first = batch[0] as Pending;
      const inputs = concatInputs(batch.map((item) => item.inputs));
      const runStarted = performance.now();
      const outputs = await this.model.run(inputs, first.outputNames);
      const runMs = performance.now() - runStarted;
      computed(batch, started);
      const split = splitOutputs(outputs, rowCounts);
      if (split === undefined) throw new Error('outputs are not batch-major');
      // Observed before the requests resolve, so a run is counted before the requests it carried.
      this.onBatch?.(rows, batch.length, runMs);
      batch.forEach((item, i) => item.resolve(split[i] as Tensor[]));
    } catch (error) {
      if (batch.length === 1) (batch[0] as Pending).reject(error);
      // One request must not fail the others it was batched with: run each on its own.
      else for (const item of batch) await this.runAlone(item);
    } finally {
      this.counters.inFlight--;
      this.scheduleDrain();
    }
  }
}

/** Record the run's time (ms since `started`) on each request it carried, and return it. */
function computed(batch: readonly Pending[], started: number): number {
  const ms = performance.now() - started;
  for (const item of batch) if (item.timing) item.timing.computeMs = ms;
  return ms;
}
