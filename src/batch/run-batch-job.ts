import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { SlipwayConfig } from '../core/config.js';
import { SlipwayError, invalid, toSlipwayError } from '../core/errors.js';
import type { FeatureStore } from '../features/feature-store.js';
import { describeTable, type TableColumn } from '../io/index.js';
import { isSemver, parseModelRef } from '../registry/model-ref.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { VersionRecord } from '../registry/types.js';
import { mapColumns, type InputMapping } from '../tensor/column-mapping.js';
import { assembleOutput, assembleRejects, rejectsFileOf } from './assemble-output.js';
import { BufferPool } from './buffer-pool.js';
import { InOrderAssembly } from './in-order-assembly.js';
import { ChunkEncoder, outputColumns, type ReadChunk } from './chunk-encoder.js';
import { prepareFeatures } from './feature-input.js';
import { countRows, expandInput } from './input-files.js';
import {
  JobFolder,
  fingerprintDifference,
  inputFiles,
  type ChunkRecord,
  type JobFingerprint,
  type JobManifest,
} from './job-folder.js';
import { readChunks } from './read-chunks.js';
import { checkJobSettings } from './job-submission.js';
import { ScoringPool } from './scoring-pool.js';
import { checkTextColumns } from './text-columns.js';
import type { BatchJobSpec, BatchProgress, BatchSummary } from './types.js';

/** The services a batch job needs; {@link batchDepsOf} takes them from a platform (or anything shaped like one). */
export interface BatchDeps {
  /** Resolves the model; `artifactPath` gives the file every worker loads. */
  readonly registry: RegistryService;
  /** Needed only by jobs with `features`. */
  readonly features?: FeatureStore;
  /** Where job folders go: `$SLIPWAY_HOME/batch`. */
  readonly workDir: string;
}

export interface RunBatchOptions {
  /** Ends the run with status `cancelled` after the current chunk; completed parts are kept for a resume. */
  readonly signal?: AbortSignal;
  /** Called after every completed chunk (and once at the start, with resumed chunks counted). */
  readonly onProgress?: (progress: BatchProgress) => void;
  /** ORT intra-op threads per worker session (default 1); for measurements. */
  readonly intraOpThreads?: number;
}

/**
 * What {@link batchDepsOf} reads: the part of a platform a batch job uses. Its own type rather than
 * `Platform`'s, since `platform.ts` imports `batch/` and batch must not import it back.
 */
export interface BatchDepsSource {
  readonly registry: RegistryService;
  readonly features?: FeatureStore;
  readonly config: Pick<SlipwayConfig, 'home'>;
}

export function batchDepsOf(source: BatchDepsSource): BatchDeps {
  return { registry: source.registry, features: source.features, workDir: path.join(source.config.home, 'batch') };
}

const DEFAULT_CHUNK_ROWS = 100_000;
/** The reject rate is checked early, before the end, once this many rows have been read. */
export const EARLY_REJECT_CHECK_ROWS = 10_000;

/**
 * Default worker count: one per core. The main thread reads and packs the input; each worker
 * scores whole chunks and writes their parts, so on 2 cores two workers keep ONNX Runtime and the
 * part writes off the reading thread (10M breast-cancer rows: ~5 s, see bench/results).
 */
export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Scores `spec.input` with `spec.model` into `spec.output`, chunk by chunk, resumably.
 *
 * Bad specs throw a SlipwayError before anything runs: an unknown model (NOT_FOUND), a missing
 * input file, a missing column (INVALID_ARGUMENT, the message names it), or a job id already used
 * by a different spec (FAILED_PRECONDITION). Once scoring started, a failure (reject rate
 * exceeded, a read or runtime error) resolves with status `failed` and `error`; completed parts
 * stay, so fixing the input is a new job but a crash is a resume. A rerun of a job that
 * succeeded reassembles the output from its parts and reports the stored counts.
 *
 * @example
 * const summary = await runBatchJob({ jobId: 'daily', model: 'fraud@champion', input: 'in/*.parquet', output: 'out.parquet' }, batchDepsOf(platform));
 */
