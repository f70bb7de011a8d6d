import type { Kysely, Selectable } from 'kysely';
import { SlipwayError, notFound } from '../core/errors.js';
import type { Database } from '../store/database.js';
import { isRetryableWriteError } from '../store/database-errors.js';
import type { DatabaseSchema, DeploymentRevisionTable, DeploymentTable } from '../store/schema.js';
import type { DeploymentSpec } from './spec.js';

type Db = Kysely<DatabaseSchema>;

/** Who made a revision. */
export type RevisionSource = 'user' | 'rollback' | 'rollout' | 'experiment';

/** One immutable revision of a deployment: when, why, and the traffic it set. */
export interface Revision {
  readonly deployment: string;
  readonly revision: number;
  readonly spec: DeploymentSpec;
  readonly why: string | null;
  readonly source: RevisionSource;
  /** A rollout's step or an experiment's split: traffic a controller set on its way somewhere. */
  readonly intermediate: boolean;
  readonly createdMs: number;
  /** Who asked for it: a token name, 'anonymous' or 'cli:<user>'; null for a controller's own steps or before the audit trail. */
  readonly actor: string | null;
}

export interface DeploymentRecord {
  readonly name: string;
  readonly model: string;
  readonly activeRevision: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface CommitOptions {
  readonly why?: string | null;
  /** Who asked for it (a principal's name); absent = not known. */
  readonly actor?: string | null;
  readonly source: RevisionSource;
  /** A controller's step on its way somewhere (`rollback` steps over these). */
  readonly intermediate?: boolean;
  /**
   * Commit only while this revision is active (CONFLICT otherwise): a controller that read the
   * deployment before deciding never overwrites a change made since. 0 = the deployment must not exist.
   */
  readonly expectActive?: number;
  readonly now?: number;
}

const MAX_ATTEMPTS = 8;

/**
 * Deployments and their append-only revisions over Kysely (SQLite and PostgreSQL). A commit adds
 * revision n+1 and makes it active in one transaction; the deployment row is locked on
 * PostgreSQL, SQLite's transactions hold the write lock. Nothing is ever updated in place but the
 * pointer to the active revision.
 */
export class SqlDeploymentStore {
  constructor(private readonly database: Database) {}

  private get db(): Db {
    return this.database.db;
  }

