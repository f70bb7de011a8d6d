/**
 * A `slipway serve --workers N` worker's side of the conversation with its primary
 * (`cluster-primary.ts`): say when it serves or cannot start, answer the primary's 'collect'
 * requests, ask for everyone's answers ('gather'), and take over background work when named.
 */
import cluster from 'node:cluster';
import { SlipwayError } from '../core/errors.js';
import { GATHER_TIMEOUT_MS, type PrimaryMessage, type WorkerMessage } from './cluster-primary.js';

export type Collector = (args: unknown) => unknown;

export interface ClusterMember {
  /** Both ports are bound: this worker serves (and may be named the background runner). */
  ready(): void;
  /** This worker cannot start: the primary stops the server with `message`. Resolves once sent. */
  fatal(message: string): Promise<void>;
  /** Every worker's `topic` answer (this one's included); `missing` counts those that did not answer in time. */
  gather<T>(topic: string, args?: unknown): Promise<{ results: T[]; missing: number }>;
  /** Answer the primary's requests for `topic`. */
  answer(topic: string, collector: Collector): void;
  /** Called once when the primary names this worker the background runner. */
  onBackground(run: () => void): void;
}

function isPrimaryMessage(message: unknown): message is PrimaryMessage {
  return (
    typeof message === 'object' && message !== null && typeof (message as { slipway?: unknown }).slipway === 'string'
  );
}

function sendToPrimary(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve();
    try {
      process.send(message, undefined, {}, () => resolve());
    } catch {
      resolve(); // the primary is gone; Node's cluster ends this worker on the disconnect
    }
  });
}

/** This process's membership, or undefined when it is not a cluster worker. */
export function joinCluster(): ClusterMember | undefined {
  if (!cluster.isWorker) return undefined;
  const collectors = new Map<string, Collector>();
  const waiting = new Map<
    number,
    { resolve: (value: { results: unknown[]; missing: number }) => void; timer: NodeJS.Timeout }
  >();
  let background: (() => void) | undefined;
  let backgroundAsked = false;
  let seq = 0;

  process.on('message', (message: unknown) => {
    if (!isPrimaryMessage(message)) return;
    switch (message.slipway) {
      case 'collect': {
        const collector = collectors.get(message.topic);
        const reply = (part: { result?: unknown; error?: string }) =>
          void sendToPrimary({ slipway: 'part', id: message.id, ...part });
        if (collector === undefined) return reply({ error: `no collector for ${message.topic}` });
        Promise.resolve()
          .then(() => collector(message.args))
          .then(
            (result) => reply({ result }),
            (error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }),
          );
        return;
      }
      case 'gathered': {
        const entry = waiting.get(message.id);
        if (entry === undefined) return;
        waiting.delete(message.id);
        clearTimeout(entry.timer);
        entry.resolve({ results: message.results, missing: message.missing });
        return;
      }
      case 'background':
        backgroundAsked = true;
        background?.();
        background = undefined;
        return;
    }
  });

  return {
    ready: () => void sendToPrimary({ slipway: 'ready' }),
    fatal: (message) => sendToPrimary({ slipway: 'fatal', message }),
    answer(topic, collector) {
      collectors.set(topic, collector);
    },
    onBackground(run) {
      if (backgroundAsked) run();
      else background = run;
    },
    gather<T>(topic: string, args?: unknown) {
      const id = ++seq;
      return new Promise<{ results: T[]; missing: number }>((resolve, reject) => {
        // The primary answers within its own timeout; no answer at all means it is gone.
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new SlipwayError('UNAVAILABLE', `the cluster primary did not answer a ${topic} request`));
        }, GATHER_TIMEOUT_MS + 2000);
        waiting.set(id, { resolve: resolve as (value: { results: unknown[]; missing: number }) => void, timer });
        void sendToPrimary({ slipway: 'gather', id, topic, ...(args === undefined ? {} : { args }) });
      });
    },
  };
}
