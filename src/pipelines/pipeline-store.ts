import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { SlipwayError, notFound } from '../core/errors.js';
import type { Database } from '../store/database.js';
import type { DatabaseSchema, PipelineDefinitionTable } from '../store/schema.js';
import { plan, type PipelinePlan } from './definitions/plan.js';
import type { PipelineSpec, StoredPipeline, TriggerEvaluation } from './types.js';

type Db = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

/** Trigger evaluations kept per pipeline; older ones are deleted as new ones arrive. */
export const MAX_EVALUATIONS_PER_PIPELINE = 1000;

/** What an apply planned and, unless it was a dry run, stored: every active pipeline afterwards. */
export interface PipelineApplyResult {
  readonly plan: PipelinePlan;
  readonly applied: readonly StoredPipeline[];
}

/**
 * Pipeline definitions (migration 0014): each apply that changes a pipeline stores a new version;
 * the latest version of each pipeline in the file is active, and a pipeline left out of the file is
 * deactivated (kept, with its runs). Also the trigger loop's recent evaluations, for `pipelines show`.
 */
export class SqlPipelineStore {
  readonly #database: Database;

  constructor(database: Database) {
    this.#database = database;
  }

  /**
   * Make the active pipelines equal `specs`, in one transaction (planned inside it). Refuses,
   * FAILED_PRECONDITION naming it, to remove a pipeline that has a running run.
   */
  async apply(specs: readonly PipelineSpec[], options: { dryRun?: boolean } = {}): Promise<PipelineApplyResult> {
    return this.#database.db.transaction().execute(async (trx) => {
      if (this.#database.dialect === 'postgres')
        await sql`select pg_advisory_xact_lock(hashtext('slipway.pipeline_definitions'))`.execute(trx);
      const current = await this.#latest(trx);
      const pipelinePlan = plan(current, specs);
      if (pipelinePlan.removed.length > 0) {
        const running = await trx
          .selectFrom('pipeline_runs')
          .select(['pipeline', 'id'])
          .where('status', '=', 'running')
          .where('pipeline', 'in', pipelinePlan.removed)
          .execute();
        if (running.length > 0)
          throw new SlipwayError(
            'FAILED_PRECONDITION',
            `cannot remove ${running.map((r) => `pipeline "${r.pipeline}" (run ${r.id} is running)`).join(', ')}: cancel the run or wait for it to finish`,
          );
      }
      if (options.dryRun === true) return { plan: pipelinePlan, applied: current.filter((p) => p.active) };
      const now = new Date().toISOString();
      const latest = new Map(current.map((p) => [p.name, p]));
      const changed = new Set([...pipelinePlan.changed.map((c) => c.name), ...pipelinePlan.added]);
      for (const spec of specs) {
        const before = latest.get(spec.name);
        if (!changed.has(spec.name)) continue;
        await trx
          .updateTable('pipeline_definitions')
          .set({ active: 0 })
          .where('name', '=', spec.name)
          .where('active', '=', 1)
          .execute();
        await trx
          .insertInto('pipeline_definitions')
          .values({
            name: spec.name,
            version: (before?.version ?? 0) + 1,
            spec: JSON.stringify(spec),
            active: 1,
            created_at: now,
          })
          .execute();
      }
      if (pipelinePlan.removed.length > 0)
        await trx
          .updateTable('pipeline_definitions')
          .set({ active: 0 })
          .where('name', 'in', pipelinePlan.removed)
          .execute();
      return { plan: pipelinePlan, applied: (await this.#latest(trx)).filter((p) => p.active) };
    });
  }

  /** The active definition of `name`; NOT_FOUND naming it when there is none (never applied, or removed). */
  async get(name: string): Promise<StoredPipeline> {
    const row = await this.#database.db
      .selectFrom('pipeline_definitions')
      .selectAll()
      .where('name', '=', name)
      .where('active', '=', 1)
      .executeTakeFirst();
    if (row === undefined) throw notFound(`pipeline "${name}" does not exist (apply a pipelines file that defines it)`);
    return toStored(row);
  }

  /** One stored version (a run keeps the version it started with); NOT_FOUND naming both. */
  async version(name: string, version: number): Promise<StoredPipeline> {
    const row = await this.#database.db
      .selectFrom('pipeline_definitions')
      .selectAll()
      .where('name', '=', name)
      .where('version', '=', version)
      .executeTakeFirst();
    if (row === undefined) throw notFound(`pipeline "${name}" has no version ${version}`);
    return toStored(row);
  }

  /** The active pipelines, by name. */
  async list(): Promise<StoredPipeline[]> {
    const rows = await this.#database.db
      .selectFrom('pipeline_definitions')
      .selectAll()
      .where('active', '=', 1)
      .orderBy('name')
      .execute();
    return rows.map(toStored);
  }

  /** Keep trigger evaluations, then trim each pipeline they name to its last MAX_EVALUATIONS_PER_PIPELINE. */
  async recordEvaluations(evaluations: readonly TriggerEvaluation[]): Promise<void> {
    if (evaluations.length === 0) return;
    await this.#database.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('pipeline_trigger_evaluations')
        .values(
          evaluations.map((e) => ({
            pipeline: e.pipeline,
            trig: e.trigger,
            at: e.at,
            fired: e.fired ? 1 : 0,
            value: e.value,
            reason: e.reason,
          })),
        )
        .execute();
      for (const pipeline of new Set(evaluations.map((e) => e.pipeline))) {
        const cutoff = await trx
          .selectFrom('pipeline_trigger_evaluations')
          .select('id')
          .where('pipeline', '=', pipeline)
          .orderBy('id', 'desc')
          .offset(MAX_EVALUATIONS_PER_PIPELINE - 1)
          .limit(1)
          .executeTakeFirst();
        if (cutoff !== undefined)
          await trx
            .deleteFrom('pipeline_trigger_evaluations')
            .where('pipeline', '=', pipeline)
            .where('id', '<', cutoff.id)
            .execute();
      }
    });
  }

  /** The latest evaluations of one pipeline's triggers, newest first. */
  async evaluations(pipeline: string, limit = 50): Promise<TriggerEvaluation[]> {
    const rows = await this.#database.db
      .selectFrom('pipeline_trigger_evaluations')
      .selectAll()
      .where('pipeline', '=', pipeline)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((row) => ({
      pipeline: row.pipeline,
      trigger: row.trig as TriggerEvaluation['trigger'],
      at: row.at,
      fired: Number(row.fired) === 1,
      value: row.value === null ? null : Number(row.value),
      reason: row.reason,
    }));
  }

  /** The latest version of every pipeline ever applied, active or not. */
  async #latest(db: Db): Promise<StoredPipeline[]> {
    const rows = await db
      .selectFrom('pipeline_definitions as d')
      .selectAll()
      .where((eb) =>
        eb(
          'd.version',
          '=',
          eb
            .selectFrom('pipeline_definitions as o')
            .select((o) => o.fn.max('o.version').as('v'))
            .whereRef('o.name', '=', 'd.name'),
        ),
      )
      .orderBy('d.name')
      .execute();
    return rows.map(toStored);
  }
}

function toStored(row: Selectable<PipelineDefinitionTable>): StoredPipeline {
  return {
    name: row.name,
    version: Number(row.version),
    spec: JSON.parse(row.spec) as PipelineSpec,
    active: Number(row.active) === 1,
    createdAt: row.created_at,
  };
}
