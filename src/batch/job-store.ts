import type { Kysely, Selectable } from 'kysely';
import { SlipwayError } from '../core/errors.js';
import type { Database } from '../store/database.js';
import { isUniqueViolation } from '../store/database-errors.js';
import type { BatchJobTable, DatabaseSchema } from '../store/schema.js';
import type { BatchJobSpec, BatchJobStatus, BatchProgress, BatchSummary } from './types.js';

type Db = Kysely<DatabaseSchema>;
type JobRow = Selectable<BatchJobTable>;

/** A batch job as stored in the metadata database, and as the jobs API and `slipway batch status` show it. */
export interface BatchJobRecord {
  readonly id: string;
  readonly status: BatchJobStatus;
  readonly spec: BatchJobSpec;
  /** The last progress written (about once a second while running); null before the first. */
  readonly progress: BatchProgress | null;
  /** Set once the job finished (succeeded, failed, or cancelled while running). */
  readonly summary: BatchSummary | null;
  /** Why it failed or was cancelled; null otherwise. */
  readonly error: string | null;
  /** A cancel was asked for while it ran; the running process stops after its current chunk. */
  readonly cancelRequested: boolean;
  /** How many times a process started it (more than 1 after a resume). */
  readonly attempts: number;
  /** The process running it (`host/pid/random`); null unless running. */
  readonly owner: string | null;
  readonly heartbeatAt: string | null;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly updatedAt: string;
}

export const BATCH_JOB_STATUSES: readonly BatchJobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
export const FINISHED_STATUSES: readonly BatchJobStatus[] = ['succeeded', 'failed', 'cancelled'];

export interface JobListQuery {
  readonly status?: BatchJobStatus;
  /** Most records returned (default 100). */
  readonly limit?: number;
}

/** How a run ended, as written by `finish`. */
export interface JobOutcome {
  readonly status: 'succeeded' | 'failed' | 'cancelled';
  readonly summary: BatchSummary | null;
  readonly error: string | null;
}

/** Which running jobs belong to no live process. */
export interface AbandonedQuery {
  /** A running job whose heartbeat is older than this ISO time is abandoned. */
  readonly staleBefore: string;
  /** Owners known to be dead (a crashed process on this host), abandoned whatever their heartbeat. */
  readonly isDeadOwner?: (owner: string) => boolean;
}

/**
 * Batch job records over Kysely, for SQLite and PostgreSQL alike. Every state change is one
 * conditional UPDATE (status and owner in the WHERE clause), so two processes never both claim a
 * job and a process that lost a job (it was requeued as abandoned) cannot overwrite it.
 * `close()` only marks the store closed: the Database belongs to whoever opened it, who closes it
 * (several stores share one).
 *
 * @example
 * const jobs = new SqlJobStore(await openDatabase({ sqlitePath: 'slipway.db' }));
 * await jobs.insert({ jobId: 'nightly', model: 'fraud@champion', input: 'in.parquet', output: 'out.parquet' });
 */
export class SqlJobStore {
  readonly #database: Database;
  #closed = false;

  constructor(database: Database) {
    this.#database = database;
  }

  get #db(): Db {
    if (this.#closed) throw new SlipwayError('UNAVAILABLE', 'the batch job store is closed');
    return this.#database.db;
  }

