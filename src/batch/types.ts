/**
 * Batch scoring (issue 6): score a CSV/Parquet/JSONL file (or glob) with a model version, in
 * chunks, on every core, resumably. This file is the contract between the engine
 * (`run-batch-job.ts`), the jobs service (`job-service.ts`, the `/api/v1/jobs` API, the CLI).
 */

/** What to score and where the predictions go. */
export interface BatchJobSpec {
  /** Names the job's working folder (`$SLIPWAY_HOME/batch/<jobId>/`); rerunning with the same id resumes. */
  readonly jobId: string;
  /** `name`, `name@1.2.0` or `name@alias`; resolved once when the job starts. */
  readonly model: string;
  /** A CSV, Parquet or JSONL file, or a glob of them (one format). */
  readonly input: string;
  /** `.parquet`, `.csv` or `.jsonl`; written atomically when every chunk is done. */
  readonly output: string;
  /** A column copied to the output and the rejects file to identify each row; default: the row number (0-based) as `row`. */
  readonly idColumn?: string;
  /** Input columns copied to the output next to the predictions. */
  readonly keep?: readonly string[];
  /** Model input name -> column name, over the default mapping (a column named like the input, `x[0]..`/`x_0..`, or for a one-input model the first k columns). */
  readonly map?: Readonly<Record<string, string>>;
  /** Fail the job when rejected rows / rows read exceeds this (0..1); default: never. */
  readonly maxRejectRate?: number;
  /** Rows per chunk (a resume point and one part file); default 100,000. */
  readonly chunkRows?: number;
  /** Worker threads running ONNX Runtime; default: one per core. */
  readonly workers?: number;
  /** Join point-in-time features from this feature service before scoring (entity keys + `timestampColumn` in the input). */
  readonly features?: { readonly service: string; readonly timestampColumn: string };
  /** Replace an existing output file; without it a submission over the API naming one is refused (job-submission.ts). */
  readonly overwrite?: boolean;
}

export type BatchJobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface BatchProgress {
  readonly rowsDone: number;
  /** Rows in the input, when known (Parquet metadata, or after counting). */
  readonly rowsTotal: number | null;
  readonly rejected: number;
  readonly chunksDone: number;
  readonly chunksTotal: number | null;
  readonly rowsPerSecond: number;
  /** Seconds left at the current rate; null when unknown. */
  readonly etaSeconds: number | null;
}

/** The end of a run. */
export interface BatchSummary {
  readonly jobId: string;
  readonly status: 'succeeded' | 'failed' | 'cancelled';
  readonly model: string;
  /** The version that scored (resolved at start). */
  readonly version: string;
  readonly rows: number;
  readonly scored: number;
  readonly rejected: number;
  /** Chunks taken from an earlier run of the same job id. */
  readonly resumedChunks: number;
  readonly seconds: number;
  readonly rowsPerSecond: number;
  readonly output: string;
  /** The rejects file (JSONL: id, reason), written when any row was rejected. */
  readonly rejects: string | null;
  /** Why it failed or was cancelled. */
  readonly error?: string;
}
