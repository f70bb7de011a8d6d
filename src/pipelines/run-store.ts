import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable, Updateable } from 'kysely';
import { SlipwayError, notFound } from '../core/errors.js';
import { isUniqueViolation } from '../store/database-errors.js';
import type { Database } from '../store/database.js';
import type { DatabaseSchema, PipelineRunTable } from '../store/schema.js';
import type {
  DataFingerprint,
  ReleaseOutcome,
  RunEvaluation,
  RunRecord,
  RunStatus,
  RunStep,
  StoredPipeline,
  TrainingOutcome,
  TriggerFiring,
} from './types.js';

type Db = Kysely<DatabaseSchema>;

/** What an owner may change on its running run (only the fields given are written). */
export interface RunPatch {
  readonly step?: RunStep;
  readonly data?: DataFingerprint | null;
  readonly training?: TrainingOutcome | null;
  readonly evaluation?: RunEvaluation | null;
  readonly championVersion?: string | null;
  readonly candidateVersion?: string | null;
  readonly release?: ReleaseOutcome | null;
  readonly trainingPid?: number | null;
}

/** How a run ends. */
export interface RunEnding {
  readonly status: Exclude<RunStatus, 'running'>;
  readonly reason: string | null;
}

/** A new run id: sortable by time, e.g. `run-20261208-023000-3f9a1c`. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `run-${stamp}-${randomBytes(3).toString('hex')}`;
}

/**
 * Pipeline runs (migration 0014) as durable records, SQLite and PostgreSQL alike. The database keeps
 * one running run per pipeline (a partial unique index), and every change by the process advancing a
 * run is one UPDATE conditional on it still owning the running run, so two servers sharing one
 * PostgreSQL never both advance it: the loser gets CONFLICT "lost the run".
 */
export class SqlRunStore {
  readonly #database: Database;

  constructor(database: Database) {
    this.#database = database;
  }

