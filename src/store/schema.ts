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
  predictions: PredictionTable;
  feedback: FeedbackTable;
  // --- alerts (migration 0004) ---
  alert_rules: AlertRuleTable;
  alert_events: AlertEventTable;
  // --- drift (migration 0005) ---
  reference_profiles: ReferenceProfileTable;
  drift_results: DriftResultTable;
  drift_settings: DriftSettingsTable;
  // --- feature store (migration 0006) ---
  feature_definitions: FeatureDefinitionTable;
  feature_service_versions: FeatureServiceVersionTable;
  feature_materializations: FeatureMaterializationTable;
  // --- batch scoring jobs (migration 0007) ---
  batch_jobs: BatchJobTable;

  deployments: DeploymentTable;
  deployment_revisions: DeploymentRevisionTable;
  deployment_stats: DeploymentStatsTable;
  shadow_results: ShadowResultTable;
  shadow_drops: ShadowDropTable;
  rollouts: ControllerTable;
  experiments: ControllerTable;
  // --- artifact leases (migration 0009) ---
  artifact_leases: ArtifactLeaseTable;
  // --- API tokens (migration 0011) ---
  api_tokens: ApiTokenTable;
  // --- audit trail (migration 0012) ---
  audit_events: AuditEventTable;
  // --- optimization runs (migration 0013) ---
  optimize_jobs: OptimizeJobTable;
  // --- continuous training (migration 0014) ---
  pipeline_definitions: PipelineDefinitionTable;
  pipeline_runs: PipelineRunTable;
  pipeline_trigger_evaluations: PipelineTriggerEvaluationTable;
  // --- artifact blobs as PostgreSQL large objects (migration 0015, PostgreSQL only) ---
  artifact_objects: ArtifactObjectTable;
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
  /** Class labels as a JSON array of strings (migration 0010); null = none. */
  labels: string | null;
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
  /** Who moved it (migration 0012): a token name, 'anonymous' or 'cli:<user>'; null before 0012. */
  actor: ColumnType<string | null, string | null | undefined, string | null>;
}

/** An alert rule (from the API or a rule file) with its current evaluation state. */
export interface AlertRuleTable {
  name: string;
  /** The rule expression as written, e.g. `p99_ms > 50 for 5m`. */
  expr: string;
  /** JSON object: model, version, deployment (each optional). */
  scope: JsonText;
  webhook: string | null;
  severity: 'info' | 'warning' | 'critical';
  description: string | null;
  /** 1 = evaluated, 0 = disabled (an integer on both dialects). */
  enabled: number;
  /** `file` rules are synced from the rule file and read-only through the API. */
  source: 'api' | 'file';
  created_at: Timestamp;
  /** Changes whenever the definition changes; evaluation writes only if it still matches. */
  updated_at: Timestamp;
  state: ColumnType<'ok' | 'pending' | 'firing', 'ok' | 'pending' | 'firing' | undefined, 'ok' | 'pending' | 'firing'>;
  /** When the rule entered `state` (pending: condition first held; firing: it fired). */
  state_since: Timestamp | null;
  last_value: number | null;
  evaluated_at: Timestamp | null;
}

/** One firing or resolution of a rule; kept when the rule is deleted. */
export interface AlertEventTable {
  id: Generated<number>;
  rule: string;
  state: 'firing' | 'resolved';
  value: number;
  threshold: number;
  expr: string;
  severity: 'info' | 'warning' | 'critical';
  description: string | null;
  scope: JsonText;
  /** When the rule fired (for a resolution: when the episode it ends began). */
  starts_at: Timestamp;
  at: Timestamp;
  /** JSON: status, attempts, delivered, lastError, targets; null = only logged. */
  delivery: JsonText | null;
}

/**
 * One logged inference request (monitor/sql-prediction-store.ts). Times are epoch milliseconds in
 * a `bigint`, not ISO text like the rest of this schema: the table takes thousands of rows a second,
 * and an integer is a third of the size and compares as a number in its indexes.
 * PostgreSQL returns `bigint` as a string, hence the `number | string` reads.
 */
export interface PredictionTable {
  /** Assigned in insertion order and never reused (SQLite AUTOINCREMENT, PostgreSQL identity). */
  id: ColumnType<number | string, never, never>;
  request_id: string;
  time_ms: ColumnType<number | string, number, number>;
  deployment: string | null;
  model: string;
  version: string;
  protocol: 'http' | 'grpc';
  latency_ms: number;
  /** Tensor blobs (monitor/tensor-blob.ts). */
  inputs: Uint8Array;
  outputs: Uint8Array;
  /** JSON of a shadow deployment's outputs, when one ran. */
  shadow: JsonText | null;
  /** JSON of the features the request resolved, when any. */
  features: JsonText | null;
}

/** Ground truth for a request, sent after the fact; joined to `predictions` by request id. */
export interface FeedbackTable {
  request_id: string;
  label: string | null;
  value: number | null;
  /** Epoch milliseconds, like `predictions.time_ms`. */
  received_at_ms: ColumnType<number | string, number, number>;
}

