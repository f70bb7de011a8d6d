import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { SlipwayError } from '../core/errors.js';
import { WORKER_SOURCE } from './scoring-worker.js';
import { workerExecArgv } from './worker-exec-argv.js';

/** One tensor crossing the thread boundary; `data` is transferred, not copied. */
export interface WireTensor {
  readonly name: string;
  /** ORT's element type name (`ORT_TYPE` in input-values.ts). */
  readonly type: string;
  /** Typed arrays (FP16 as half bits, BOOL as 0/1 bytes) are transferred; BYTES (strings) are copied. */
  readonly data:
    | Float32Array
    | Float64Array
    | Int8Array
    | Int16Array
    | Int32Array
    | BigInt64Array
    | Uint8Array
    | Uint16Array
    | Uint32Array
    | BigUint64Array
    | string[];
  readonly dims: readonly number[];
}

/** The types part columns are written as: the output columns' types. */
export type PartColumnType = 'BIGINT' | 'DOUBLE' | 'BOOLEAN' | 'VARCHAR';

/** One column of a part file, as the worker writes it (see `scoring-worker.ts`). */
export type PartColumnSpec =
  /** The input row number: `base + valid[k]` for scored row k. */
  | { readonly source: 'row'; readonly name: string; readonly base: number }
  /** An id or kept column, one value per scored row; `nulls[k] === 1` marks a null. */
  | {
      readonly source: 'values';
      readonly name: string;
      readonly type: PartColumnType;
      readonly values: Float64Array | readonly (string | null)[];
      readonly nulls?: Uint8Array;
    }
  /** Element `element` of each row's `width` values of fetched output number `output`. */
  | {
      readonly source: 'output';
      readonly name: string;
      readonly type: PartColumnType;
      readonly output: number;
      readonly width: number;
      readonly element: number;
      readonly half?: boolean;
    };

/** One chunk's work for a worker: score the valid rows and write them as a part file. */
export interface PartTask {
  readonly feeds: readonly WireTensor[];
  readonly fetches: readonly string[];
  /** Chunk-relative row index of each scored row, in order. */
  readonly valid: Int32Array;
  /** The part file (written atomically) and its columns, in order. */
  readonly file: string;
  readonly columns: readonly PartColumnSpec[];
}

export interface ScoringPoolOptions {
  /** The ONNX file every worker loads. */
  readonly modelPath: string;
  /** Worker threads, each with its own session. */
  readonly workers: number;
  /** ORT intra-op threads per session; default 1 (parallelism comes from the workers). */
  readonly intraOpThreads?: number;
}

interface Pending {
  resolve(buffers: ArrayBuffer[]): void;
  reject(error: Error): void;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/**
 * Worker threads each running their own ONNX Runtime session and writing their own part files.
 * onnxruntime-node runs a session synchronously on the calling thread, so scoring (and encoding
 * the part) in workers leaves the thread that reads the input free to read. A task goes to the worker with the fewest in flight; feed buffers are transferred.
 */
export class ScoringPool {
  private readonly workers: PoolWorker[];
  private nextId = 0;
  private failure: Error | undefined;
  private closed = false;

  private constructor(workers: PoolWorker[]) {
    this.workers = workers;
  }

  /** Start the workers and wait until every session is loaded (INVALID_ARGUMENT if ORT refuses the model). */
  static async start(options: ScoringPoolOptions): Promise<ScoringPool> {
    const workerData = {
      ortPath: createRequire(import.meta.url).resolve('onnxruntime-node'),
      modelPath: options.modelPath,
      intraOpThreads: options.intraOpThreads ?? 1,
    };
    const workers: PoolWorker[] = [];
    const loads: Promise<void>[] = [];
    for (let i = 0; i < Math.max(1, options.workers); i++) {
      // Only the parent's options a worker accepts: `slipway serve` runs with a V8 heap flag a
      // Worker refuses (see worker-exec-argv.ts).
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData, execArgv: workerExecArgv() });
      workers.push({ worker, pending: new Map() });
      loads.push(
        new Promise<void>((resolve, reject) => {
          worker.once('message', (message: { ready: boolean; error?: string }) => {
            if (message.ready) resolve();
            else
              reject(
                new SlipwayError(
                  'INVALID_ARGUMENT',
                  `cannot load model in a scoring worker: ${message.error ?? 'unknown error'}`,
                ),
              );
          });
          worker.once('error', reject);
        }),
      );
    }
    const pool = new ScoringPool(workers);
    try {
      await Promise.all(loads);
    } catch (error) {
      await pool.close();
      throw error;
    }
    for (const entry of workers) pool.listen(entry);
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  /** Tasks sent and not yet finished, over all workers. */
  get inFlight(): number {
    return this.workers.reduce((n, w) => n + w.pending.size, 0);
  }

  /**
   * Score one chunk and write its part on the least busy worker; resolves once the part file is
   * in place, with the feed and `valid` buffers, which travel to the worker and back (transferred,
   * not copied) so the reader can fill them again instead of allocating. Do not touch them meanwhile.
   */
  scoreToPart(task: PartTask): Promise<ArrayBuffer[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new SlipwayError('UNAVAILABLE', 'the scoring pool is closed'));
    const entry = this.workers.reduce((best, w) => (w.pending.size < best.pending.size ? w : best));
    const id = this.nextId++;
    const transfer = [
      ...task.feeds.flatMap((f) => (Array.isArray(f.data) ? [] : [f.data.buffer as ArrayBuffer])),
      task.valid.buffer as ArrayBuffer,
    ];
    for (const column of task.columns)
      if (column.source === 'values' && column.values instanceof Float64Array)
        transfer.push(column.values.buffer as ArrayBuffer);
    return new Promise<ArrayBuffer[]>((resolve, reject) => {
      entry.pending.set(id, { resolve, reject });
      entry.worker.postMessage(
        {
          id,
          feeds: task.feeds,
          fetches: task.fetches,
          valid: task.valid,
          part: { file: task.file, columns: task.columns },
        },
        [...new Set(transfer)],
      );
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  private listen(entry: PoolWorker): void {
    entry.worker.on('message', (message: { id: number; buffers?: ArrayBuffer[]; error?: string }) => {
      const pending = entry.pending.get(message.id);
      if (pending === undefined) return;
      entry.pending.delete(message.id);
      if (message.error === undefined) pending.resolve(message.buffers ?? []);
      else pending.reject(new SlipwayError('INTERNAL', `scoring a chunk failed: ${message.error}`));
    });
    const fail = (error: Error): void => {
      this.failure ??= new SlipwayError('INTERNAL', `a scoring worker stopped: ${error.message}`, { cause: error });
      for (const pending of entry.pending.values()) pending.reject(this.failure);
      entry.pending.clear();
    };
    entry.worker.on('error', fail);
    entry.worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`exit code ${code}`));
    });
  }
}
