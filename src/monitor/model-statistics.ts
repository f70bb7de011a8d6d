/**
 * Triton's statistics extension (`GET /v2/models[/{m}[/versions/{v}]]/stats`, gRPC
 * `ModelStatistics`): cumulative per-version counters of this process since it started.
 *
 * What each figure measures here:
 * - `success` / `fail`: requests by outcome, `ns` their end-to-end time in the inference service
 *   (arrival at `infer` to the answer, as `InferenceEvent.durationSeconds`). Every outcome other
 *   than `success` is a failure (bad input, refused for load, server error).
 * - `queue`: per successful request, its wait in the batch queue (0 ns without a batcher).
 * - `compute_infer`: per successful request, the model run that carried it.
 * - `compute_input` / `compute_output`: counted like `compute_infer`, with 0 ns. ONNX Runtime runs
 *   on the CPU here: there is no device copy, and turning tensors into ORT feeds and back is timed
 *   inside `compute_infer` (runtime/onnx/ort-backend.ts does both inside `run`).
 * - `inference_count`: rows of successful requests (the first dimension of the first input).
 * - `execution_count` / `batch_stats`: model runs, per batch size (rows in the run). A version with a
 *   batcher reports each successful batcher run through {@link ModelStatistics.observeExecution};
 *   a version that never reported one runs every request alone, so each successful request is one
 *   execution of its own rows.
 * - `cache_hit` / `cache_miss`: always 0 (Slipway has no response cache).
 *
 * A request that failed before its version was known (an unknown model or version) belongs to no
 * row. A row exists once its version answered a request or ran.
 */
import { invalid } from '../core/errors.js';
import type { InferenceEvent } from './events.js';

/** A count and a total duration in nanoseconds. */
export interface DurationStat {
  readonly count: number;
  readonly ns: number;
}

export interface InferenceStats {
  readonly success: DurationStat;
  readonly fail: DurationStat;
  readonly queue: DurationStat;
  readonly compute_input: DurationStat;
  readonly compute_infer: DurationStat;
  readonly compute_output: DurationStat;
  readonly cache_hit: DurationStat;
  readonly cache_miss: DurationStat;
}

export interface BatchStat {
  readonly batch_size: number;
  readonly compute_input: DurationStat;
  readonly compute_infer: DurationStat;
  readonly compute_output: DurationStat;
}

/** One `model_stats` entry, in Triton's JSON field names. */
export interface ModelStat {
  readonly name: string;
  readonly version: string;
  /** Epoch ms when the last request (success or failure) was answered; 0 when none was. */
  readonly last_inference: number;
  readonly inference_count: number;
  readonly execution_count: number;
  readonly inference_stats: InferenceStats;
  readonly batch_stats: BatchStat[];
}

class Tally {
  count = 0;
  ns = 0;

  add(ns: number): void {
    this.count++;
    this.ns += ns;
  }

  toJSON(): DurationStat {
    return { count: this.count, ns: this.ns };
  }
}

class VersionTallies {
  lastInference = 0;
  inferenceCount = 0;
  executionCount = 0;
  /** Whether a batcher ever reported a run of this version (see the module comment). */
  batched = false;
  readonly success = new Tally();
  readonly fail = new Tally();
  readonly queue = new Tally();
  readonly computeInfer = new Tally();
  /** Runs by batch size: their compute time. */
  readonly batches = new Map<number, Tally>();

  execution(batchSize: number, ns: number): void {
    this.executionCount++;
    let tally = this.batches.get(batchSize);
    if (tally === undefined) {
      tally = new Tally();
      this.batches.set(batchSize, tally);
    }
    tally.add(ns);
  }
}

const SECONDS_TO_NS = 1e9;
const MS_TO_NS = 1e6;

/** Every worker's rows (`all()`), for `--workers N`; `missing` counts workers that did not answer in time. */
export type StatisticsGather = () => Promise<{ results: ModelStat[][]; missing: number }>;

