import { sql } from 'kysely';
import type { Kysely, Selectable, SelectQueryBuilder } from 'kysely';
import type { AliasEvent, VersionRecord } from './types.js';
import type { AliasEventTable, DatabaseSchema, ModelVersionTable } from '../store/schema.js';

/**
 * Queries and row mapping shared by the SQL registry store: the tables' shape stays here, next
 * to the schema, and `registry/sql-registry-store.ts` keeps only the registry's rules.
 */

type Db = Kysely<DatabaseSchema>;

export type VersionRow = Selectable<ModelVersionTable>;

/** Versions of one model, as rows of `v`. */
export function versionsOf(db: Db, model: string) {
  return db
    .selectFrom('model_versions as v')
    .innerJoin('models as m', 'm.id', 'v.model_id')
    .where('m.name', '=', model)
    .selectAll('v');
}

/** Aliases of one model (`a`) joined to the versions they point at (`v`). */
export function aliasesOf(db: Db, model: string) {
  return db
    .selectFrom('aliases as a')
    .innerJoin('models as m', 'm.id', 'a.model_id')
    .innerJoin('model_versions as v', 'v.id', 'a.version_id')
    .where('m.name', '=', model);
}

/** Newest first: semver parts as numbers, so 1.10.0 sorts above 1.9.0; push order breaks prerelease ties. */
export function ordered<DB extends { v: ModelVersionTable }, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB | 'v', O>,
): SelectQueryBuilder<DB, TB | 'v', O> {
  return query
    .orderBy(sql.ref('v.major'), 'desc')
    .orderBy(sql.ref('v.minor'), 'desc')
    .orderBy(sql.ref('v.patch'), 'desc')
    .orderBy(sql.ref('v.id'), 'desc');
}

/** An `alias_events` row as the registry's AliasEvent. */
export function toEvent(model: string, row: Selectable<AliasEventTable>): AliasEvent {
  return {
    model,
    alias: row.alias,
    fromVersion: row.from_version,
    toVersion: row.to_version,
    reason: row.reason,
    at: row.at,
    actor: row.actor ?? null,
  };
}

/** A `model_versions` row as the registry's VersionRecord; `aliases` must come sorted. */
export function toRecord(model: string, row: VersionRow, aliases: string[]): VersionRecord {
  return {
    model,
    version: row.version,
    status: row.status,
    description: row.description,
    signature: parseJson(row.signature),
    artifact: { sha256: row.artifact_sha256, sizeBytes: Number(row.artifact_size), format: row.artifact_format },
    card: row.card,
    metrics: parseJson(row.metrics),
    params: parseJson(row.params),
    tags: parseJson(row.tags),
    lineage: parseJson(row.lineage),
    schemaChange: parseJson(row.schema_change),
    createdAt: row.created_at,
    archivedAt: row.archived_at,
    aliases,
    ...(row.labels === null ? {} : { labels: parseJson<string[]>(row.labels) }),
  };
}

/** The columns were written by JSON.stringify of the typed value, so the cast restores that type. */
function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}