export async function runBatchJob(
  spec: BatchJobSpec,
  deps: BatchDeps,
  options: RunBatchOptions = {},
): Promise<BatchSummary> {
  const started = performance.now();
  const prepared = await prepare(spec, deps);
  const { folder, record, encoder, fingerprint, previous } = prepared;
  const rejectsFile = rejectsFileOf(spec.output);
  const done = new Map((previous?.chunks ?? []).map((c) => [c.index, c]));
  const chunks: ChunkRecord[] = [...done.values()];
  const totals = () => ({
    rows: sum(chunks, 'rows'),
    scored: sum(chunks, 'scored'),
    rejected: sum(chunks, 'rejected'),
  });
  const summary = (status: BatchSummary['status'], error?: string): BatchSummary => {
    const seconds = (performance.now() - started) / 1000;
    const t = totals();
    const anyRejects = t.rejected > 0;
    return {
      jobId: spec.jobId,
      status,
      model: record.model,
      version: record.version,
      ...t,
      resumedChunks: done.size,
      seconds,
      rowsPerSecond: seconds > 0 ? (t.rows - sum([...done.values()], 'rows')) / seconds : 0,
      output: spec.output,
      rejects: anyRejects ? rejectsFile : null,
      ...(error === undefined ? {} : { error }),
    };
  };
  // Chunks finish out of order on several workers: manifest writes go one after another, each
  // with the chunks done by then, so an older list never lands after a newer one.
  let saving: Promise<void> = Promise.resolve();
  const save = (final?: BatchSummary): Promise<void> => {
    saving = saving
      .catch(() => undefined)
      .then(() =>
        folder.write({
          format: 1,
          jobId: spec.jobId,
          fingerprint,
          chunks: [...chunks].sort((a, b) => a.index - b.index),
          ...(final === undefined ? {} : { summary: final }),
        }),
      );
    return saving;
  };

  if (previous?.summary?.status === 'succeeded') {
    await finish(spec, folder, chunks, encoder, rejectsFile);
    return {
      ...previous.summary,
      output: spec.output,
      resumedChunks: chunks.length,
      seconds: (performance.now() - started) / 1000,
      rowsPerSecond: 0,
    };
  }

  const rowsTotal = await countRows(prepared.input);
  const progress = (rateStart: number, rowsAtStart: number): BatchProgress => {
    const t = totals();
    const elapsed = (performance.now() - rateStart) / 1000;
    const rate = elapsed > 0 ? (t.rows - rowsAtStart) / elapsed : 0;
    return {
      rowsDone: t.rows,
      rowsTotal,
      rejected: t.rejected,
      chunksDone: chunks.length,
      chunksTotal: rowsTotal === null ? null : Math.ceil(rowsTotal / fingerprint.chunkRows),
      rowsPerSecond: rate,
      etaSeconds: rowsTotal === null || rate <= 0 ? null : Math.max(0, rowsTotal - t.rows) / rate,
    };
  };
  const rowsAtStart = totals().rows;
  options.onProgress?.(progress(performance.now(), rowsAtStart));
  const pool = await ScoringPool.start({
    modelPath: deps.registry.artifactPath(record),
    workers: spec.workers ?? defaultWorkers(),
    ...(options.intraOpThreads === undefined ? {} : { intraOpThreads: options.intraOpThreads }),
  });
  const scoringStart = performance.now();
  // Each worker scores one chunk and writes its part while the next waits in its queue; more
  // in flight would only hold more chunks in memory.
  const maxInFlight = pool.size * 2;
  const running = new Set<Promise<void>>();
  const buffers = new BufferPool();
  // A fresh job with a Parquet output builds it as parts complete (a resumed one assembles at the end).
  const assembly =
    done.size === 0 && path.extname(spec.output).toLowerCase() === '.parquet'
      ? await InOrderAssembly.start(path.dirname(folder.partPath(1)), encoder.columns).catch(() => undefined)
      : undefined;
  let failure: SlipwayError | undefined;
  const complete = async (chunk: ReadChunk, work: NonNullable<ReadChunk['work']>): Promise<void> => {
    const { encoded, columns } = work;
    const record: ChunkRecord = {
      index: chunk.index,
      rows: chunk.rows,
      scored: encoded.valid.length,
      rejected: encoded.rejects.length,
    };
    buffers.give(
      await pool.scoreToPart({
        feeds: encoded.feeds,
        fetches: prepared.fetches,
        valid: encoded.valid,
        file: folder.partPath(chunk.index),
        columns,
      }),
    );
    assembly?.add(chunk.index, folder.partPath(chunk.index));
    if (encoded.rejects.length > 0) await folder.writeRejects(chunk.index, encoded.rejects);
    chunks.push(record);
    // Taken before the manifest write, which another chunk may finish meanwhile: every count is reported once, in order.
    const now = progress(scoringStart, rowsAtStart);
    await save();
    options.onProgress?.(now);
    checkRejectRate(spec, totals(), false);
  };
  let outcome: BatchSummary;
  try {
    try {
      const reading = readChunks({
        file: prepared.input,
        fileColumns: prepared.fileColumns,
        mappings: prepared.mappings,
        encoder,
        chunkRows: fingerprint.chunkRows,
        rowsTotal,
        skip: (index) => done.has(index),
        buffers,
      });
      for await (const chunk of reading) {
        const resumed = done.get(chunk.index);
        if (resumed !== undefined) {
          if (resumed.rows !== chunk.rows)
            throw new SlipwayError(
              'FAILED_PRECONDITION',
              `chunk ${chunk.index} now has ${chunk.rows} rows, not ${resumed.rows}: the input changed since the job started`,
            );
          continue;
        }
        if (chunk.work === undefined)
          throw new SlipwayError('INTERNAL', `chunk ${chunk.index} was read without its rows`);
        while (running.size >= maxInFlight) await Promise.race(running);
        if (failure !== undefined) throw failure;
        const task = complete(chunk, chunk.work).catch((error: unknown) => {
          failure ??= toSlipwayError(error);
        });
        running.add(task);
        void task.finally(() => running.delete(task));
        if (options.signal?.aborted === true || failure !== undefined) break;
      }
    } finally {
      // Chunks already sent finish (and are recorded) even when reading stopped early.
      await Promise.all(running);
    }
    if (failure !== undefined) throw failure;
    if (options.signal?.aborted === true) {
      outcome = summary(
        'cancelled',
        `cancelled after ${chunks.length} chunks; rerun with job id "${spec.jobId}" to resume`,
      );
    } else {
      checkRejectRate(spec, totals(), true);
      await finish(spec, folder, chunks, encoder, rejectsFile, assembly);
      outcome = summary('succeeded');
    }
  } catch (error) {
    outcome = summary('failed', toSlipwayError(error).message);
  } finally {
    await pool.close();
    await assembly?.abandon();
  }
  await save(outcome);
  return outcome;
}

