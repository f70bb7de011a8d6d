import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { SlipwayError } from '../core/errors.js';
import type { BatchJobRecord, JobListQuery, JobOutcome, SqlJobStore } from './job-store.js';
import { confineJobPaths, JOB_ID_PATTERN, newJobId } from './job-submission.js';
import type { BatchJobSubmission } from './job-submission.js';
import type { BatchJobSpec, BatchProgress, BatchSummary } from './types.js';

/** Runs one job to its end; the engine's `runBatchJob` bound to a platform, or a fake in tests. */
export type BatchRunner = (
  spec: BatchJobSpec,
  options: { signal: AbortSignal; onProgress: (progress: BatchProgress) => void },
) => Promise<BatchSummary>;

export interface JobServiceOptions {
  readonly store: SqlJobStore;
  readonly run: BatchRunner;
  /** Most jobs this process runs at once (`SLIPWAY_BATCH_CONCURRENCY`); default 1. */
  readonly concurrency?: number;
  /** How often progress and heartbeats are written, cancel flags read and the queue polled (ms); default 1000. */
  readonly pollMs?: number;
  /** A running job whose owner has not written a heartbeat for this long is requeued (ms); default 30 s. */
  readonly staleMs?: number;
  readonly log?: (line: string) => void;
  /**
   * What the run would refuse before scoring (the engine's `checkBatchJob`), checked when a job is
   * submitted or run here, so a bad job is refused at once (400/404) rather than accepted and
   * failed later. Without it (tests with a fake runner) only the fields' shapes are checked.
   */
  readonly check?: (spec: BatchJobSpec) => Promise<void>;
  /**
   * Folders a submission's input and output must be in (`SLIPWAY_DATA_ROOTS`): submissions come
   * from clients over the API, so their paths are confined (job-submission.ts `confineJobPaths`,
   * an existing output refused without `overwrite`). Undefined = unchecked (tests with a fake runner).
   */
  readonly dataRoots?: readonly string[];
}

/** Why this process aborted a running job. */
type AbortReason = 'cancel' | 'shutdown' | 'lost';

interface RunningJob {
  readonly record: BatchJobRecord;
  readonly controller: AbortController;
  latest: BatchProgress | null;
  dirty: boolean;
  reason: AbortReason | undefined;
  /** A heartbeat write in flight (they never overlap). */
  beating: boolean;
}

/** How a run ended: the runner's summary, or what it threw. */
type RunResult = { readonly summary: BatchSummary } | { readonly error: unknown };

/**
 * Batch jobs in the background: submitted jobs are stored queued in the metadata database, and
 * once `start()`ed (by `serve`, on one cluster worker) this process claims and runs up to
 * `concurrency` of them at once, oldest first. Every `pollMs` it writes each running job's
 * progress and heartbeat, reads its cancel flag (so `slipway batch cancel` from another process
 * stops it), and requeues jobs that a dead process left running: the engine resumes those from
 * their finished parts, because the job id (and so the working folder) is the same.
 *
 * `stop()` (shutdown) aborts the running jobs, waits for them, and puts them back in the queue
 * (status `queued`, progress kept): the next start resumes them. Only a cancel makes `cancelled`.
 * `runHere` runs one job in the foreground (the CLI's `batch run`) with the same record keeping.
 *
 * @example
 * const jobs = new JobService({ store: new SqlJobStore(database), run: (spec, o) => runBatchJob(spec, deps, o), concurrency: 2 });
 * jobs.start();
 * const job = await jobs.submit({ model: 'fraud@champion', input: 'in.parquet', output: 'out.parquet' });
 */