/** A version's reference profile for drift (monitor/reference-profiles.ts). */
export interface ReferenceProfileTable {
  model: string;
  version: string;
  source: 'file' | 'served';
  /** The file, or e.g. "first 1000 served requests". */
  source_detail: string;
  /** `bigint`: PostgreSQL returns it as a string. */
  rows: ColumnType<number | string, number, number>;
  /** JSON: { features: ColumnProfile[], outputs: ColumnProfile[] }. */
  profile: JsonText;
  created_at: Timestamp;
}

export interface DriftResultTable {
  id: Generated<number>;
  model: string;
  version: string;
  window: string;
  since_ms: ColumnType<number | string, number, number>;
  until_ms: ColumnType<number | string, number, number>;
  computed_at: Timestamp;
  status: 'ok' | 'not_enough_data' | 'no_reference';
  /** 1 / 0, or null when there was no verdict. */
  drifted: number | null;
  share: number | null;
  /** JSON of the whole DriftReport. */
  report: JsonText;
}

export interface DriftSettingsTable {
  model: string;
  /** JSON: Partial<DriftOptions>. */
  options: JsonText;
  updated_at: Timestamp;
}

/** One applied feature store object (features/definitions). */
export interface FeatureDefinitionTable {
  kind: 'entity' | 'view' | 'service';
  name: string;
  /** JSON of the EntityDefinition / ViewDefinition / ServiceDefinition. */
  spec: JsonText;
  /** Services: 1, 2, ... per change of features or model; entities and views: 1. */
  version: number;
  updated_at: Timestamp;
}

/** Every version a feature service has had. */
export interface FeatureServiceVersionTable {
  name: string;
  version: number;
  spec: JsonText;
  created_at: Timestamp;
}

/** One finished materialization of one view over [start_ms, end_ms]. */
export interface FeatureMaterializationTable {
  id: Generated<number>;
  view: string;
  start_ms: ColumnType<number | string, number, number>;
  end_ms: ColumnType<number | string, number, number>;
  rows: ColumnType<number | string, number, number>;
  finished_at: Timestamp;
}

/** One batch scoring job (batch/job-store.ts). */
export interface BatchJobTable {
  /** Submission order; never exposed. PostgreSQL returns `bigint` as a string. */
  seq: ColumnType<number | string, never, never>;
  /** The job id (also its working folder's name). */
  id: string;
  /** JSON of the BatchJobSpec. */
  spec: JsonText;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  /** 1 once a cancel was asked for while the job ran; the running process polls it. */
  cancel_requested: ColumnType<number, number | undefined, number>;
  /** JSON of the last BatchProgress written (about once a second while running). */
  progress: JsonText | null;
  /** JSON of the BatchSummary, once finished. */
  summary: JsonText | null;
  error: string | null;
  /** How many times a process started it (more than 1 after a resume). */
  attempts: ColumnType<number, number | undefined, number>;
  /** The process running it (`host/pid/random`); null unless running. */
  owner: string | null;
  /** The owner's last sign of life, written with the progress. */
  heartbeat_at: Timestamp | null;
  created_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  updated_at: Timestamp;
}