interface Prepared {
  readonly folder: JobFolder;
  readonly record: VersionRecord;
  readonly encoder: ChunkEncoder;
  readonly fingerprint: JobFingerprint;
  readonly previous: JobManifest | undefined;
  /** The file that is scored: the input, or the point-in-time join with the features. */
  readonly input: string;
  readonly fetches: readonly string[];
  readonly fileColumns: readonly TableColumn[];
  readonly mappings: readonly InputMapping[];
}

/** Everything checked before a row is scored; throws on a bad spec. */
async function prepare(spec: BatchJobSpec, deps: BatchDeps): Promise<Prepared> {
  const folder = new JobFolder(deps.workDir, spec.jobId);
  const chunkRows = spec.chunkRows ?? DEFAULT_CHUNK_ROWS;
  checkJobSettings(spec, (field) => field);
  // Read before resolving: a resumed job keeps the version it started with.
  const previous = await folder.read();
  const record = await resolveJobModel(spec.model, previous, deps.registry);
  const files = await inputFiles(await expandInput(spec.input));
  const features = spec.features === undefined ? undefined : await prepareFeatures(spec, deps.features, folder);
  const input = features?.file ?? spec.input;
  const fileColumns = (await describeTable(input)).columns;
  const keep = spec.keep ?? [];
  const overrides = Object.fromEntries(
    Object.entries(spec.map ?? {}).map(([name, columns]) => [name, splitMapColumns(columns)]),
  );
  if (features !== undefined && Object.keys(overrides).length === 0 && record.signature.inputs.length === 1) {
    const [only] = record.signature.inputs;
    if (only !== undefined) overrides[only.name] = features.columns;
  }
  const ignore = [...(spec.idColumn === undefined ? [] : [spec.idColumn]), ...keep];
  const mappings = mapColumns(
    record.signature,
    fileColumns.map((c) => c.name),
    ignore,
    overrides,
  );
  await checkTextColumns(input, fileColumns, mappings);
  const encoder = new ChunkEncoder(mappings, outputColumns(record.signature.outputs), fileColumns, spec.idColumn, keep);
  const fingerprint: JobFingerprint = {
    model: `${record.model}@${record.version}`,
    sha256: record.artifact.sha256,
    input: spec.input,
    files,
    chunkRows,
    mapping: Object.fromEntries(mappings.map((m) => [m.spec.name, m.columns])),
    idColumn: spec.idColumn ?? null,
    keep,
    features: features?.fingerprint ?? null,
  };
  await folder.create();
  if (previous !== undefined) {
    const field = fingerprintDifference(previous.fingerprint, fingerprint);
    if (field !== undefined) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `job "${spec.jobId}" was started with a different ${field} (${JSON.stringify(previous.fingerprint[field])}); use another --job-id, or delete ${folder.dir} to start over`,
      );
    }
  }
  return {
    folder,
    record,
    encoder,
    fingerprint,
    previous,
    input,
    fetches: record.signature.outputs.map((o) => o.name),
    fileColumns,
    mappings,
  };
}

