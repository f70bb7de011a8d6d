import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { SlipwayError } from '../core/errors.js';

/** One tensor crossing the thread boundary; `data` is transferred, not copied. */
export interface WireTensor {
  readonly name: string;
  /** ORT's element type name: `float32`, `float64`, `int32`, `int64`, `bool`. */
  readonly type: string;
  readonly data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
  readonly dims: readonly number[];
}

export interface ScoringPoolOptions {
  /** The ONNX file every worker loads. */
  readonly modelPath: string;
  /** Worker threads, each with its own session. */
  readonly workers: number;
  /** ORT intra-op threads per session; default 1 (parallelism comes from the workers). */
  readonly intraOpThreads?: number;
}

/**
 * The worker's code, plain CommonJS, evaluated with `eval: true`. It is a string rather than a
 * file because vitest cannot start a worker from TypeScript and the compiled path differs from
 * the source one; a string runs the same everywhere. onnxruntime-node is required by the absolute
 * path the parent resolved, so it loads whatever the working folder is.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const ready = ort.InferenceSession.create(workerData.modelPath, {
  intraOpNumThreads: workerData.intraOpThreads, interOpNumThreads: 1, executionMode: 'sequential',
  graphOptimizationLevel: 'all', logSeverityLevel: 4,
});
ready.then(() => parentPort.postMessage({ ready: true }), (error) => parentPort.postMessage({ ready: false, error: String(error && error.message || error) }));
parentPort.on('message', async ({ id, feeds, fetches }) => {
  try {
    const session = await ready;
    const inputs = {};
    for (const f of feeds) inputs[f.name] = new ort.Tensor(f.type, f.data, f.dims);
    const results = await session.run(inputs, fetches);
    const outputs = [];
    const transfer = [];
    for (const name of fetches) {
      const t = results[name];
      // ORT's output may share memory with the session: copy it into a buffer this thread owns.
      const data = t.data.slice();
      outputs.push({ name, type: t.type, data, dims: t.dims });
      transfer.push(data.buffer);
    }
    parentPort.postMessage({ id, outputs }, transfer);
  } catch (error) {
    parentPort.postMessage({ id, error: String(error && error.message || error) });
  }
});
`;

interface Pending {
  resolve(outputs: WireTensor[]): void;
  reject(error: Error): void;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/**
 * Worker threads each running their own ONNX Runtime session. onnxruntime-node runs a session
 * synchronously on the calling thread, so one session per thread is how batch scoring uses more
 * than one core without blocking the thread that reads the file. Batches go to the worker with the
 * fewest in flight; input and output buffers are transferred.
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
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    const workerData = { ortPath, modelPath: options.modelPath, intraOpThreads: options.intraOpThreads ?? 1 };
    const workers: PoolWorker[] = [];
    const loads: Promise<void>[] = [];
    for (let i = 0; i < Math.max(1, options.workers); i++) {
      // Without `--input-type=module` (inherited from a parent run with it) the source is CommonJS.
      const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--input-type'));
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData, execArgv });
      workers.push({ worker, pending: new Map() });
      loads.push(
        new Promise<void>((resolve, reject) => {
          worker.once('message', (message: { ready: boolean; error?: string }) => {
            if (message.ready) resolve();
            else reject(new SlipwayError('INVALID_ARGUMENT', `cannot load model in a scoring worker: ${message.error ?? 'unknown error'}`));
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

  /** Run one batch on the least busy worker. `feeds` buffers are transferred: do not touch them afterwards. */
  run(feeds: readonly WireTensor[], fetches: readonly string[]): Promise<WireTensor[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new SlipwayError('UNAVAILABLE', 'the scoring pool is closed'));
    const entry = this.workers.reduce((best, w) => (w.pending.size < best.pending.size ? w : best));
    const id = this.nextId++;
    return new Promise<WireTensor[]>((resolve, reject) => {
      entry.pending.set(id, { resolve, reject });
      entry.worker.postMessage({ id, feeds, fetches }, feeds.map((f) => f.data.buffer as ArrayBuffer));
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  private listen(entry: PoolWorker): void {
    entry.worker.on('message', (message: { id: number; outputs?: WireTensor[]; error?: string }) => {
      const pending = entry.pending.get(message.id);
      if (pending === undefined) return;
      entry.pending.delete(message.id);
      if (message.outputs !== undefined) pending.resolve(message.outputs);
      else pending.reject(new SlipwayError('INTERNAL', `inference failed: ${message.error ?? 'unknown error'}`));
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