export class ModelStatistics {
  /** model → version → tallies. */
  private readonly models = new Map<string, Map<string, VersionTallies>>();
  private gather: StatisticsGather | undefined;

  /** Answer for the whole server from now on: every worker's rows, merged (server/serve-command.ts). */
  aggregateWith(gather: StatisticsGather): void {
    this.gather = gather;
  }

  /** Every row of the whole server: this process's, or every worker's merged once {@link aggregateWith} is set. */
  async allOfServer(): Promise<ModelStat[]> {
    if (this.gather === undefined) return this.all();
    return mergeModelStats((await this.gather()).results);
  }

  /** Count one answered request. Cheap and never throws: it runs on the request path. */
  observe(event: InferenceEvent): void {
    if (event.model === '' || event.version === '') return;
    const tallies = this.tallies(event.model, event.version);
    const durationNs = toNs(event.durationSeconds * SECONDS_TO_NS);
    tallies.lastInference = Math.max(tallies.lastInference, Math.round(event.timeMs + event.durationSeconds * 1000));
    if (event.outcome !== 'success') {
      tallies.fail.add(durationNs);
      return;
    }
    const rows = rowsOf(event);
    const computeNs = toNs(event.computeSeconds * SECONDS_TO_NS);
    tallies.success.add(durationNs);
    tallies.queue.add(toNs(event.queueSeconds * SECONDS_TO_NS));
    tallies.computeInfer.add(computeNs);
    tallies.inferenceCount += rows;
    if (!tallies.batched) tallies.execution(rows, computeNs);
  }

  /** Count one successful batcher run of `batchSize` rows that took `computeMs`. */
  observeExecution(model: string, version: string, batchSize: number, computeMs: number): void {
    if (model === '' || version === '') return;
    const tallies = this.tallies(model, version);
    tallies.batched = true;
    tallies.execution(batchSize, toNs(computeMs * MS_TO_NS));
  }

  /** Whether any version of `model` has a row. */
  has(model: string): boolean {
    return this.models.has(model);
  }

  /** Every row, by model name then version. */
  all(): ModelStat[] {
    return [...this.models.keys()].sort(compareText).flatMap((model) => this.ofModel(model));
  }

  /** The rows of every version of `model` that has one, oldest version first. */
  ofModel(model: string): ModelStat[] {
    const versions = this.models.get(model);
    if (versions === undefined) return [];
    return [...versions.keys()]
      .sort(compareText)
      .map((version) => statOf(model, version, versions.get(version) as VersionTallies));
  }

  /** The row of one version; all zeros when it has not served. */
  ofVersion(model: string, version: string): ModelStat {
    return statOf(model, version, this.models.get(model)?.get(version) ?? new VersionTallies());
  }

  private tallies(model: string, version: string): VersionTallies {
    let versions = this.models.get(model);
    if (versions === undefined) {
      versions = new Map();
      this.models.set(model, versions);
    }
    let tallies = versions.get(version);
    if (tallies === undefined) {
      tallies = new VersionTallies();
      versions.set(version, tallies);
    }
    return tallies;
  }
}

/** What a statistics query needs of the registry; both throw NOT_FOUND for what does not exist. */
export interface StatisticsModels {
  getModel(name: string): Promise<unknown>;
  /** A version selector (`1.2.0`, a major `1`, an alias, `latest`) to its version. */
  resolve(model: string, selector: string): Promise<{ readonly version: string }>;
}

/**
 * The `model_stats` of a statistics request, for HTTP and gRPC alike: every row (no model); every
 * version of a model that has a row (an existing model with none gives an empty list); or one
 * version, resolved like an inference request's (zeros when it has not served). An unknown model
 * or version is NOT_FOUND.
 */
