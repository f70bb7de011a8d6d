import { sql, type Insertable, type Kysely, type Transaction } from 'kysely';
import { SlipwayError } from '../../core/errors.js';
import type { Database } from '../../store/database.js';
import type { DatabaseSchema, FeatureDefinitionTable } from '../../store/schema.js';
import { planApply, serviceVersionChanged, type ApplyPlan } from './plan.js';
import type {
  AppliedDefinitions,
  EntityDefinition,
  FeatureDefinitions,
  ServiceDefinition,
  StoredService,
  ViewDefinition,
} from './types.js';

type Db = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

/** One finished materialization run of one view. */
export interface MaterializationRun {
  readonly view: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly rows: number;
  readonly finishedAt: string;
}

/**
 * Feature definitions and materialization runs in the metadata database (migration 0006), on
 * SQLite and PostgreSQL alike. `apply` re-plans inside its transaction, so two concurrent applies
 * cannot both pass the in-use checks against a state the other one changed.
 */
export class FeatureDefinitionsStore {
  constructor(private readonly database: Database) {}

  async load(db: Db = this.database.db): Promise<AppliedDefinitions> {
    const rows = await db.selectFrom('feature_definitions').selectAll().orderBy('kind').orderBy('name').execute();
    const entities: EntityDefinition[] = [];
    const views: ViewDefinition[] = [];
    const services: StoredService[] = [];
    for (const row of rows) {
      const spec = JSON.parse(row.spec) as unknown;
      if (row.kind === 'entity') entities.push(spec as EntityDefinition);
      else if (row.kind === 'view') views.push(spec as ViewDefinition);
      else services.push({ ...(spec as ServiceDefinition), version: row.version, updatedAt: row.updated_at });
    }
    return { entities, views, services };
  }

  /**
   * Make the stored definitions equal `desired`, in one transaction. Throws FAILED_PRECONDITION
   * (listing why) when the plan, recomputed inside the transaction, refuses a change.
   */
  async apply(desired: FeatureDefinitions): Promise<ApplyPlan> {
    return this.database.db.transaction().execute(async (trx) => {
      if (this.database.dialect === 'postgres')
        await sql`select pg_advisory_xact_lock(hashtext('slipway.feature_definitions'))`.execute(trx);
      const current = await this.load(trx);
      const plan = planApply(current, desired);
      if (plan.refused.length > 0) throw new SlipwayError('FAILED_PRECONDITION', `refused: ${plan.refused.join('; ')}`);
      const now = new Date().toISOString();
      const oldServices = new Map(current.services.map((s) => [s.name, s]));
      await trx.deleteFrom('feature_definitions').execute();
      const rows: Insertable<FeatureDefinitionTable>[] = [
        ...desired.entities.map((e) => ({
          kind: 'entity' as const,
          name: e.name,
          spec: JSON.stringify(e),
          version: 1,
          updated_at: now,
        })),
        ...desired.views.map((v) => ({
          kind: 'view' as const,
          name: v.name,
          spec: JSON.stringify(v),
          version: 1,
          updated_at: now,
        })),
      ];
      for (const service of desired.services) {
        const old = oldServices.get(service.name);
        const changed = old === undefined || serviceVersionChanged(old, service);
        const last = old === undefined ? await this.#lastServiceVersion(trx, service.name) : old.version;
        const version = changed ? last + 1 : last;
        rows.push({
          kind: 'service',
          name: service.name,
          spec: JSON.stringify(service),
          version,
          updated_at: changed ? now : (old?.updatedAt ?? now),
        });
        if (changed)
          await trx
            .insertInto('feature_service_versions')
            .values({ name: service.name, version, spec: JSON.stringify(service), created_at: now })
            .execute();
      }
      if (rows.length > 0) await trx.insertInto('feature_definitions').values(rows).execute();
      return plan;
    });
  }

  async #lastServiceVersion(db: Db, name: string): Promise<number> {
    const row = await db
      .selectFrom('feature_service_versions')
      .select((eb) => eb.fn.max('version').as('version'))
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(row?.version ?? 0);
  }

  /** Every version a service has had, oldest first. */
  async serviceHistory(name: string): Promise<{ version: number; spec: ServiceDefinition; createdAt: string }[]> {
    const rows = await this.database.db
      .selectFrom('feature_service_versions')
      .selectAll()
      .where('name', '=', name)
      .orderBy('version')
      .execute();
    return rows.map((row) => ({
      version: row.version,
      spec: JSON.parse(row.spec) as ServiceDefinition,
      createdAt: row.created_at,
    }));
  }

  async recordMaterialization(run: Omit<MaterializationRun, 'finishedAt'>): Promise<void> {
    await this.database.db
      .insertInto('feature_materializations')
      .values({
        view: run.view,
        start_ms: run.startMs,
        end_ms: run.endMs,
        rows: run.rows,
        finished_at: new Date().toISOString(),
      })
      .execute();
  }

  /** The end of the latest finished materialization of `view` (epoch ms), or undefined. */
  async watermark(view: string): Promise<number | undefined> {
    const row = await this.database.db
      .selectFrom('feature_materializations')
      .select((eb) => eb.fn.max('end_ms').as('end'))
      .where('view', '=', view)
      .executeTakeFirst();
    return row?.end === null || row?.end === undefined ? undefined : Number(row.end);
  }

  /** Finished runs, newest first. */
  async materializations(view?: string, limit = 50): Promise<MaterializationRun[]> {
    let query = this.database.db.selectFrom('feature_materializations').selectAll().orderBy('id', 'desc').limit(limit);
    if (view !== undefined) query = query.where('view', '=', view);
    return (await query.execute()).map((r) => ({
      view: r.view,
      startMs: Number(r.start_ms),
      endMs: Number(r.end_ms),
      rows: Number(r.rows),
      finishedAt: r.finished_at,
    }));
  }
}
