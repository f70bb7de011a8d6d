import type { Kysely } from 'kysely';
import semver from 'semver';
import { SlipwayError, invalid, notFound } from '../core/errors.js';
import { checkAliasName } from '../core/names.js';
import type { Database } from '../store/database.js';
import { isRetryableWriteError, isUniqueViolation } from '../store/database-errors.js';
import { aliasesOf, ordered, toEvent, toRecord, versionsOf } from './sql-registry-rows.js';
import type { VersionRow } from './sql-registry-rows.js';
import type { DatabaseSchema } from '../store/schema.js';
import { duplicateArtifactError } from './duplicates.js';
import { collectUnreferenced, consumeLease, insertLease, type ArtifactLease } from './artifact-leases.js';
import type { InsertVersionOptions, RegistryStore } from './registry-store.js';
import type { ServingConfig } from './serving-config.js';
import type { AliasEvent, ModelSummary, VersionDraft, VersionPlanner, VersionRecord } from './types.js';

type Db = Kysely<DatabaseSchema>;

/** `latest` always means the highest active version, so no alias may shadow it. */
const RESERVED_ALIASES = new Set(['latest']);
const MAX_ATTEMPTS = 5;

/**
 * The registry over Kysely, for SQLite and PostgreSQL alike. Every write runs in one transaction
 * that first locks the model row (PostgreSQL `FOR UPDATE`; SQLite's `BEGIN IMMEDIATE` locks the
 * whole file), so pushes, alias moves and archiving of one model serialise; a transaction that
 * still loses a race (unique violation, busy database) is run again from the start.
 *
 * `close()` only marks the store closed: the Database belongs to whoever opened it, who closes it
 * (several stores share one).
 *
 * @example
 * const store = new SqlRegistryStore(await openDatabase({ sqlitePath: 'slipway.db' }));
 */
export class SqlRegistryStore implements RegistryStore {
  readonly #database: Database;
  #closed = false;

  constructor(database: Database) {
    this.#database = database;
  }

  get #db(): Db {
    if (this.#closed) throw new SlipwayError('UNAVAILABLE', 'the registry store is closed');
    return this.#database.db;
  }