/**
 * The version a job scores with. `spec.model` is resolved when the job first starts and its
 * manifest records the exact version; a resume (the same job id after a crash, a shutdown, a
 * cancel or a failure) scores with that version even when the alias or `latest` moved since.
 * Resolving the selector again made a push between a kill -9 and the resume fail the job with
 * "started with a different model" (issue 13, item 9). A spec naming another model or another
 * exact version still differs from the fingerprint and is refused.
 */
async function resolveJobModel(
  ref: string,
  previous: JobManifest | undefined,
  registry: RegistryService,
): Promise<VersionRecord> {
  const started = previous?.fingerprint.model;
  if (started !== undefined) {
    const wanted = parseModelRef(ref);
    if (started.startsWith(`${wanted.model}@`) && !isSemver(wanted.selector)) return registry.resolve(started);
  }
  return registry.resolve(ref);
}

/**
 * `--map input=a;b;c`: a [batch, k] input takes k columns separated by `;` (commas separate the
 * pairs on the command line).
 */
export function splitMapColumns(columns: string): string[] {
  return columns.split(';').map((c) => c.trim());
}

/**
 * Fails the job when rejected / read exceeds `maxRejectRate`: at the end, and early once
 * {@link EARLY_REJECT_CHECK_ROWS} rows have been read (so a file that is mostly bad stops soon;
 * a bad first stretch of a long, otherwise clean file can fail a job the end would have passed).
 */
function checkRejectRate(spec: BatchJobSpec, totals: { rows: number; rejected: number }, final: boolean): void {
  const max = spec.maxRejectRate;
  if (max === undefined || totals.rows === 0) return;
  if (!final && totals.rows < EARLY_REJECT_CHECK_ROWS) return;
  const rate = totals.rejected / totals.rows;
  if (rate > max)
    throw invalid(
      `reject rate ${(rate * 100).toFixed(2)}% (${totals.rejected} of ${totals.rows} rows) exceeds the maximum ${(max * 100).toFixed(2)}%`,
    );
}

async function finish(
  spec: BatchJobSpec,
  folder: JobFolder,
  chunks: readonly ChunkRecord[],
  encoder: ChunkEncoder,
  rejectsFile: string,
  assembly?: InOrderAssembly,
): Promise<void> {
  const ordered = [...chunks].sort((a, b) => a.index - b.index);
  const built =
    assembly !== undefined &&
    ordered.length > 0 &&
    (await assembly.complete(ordered.length, path.resolve(spec.output)));
  if (!built)
    await assembleOutput(
      spec.output,
      ordered.map((c) => folder.partPath(c.index)),
      encoder.columns,
    );
  const withRejects = ordered.filter((c) => c.rejected > 0);
  if (withRejects.length > 0)
    await assembleRejects(
      rejectsFile,
      withRejects.map((c) => folder.rejectsPath(c.index)),
    );
}

function sum(chunks: readonly ChunkRecord[], key: 'rows' | 'scored' | 'rejected'): number {
  return chunks.reduce((total, c) => total + c[key], 0);
}
