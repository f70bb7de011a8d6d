import type { ArtifactLease } from './artifact-leases.js';
import type { ServingConfig } from './serving-config.js';
import type { AliasEvent, ModelSummary, VersionDraft, VersionPlanner, VersionRecord } from './types.js';

/**
 * Persistence for models, versions and aliases. One implementation over Kysely serves SQLite and
 * PostgreSQL; `registry-store.test.ts` runs one contract suite against both.
 *
 * Errors are SlipwayErrors: NOT_FOUND for unknown models/versions, FAILED_PRECONDITION for
 * refused state changes, CONFLICT/ALREADY_EXISTS as thrown by a planner or on a taken number.
 */
export interface RegistryStore {
  /**
   * Record a new version. Inside one transaction that serialises pushes of the same model
   * (row lock on PostgreSQL, a write transaction on SQLite), the store creates the model if
   * needed, reads its newest version and taken numbers, asks `plan` for the number, and
   * inserts. Two concurrent calls for one model never get the same number.
   *
   * `lease` (from `leaseArtifact`) is checked and dropped in that transaction: the new row takes
   * over protecting the blob (UNAVAILABLE if the lease expired). `refuseDuplicate` refuses
   * (ALREADY_EXISTS) when a version of the model already has this artifact digest.
   */
  insertVersion(draft: VersionDraft, plan: VersionPlanner, options?: InsertVersionOptions): Promise<VersionRecord>;
  listModels(): Promise<ModelSummary[]>;
  getModel(name: string): Promise<ModelSummary | undefined>;
  /** Newest first (by semver). Archived versions only when asked. */
  listVersions(model: string, options?: { includeArchived?: boolean }): Promise<VersionRecord[]>;
  getVersion(model: string, version: string): Promise<VersionRecord | undefined>;
  /** Highest-semver active version; with `major`, the highest active version with that major (Triton-style integer versions). */
  latestVersion(model: string, options?: { major?: number }): Promise<VersionRecord | undefined>;
  resolveAlias(model: string, alias: string): Promise<string | undefined>;
  /** Point (or move) an alias; refused for archived or unknown versions. Records an AliasEvent. */
  setAlias(model: string, alias: string, version: string, reason?: string, actor?: string): Promise<AliasEvent>;
  /** Remove an alias; NOT_FOUND if it does not exist. Records an AliasEvent with toVersion null. */
  removeAlias(model: string, alias: string, reason?: string, actor?: string): Promise<AliasEvent>;
  /** Oldest first. */
  aliasHistory(model: string, alias?: string): Promise<AliasEvent[]>;
  /**
   * Archive a version. Refused (FAILED_PRECONDITION) while an alias points at it or
   * `inUse` (deployments, later) says it is used; the message names who uses it.
   */
  archiveVersion(
    model: string,
    version: string,
    options?: { reason?: string; inUse?: (model: string, version: string) => Promise<string[]> },
  ): Promise<VersionRecord>;
  /** A model's stored serving settings; undefined when the model does not exist. */
  getServingConfig(model: string): Promise<ServingConfig | undefined>;
  /** Replace a model's serving settings (NOT_FOUND for an unknown model). */
  setServingConfig(model: string, config: ServingConfig): Promise<ServingConfig>;
  /** Claim a digest before its blob is written or reused, so the collector keeps the blob (registry/artifact-leases.ts). */
  leaseArtifact(sha256: string, ttlMs: number): Promise<ArtifactLease>;
  /**
   * Under the exclusive artifact lock: drop `release` and expired leases, then `remove` each
   * candidate digest no version (archived or not) and no live lease names. Returns those removed.
   */
  collectArtifacts(
    candidates: readonly string[],
    remove: (sha256: string) => Promise<void>,
    options?: { release?: ArtifactLease },
  ): Promise<string[]>;
  close(): Promise<void>;
}

export interface InsertVersionOptions {
  readonly lease?: ArtifactLease;
  readonly refuseDuplicate?: boolean;
}