  /** Store a new queued job; ALREADY_EXISTS when the id is taken. */
  async insert(spec: BatchJobSpec): Promise<BatchJobRecord> {
    const now = new Date().toISOString();
    try {
      const row = await this.#db
        .insertInto('batch_jobs')
        .values({
          id: spec.jobId,
          spec: JSON.stringify(spec),
          status: 'queued',
          progress: null,
          summary: null,
          error: null,
          owner: null,
          heartbeat_at: null,
          created_at: now,
          started_at: null,
          finished_at: null,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRecord(row);
    } catch (error) {
      if (isUniqueViolation(error))
        throw new SlipwayError('ALREADY_EXISTS', `batch job "${spec.jobId}" already exists`, { cause: error });
      throw error;
    }
  }

  async get(id: string): Promise<BatchJobRecord | undefined> {
    const row = await this.#db.selectFrom('batch_jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  /** Newest first. */
  async list(query: JobListQuery = {}): Promise<BatchJobRecord[]> {
    let select = this.#db
      .selectFrom('batch_jobs')
      .selectAll()
      .orderBy('seq', 'desc')
      .limit(query.limit ?? 100);
    if (query.status !== undefined) select = select.where('status', '=', query.status);
    return (await select.execute()).map(toRecord);
  }

  /**
   * Record that `owner` runs `spec` now, in the foreground (`slipway batch run --job-id J`): a new
   * running record, or the existing one taken over (attempts + 1, cancel flag and outcome cleared)
   * unless it is running in a process `isAbandoned` does not give up on: FAILED_PRECONDITION then.
   */
  async startHere(
    spec: BatchJobSpec,
    owner: string,
    isAbandoned: (record: BatchJobRecord) => boolean,
  ): Promise<BatchJobRecord> {
    const now = new Date().toISOString();
    const existing = await this.get(spec.jobId);
    if (existing === undefined) {
      try {
        const row = await this.#db
          .insertInto('batch_jobs')
          .values({
            id: spec.jobId,
            spec: JSON.stringify(spec),
            status: 'running',
            attempts: 1,
            progress: null,
            summary: null,
            error: null,
            owner,
            heartbeat_at: now,
            created_at: now,
            started_at: now,
            finished_at: null,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toRecord(row);
      } catch (error) {
        if (isUniqueViolation(error))
          throw new SlipwayError(
            'FAILED_PRECONDITION',
            `batch job "${spec.jobId}" was just started by another process`,
            { cause: error },
          );
        throw error;
      }
    }
    if (existing.status === 'running' && !isAbandoned(existing)) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `batch job "${spec.jobId}" is running in another process (${existing.owner ?? 'unknown'}); cancel it first (slipway batch cancel ${spec.jobId})`,
      );
    }
    let update = this.#db
      .updateTable('batch_jobs')
      .set((eb) => ({
        spec: JSON.stringify(spec),
        status: 'running',
        owner,
        cancel_requested: 0,
        summary: null,
        error: null,
        finished_at: null,
        heartbeat_at: now,
        started_at: now,
        updated_at: now,
        attempts: eb('attempts', '+', 1),
      }))
      .where('id', '=', spec.jobId)
      .where('status', '=', existing.status);
    update = existing.owner === null ? update.where('owner', 'is', null) : update.where('owner', '=', existing.owner);
    const row = await update.returningAll().executeTakeFirst();
    if (row === undefined)
      throw new SlipwayError('FAILED_PRECONDITION', `batch job "${spec.jobId}" changed while starting it; try again`);
    return toRecord(row);
  }

  /** Take the oldest queued job for `owner` (running, attempts + 1); undefined when none is queued. */
  async claim(owner: string): Promise<BatchJobRecord | undefined> {
    // A few candidates: another process may claim the first between our read and our update.
    const candidates = await this.#db
      .selectFrom('batch_jobs')
      .select('id')
      .where('status', '=', 'queued')
      .orderBy('seq')
      .limit(5)
      .execute();
    for (const { id } of candidates) {
      const now = new Date().toISOString();
      const row = await this.#db
        .updateTable('batch_jobs')
        .set((eb) => ({
          status: 'running',
          owner,
          heartbeat_at: now,
          started_at: now,
          updated_at: now,
          attempts: eb('attempts', '+', 1),
        }))
        .where('id', '=', id)
        .where('status', '=', 'queued')
        .returningAll()
        .executeTakeFirst();
      if (row !== undefined) return toRecord(row);
    }
    return undefined;
  }

  /**
   * The owner's sign of life, with its latest progress (null keeps the stored one). Answers whether
   * a cancel was asked for, or undefined when `owner` no longer runs the job (it was requeued).
   */
  async heartbeat(
    id: string,
    owner: string,
    progress: BatchProgress | null,
  ): Promise<{ cancelRequested: boolean } | undefined> {
    const now = new Date().toISOString();
    const row = await this.#db
      .updateTable('batch_jobs')
      .set({ heartbeat_at: now, updated_at: now, ...(progress === null ? {} : { progress: JSON.stringify(progress) }) })
      .where('id', '=', id)
      .where('owner', '=', owner)
      .where('status', '=', 'running')
      .returning('cancel_requested')
      .executeTakeFirst();
    return row === undefined ? undefined : { cancelRequested: row.cancel_requested !== 0 };
  }

  /** Record how `owner`'s run ended; false when it no longer owned the job. */
  async finish(id: string, owner: string, outcome: JobOutcome, progress: BatchProgress | null): Promise<boolean> {
    const now = new Date().toISOString();
    const result = await this.#db
      .updateTable('batch_jobs')
      .set({
        status: outcome.status,
        summary: outcome.summary === null ? null : JSON.stringify(outcome.summary),
        error: outcome.error,
        owner: null,
        finished_at: now,
        updated_at: now,
        ...(progress === null ? {} : { progress: JSON.stringify(progress) }),
      })
      .where('id', '=', id)
      .where('owner', '=', owner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Put `owner`'s running job back in the queue (a shutdown): the next claim resumes it from its parts. */
  async release(id: string, owner: string, progress: BatchProgress | null): Promise<boolean> {
    const now = new Date().toISOString();
    const result = await this.#db
      .updateTable('batch_jobs')
      .set({
        status: 'queued',
        owner: null,
        heartbeat_at: null,
        updated_at: now,
        ...(progress === null ? {} : { progress: JSON.stringify(progress) }),
      })
      .where('id', '=', id)
      .where('owner', '=', owner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Cancel a job: a queued one is cancelled at once; a running one gets `cancelRequested` and its
   * process stops it. NOT_FOUND for an unknown id, FAILED_PRECONDITION (409) when it already finished.
   */
  async requestCancel(id: string): Promise<BatchJobRecord> {
    const now = new Date().toISOString();
    const queued = await this.#db
      .updateTable('batch_jobs')
      .set({
        status: 'cancelled',
        cancel_requested: 1,
        error: 'cancelled before it started',
        finished_at: now,
        updated_at: now,
      })
      .where('id', '=', id)
      .where('status', '=', 'queued')
      .returningAll()
      .executeTakeFirst();
    if (queued !== undefined) return toRecord(queued);
    const running = await this.#db
      .updateTable('batch_jobs')
      .set({ cancel_requested: 1, updated_at: now })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .returningAll()
      .executeTakeFirst();
    if (running !== undefined) return toRecord(running);
    const record = await this.get(id);
    if (record === undefined) throw new SlipwayError('NOT_FOUND', `batch job "${id}" does not exist`);
    throw new SlipwayError('FAILED_PRECONDITION', `batch job "${id}" already ${record.status}`, {
      details: { status: record.status },
    });
  }

  /** Put running jobs that no live process owns back in the queue; returns their ids. */
  async requeueAbandoned(query: AbandonedQuery): Promise<string[]> {
    const running = await this.#db
      .selectFrom('batch_jobs')
      .select(['id', 'owner', 'heartbeat_at'])
      .where('status', '=', 'running')
      .execute();
    const requeued: string[] = [];
    for (const row of running) {
      const stale = row.heartbeat_at === null || row.heartbeat_at < query.staleBefore;
      const dead = row.owner !== null && query.isDeadOwner?.(row.owner) === true;
      if (!stale && !dead) continue;
      let update = this.#db
        .updateTable('batch_jobs')
        .set({ status: 'queued', owner: null, heartbeat_at: null, updated_at: new Date().toISOString() })
        .where('id', '=', row.id)
        .where('status', '=', 'running');
      update = row.owner === null ? update.where('owner', 'is', null) : update.where('owner', '=', row.owner);
      if ((await update.executeTakeFirst()).numUpdatedRows > 0n) requeued.push(row.id);
    }
    return requeued;
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

function toRecord(row: JobRow): BatchJobRecord {
  return {
    id: row.id,
    status: row.status,
    spec: JSON.parse(row.spec) as BatchJobSpec,
    progress: row.progress === null ? null : (JSON.parse(row.progress) as BatchProgress),
    summary: row.summary === null ? null : (JSON.parse(row.summary) as BatchSummary),
    error: row.error,
    cancelRequested: Number(row.cancel_requested) !== 0,
    attempts: Number(row.attempts),
    owner: row.owner,
    heartbeatAt: row.heartbeat_at,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
  };
}