  insertVersion(draft: VersionDraft, plan: VersionPlanner, options: InsertVersionOptions = {}): Promise<VersionRecord> {
    return this.#write(async (trx) => {
      if (options.lease !== undefined) await consumeLease(trx, this.#database.dialect, options.lease);
      const now = timestamp();
      await trx
        .insertInto('models')
        .values({ name: draft.model, description: draft.modelDescription ?? '', created_at: now, updated_at: now })
        .onConflict((conflict) => conflict.column('name').doNothing())
        .execute();
      const model = await this.#lockModel(trx, draft.model);
      const existing = await ordered(
        trx.selectFrom('model_versions as v').select(['v.id', 'v.version']).where('v.model_id', '=', model.id),
      ).execute();
      const newest = existing[0] === undefined ? undefined : await this.#record(trx, draft.model, existing[0].id);
      const taken = new Set(existing.map((row) => row.version));
      if (options.refuseDuplicate === true) await refuseDuplicate(trx, model.id, draft);

      const { version, schemaChange } = plan(newest, taken);
      const parsed = semver.parse(version);
      if (parsed === null || parsed.version !== version) throw invalid(`"${version}" is not a semver version`);
      if (taken.has(version))
        throw new SlipwayError('ALREADY_EXISTS', `model "${draft.model}" already has version ${version}`);

      const { id } = await trx
        .insertInto('model_versions')
        .values({
          model_id: model.id,
          version,
          major: parsed.major,
          minor: parsed.minor,
          patch: parsed.patch,
          status: 'active',
          description: draft.description,
          signature: JSON.stringify(draft.signature),
          artifact_sha256: draft.artifact.sha256,
          artifact_size: draft.artifact.sizeBytes,
          artifact_format: draft.artifact.format,
          card: draft.card,
          metrics: JSON.stringify(draft.metrics),
          params: JSON.stringify(draft.params),
          tags: JSON.stringify(draft.tags),
          lineage: JSON.stringify(draft.lineage),
          schema_change: JSON.stringify(schemaChange),
          created_at: now,
          archived_at: null,
          archive_reason: null,
          labels: draft.labels === undefined ? null : JSON.stringify(draft.labels),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await touch(trx, model.id, now);
      return this.#record(trx, draft.model, id);
    });
  }

  async listModels(): Promise<ModelSummary[]> {
    return this.#summaries(undefined);
  }

  async getModel(name: string): Promise<ModelSummary | undefined> {
    return (await this.#summaries(name))[0];
  }

  async getServingConfig(model: string): Promise<ServingConfig | undefined> {
    const row = await this.#db
      .selectFrom('models')
      .select('serving_config')
      .where('name', '=', model)
      .executeTakeFirst();
    return row === undefined ? undefined : (JSON.parse(row.serving_config) as ServingConfig);
  }

  async setServingConfig(model: string, config: ServingConfig): Promise<ServingConfig> {
    const result = await this.#db
      .updateTable('models')
      .set({ serving_config: JSON.stringify(config), updated_at: new Date().toISOString() })
      .where('name', '=', model)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw notFound(`model "${model}" does not exist`);
    return config;
  }

  async listVersions(model: string, options: { includeArchived?: boolean } = {}): Promise<VersionRecord[]> {
    let query = versionsOf(this.#db, model);
    if (options.includeArchived !== true) query = query.where('v.status', '=', 'active');
    return this.#toRecords(this.#db, model, await ordered(query).execute());
  }

  async getVersion(model: string, version: string): Promise<VersionRecord | undefined> {
    const row = await versionsOf(this.#db, model).where('v.version', '=', version).executeTakeFirst();
    return row === undefined ? undefined : (await this.#toRecords(this.#db, model, [row]))[0];
  }

  async latestVersion(model: string, options: { major?: number } = {}): Promise<VersionRecord | undefined> {
    let query = versionsOf(this.#db, model).where('v.status', '=', 'active');
    if (options.major !== undefined) query = query.where('v.major', '=', options.major);
    const row = await ordered(query).limit(1).executeTakeFirst();
    return row === undefined ? undefined : (await this.#toRecords(this.#db, model, [row]))[0];
  }

  async resolveAlias(model: string, alias: string): Promise<string | undefined> {
    const row = await aliasesOf(this.#db, model).where('a.alias', '=', alias).select('v.version').executeTakeFirst();
    return row?.version;
  }

  async setAlias(model: string, alias: string, version: string, reason?: string, actor?: string): Promise<AliasEvent> {
    validateAliasName(alias);
    return await this.#write(async (trx) => {
      const { id: modelId } = await this.#lockModel(trx, model);
      const target = await trx
        .selectFrom('model_versions')
        .select(['id', 'status'])
        .where('model_id', '=', modelId)
        .where('version', '=', version)
        .executeTakeFirst();
      if (target === undefined) throw notFound(`model "${model}" has no version ${version}`);
      if (target.status === 'archived') {
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `version ${version} of "${model}" is archived; an alias can only point at an active version`,
        );
      }
      const current = await aliasesOf(trx, model).where('a.alias', '=', alias).select('v.version').executeTakeFirst();
      const now = timestamp();
      await trx
        .insertInto('aliases')
        .values({ model_id: modelId, alias, version_id: target.id, updated_at: now })
        .onConflict((conflict) =>
          conflict.columns(['model_id', 'alias']).doUpdateSet({ version_id: target.id, updated_at: now }),
        )
        .execute();
      return recordEvent(trx, {
        modelId,
        model,
        alias,
        fromVersion: current?.version ?? null,
        toVersion: version,
        reason,
        at: now,
        actor,
      });
    });
  }

  removeAlias(model: string, alias: string, reason?: string, actor?: string): Promise<AliasEvent> {
    return this.#write(async (trx) => {
      const { id: modelId } = await this.#lockModel(trx, model);
      const current = await aliasesOf(trx, model).where('a.alias', '=', alias).select('v.version').executeTakeFirst();
      if (current === undefined) throw notFound(`model "${model}" has no alias ${alias}`);
      await trx.deleteFrom('aliases').where('model_id', '=', modelId).where('alias', '=', alias).execute();
      return recordEvent(trx, {
        modelId,
        model,
        alias,
        fromVersion: current.version,
        toVersion: null,
        reason,
        at: timestamp(),
        actor,
      });
    });
  }

  async aliasHistory(model: string, alias?: string): Promise<AliasEvent[]> {
    let query = this.#db
      .selectFrom('alias_events as e')
      .innerJoin('models as m', 'm.id', 'e.model_id')
      .where('m.name', '=', model)
      .selectAll('e')
      .orderBy('e.id');
    if (alias !== undefined) query = query.where('e.alias', '=', alias);
    return (await query.execute()).map((row) => toEvent(model, row));
  }

  async archiveVersion(
    model: string,
    version: string,
    options: { reason?: string; inUse?: (model: string, version: string) => Promise<string[]> } = {},
  ): Promise<VersionRecord> {
    const before = await this.getVersion(model, version);
    if (before === undefined) throw notFound(`model "${model}" has no version ${version}`);
    if (before.status === 'archived') return before;
    // Asked before the transaction: `inUse` may query this same database, and SQLite has one connection.
    const users = options.inUse === undefined ? [] : await options.inUse(model, version);
    return this.#write(async (trx) => {
      const { id: modelId } = await this.#lockModel(trx, model);
      const row = await trx
        .selectFrom('model_versions')
        .select('id')
        .where('model_id', '=', modelId)
        .where('version', '=', version)
        .executeTakeFirstOrThrow();
      const aliases = (
        await trx.selectFrom('aliases').select('alias').where('version_id', '=', row.id).orderBy('alias').execute()
      ).map((alias) => alias.alias);
      if (aliases.length > 0) {
        const names = `${aliases.length === 1 ? 'alias' : 'aliases'} ${aliases.join(', ')}`;
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `version ${version} of "${model}" is used by ${names}; move or remove the ${aliases.length === 1 ? 'alias' : 'aliases'} first`,
          {
            details: { aliases },
          },
        );
      }
      if (users.length > 0) {
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `version ${version} of "${model}" is used by ${users.join(', ')}; stop using it first`,
          {
            details: { usedBy: users },
          },
        );
      }
      const now = timestamp();
      await trx
        .updateTable('model_versions')
        .set({ status: 'archived', archived_at: now, archive_reason: options.reason ?? null })
        .where('id', '=', row.id)
        .where('status', '=', 'active')
        .execute();
      await touch(trx, modelId, now);
      return this.#record(trx, model, row.id);
    });
  }

  leaseArtifact(sha256: string, ttlMs: number): Promise<ArtifactLease> {
    return this.#write((trx) => insertLease(trx, this.#database.dialect, sha256, ttlMs));
  }

  collectArtifacts(
    candidates: readonly string[],
    remove: (sha256: string) => Promise<void>,
    options: { release?: ArtifactLease } = {},
  ): Promise<string[]> {
    return this.#write((trx) => collectUnreferenced(trx, this.#database.dialect, candidates, remove, options));
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** Run `work` in a transaction, again from the start when it lost a race to another writer. */
  async #write<T>(work: (trx: Db) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#db.transaction().execute(work);
      } catch (error) {
        if (!isRetryableWriteError(error)) throw error;
        if (attempt >= MAX_ATTEMPTS) {
          throw isUniqueViolation(error)
            ? new SlipwayError('ALREADY_EXISTS', 'concurrent writers kept taking the same version number; try again', {
                cause: error,
              })
            : new SlipwayError('UNAVAILABLE', 'the registry database is busy; try again', {
                cause: error,
                retryAfterSeconds: 1,
              });
        }
        await new Promise((resolve) => setTimeout(resolve, attempt * (5 + Math.random() * 20)));
      }
    }
  }

  /** The model row, locked for the rest of the transaction where the database has row locks. */
  async #lockModel(trx: Db, name: string): Promise<{ id: number }> {
    let query = trx.selectFrom('models').select('id').where('name', '=', name);
    if (this.#database.supportsRowLocks) query = query.forUpdate();
    const model = await query.executeTakeFirst();
    if (model === undefined) throw notFound(`model "${name}" does not exist`);
    return model;
  }

  async #record(db: Db, model: string, versionId: number): Promise<VersionRecord> {
    const row = await db.selectFrom('model_versions').selectAll().where('id', '=', versionId).executeTakeFirstOrThrow();
    const [record] = await this.#toRecords(db, model, [row]);
    if (record === undefined) throw new SlipwayError('INTERNAL', `version row ${versionId} vanished`);
    return record;
  }

  async #toRecords(db: Db, model: string, rows: readonly VersionRow[]): Promise<VersionRecord[]> {
    if (rows.length === 0) return [];
    const aliases = await aliasesOf(db, model)
      .where(
        'a.version_id',
        'in',
        rows.map((row) => row.id),
      )
      .select(['a.alias', 'a.version_id'])
      .orderBy('a.alias')
      .execute();
    return rows.map((row) =>
      toRecord(
        model,
        row,
        aliases.filter((alias) => alias.version_id === row.id).map((alias) => alias.alias),
      ),
    );
  }

  async #summaries(name: string | undefined): Promise<ModelSummary[]> {
    const db = this.#db;
    let models = db.selectFrom('models').selectAll().orderBy('name');
    let versions = ordered(
      db
        .selectFrom('model_versions as v')
        .innerJoin('models as m', 'm.id', 'v.model_id')
        .select(['v.model_id', 'v.version', 'v.status']),
    );
    let aliases = db
      .selectFrom('aliases as a')
      .innerJoin('models as m', 'm.id', 'a.model_id')
      .innerJoin('model_versions as v', 'v.id', 'a.version_id')
      .select(['a.model_id', 'a.alias', 'v.version'])
      .orderBy('a.alias');
    if (name !== undefined) {
      models = models.where('name', '=', name);
      versions = versions.where('m.name', '=', name);
      aliases = aliases.where('m.name', '=', name);
    }
    const [modelRows, versionRows, aliasRows] = await Promise.all([
      models.execute(),
      versions.execute(),
      aliases.execute(),
    ]);
    return modelRows.map((model) => {
      const own = versionRows.filter((row) => row.model_id === model.id);
      return {
        name: model.name,
        description: model.description,
        createdAt: model.created_at,
        updatedAt: model.updated_at,
        latestVersion: own.find((row) => row.status === 'active')?.version ?? null,
        versionCount: own.length,
        aliases: Object.fromEntries(
          aliasRows.filter((row) => row.model_id === model.id).map((row) => [row.alias, row.version]),
        ),
      };
    });
  }
}

