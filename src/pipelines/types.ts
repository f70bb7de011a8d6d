/**
 * The pipelines module's shared vocabulary (issue 17): a continuous-training pipeline as applied
 * from YAML, its triggers, and one run's durable record as it moves through its steps.
 */
import type { GateResult, OptimizationReport } from '../optimize/types.js';

/** When a pipeline runs. Each is evaluated by the trigger loop; `manual` only by `slipway pipeline run`. */
export type TriggerSpec =
  /** Cron syntax (5 or 6 fields) in an IANA time zone (default UTC). */
  | { readonly kind: 'schedule'; readonly cron: string; readonly timezone: string }
  /**
   * Dataset drift on the version the deployment (or the model's `champion`, else `latest`) serves,
   * over `windowMs`; with `features`, drift of any of those features instead of the dataset verdict.
   */
  | { readonly kind: 'drift'; readonly windowMs: number; readonly features?: readonly string[] }
  /** A metric from feedback (accuracy, f1, auc, mae, rmse, ...) below (or for errors above) a threshold over a window. */
  | {
      readonly kind: 'performance';
      readonly metric: string;
      readonly op: '<' | '<=' | '>' | '>=';
      readonly threshold: number;
      readonly windowMs: number;
      /** Fewer feedback rows than this in the window: not evaluated (default 30). */
      readonly minRows: number;
    }
  /** At least `count` new feedback rows for the model since the last run started. */
  | { readonly kind: 'labels'; readonly count: number }
  | { readonly kind: 'manual' };

/** Where the labels come from. */
export type LabelSource =
  /** Feedback joined to the logged requests by request id: the logged inputs and the true label. */
  | { readonly kind: 'feedback' }
  /** A table of entity keys, event timestamps and labels; features joined point-in-time from `featureService`. */
  | {
      readonly kind: 'file';
      readonly path: string;
      readonly timestampColumn: string;
      readonly labelColumn: string;
    };

export interface DataSpec {
  /** Features joined point-in-time (required for a `file` label source). */
  readonly featureService?: string;
  readonly labels: LabelSource;
  /** Rows with event times in the last `windowMs` before the run. */
  readonly windowMs: number;
  /** Shares by event time, oldest rows to train, newest to test (sum 1). */
  readonly split: { readonly train: number; readonly validation: number; readonly test: number };
  /** The label's column name in the split files (default `label`). */
  readonly labelColumn: string;
}

export interface TrainSpec {
  /** argv; a string is split on whitespace (no shell). */
  readonly command: readonly string[];
  /** Relative to the folder of the YAML file it was applied from. */
  readonly workdir: string;
  readonly timeoutMs: number;
  readonly env: Readonly<Record<string, string>>;
}

export type ReleaseSpec =
  | { readonly kind: 'none' }
  | { readonly kind: 'alias'; readonly alias: string }
  | { readonly kind: 'shadow'; readonly durationMs: number }
  | {
      readonly kind: 'rollout';
      readonly steps: readonly number[];
      readonly intervalMs: number;
      /** As `slipway rollout --gate`, e.g. `error_rate<0.01`. */
      readonly gates: readonly string[];
    }
  | { readonly kind: 'experiment'; readonly metric: string; readonly autoPromote: boolean };

export interface PipelineSpec {
  readonly name: string;
  readonly model: string;
  /** The deployment the model feeds: where releases go and whose serving version drift watches. */
  readonly deployment?: string;
  readonly triggers: readonly TriggerSpec[];
  /** No new run sooner than this after the last one started (default 1 h). */
  readonly minIntervalMs: number;
  readonly data: DataSpec;
  readonly train: TrainSpec;
  /**
   * Gates on the test split, candidate vs champion, computed by Slipway: `accuracy >= champion - 0.005`,
   * `auc >= 0.8`, `p99_ms <= 20`, `agreement >= 0.9` (see pipelines/evaluate).
   */
  readonly evaluate: { readonly gates: readonly string[] };
  readonly release: ReleaseSpec;
  /** Register a candidate whose schema needs a major bump (default false: such a run stops before release). */
  readonly allowMajor: boolean;
  /** An http(s) webhook that receives every run transition as JSON (through the alert webhooks' policy and retries). */
  readonly notify?: string;
}