  async get(name: string): Promise<DeploymentRecord | undefined> {
    const row = await this.db.selectFrom('deployments').selectAll().where('name', '=', name).executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  async list(): Promise<DeploymentRecord[]> {
    return (await this.db.selectFrom('deployments').selectAll().orderBy('name').execute()).map(toRecord);
  }

  /** Every deployment's active revision number: what servers poll to follow changes (one small read). */
  async activeRevisions(): Promise<Map<string, number>> {
    const rows = await this.db.selectFrom('deployments').select(['name', 'active_revision']).execute();
    return new Map(rows.map((r) => [r.name, Number(r.active_revision)]));
  }

  async revision(name: string, revision: number): Promise<Revision> {
    const row = await this.db
      .selectFrom('deployment_revisions')
      .selectAll()
      .where('deployment', '=', name)
      .where('revision', '=', revision)
      .executeTakeFirst();
    if (row === undefined) throw notFound(`deployment "${name}" has no revision ${revision}`);
    return toRevision(row);
  }

  /** The active revision; NOT_FOUND when the deployment does not exist. */
  async active(name: string): Promise<Revision> {
    const record = await this.get(name);
    if (record === undefined) throw notFound(`deployment "${name}" does not exist`);
    return this.revision(name, record.activeRevision);
  }

  /** Every revision, oldest first. */
  async history(name: string): Promise<Revision[]> {
    const rows = await this.db
      .selectFrom('deployment_revisions')
      .selectAll()
      .where('deployment', '=', name)
      .orderBy('revision')
      .execute();
    return rows.map(toRevision);
  }

  /** Every revision of every deployment serving `model`, oldest first (the per-version traffic history). */
  async historyOfModel(model: string): Promise<Revision[]> {
    const rows = await this.db
      .selectFrom('deployment_revisions')
      .innerJoin('deployments', 'deployments.name', 'deployment_revisions.deployment')
      .selectAll('deployment_revisions')
      .where('deployments.model', '=', model)
      .orderBy('deployment_revisions.created_ms')
      .orderBy('deployment_revisions.revision')
      .execute();
    return rows.map(toRevision);
  }

  /** Add a revision and make it active (creating the deployment at revision 1). */
  async commit(name: string, spec: DeploymentSpec, options: CommitOptions): Promise<Revision> {
    const now = options.now ?? Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(async (trx) => {
          let query = trx.selectFrom('deployments').selectAll().where('name', '=', name);
          if (this.database.supportsRowLocks) query = query.forUpdate();
          const current = await query.executeTakeFirst();
          const active = current === undefined ? 0 : Number(current.active_revision);
          if (options.expectActive !== undefined && options.expectActive !== active) {
            throw new SlipwayError(
              'CONFLICT',
              `deployment "${name}" changed meanwhile (revision ${active}, expected ${options.expectActive}); read it again`,
            );
          }
          if (current !== undefined && current.model !== spec.model) {
            throw new SlipwayError(
              'CONFLICT',
              `deployment "${name}" serves model "${current.model}", not "${spec.model}"; create another deployment`,
            );
          }
          const last = await trx
            .selectFrom('deployment_revisions')
            .select((eb) => eb.fn.max('revision').as('last'))
            .where('deployment', '=', name)
            .executeTakeFirst();
          const revision = Number(last?.last ?? 0) + 1;
          const row = {
            deployment: name,
            revision,
            spec: JSON.stringify(spec),
            why: options.why ?? null,
            source: options.source,
            intermediate: options.intermediate === true ? 1 : 0,
            created_ms: now,
            actor: options.actor ?? null,
          };
          await trx.insertInto('deployment_revisions').values(row).execute();
          const iso = new Date(now).toISOString();
          if (current === undefined) {
            await trx
              .insertInto('deployments')
              .values({ name, model: spec.model, active_revision: revision, created_at: iso, updated_at: iso })
              .execute();
          } else {
            await trx
              .updateTable('deployments')
              .set({ active_revision: revision, updated_at: iso })
              .where('name', '=', name)
              .execute();
          }
          return toRevision(row);
        });
      } catch (error) {
        if (!isRetryableWriteError(error) || attempt >= MAX_ATTEMPTS) {
          if (isRetryableWriteError(error))
            throw new SlipwayError('UNAVAILABLE', `deployment "${name}" is being changed by someone else; try again`, {
              cause: error,
              retryAfterSeconds: 1,
            });
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, attempt * (5 + Math.random() * 20)));
      }
    }
  }

  /** Remove a deployment with its history and statistics (the model's versions stay). */
  async delete(name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const gone = await trx.deleteFrom('deployments').where('name', '=', name).executeTakeFirst();
      for (const table of [
        'deployment_revisions',
        'deployment_stats',
        'shadow_results',
        'shadow_drops',
        'rollouts',
        'experiments',
      ] as const) {
        await trx.deleteFrom(table).where('deployment', '=', name).execute();
      }
      return Number(gone.numDeletedRows) > 0;
    });
  }
}

function toRecord(row: Selectable<DeploymentTable>): DeploymentRecord {
  return {
    name: row.name,
    model: row.model,
    activeRevision: Number(row.active_revision),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toRevision(
  row:
    | Selectable<DeploymentRevisionTable>
    | {
        deployment: string;
        revision: number;
        spec: string;
        why: string | null;
        source: string;
        intermediate: number;
        created_ms: number | string;
        actor: string | null;
      },
): Revision {
  return {
    deployment: row.deployment,
    revision: Number(row.revision),
    spec: JSON.parse(row.spec) as DeploymentSpec,
    why: row.why,
    source: row.source as RevisionSource,
    intermediate: Number(row.intermediate) === 1,
    createdMs: Number(row.created_ms),
    actor: row.actor ?? null,
  };
}
