/**
 * The cluster primary of `slipway serve --workers N`: forks the workers and replaces one that
 * dies, stops everything when a worker cannot start (a port in use would fail every replacement
 * the same way), names the one worker that runs background work and names another when it dies,
 * and relays the workers' "gather" requests so any worker can answer `/metrics` and
 * `/api/v1/stats` for the whole group.
 */
import cluster, { type Worker } from 'node:cluster';
import { SlipwayError } from '../core/errors.js';

/** What a worker sends its primary (JSON over the cluster's IPC channel). */
export type WorkerMessage =
  /** Both ports are bound and the worker serves. */
  | { readonly slipway: 'ready' }
  /** The worker cannot start; the whole server must stop with this message. */
  | { readonly slipway: 'fatal'; readonly message: string }
  /** Ask every worker for `topic` (e.g. its metrics); the answers come back as one 'gathered'. */
  | { readonly slipway: 'gather'; readonly id: number; readonly topic: string; readonly args?: unknown }
  /** One worker's answer to a 'collect'. */
  | { readonly slipway: 'part'; readonly id: number; readonly result?: unknown; readonly error?: string };

/** What the primary sends a worker. */
export type PrimaryMessage =
  | { readonly slipway: 'collect'; readonly id: number; readonly topic: string; readonly args?: unknown }
  | { readonly slipway: 'gathered'; readonly id: number; readonly results: unknown[]; readonly missing: number }
  /** This worker runs the background loops from now on. */
  | { readonly slipway: 'background' };

/** How long a gather waits for every worker; a worker busy longer (a model load) is left out and counted. */
export const GATHER_TIMEOUT_MS = 3000;

export interface SuperviseOptions {
  readonly workers: number;
  /** Lines for the operator (stderr). */
  readonly log: (line: string) => void;
  readonly gatherTimeoutMs?: number;
}

interface Gathering {
  readonly requester: Worker;
  readonly requesterId: number;
  /** Workers yet to answer. */
  readonly pending: Set<number>;
  readonly results: unknown[];
  /** Workers that failed to answer or exited before answering. */
  missing: number;
  readonly timer: NodeJS.Timeout;
}

function isWorkerMessage(message: unknown): message is WorkerMessage {
  return (
    typeof message === 'object' && message !== null && typeof (message as { slipway?: unknown }).slipway === 'string'
  );
}

function send(worker: Worker, message: PrimaryMessage): boolean {
  if (!worker.isConnected()) return false;
  try {
    worker.send(message);
    return true;
  } catch {
    return false; // the channel closed between the check and the send: the worker is exiting
  }
}

/**
 * Run the workers until SIGTERM/SIGINT (passed on to them; resolves once they have all exited) or
 * until a worker cannot start (rejects with its reason once the others have stopped).
 */
export function superviseWorkers(options: SuperviseOptions): Promise<void> {
  const gatherTimeoutMs = options.gatherTimeoutMs ?? GATHER_TIMEOUT_MS;
  const alive = new Map<number, Worker>();
  const ready = new Set<number>();
  const gatherings = new Map<number, Gathering>();
  let runner: Worker | undefined;
  let gatherSeq = 0;
  let stopping = false;
  let failure: string | undefined;

  return new Promise<void>((resolve, reject) => {
    const fork = () => {
      const worker = cluster.fork();
      alive.set(worker.id, worker);
    };

    const stopAll = (signal: NodeJS.Signals) => {
      stopping = true;
      for (const worker of alive.values()) worker.process.kill(signal);
      if (alive.size === 0) finish();
    };
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      cluster.off('message', onMessage);
      cluster.off('exit', onExit);
      if (failure === undefined) resolve();
      else reject(new SlipwayError('UNAVAILABLE', failure));
    };
    const fail = (reason: string) => {
      failure ??= reason;
      // SIGINT: no load-balancer delay (SLIPWAY_SHUTDOWN_DELAY_MS): the server never finished starting.
      if (!stopping) stopAll('SIGINT');
    };

    // One live worker runs the background loops; the next ready one takes over when it dies.
    const designate = () => {
      if (stopping || (runner !== undefined && alive.has(runner.id))) return;
      runner = undefined;
      for (const id of ready) {
        const worker = alive.get(id);
        if (worker !== undefined && send(worker, { slipway: 'background' })) {
          runner = worker;
          return;
        }
      }
    };

    const completeGathering = (id: number) => {
      const gathering = gatherings.get(id);
      if (gathering === undefined) return;
      gatherings.delete(id);
      clearTimeout(gathering.timer);
      send(gathering.requester, {
        slipway: 'gathered',
        id: gathering.requesterId,
        results: gathering.results,
        missing: gathering.missing + gathering.pending.size,
      });
    };

    const onMessage = (worker: Worker, message: unknown) => {
      if (!isWorkerMessage(message)) return;
      switch (message.slipway) {
        case 'ready':
          ready.add(worker.id);
          designate();
          return;
        case 'fatal':
          fail(message.message);
          return;
        case 'gather': {
          const id = ++gatherSeq;
          // Every serving worker, and the asking one even if its 'ready' has not arrived yet.
          const targets = [...alive.values()].filter((w) => (ready.has(w.id) || w === worker) && w.isConnected());
          const gathering: Gathering = {
            requester: worker,
            requesterId: message.id,
            pending: new Set(targets.map((w) => w.id)),
            results: [],
            missing: 0,
            timer: setTimeout(() => completeGathering(id), gatherTimeoutMs),
          };
          gatherings.set(id, gathering);
          for (const target of targets)
            if (!send(target, { slipway: 'collect', id, topic: message.topic, args: message.args }))
              gathering.pending.delete(target.id);
          if (gathering.pending.size === 0) completeGathering(id);
          return;
        }
        case 'part': {
          const gathering = gatherings.get(message.id);
          if (gathering === undefined || !gathering.pending.delete(worker.id)) return;
          if (message.error === undefined) gathering.results.push(message.result);
          else gathering.missing++;
          if (gathering.pending.size === 0) completeGathering(message.id);
          return;
        }
      }
    };

    const onExit = (worker: Worker, code: number | null, signal: string | null) => {
      alive.delete(worker.id);
      const wasReady = ready.delete(worker.id);
      for (const [id, gathering] of gatherings) {
        if (gathering.pending.delete(worker.id)) gathering.missing++;
        if (gathering.requester === worker) {
          clearTimeout(gathering.timer);
          gatherings.delete(id);
        } else if (gathering.pending.size === 0) completeGathering(id);
      }
      if (stopping) {
        if (alive.size === 0) finish();
        return;
      }
      if (!wasReady) {
        fail(`worker ${worker.process.pid} exited (${signal ?? code}) before it was serving`);
        if (alive.size === 0) finish();
        return;
      }
      options.log(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
      fork();
      if (runner === worker) designate();
    };

    const onSigint = () => stopAll('SIGINT');
    const onSigterm = () => stopAll('SIGTERM');
    // `on`, not `once`: a second Ctrl-C must not kill the primary while its workers drain.
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    cluster.on('message', onMessage);
    cluster.on('exit', onExit);
    for (let i = 0; i < options.workers; i++) fork();
  });
}
