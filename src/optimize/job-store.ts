import type { Kysely, Selectable } from 'kysely';
import { SlipwayError } from '../core/errors.js';
import type { Database } from '../store/database.js';
import type { DatabaseSchema, OptimizeJobTable } from '../store/schema.js';
import type { GateResult, OptimizationReport } from './types.js';

type Db = Kysely<DatabaseSchema>;
type JobRow = Selectable<OptimizeJobTable>;

export type OptimizeJobStatus = OptimizeJobTable['status'];
export type OptimizeJobKind = OptimizeJobTable['kind'];

/** What a finished evaluation left: the report and each gate's verdict. */
export interface EvaluatedCandidate {
  readonly report: OptimizationReport;
  readonly gates: readonly GateResult[];
}

/** One optimize or distill run, as `GET /api/v1/optimize-jobs/{id}` and `slipway optimize --job` show it. */
export interface OptimizeJobRecord {
  readonly id: string;
  readonly kind: OptimizeJobKind;
  readonly model: string;
  readonly parentVersion: string;
  readonly spec: unknown;
  /** queued → running → succeeded (registered, or a dry run) | refused (a gate failed) | failed. */
  readonly status: OptimizeJobStatus;
  readonly progress: { readonly message: string; readonly at: string } | null;
  readonly result: EvaluatedCandidate | null;
  readonly resultVersion: string | null;
  readonly error: string | null;
  readonly errorCode: string | null;
  readonly actor: string | null;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

/** A running job whose runner wrote nothing for this long is shown, and stored, as failed. */
export const OPTIMIZE_HEARTBEAT_TIMEOUT_MS = 60_000;

export interface NewOptimizeJob {
  readonly id: string;
  readonly kind: OptimizeJobKind;
  readonly model: string;
  readonly parentVersion: string;
  readonly spec: unknown;
  readonly actor: string | null;
}

export interface OptimizeJobOutcome {
  readonly status: 'succeeded' | 'refused' | 'failed';
  readonly result?: EvaluatedCandidate;
  readonly resultVersion?: string;
  readonly error?: string;
  readonly errorCode?: string;
}

/**
 * Optimize job records over Kysely, SQLite and PostgreSQL alike. Each state change is one
 * conditional UPDATE on the status, so a job is started once and a finished job never changes.
 */
export class SqlOptimizeJobStore {
  readonly #database: Database;

  constructor(database: Database) {
    this.#database = database;
  }

  get #db(): Db {
    return this.#database.db;
  }

  async insert(job: NewOptimizeJob): Promise<OptimizeJobRecord> {
    const now = new Date().toISOString();
    await this.#db
      .insertInto('optimize_jobs')
      .values({
        id: job.id,
        kind: job.kind,
        model: job.model,
        parent_version: job.parentVersion,
        spec: JSON.stringify(job.spec),
        status: 'queued',
        actor: job.actor,
        created_at: now,
        progress: null,
        report: null,
        result_version: null,
        error: null,
        error_code: null,
        owner: null,
        heartbeat_at: null,
        started_at: null,
        finished_at: null,
      })
      .execute();
    return this.get(job.id);
  }

  /** queued → running for `owner`; CONFLICT when it is not queued (started twice, or finished). */
  async start(id: string, owner: string): Promise<void> {
    const now = new Date().toISOString();
    const result = await this.#db
      .updateTable('optimize_jobs')
      .set({ status: 'running', owner, started_at: now, heartbeat_at: now })
      .where('id', '=', id)
      .where('status', '=', 'queued')
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) {
      const job = await this.get(id);
      throw new SlipwayError('CONFLICT', `optimize job "${id}" is ${job.status}, not queued`);
    }
  }

  /** The last progress line, which is also the runner's heartbeat. */
  async progress(id: string, message: string): Promise<void> {
    const at = new Date().toISOString();
    await this.#db
      .updateTable('optimize_jobs')
      .set({ progress: JSON.stringify({ message, at }), heartbeat_at: at })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .execute();
  }

  async finish(id: string, outcome: OptimizeJobOutcome): Promise<void> {
    await this.#db
      .updateTable('optimize_jobs')
      .set({
        status: outcome.status,
        report: outcome.result === undefined ? null : JSON.stringify(outcome.result),
        result_version: outcome.resultVersion ?? null,
        error: outcome.error ?? null,
        error_code: outcome.errorCode ?? null,
        finished_at: new Date().toISOString(),
      })
      .where('id', '=', id)
      .where('status', 'in', ['queued', 'running'])
      .execute();
  }

  async get(id: string): Promise<OptimizeJobRecord> {
    await this.#failSilent();
    const row = await this.#db.selectFrom('optimize_jobs').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) throw new SlipwayError('NOT_FOUND', `optimize job "${id}" does not exist`);
    return toRecord(row);
  }

  /** Newest first; `model` narrows to one model. */
  async list(query: { readonly model?: string; readonly limit?: number } = {}): Promise<OptimizeJobRecord[]> {
    await this.#failSilent();
    let select = this.#db.selectFrom('optimize_jobs').selectAll();
    if (query.model !== undefined) select = select.where('model', '=', query.model);
    const rows = await select
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(query.limit ?? 100)
      .execute();
    return rows.map(toRecord);
  }

  /** Running jobs whose runner went quiet (killed, or its machine lost) become failed, once. */
  async #failSilent(): Promise<void> {
    const staleBefore = new Date(Date.now() - OPTIMIZE_HEARTBEAT_TIMEOUT_MS).toISOString();
    await this.#db
      .updateTable('optimize_jobs')
      .set({
        status: 'failed',
        error: 'interrupted: its process stopped reporting progress (killed or lost); nothing was registered',
        error_code: 'UNAVAILABLE',
        finished_at: new Date().toISOString(),
      })
      .where('status', '=', 'running')
      .where('heartbeat_at', '<', staleBefore)
      .execute();
  }

  /** Mark one job failed now (its runner process exited without finishing it). */
  async abandon(id: string, reason: string): Promise<void> {
    await this.finish(id, { status: 'failed', error: reason, errorCode: 'UNAVAILABLE' });
  }
}

function parse(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

function toRecord(row: JobRow): OptimizeJobRecord {
  return {
    id: row.id,
    kind: row.kind,
    model: row.model,
    parentVersion: row.parent_version,
    spec: parse(row.spec),
    status: row.status,
    progress: parse(row.progress) as OptimizeJobRecord['progress'],
    result: parse(row.report) as EvaluatedCandidate | null,
    resultVersion: row.result_version,
    error: row.error,
    errorCode: row.error_code,
    actor: row.actor,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}