export async function queryStatistics(
  statistics: ModelStatistics,
  models: StatisticsModels,
  model?: string,
  version?: string,
): Promise<ModelStat[]> {
  if (model === undefined) {
    if (version !== undefined)
      throw invalid(`version "${version}" needs a model name: give both, or neither for every model`);
    return statistics.allOfServer();
  }
  if (version === undefined) {
    await models.getModel(model);
    return (await statistics.allOfServer()).filter((row) => row.name === model);
  }
  const record = await models.resolve(model, version);
  return [
    (await statistics.allOfServer()).find((row) => row.name === model && row.version === record.version) ??
      statistics.ofVersion(model, record.version),
  ];
}

/**
 * Rows from several processes (`--workers N`) as one: counts and durations add up per version and
 * batch size, `last_inference` is the latest. Rows come out by model name then version.
 */
export function mergeModelStats(parts: readonly (readonly ModelStat[])[]): ModelStat[] {
  const merged = new Map<string, ModelStat>();
  for (const row of parts.flat()) {
    const key = `${row.name}\u0000${row.version}`;
    const seen = merged.get(key);
    merged.set(key, seen === undefined ? row : addStats(seen, row));
  }
  return [...merged.values()].sort((a, b) => compareText(a.name, b.name) || compareText(a.version, b.version));
}

function addStats(a: ModelStat, b: ModelStat): ModelStat {
  const sum = (x: DurationStat, y: DurationStat): DurationStat => ({ count: x.count + y.count, ns: x.ns + y.ns });
  const stats = {} as Record<keyof InferenceStats, DurationStat>;
  for (const field of Object.keys(a.inference_stats) as (keyof InferenceStats)[])
    stats[field] = sum(a.inference_stats[field], b.inference_stats[field]);
  const batches = new Map<number, BatchStat>();
  for (const batch of [...a.batch_stats, ...b.batch_stats]) {
    const seen = batches.get(batch.batch_size);
    batches.set(
      batch.batch_size,
      seen === undefined
        ? batch
        : {
            batch_size: batch.batch_size,
            compute_input: sum(seen.compute_input, batch.compute_input),
            compute_infer: sum(seen.compute_infer, batch.compute_infer),
            compute_output: sum(seen.compute_output, batch.compute_output),
          },
    );
  }
  return {
    name: a.name,
    version: a.version,
    last_inference: Math.max(a.last_inference, b.last_inference),
    inference_count: a.inference_count + b.inference_count,
    execution_count: a.execution_count + b.execution_count,
    inference_stats: stats,
    batch_stats: [...batches.values()].sort((x, y) => x.batch_size - y.batch_size),
  };
}

function statOf(name: string, version: string, t: VersionTallies): ModelStat {
  const zeroNs = (count: number): DurationStat => ({ count, ns: 0 });
  const none = zeroNs(0);
  const computed = t.computeInfer.count;
  return {
    name,
    version,
    last_inference: t.lastInference,
    inference_count: t.inferenceCount,
    execution_count: t.executionCount,
    inference_stats: {
      success: t.success.toJSON(),
      fail: t.fail.toJSON(),
      queue: t.queue.toJSON(),
      compute_input: zeroNs(computed),
      compute_infer: t.computeInfer.toJSON(),
      compute_output: zeroNs(computed),
      cache_hit: none,
      cache_miss: none,
    },
    batch_stats: [...t.batches.entries()]
      .sort(([a], [b]) => a - b)
      .map(([size, tally]) => ({
        batch_size: size,
        compute_input: zeroNs(tally.count),
        compute_infer: tally.toJSON(),
        compute_output: zeroNs(tally.count),
      })),
  };
}

/** Rows of a request: the first dimension of its first input (1 for a scalar or no inputs). */
function rowsOf(event: InferenceEvent): number {
  const shape = event.inputs?.[0]?.shape;
  return shape !== undefined && shape.length > 0 ? (shape[0] as number) : 1;
}

/** Whole nanoseconds, never negative. */
function toNs(value: number): number {
  return Number.isFinite(value) && value > 0 ? Math.round(value) : 0;
}

/** Names and versions in natural order: `1.10.0` after `1.9.0`. */
function compareText(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
