import type { Signature } from '../tensor/datatypes.js';

/** Semver bump levels, from the smallest to the largest. */
export type Bump = 'patch' | 'minor' | 'major';

export type Side = 'input' | 'output';

/** One difference between two signatures, classified for semver. */
export interface SchemaDifference {
  readonly kind:
    'removed' | 'added' | 'renamed' | 'datatype-changed' | 'rank-changed' | 'dimension-changed' | 'optionality-changed';
  readonly side: Side;
  /** The tensor's name (the old name for `renamed`). */
  readonly name: string;
  /** `breaking` requires a MAJOR bump, `compatible` at least MINOR. */
  readonly severity: 'breaking' | 'compatible';
  readonly before: string | null;
  readonly after: string | null;
  /** One human sentence: what changed and why it is (or is not) breaking. */
  readonly message: string;
}

/** What was decided when a version was pushed, kept with the version for `show`. */
export interface SchemaChange {
  /** null for the first version of a model. */
  readonly comparedTo: string | null;
  readonly requiredBump: Bump | null;
  readonly appliedBump: Bump | 'initial';
  readonly differences: readonly SchemaDifference[];
}

export interface Lineage {
  readonly sourcePath?: string;
  readonly dataset?: string;
  readonly gitCommit?: string;
  readonly parentVersion?: string;
  /** The optimization passes that made this version from `parentVersion` (optimize/), in order. */
  readonly passes?: readonly string[];
  /** The continuous-training pipeline and run that produced this version (pipelines/). */
  readonly pipeline?: string;
  readonly run?: string;
  /** sha256 of the run's training data (its split files). */
  readonly dataSha256?: string;
}

export interface ArtifactRef {
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly format: 'onnx';
}

export type VersionStatus = 'active' | 'archived';

/** An immutable model version (only `status`, `archivedAt` and `aliases` ever change). */
export interface VersionRecord {
  readonly model: string;
  readonly version: string;
  readonly status: VersionStatus;
  readonly description: string;
  readonly signature: Signature;
  readonly artifact: ArtifactRef;
  /** Markdown model card. */
  readonly card: string | null;
  readonly metrics: Readonly<Record<string, number>>;
  readonly params: Readonly<Record<string, unknown>>;
  readonly tags: Readonly<Record<string, string>>;
  readonly lineage: Lineage;
  readonly schemaChange: SchemaChange;
  readonly createdAt: string;
  readonly archivedAt: string | null;
  /** Aliases that currently point at this version, sorted. */
  readonly aliases: readonly string[];
  /**
   * Class labels, index = class index, set at push only (a `--labels` file, else the ONNX file:
   * registry/labels.ts). They apply to the outputs whose last dimension equals their count; absent = none.
   */
  readonly labels?: readonly string[];
}

export interface ModelSummary {
  readonly name: string;
  readonly description: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Highest semver among active versions, null when none. */
  readonly latestVersion: string | null;
  readonly versionCount: number;
  /** alias -> version */
  readonly aliases: Readonly<Record<string, string>>;
}

/** One move of an alias. `fromVersion` null = created; `toVersion` null = removed. */
export interface AliasEvent {
  readonly model: string;
  readonly alias: string;
  readonly fromVersion: string | null;
  readonly toVersion: string | null;
  readonly reason: string | null;
  readonly at: string;
  /** Who moved it: a token name, 'anonymous' or 'cli:<user>'; null when not recorded (before the audit trail). */
  readonly actor: string | null;
}

/** Everything about a new version except its number, which the store decides under a lock. */
export interface VersionDraft extends Pick<
  VersionRecord,
  'model' | 'description' | 'signature' | 'artifact' | 'card' | 'metrics' | 'params' | 'tags' | 'lineage' | 'labels'
> {
  /** Used to create the model when it is new; ignored otherwise. */
  readonly modelDescription?: string;
}

/** Decides the version number of a draft, given the model's newest version (by semver) and every number taken. */
export type VersionPlanner = (
  newest: VersionRecord | undefined,
  taken: ReadonlySet<string>,
) => { readonly version: string; readonly schemaChange: SchemaChange };