  get #db(): Db {
    return this.#database.db;
  }

  /** Start a run of the pipeline's stored version: running, step pending, unowned. CONFLICT when one is running. */
  async create(pipeline: StoredPipeline, trigger: TriggerFiring): Promise<RunRecord> {
    const now = new Date().toISOString();
    const id = newRunId();
    try {
      await this.#db
        .insertInto('pipeline_runs')
        .values({
          id,
          pipeline: pipeline.name,
          pipeline_version: pipeline.version,
          status: 'running',
          step: 'pending',
          trigger: JSON.stringify(trigger),
          reason: null,
          cancel_requested: 0,
          owner: null,
          heartbeat_at: null,
          training_pid: null,
          data: null,
          training: null,
          evaluation: null,
          champion_version: null,
          candidate_version: null,
          release: null,
          created_at: now,
          updated_at: now,
          finished_at: null,
        })
        .execute();
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const running = await this.#db
        .selectFrom('pipeline_runs')
        .select('id')
        .where('pipeline', '=', pipeline.name)
        .where('status', '=', 'running')
        .executeTakeFirst();
      throw new SlipwayError(
        'CONFLICT',
        `pipeline "${pipeline.name}" already has a running run ${running?.id ?? '(just finished)'}`,
        { cause: error },
      );
    }
    return this.get(id);
  }

  /**
   * Take a running run for `owner` when nobody owns it, its owner's heartbeat is older than
   * `staleBefore` (ISO), or `owner` already has it; one conditional UPDATE, so exactly one claimer wins.
   * Undefined when it was not claimable.
   */
  async claim(id: string, owner: string, staleBefore: string): Promise<RunRecord | undefined> {
    const now = new Date().toISOString();
    const result = await this.#db
      .updateTable('pipeline_runs')
      .set({ owner, heartbeat_at: now, updated_at: now })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .where((eb) => eb.or([eb('owner', 'is', null), eb('heartbeat_at', '<', staleBefore), eb('owner', '=', owner)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1 ? this.get(id) : undefined;
  }

  /** Running runs nobody advances: no owner, or an owner whose heartbeat is older than `staleBefore`; oldest first. */
  async claimable(staleBefore: string): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('pipeline_runs')
      .select('id')
      .where('status', '=', 'running')
      .where((eb) => eb.or([eb('owner', 'is', null), eb('heartbeat_at', '<', staleBefore)]))
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map((row) => row.id);
  }

  /** The owner is alive; CONFLICT "lost the run" when it no longer owns the running run. */
  async heartbeat(id: string, owner: string): Promise<void> {
    const now = new Date().toISOString();
    await this.#ownedUpdate(id, owner, { heartbeat_at: now, updated_at: now });
  }

  /** Write the given fields (and a heartbeat) of a run `owner` still owns; CONFLICT "lost the run" otherwise. */
  async update(id: string, owner: string, patch: RunPatch): Promise<RunRecord> {
    const now = new Date().toISOString();
    const set: Updateable<PipelineRunTable> = { heartbeat_at: now, updated_at: now };
    if (patch.step !== undefined) set.step = patch.step;
    if (patch.data !== undefined) set.data = json(patch.data);
    if (patch.training !== undefined) set.training = json(patch.training);
    if (patch.evaluation !== undefined) set.evaluation = json(patch.evaluation);
    if (patch.championVersion !== undefined) set.champion_version = patch.championVersion;
    if (patch.candidateVersion !== undefined) set.candidate_version = patch.candidateVersion;
    if (patch.release !== undefined) set.release = json(patch.release);
    if (patch.trainingPid !== undefined) set.training_pid = patch.trainingPid;
    await this.#ownedUpdate(id, owner, set);
    return this.get(id);
  }

  /**
   * End a running run. `owner` null finishes a run nobody owns (cancelled before any process claimed
   * it); CONFLICT when the run is finished already or owned by someone else.
   */
  async finish(id: string, owner: string | null, ending: RunEnding): Promise<RunRecord> {
    const now = new Date().toISOString();
    await this.#ownedUpdate(id, owner, {
      status: ending.status,
      reason: ending.reason,
      training_pid: null,
      updated_at: now,
      finished_at: now,
    });
    return this.get(id);
  }

  /** Ask the owner to cancel (it sees `cancelRequested`); NOT_FOUND, or FAILED_PRECONDITION when finished. */
  async requestCancel(id: string): Promise<RunRecord> {
    const result = await this.#db
      .updateTable('pipeline_runs')
      .set({ cancel_requested: 1, updated_at: new Date().toISOString() })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .executeTakeFirst();
    const run = await this.get(id);
    if (Number(result.numUpdatedRows) !== 1)
      throw new SlipwayError('FAILED_PRECONDITION', `run ${id} already finished (${run.status}); nothing to cancel`);
    return run;
  }

  /** One run; NOT_FOUND naming it. */
  async get(id: string): Promise<RunRecord> {
    const row = await this.#db.selectFrom('pipeline_runs').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) throw notFound(`pipeline run "${id}" does not exist`);
    return toRecord(row);
  }

  /** Runs newest first (default 50), of one pipeline or all. */
  async list(query: { readonly pipeline?: string; readonly limit?: number } = {}): Promise<RunRecord[]> {
    let select = this.#db.selectFrom('pipeline_runs').selectAll();
    if (query.pipeline !== undefined) select = select.where('pipeline', '=', query.pipeline);
    const rows = await select
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(query.limit ?? 50)
      .execute();
    return rows.map(toRecord);
  }

  /** The pipeline's newest run, for the minimum interval and the labels trigger. */
  async lastStarted(pipeline: string): Promise<RunRecord | undefined> {
    return (await this.list({ pipeline, limit: 1 }))[0];
  }

  /** The training process of a run, while one is recorded (cancel kills its process group). */
  async trainingPid(id: string): Promise<number | null> {
    const row = await this.#db
      .selectFrom('pipeline_runs')
      .select('training_pid')
      .where('id', '=', id)
      .executeTakeFirst();
    if (row === undefined) throw notFound(`pipeline run "${id}" does not exist`);
    return row.training_pid === null ? null : Number(row.training_pid);
  }

  async #ownedUpdate(id: string, owner: string | null, set: Updateable<PipelineRunTable>): Promise<void> {
    const result = await this.#db
      .updateTable('pipeline_runs')
      .set(set)
      .where('id', '=', id)
      .where('status', '=', 'running')
      .where('owner', owner === null ? 'is' : '=', owner)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 1) return;
    const run = await this.get(id);
    const now = run.status !== 'running' ? `it is ${run.status}` : `it is owned by ${run.owner ?? 'nobody'}`;
    const who = owner === null ? 'finishing it as unowned' : `${owner} lost the run`;
    throw new SlipwayError('CONFLICT', `run ${id}: ${who} (${now})`);
  }
}

function json(value: unknown): string | null {
  return value === null ? null : JSON.stringify(value);
}

function parse<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

function toRecord(row: Selectable<PipelineRunTable>): RunRecord {
  return {
    id: row.id,
    pipeline: row.pipeline,
    pipelineVersion: Number(row.pipeline_version),
    status: row.status as RunStatus,
    step: row.step as RunStep,
    trigger: JSON.parse(row.trigger) as TriggerFiring,
    reason: row.reason,
    cancelRequested: Number(row.cancel_requested) === 1,
    owner: row.owner,
    heartbeatAt: row.heartbeat_at,
    data: parse<DataFingerprint>(row.data),
    training: parse<TrainingOutcome>(row.training),
    evaluation: parse<RunEvaluation>(row.evaluation),
    championVersion: row.champion_version,
    candidateVersion: row.candidate_version,
    release: parse<ReleaseOutcome>(row.release),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}
