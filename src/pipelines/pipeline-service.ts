/**
 * Continuous training as a service: start a run (by hand or when a trigger fires), advance the runs
 * this process claims (one at a time, with a heartbeat; a run whose owner went silent is taken over),
 * come back to runs waiting on their release, cancel, read logs. Several servers sharing PostgreSQL
 * may each run this: the database lets one run per pipeline exist at a time and one owner advance it.
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { SqlPipelineStore } from './pipeline-store.js';
import { RunInterrupted, advanceRun, runDirOf, type RunMachineDeps } from './run-machine.js';
import type { SqlRunStore } from './run-store.js';
import type { RunRecord, TriggerFiring } from './types.js';

/** A running run whose owner wrote no heartbeat for this long is taken over by another process. */
export const RUN_STALE_MS = 30_000;
const HEARTBEAT_MS = 5_000;
/** The most of a run's training log an API answer carries (the file keeps up to its own cap). */
export const LOG_READ_LIMIT = 1 << 20;

export interface PipelineServiceOptions extends Omit<RunMachineDeps, 'owner'> {
  readonly runs: SqlRunStore;
  readonly pipelines: SqlPipelineStore;
  /** Evaluates triggers once (pipelines/triggers); absent = no automatic runs. */
  readonly triggerTick?: () => Promise<void>;
  /** A running run whose owner wrote no heartbeat for this long is taken over (default RUN_STALE_MS). */
  readonly staleMs?: number;
}

export class PipelineService {
  readonly #options: PipelineServiceOptions;
  readonly owner = `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  readonly #local = new Map<string, AbortController>();
  /** Runs this process advanced that wait on their release (a rollout, shadow or experiment): looked at again each tick. */
  readonly #waiting = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #stopped = false;

  constructor(options: PipelineServiceOptions) {
    this.#options = options;
  }

  get #deps(): RunMachineDeps {
    return { ...this.#options, owner: this.#owner() };
  }

  #owner(): string {
    return this.owner;
  }

  #staleBefore(): string {
    return new Date(Date.now() - (this.#options.staleMs ?? RUN_STALE_MS)).toISOString();
  }

  /** Create a run of `pipeline` (CONFLICT when one is running); a runner process picks it up. */
  async startRun(pipeline: string, trigger: TriggerFiring): Promise<RunRecord> {
    const stored = await this.#options.pipelines.get(pipeline);
    return this.#options.runs.create(stored, trigger);
  }

  /**
   * Claim and advance one run in this process until it ends or waits on its release (what
   * `slipway pipeline run --wait` does when no server is running it).
   */
  async drive(id: string): Promise<RunRecord> {
    const claimed = await this.#options.runs.claim(id, this.owner, this.#staleBefore());
    if (claimed === undefined) return this.#options.runs.get(id);
    return this.#advanceOwned(id);
  }

  async #advanceOwned(id: string): Promise<RunRecord> {
    const controller = new AbortController();
    this.#local.set(id, controller);
    const beat = setInterval(
      () => {
        void this.#options.runs.heartbeat(id, this.owner).catch(() => undefined);
        void this.#options.runs
          .get(id)
          .then((r) => {
            if (r.cancelRequested) controller.abort();
          })
          .catch(() => undefined);
      },
      Math.min(HEARTBEAT_MS, Math.max(100, Math.floor((this.#options.staleMs ?? RUN_STALE_MS) / 3))),
    );
    try {
      const run = await advanceRun(id, this.#deps, controller.signal);
      if (run.status === 'running' && run.owner === this.owner) this.#waiting.add(id);
      else this.#waiting.delete(id);
      return run;
    } finally {
      clearInterval(beat);
      this.#local.delete(id);
    }
  }

  /** Ask a run to stop: its training process group is stopped, nothing more is registered or released. */
  async cancel(id: string): Promise<RunRecord> {
    const run = await this.#options.runs.requestCancel(id);
    this.#local.get(id)?.abort();
    if (run.owner === null)
      return this.#options.runs.finish(id, null, { status: 'cancelled', reason: 'cancelled by request' });
    return run;
  }

  get(id: string): Promise<RunRecord> {
    return this.#options.runs.get(id);
  }

  list(query: { readonly pipeline?: string; readonly limit?: number } = {}): Promise<RunRecord[]> {
    return this.#options.runs.list(query);
  }

  /** The run's training log (stdout and stderr as written, capped), or '' before training started. */
  async logs(id: string): Promise<string> {
    await this.#options.runs.get(id);
    const file = path.join(runDirOf(this.#options.runsDir, id), 'train.log');
    const info = await stat(file).catch(() => undefined);
    if (info === undefined) return '';
    const text = await readFile(file, 'utf8');
    return text.length > LOG_READ_LIMIT ? text.slice(-LOG_READ_LIMIT) : text;
  }

  /** One pass: evaluate triggers, then claim and advance runs nobody owns (or whose owner went silent). */
  async tick(): Promise<void> {
    this.#ticking ??= (async () => {
      try {
        await this.#options
          .triggerTick?.()
          .catch((error: unknown) =>
            this.#options.log?.(`pipelines: trigger evaluation failed: ${(error as Error).message}`),
          );
        const ids = new Set([...this.#waiting, ...(await this.#options.runs.claimable(this.#staleBefore()))]);
        for (const id of ids) {
          if (this.#stopped) break;
          if (this.#local.has(id)) continue;
          const claimed = await this.#options.runs
            .claim(id, this.owner, this.#staleBefore())
            .catch((error: unknown) => {
              this.#options.log?.(`pipeline run ${id}: cannot claim it: ${(error as Error).message}`);
              return undefined;
            });
          if (claimed === undefined) {
            this.#waiting.delete(id);
            continue;
          }
          await this.#advanceOwned(id).catch((error: unknown) =>
            this.#options.log?.(`pipeline run ${id}: ${(error as Error).message}`),
          );
        }
      } catch (error) {
        // The database is down (or a query failed): try again at the next tick; the log line repeats
        // identically, so the process's rate-limited log writes it once.
        this.#options.log?.(`pipelines: ${(error as Error).message}`);
      } finally {
        this.#ticking = undefined;
      }
    })();
    return this.#ticking;
  }

  /** Tick every `intervalMs` (serve's background work). */
  start(intervalMs = 2_000): void {
    if (this.#timer !== undefined) return;
    this.#stopped = false;
    this.#timer = setInterval(() => void this.tick().catch(() => undefined), intervalMs);
    this.#timer.unref();
  }

  /** Stop ticking; a run being advanced has its training stopped and is left for another process (or the next start). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const controller of this.#local.values()) controller.abort(new RunInterrupted());
    await this.#ticking?.catch(() => undefined);
  }
}
