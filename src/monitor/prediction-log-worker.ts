import { parentPort, workerData } from 'node:worker_threads';
import type { OpenDatabaseOptions } from '../store/database.js';
import type { PackedBatch } from './prediction-batch.js';
import { PredictionSink, openPredictionStore } from './prediction-log-sink.js';
import type { RetentionOptions } from './prediction-log-sink.js';

/**
 * The prediction log's writer thread (started by prediction-log-writers.ts from the compiled
 * `dist/monitor/prediction-log-worker.js`). It opens its own database connection, so SQLite's
 * commits, fsyncs and index updates never run on the request thread, stores each packed batch it
 * is sent and acknowledges it, and applies retention.
 */

/** `workerData`: structured-clonable, so database options rather than an open Database. */
export interface PredictionWorkerInit {
  readonly database: OpenDatabaseOptions;
  readonly retention: RetentionOptions;
  readonly retryDelaysMs: readonly number[];
}

export type ToPredictionWorker =
  | ({ readonly type: 'batch'; readonly id: number } & PackedBatch)
  | { readonly type: 'stop-waiting' }
  | { readonly type: 'close' };

export type FromPredictionWorker =
  | { readonly type: 'ready' }
  /** The database could not be opened; the thread exits. */
  | { readonly type: 'failed'; readonly message: string }
  /** `buffer`: the batch's, handed back for reuse. */
  | { readonly type: 'ack'; readonly id: number; readonly buffer: ArrayBuffer; readonly error?: string }
  /** A retention pass failed (batches report through their acks). */
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'closed' };

const port = parentPort;
if (port === null) throw new Error('prediction-log-worker runs as a worker thread only');
const init = workerData as PredictionWorkerInit;
const post = (message: FromPredictionWorker): void => port.postMessage(message);
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const store = openPredictionStore(init.database);
store.then(
  () => post({ type: 'ready' }),
  (error: unknown) => {
    post({ type: 'failed', message: messageOf(error) });
    process.exit(1);
  },
);

const sink = new PredictionSink(store, {
  ownsStore: true,
  retention: init.retention,
  retryDelaysMs: init.retryDelaysMs,
  onError: (error) => post({ type: 'error', message: error.message }),
});

port.on('message', (message: ToPredictionWorker) => {
  switch (message.type) {
    case 'batch':
      sink.write(message).then(
        () =>
          port.postMessage({ type: 'ack', id: message.id, buffer: message.buffer } satisfies FromPredictionWorker, [
            message.buffer,
          ]),
        (error: unknown) =>
          port.postMessage(
            {
              type: 'ack',
              id: message.id,
              buffer: message.buffer,
              error: messageOf(error),
            } satisfies FromPredictionWorker,
            [message.buffer],
          ),
      );
      break;
    case 'stop-waiting':
      sink.stopWaitingForDatabase();
      break;
    case 'close':
      sink
        .close()
        .catch((error: unknown) => post({ type: 'error', message: `closing: ${messageOf(error)}` }))
        .finally(() => {
          post({ type: 'closed' });
          port.close();
        });
      break;
  }
});