/** A stored definition: each apply that changes it makes a new version. */
export interface StoredPipeline {
  readonly name: string;
  readonly version: number;
  readonly spec: PipelineSpec;
  /** False once deleted from the YAML and applied (kept for its runs' history). */
  readonly active: boolean;
  readonly createdAt: string;
}

/** A run's steps in order; a restarted run continues at its step. */
export const RUN_STEPS = ['pending', 'building-data', 'training', 'evaluating', 'registering', 'releasing'] as const;
export type RunStep = (typeof RUN_STEPS)[number];

/** `stopped`: a gate, a schema break or a release check said no (not an error); `cancelled`: by hand. */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'stopped' | 'cancelled';

/** Why a run started. */
export interface TriggerFiring {
  readonly kind: TriggerSpec['kind'];
  /** One sentence: `dataset drift 0.62 of features drifted (threshold 0.5) on fraud@1.2.0 over 1h`. */
  readonly reason: string;
  /** The measured value that fired it, when there is one. */
  readonly value?: number;
}

/** One evaluation of one trigger, fired or not, kept for `slipway pipelines show`. */
export interface TriggerEvaluation {
  readonly pipeline: string;
  readonly trigger: TriggerSpec['kind'];
  readonly at: string;
  readonly fired: boolean;
  readonly value: number | null;
  /** Why it fired or why not (`12 new labels, needs 100`, `min interval: last run 20m ago`). */
  readonly reason: string;
}

/** What a run trained and evaluated on. */
export interface DataFingerprint {
  readonly rows: number;
  readonly splits: { readonly train: number; readonly validation: number; readonly test: number };
  /** Event times of the first and last row (ISO). */
  readonly from: string;
  readonly to: string;
  /** sha256 over the three split files' bytes, in order. */
  readonly sha256: string;
  /** The split files (Parquet) in the run's folder. */
  readonly files: { readonly train: string; readonly validation: string; readonly test: string };
  /** The columns feeding the model, and the label's. */
  readonly featureColumns: readonly string[];
  readonly labelColumn: string;
}

export interface TrainingOutcome {
  readonly command: readonly string[];
  readonly workdir: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly durationMs: number;
  /** `git rev-parse HEAD` of the working folder, when it is in a git repository. */
  readonly gitCommit: string | null;
  /** The ONNX the command wrote, when it did. */
  readonly candidatePath: string | null;
}

export interface RunEvaluation {
  /** The champion's version; null when there was none to compare with (first training, or an allowed signature change). */
  readonly champion: string | null;
  readonly report: OptimizationReport;
  readonly gates: readonly GateResult[];
  readonly passed: boolean;
}

export interface ReleaseOutcome {
  readonly kind: ReleaseSpec['kind'];
  /** One sentence: `rollout started on fraud-live: 10, 50, 100 every 5m`, `alias staging -> 1.3.0`. */
  readonly summary: string;
  /** When the release started (ISO): a shadow ends `durationMs` after it. */
  readonly startedAt?: string;
  /** The deployment a shadow, rollout or experiment runs on. */
  readonly deployment?: string;
  readonly candidate?: string;
  readonly champion?: string;
  /** The rollout's or experiment's id (src/deploy/controller-store.ts), followed by pipelines/release/release-candidate.ts. */
  readonly controllerId?: number;
}

export interface RunRecord {
  readonly id: string;
  readonly pipeline: string;
  readonly pipelineVersion: number;
  readonly status: RunStatus;
  readonly step: RunStep;
  readonly trigger: TriggerFiring;
  /** Why it failed, stopped or was cancelled (naming the step); null while running or on success. */
  readonly reason: string | null;
  readonly cancelRequested: boolean;
  /** The process advancing it (`host/pid/random`), null when none; with a heartbeat every few seconds. */
  readonly owner: string | null;
  readonly heartbeatAt: string | null;
  readonly data: DataFingerprint | null;
  readonly training: TrainingOutcome | null;
  readonly evaluation: RunEvaluation | null;
  /** The champion it was compared with and the version it registered. */
  readonly championVersion: string | null;
  readonly candidateVersion: string | null;
  readonly release: ReleaseOutcome | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly finishedAt: string | null;
}