function validateAliasName(alias: string): void {
  checkAliasName(alias);
  if (RESERVED_ALIASES.has(alias.toLowerCase())) throw invalid(`alias "${alias}" is reserved`);
  if (semver.valid(alias, { loose: true }) !== null) throw invalid(`alias "${alias}" looks like a version number`);
}

/** The first version of the model with this artifact, if any, refuses the insert (registry/duplicates.ts). */
async function refuseDuplicate(trx: Db, modelId: number, draft: VersionDraft): Promise<void> {
  const same = await trx
    .selectFrom('model_versions')
    .select(['version', 'status'])
    .where('model_id', '=', modelId)
    .where('artifact_sha256', '=', draft.artifact.sha256)
    .orderBy('id')
    .executeTakeFirst();
  if (same !== undefined) throw duplicateArtifactError(draft.model, same, draft.artifact.sha256);
}

async function touch(trx: Db, modelId: number, now: string): Promise<void> {
  await trx.updateTable('models').set({ updated_at: now }).where('id', '=', modelId).execute();
}

async function recordEvent(
  trx: Db,
  event: {
    modelId: number;
    model: string;
    alias: string;
    fromVersion: string | null;
    toVersion: string | null;
    reason: string | undefined;
    at: string;
    actor: string | undefined;
  },
): Promise<AliasEvent> {
  const row = await trx
    .insertInto('alias_events')
    .values({
      model_id: event.modelId,
      alias: event.alias,
      from_version: event.fromVersion,
      to_version: event.toVersion,
      reason: event.reason ?? null,
      at: event.at,
      actor: event.actor ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await touch(trx, event.modelId, event.at);
  return toEvent(event.model, row);
}

function timestamp(): string {
  return new Date().toISOString();
}