/** A named endpoint (deploy/); its traffic is the spec of `active_revision`. */
export interface DeploymentTable {
  name: string;
  model: string;
  active_revision: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** Every spec a deployment has had; never updated or deleted. */
export interface DeploymentRevisionTable {
  deployment: string;
  revision: number;
  /** JSON of the DeploymentSpec. */
  spec: JsonText;
  why: string | null;
  /** Who made it: 'user', 'rollback', 'rollout' or 'experiment'. */
  source: string;
  /** 1 for a rollout's steps and an experiment's split, which `rollback` steps over. */
  intermediate: ColumnType<number, number | undefined, number>;
  created_ms: ColumnType<number | string, number, number>;
  /** Who asked for it (migration 0012): a token name, 'anonymous' or 'cli:<user>'; null before 0012 or for the controller's own steps. */
  actor: ColumnType<string | null, string | null | undefined, string | null>;
}

/** One second of one version's traffic in one deployment, as one process saw it. */
export interface DeploymentStatsTable {
  deployment: string;
  version: string;
  slot_ms: ColumnType<number | string, number, number>;
  /** The writing process (`host/pid/random`). */
  source: string;
  requests: number;
  errors: number;
  invalid: number;
  rejected: number;
  /** DDSketch protobuf of the latencies in seconds. */
  latency: Uint8Array;
}

/** A mirrored request: the primary's and the shadow's outputs and how they compare. */
export interface ShadowResultTable {
  id: Generated<number>;
  deployment: string;
  request_id: string;
  time_ms: ColumnType<number | string, number, number>;
  primary_version: string;
  shadow_version: string;
  primary_ms: number;
  shadow_ms: number | null;
  /** 1/0 when both have a label output (classification); null otherwise. */
  agree: number | null;
  abs_diff_mean: number | null;
  abs_diff_max: number | null;
  /** Why the shadow failed; null when it answered. */
  error: string | null;
  primary_outputs: JsonText | null;
  shadow_outputs: JsonText | null;
}

/** Copies a process dropped because its shadow queue was full (a running total per process). */
export interface ShadowDropTable {
  deployment: string;
  shadow_version: string;
  source: string;
  dropped: ColumnType<number | string, number, number>;
  updated_ms: ColumnType<number | string, number, number>;
}

/** A rollout or an experiment (deploy/controller-store.ts). */
export interface ControllerTable {
  id: Generated<number>;
  deployment: string;
  status: string;
  spec: JsonText;
  state: JsonText;
  reason: string | null;
  seq: number;
  started_ms: ColumnType<number | string, number, number>;
  updated_ms: ColumnType<number | string, number, number>;
  finished_ms: ColumnType<number | string | null, number | null, number | null>;
}

/** A push's claim on a blob between writing (or finding) it and committing its version row. */
export interface ArtifactLeaseTable {
  id: string;
  sha256: string;
  expires_at: Timestamp;
  created_at: Timestamp;
}

/** One API token (src/auth/token-store.ts): never the secret, only its salted scrypt hash. */
export interface ApiTokenTable {
  id: string;
  name: string;
  role: string;
  /** JSON array of model-name patterns; null = every model. */
  models: JsonText | null;
  /** base64url salt and scrypt hash of the secret. */
  salt: string;
  hash: string;
  created_at: Timestamp;
  expires_at: Timestamp | null;
  revoked_at: Timestamp | null;
  last_used_at: Timestamp | null;
}

/** One change recorded by the audit trail (src/audit/audit-store.ts). */
export interface AuditEventTable {
  /** Insertion order, never reused; PostgreSQL returns `bigint` as a string. */
  id: ColumnType<number | string, never, never>;
  time_ms: ColumnType<number | string, number, number>;
  /** A token name, 'anonymous' (auth off) or 'cli:<os user>'. */
  actor: string;
  actor_role: string | null;
  /** The client's address (HTTP/gRPC peer); null for CLI commands. */
  address: string | null;
  /** e.g. `model.push`, `alias.set`, `deployment.rollback`. */
  action: string;
  /** What it acted on, e.g. `fraud@1.2.0`, `fraud:champion`, deployment `fraud-prod`. */
  target: string | null;
  /** Small JSON object; null = none. */
  details: JsonText | null;
  /** `ok` or the error code (`NOT_FOUND`, `FAILED_PRECONDITION`, ...). */
  outcome: string;
  request_id: string | null;
}

/** One optimize or distill run (optimize/job-store.ts). */
export interface OptimizeJobTable {
  id: string;
  kind: 'optimize' | 'distill';
  model: string;
  /** The resolved parent version (e.g. `1.2.0`). */
  parent_version: string;
  /** JSON of the OptimizeSpec. */
  spec: JsonText;
  status: 'queued' | 'running' | 'succeeded' | 'refused' | 'failed';
  /** JSON `{ message, at }`: the last progress line. */
  progress: JsonText | null;
  /** JSON of the OptimizationReport plus the gate results, once evaluated. */
  report: JsonText | null;
  /** The version it registered; null for a dry run, a refusal or a failure. */
  result_version: string | null;
  error: string | null;
  /** The SlipwayError code of a refusal or failure. */
  error_code: string | null;
  /** The process running it (`host/pid`). */
  owner: string | null;
  /** Who asked for it (a token name or cli:<user>). */
  actor: string | null;
  heartbeat_at: Timestamp | null;
  created_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
}

/** One version of one pipeline definition (pipelines/pipeline-store.ts). */
export interface PipelineDefinitionTable {
  name: string;
  version: number;
  /** JSON of the PipelineSpec. */
  spec: JsonText;
  /** 1 for the latest version of a pipeline in the applied file; 0 for older versions and removed pipelines. */
  active: number;
  created_at: Timestamp;
}

/** One run of a pipeline (pipelines/run-store.ts); at most one `running` per pipeline (partial unique index). */
export interface PipelineRunTable {
  id: string;
  pipeline: string;
  pipeline_version: number;
  status: string;
  step: string;
  /** JSON of the TriggerFiring. */
  trigger: JsonText;
  reason: string | null;
  cancel_requested: number;
  owner: string | null;
  heartbeat_at: Timestamp | null;
  training_pid: number | null;
  /** JSON of DataFingerprint, TrainingOutcome, RunEvaluation, ReleaseOutcome; null until set. */
  data: JsonText | null;
  training: JsonText | null;
  evaluation: JsonText | null;
  champion_version: string | null;
  candidate_version: string | null;
  release: JsonText | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  finished_at: Timestamp | null;
}

/** One evaluation of one trigger; the last 1000 per pipeline are kept. */
export interface PipelineTriggerEvaluationTable {
  id: Generated<number>;
  pipeline: string;
  trig: string;
  at: Timestamp;
  fired: number;
  value: number | null;
  reason: string;
}

/** One artifact blob kept as a PostgreSQL large object (src/registry/artifacts/pg-blob-store.ts). */
export interface ArtifactObjectTable {
  sha256: string;
  oid: number;
  size_bytes: ColumnType<string, number, never>;
  created_at: Timestamp;
}