export class JobService {
  readonly #store: SqlJobStore;
  readonly #run: BatchRunner;
  readonly #concurrency: number;
  readonly #pollMs: number;
  readonly #staleMs: number;
  readonly #log: (line: string) => void;
  readonly #check: ((spec: BatchJobSpec) => Promise<void>) | undefined;
  readonly #dataRoots: readonly string[] | undefined;
  /** This process and service instance, as written in `owner`. */
  readonly owner = `${os.hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  readonly #running = new Map<string, RunningJob>();
  /** Background runs, to wait for on stop. */
  readonly #done = new Map<string, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #ticking: Promise<void> | undefined;
  #pumping: Promise<void> | undefined;
  #pumpAgain = false;

  constructor(options: JobServiceOptions) {
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new SlipwayError('INVALID_ARGUMENT', `batch concurrency ${concurrency}: expected an integer of at least 1`);
    this.#store = options.store;
    this.#run = options.run;
    this.#concurrency = concurrency;
    this.#pollMs = options.pollMs ?? 1000;
    this.#staleMs = options.staleMs ?? 30_000;
    this.#log = options.log ?? (() => undefined);
    this.#check = options.check;
    this.#dataRoots = options.dataRoots;
  }

  /** Store a queued job (id = `jobId` or a new one); ALREADY_EXISTS for a taken id. Runs soon when started. */
  async submit(submission: BatchJobSubmission): Promise<BatchJobRecord> {
    const jobId = submission.jobId ?? newJobId();
    if (!JOB_ID_PATTERN.test(jobId))
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `batch job id "${jobId}": expected 1-128 letters, digits, ".", "_" or "-", not starting with "." "_" or "-"`,
        { details: { field: 'jobId' } },
      );
    const confined = this.#dataRoots === undefined ? submission : await confineJobPaths(submission, this.#dataRoots);
    await this.#check?.({ ...confined, jobId });
    const record = await this.#store.insert({ ...confined, jobId });
    if (this.#started) this.#pump();
    return record;
  }

  /** A job with its latest progress (fresher than the stored one when it runs in this process); NOT_FOUND. */
  async status(id: string): Promise<BatchJobRecord> {
    const record = await this.#store.get(id);
    if (record === undefined) throw new SlipwayError('NOT_FOUND', `batch job "${id}" does not exist`);
    const local = this.#running.get(id);
    return local?.latest != null && record.status === 'running' ? { ...record, progress: local.latest } : record;
  }

  /** Newest first. */
  list(query: JobListQuery = {}): Promise<BatchJobRecord[]> {
    return this.#store.list(query);
  }

  /**
   * Cancel a job: a queued one at once; a running one stops after its current chunk (at once when
   * it runs in this process, within `pollMs` in another). NOT_FOUND; FAILED_PRECONDITION (409) when finished.
   */
  async cancel(id: string): Promise<BatchJobRecord> {
    const record = await this.#store.requestCancel(id);
    const local = this.#running.get(id);
    if (local !== undefined) this.#abort(local, 'cancel');
    return record;
  }

  /** Jobs running in this process now. */
  get runningIds(): string[] {
    return [...this.#running.keys()];
  }

  /** Requeue what a crashed process left running, then run queued jobs in the background. Idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#pollMs);
    this.#timer.unref();
  }

  /** Stop claiming, abort the running jobs and wait for them; they go back to the queue to resume later. */
  async stop(): Promise<void> {
    this.#started = false;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
    await this.#pumping;
    for (const job of this.#running.values()) this.#abort(job, 'shutdown');
    await Promise.all(this.#done.values());
  }

  #abort(job: RunningJob, reason: AbortReason): void {
    if (job.reason !== undefined) return;
    job.reason = reason;
    job.controller.abort(
      new SlipwayError(
        'CANCELLED',
        reason === 'cancel'
          ? `batch job "${job.record.id}" was cancelled`
          : `batch job "${job.record.id}" was interrupted (${reason})`,
      ),
    );
  }

  /** One round: requeue abandoned jobs, then fill free slots. */
  #tick(): void {
    if (this.#ticking !== undefined) return;
    this.#ticking = this.#round()
      .catch((error: unknown) => this.#log(`batch jobs: ${message(error)}`))
      .finally(() => (this.#ticking = undefined));
  }

  async #round(): Promise<void> {
    const staleBefore = new Date(Date.now() - this.#staleMs).toISOString();
    const requeued = await this.#store.requeueAbandoned({
      staleBefore,
      isDeadOwner: (owner) => isDeadOwner(owner, this.owner),
    });
    for (const id of requeued) this.#log(`batch job ${id}: its process stopped; queued again to resume`);
    if (this.#started) this.#pump();
  }

  /** One running job's heartbeat with its progress; reads its cancel flag. */
  async #beat(job: RunningJob): Promise<void> {
    if (job.beating) return;
    job.beating = true;
    try {
      const progress = job.dirty ? job.latest : null;
      job.dirty = false;
      const beat = await this.#store.heartbeat(job.record.id, this.owner, progress);
      if (beat === undefined) this.#abort(job, 'lost');
      else if (beat.cancelRequested) this.#abort(job, 'cancel');
    } catch (error) {
      this.#log(`batch job ${job.record.id}: heartbeat failed: ${message(error)}`);
    } finally {
      job.beating = false;
    }
  }

  /** Claim queued jobs while there is a free slot (one claimer at a time). */
  #pump(): void {
    if (this.#pumping !== undefined) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = (async () => {
      do {
        this.#pumpAgain = false;
        while (this.#started && this.#done.size < this.#concurrency) {
          const record = await this.#store.claim(this.owner);
          if (record === undefined) break;
          this.#launch(record);
        }
      } while (this.#pumpAgain && this.#started);
    })()
      .catch((error: unknown) => this.#log(`batch jobs: ${message(error)}`))
      .finally(() => (this.#pumping = undefined));
  }

  #launch(record: BatchJobRecord): void {
    const job = this.#track(record);
    this.#log(
      `batch job ${record.id}: running ${record.spec.model} on ${record.spec.input}${record.attempts > 1 ? ' (resuming)' : ''}`,
    );
    const done = this.#execute(job)
      .then(() => undefined)
      .catch((error: unknown) => this.#log(`batch job ${record.id}: could not record its end: ${message(error)}`))
      .finally(() => {
        this.#done.delete(record.id);
        if (this.#started) this.#pump();
      });
    this.#done.set(record.id, done);
  }

  /**
   * Run `spec` here and now, in the foreground (`slipway batch run --job-id J`), recorded like a
   * background job: `batch status` shows its progress and `batch cancel` (or `signal`) stops it.
   * A job id seen before is taken over (a resume) unless a live process runs it (FAILED_PRECONDITION).
   * Resolves with the engine's summary; rejects with what the engine threw.
   */
  async runHere(
    spec: BatchJobSpec,
    options: { signal?: AbortSignal; onProgress?: (progress: BatchProgress) => void } = {},
  ): Promise<BatchSummary> {
    await this.#check?.(spec);
    const record = await this.#store.startHere(spec, this.owner, (existing) => this.#abandoned(existing));
    const job = this.#track(record);
    const { signal } = options;
    const onAbort = () => this.#abort(job, 'cancel');
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await this.#execute(job, options.onProgress);
      if ('error' in result) throw result.error;
      return result.summary;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  #abandoned(record: BatchJobRecord): boolean {
    const staleBefore = new Date(Date.now() - this.#staleMs).toISOString();
    return (
      record.heartbeatAt === null ||
      record.heartbeatAt < staleBefore ||
      (record.owner !== null && isDeadOwner(record.owner, this.owner))
    );
  }

  #track(record: BatchJobRecord): RunningJob {
    const job: RunningJob = {
      record,
      controller: new AbortController(),
      latest: record.progress,
      dirty: false,
      reason: undefined,
      beating: false,
    };
    this.#running.set(record.id, job);
    // A cancel that arrived between the claim and now.
    if (record.cancelRequested) this.#abort(job, 'cancel');
    return job;
  }

  /** Run a tracked job with heartbeats, then record how it ended. */
  async #execute(job: RunningJob, onProgress?: (progress: BatchProgress) => void): Promise<RunResult> {
    const { id, spec } = job.record;
    const timer = setInterval(() => void this.#beat(job), this.#pollMs);
    let result: RunResult;
    try {
      result = {
        summary: await this.#run(spec, {
          signal: job.controller.signal,
          onProgress: (progress) => {
            job.latest = progress;
            job.dirty = true;
            onProgress?.(progress);
          },
        }),
      };
    } catch (error) {
      result = { error };
    } finally {
      clearInterval(timer);
    }
    try {
      await this.#record(job, result);
    } finally {
      this.#running.delete(id);
    }
    return result;
  }

  async #record(job: RunningJob, result: RunResult): Promise<void> {
    const { id } = job.record;
    let outcome: JobOutcome =
      'summary' in result
        ? { status: result.summary.status, summary: result.summary, error: result.summary.error ?? null }
        : { status: job.reason === 'cancel' ? 'cancelled' : 'failed', summary: null, error: message(result.error) };
    if (job.reason === 'lost')
      return this.#log(`batch job ${id}: another process took it over; this run's end is not recorded`);
    if (job.reason === 'shutdown' && outcome.status !== 'succeeded') {
      await this.#store.release(id, this.owner, job.latest);
      return this.#log(`batch job ${id}: interrupted by shutdown; queued to resume at the next start`);
    }
    if (job.reason === 'cancel' && outcome.status === 'failed') outcome = { ...outcome, status: 'cancelled' };
    await this.#store.finish(id, this.owner, outcome, job.latest);
    this.#log(`batch job ${id}: ${outcome.status}${outcome.error === null ? '' : `: ${outcome.error}`}`);
  }
}

/** An owner on this host whose process is gone. Other hosts are judged by their heartbeat alone. */
function isDeadOwner(owner: string, self: string): boolean {
  const [host, pidText] = owner.split('/');
  if (host !== os.hostname() || owner === self) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
