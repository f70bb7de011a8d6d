import { Worker } from 'node:worker_threads';
import { SlipwayError } from '../core/errors.js';
import type { PackedBatch } from './prediction-batch.js';
import type { PredictionSink } from './prediction-log-sink.js';
import type { FromPredictionWorker, PredictionWorkerInit, ToPredictionWorker } from './prediction-log-worker.js';

/**
 * Where PredictionLog's batches are stored: a PredictionSink on the calling thread (inline) or in
 * a writer thread (worker). Everything else about the log is shared; only this differs.
 */
export interface BatchWriter {
  /** Store a batch (its buffer is transferred or kept: the caller must not touch it again); the outcome comes through `onAck`. */
  send(id: number, batch: PackedBatch): void;
  /** Finish every batch sent, then release the connection or thread. */
  close(): Promise<void>;
  /** Batches waiting for an unreachable database get their last retries and fail (called as the log closes). */
  stopWaitingForDatabase(): void;
}

export interface BatchWriterEvents {
  /** Exactly once per batch sent: stored (no error) or given up on; with the batch's buffer when it can be reused. */
  readonly onAck: (id: number, error: Error | undefined, buffer?: ArrayBuffer) => void;
  /** Trouble that is not one batch's outcome (a failed retention pass, the thread dying). */
  readonly onError: (error: Error) => void;
}

export class InlineBatchWriter implements BatchWriter {
  readonly #sink: PredictionSink;
  readonly #events: BatchWriterEvents;

  constructor(sink: PredictionSink, events: BatchWriterEvents) {
    this.#sink = sink;
    this.#events = events;
  }

  send(id: number, batch: PackedBatch): void {
    this.#sink.write(batch).then(
      () => this.#events.onAck(id, undefined, batch.buffer),
      (error: unknown) => this.#events.onAck(id, asError(error), batch.buffer),
    );
  }

  close(): Promise<void> {
    return this.#sink.close();
  }

  stopWaitingForDatabase(): void {
    this.#sink.stopWaitingForDatabase();
  }
}

/** A dead writer thread is started again for the next batch, but not sooner than this after the last start. */
const RESTART_DELAY_MS = 5_000;

/**
 * Batches go to a writer thread as transferred ArrayBuffers. The thread holds the process open
 * only while batches are in flight. If it dies, its batches fail and the next batch starts a new
 * one (at most every RESTART_DELAY_MS; batches in between fail).
 */
export class WorkerBatchWriter implements BatchWriter {
  readonly #url: URL;
  readonly #init: PredictionWorkerInit;
  readonly #events: BatchWriterEvents;
  #worker: Worker | undefined;
  #startedAt = 0;
  #lastError: Error | undefined;
  readonly #inFlight = new Set<number>();
  #closing = false;

  private constructor(url: URL, init: PredictionWorkerInit, events: BatchWriterEvents) {
    this.#url = url;
    this.#init = init;
    this.#events = events;
  }

  /** Start the thread; resolves once its database is open and migrated, rejects if it cannot be. */
  static async start(url: URL, init: PredictionWorkerInit, events: BatchWriterEvents): Promise<WorkerBatchWriter> {
    const writer = new WorkerBatchWriter(url, init, events);
    await writer.#start();
    return writer;
  }

  send(id: number, batch: PackedBatch): void {
    if (this.#worker === undefined && !this.#closing && Date.now() - this.#startedAt >= RESTART_DELAY_MS) {
      this.#start().catch(() => undefined); // its batches fail through the exit handler
    }
    const worker = this.#worker;
    if (worker === undefined) {
      const why = this.#lastError === undefined ? '' : `: ${this.#lastError.message}`;
      queueMicrotask(() =>
        this.#events.onAck(id, new SlipwayError('UNAVAILABLE', `the prediction log writer thread is down${why}`)),
      );
      return;
    }
    this.#inFlight.add(id);
    worker.ref();
    worker.postMessage({ type: 'batch', id, ...batch } satisfies ToPredictionWorker, [batch.buffer]);
  }

  stopWaitingForDatabase(): void {
    this.#worker?.postMessage({ type: 'stop-waiting' } satisfies ToPredictionWorker);
  }

  async close(): Promise<void> {
    this.#closing = true;
    const worker = this.#worker;
    if (worker === undefined) return;
    worker.ref();
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'close' } satisfies ToPredictionWorker);
    await exited;
  }

  #start(): Promise<void> {
    this.#startedAt = Date.now();
    this.#lastError = undefined;
    const worker = new Worker(this.#url, { workerData: this.#init });
    this.#worker = worker;
    worker.unref();
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: FromPredictionWorker) => {
        switch (message.type) {
          case 'ready':
            ready = true;
            resolve();
            break;
          case 'failed':
            this.#lastError = new SlipwayError(
              'UNAVAILABLE',
              `the prediction log cannot open its database: ${message.message}`,
            );
            break;
          case 'ack':
            this.#inFlight.delete(message.id);
            if (this.#inFlight.size === 0 && !this.#closing) worker.unref();
            this.#events.onAck(
              message.id,
              message.error === undefined ? undefined : new SlipwayError('UNAVAILABLE', message.error),
              message.buffer,
            );
            break;
          case 'error':
            this.#events.onError(new SlipwayError('UNAVAILABLE', message.message));
            break;
          case 'closed':
            break;
        }
      });
      worker.on('error', (error) => {
        this.#lastError = error;
      });
      worker.on('exit', (code) => {
        if (this.#worker === worker) this.#worker = undefined;
        const error =
          this.#lastError ??
          new SlipwayError('UNAVAILABLE', `the prediction log writer thread exited with code ${code}`);
        if (!ready) reject(error);
        const lost = [...this.#inFlight];
        this.#inFlight.clear();
        for (const id of lost) this.#events.onAck(id, error);
        if (!this.#closing && ready)
          this.#events.onError(
            new SlipwayError('UNAVAILABLE', `the prediction log writer thread stopped: ${error.message}`, {
              cause: error,
            }),
          );
      });
    });
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
