import type { ColumnType, Generated } from 'kysely';

/**
 * Kysely table interfaces: the one typed view of the metadata database, shared by SQLite and
 * PostgreSQL. Timestamps are ISO-8601 UTC strings and JSON columns are text on both dialects,
 * so a record read from either compares equal.
 */
export interface DatabaseSchema {
  models: ModelTable;
  model_versions: ModelVersionTable;
  aliases: AliasTable;
  alias_events: AliasEventTable;
  // --- prediction log (migration 0003) ---
  // --- alerts (migration 0004) ---
  // --- drift (migration 0005) ---
}

/** An ISO-8601 UTC timestamp, e.g. `2024-05-01T12:00:00.000Z`. */
export type Timestamp = string;

/** JSON text written with `JSON.stringify`. */
export type JsonText = string;

export interface ModelTable {
  id: Generated<number>;
  name: string;
  description: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** JSON object of serving settings (see registry/serving-config.ts); '{}' = defaults. */
  serving_config: Generated<string>;
}

export interface ModelVersionTable {
  id: Generated<number>;
  model_id: number;
  version: string;
  /** Numeric semver parts, so versions sort as numbers (1.10.0 above 1.9.0). */
  major: number;
  minor: number;
  patch: number;
  status: 'active' | 'archived';
  description: string;
  signature: JsonText;
  artifact_sha256: string;
  /** `bigint` column: PostgreSQL returns it as a string. */
  artifact_size: ColumnType<number | string, number, number>;
  artifact_format: 'onnx';
  card: string | null;
  metrics: JsonText;
  params: JsonText;
  tags: JsonText;
  lineage: JsonText;
  schema_change: JsonText;
  created_at: Timestamp;
  archived_at: Timestamp | null;
  archive_reason: string | null;
}

export interface AliasTable {
  model_id: number;
  alias: string;
  version_id: number;
  updated_at: Timestamp;
}

export interface AliasEventTable {
  id: Generated<number>;
  model_id: number;
  alias: string;
  /** Version strings, kept as text so the history survives whatever happens to the versions. */
  from_version: string | null;
  to_version: string | null;
  reason: string | null;
  at: Timestamp;
}
