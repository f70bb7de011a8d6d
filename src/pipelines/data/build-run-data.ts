import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SlipwayError } from '../../core/errors.js';
import type { FeatureStore } from '../../features/feature-store.js';
import { writeTable } from '../../io/index.js';
import type { PredictionStore } from '../../monitor/prediction-store.js';
import type { Signature } from '../../tensor/datatypes.js';
import type { DataFingerprint, PipelineSpec } from '../types.js';
import { feedbackRows } from './feedback-rows.js';
import { fileRows } from './file-rows.js';
import { dataFingerprint, type SplitFiles } from './fingerprint.js';
import type { RunTable } from './run-table.js';
import { timeSplit } from './time-split.js';

/** Fewer rows than this in the window: no training run. */
export const MIN_RUN_ROWS = 30;

export interface RunDataDeps {
  readonly predictions: PredictionStore;
  readonly features: FeatureStore;
}

export interface BuildRunDataOptions {
  readonly spec: PipelineSpec;
  /** The champion's signature: its inputs name the feature columns of a `feedback` label source. */
  readonly signature: Signature;
  /** The run's folder (exists): receives train/validation/test as .parquet and .csv, and data.json. */
  readonly runDir: string;
  /** The run's time (a Date or epoch ms): rows with event times in [now - data.window, now]. */
  readonly now: Date | number;
  readonly deps: RunDataDeps;
  readonly signal?: AbortSignal;
}

/**
 * Build a run's training data (issue 17): the label source's rows over the data window, split by event
 * time (see `timeSplit`), written as Parquet (the fingerprinted files) and CSV copies beside them
 * (`train.csv`, ...; for scripts without a Parquet reader, e.g. Debian's python3), and the fingerprint.
 * `data.json` in runDir records the fingerprint and the rows left out, by reason.
 *
 * - `labels: feedback`: logged requests of the model with feedback (see `feedbackRows`); a
 *   `featureService` alongside is refused (UNIMPLEMENTED): the logged inputs are the features.
 * - `labels: { file }`: the file's rows, features joined point-in-time by the feature service.
 *
 * Errors: FAILED_PRECONDITION naming the counts when fewer than MIN_RUN_ROWS rows are in the window or
 * a split would be empty; INVALID_ARGUMENT for a file source without a feature service or a missing
 * label column; what the stores and writers throw.
 */
export async function buildRunData(options: BuildRunDataOptions): Promise<DataFingerprint> {
  const { spec, runDir } = options;
  const now = options.now instanceof Date ? options.now.getTime() : options.now;
  const data = spec.data;
  const sinceMs = now - data.windowMs;
  const loaded = await loadRows(options, sinceMs, now);
  const table = data.labels.kind === 'file' ? namedForModel(loaded, options.signature) : loaded;
  const window = `${new Date(sinceMs).toISOString()} .. ${new Date(now).toISOString()}`;
  const left = describeExcluded(table.excluded);
  if (table.rows.length < MIN_RUN_ROWS)
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `pipeline "${spec.name}": ${table.rows.length} labelled rows in the data window ${window}, at least ${MIN_RUN_ROWS} needed${left}`,
    );
  const split = timeSplit(table.rows, (row) => row.timeMs, data.split);
  const counts = { train: split.train.length, validation: split.validation.length, test: split.test.length };
  const empty = Object.entries(counts).filter(([, n]) => n === 0);
  if (empty.length > 0)
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `pipeline "${spec.name}": the time split of ${table.rows.length} rows leaves ${empty.map(([name]) => name).join(' and ')} empty ` +
        `(train ${counts.train}, validation ${counts.validation}, test ${counts.test}; shares ${data.split.train}/${data.split.validation}/${data.split.test}; rows sharing a boundary time go to the earlier split)`,
    );
  const files: SplitFiles = {
    train: path.join(runDir, 'train.parquet'),
    validation: path.join(runDir, 'validation.parquet'),
    test: path.join(runDir, 'test.parquet'),
  };
  for (const name of ['train', 'validation', 'test'] as const) {
    const batch = split[name].map((row) => row.values);
    const writeOptions = options.signal === undefined ? {} : { signal: options.signal };
    await writeTable(files[name], table.columns, [batch], writeOptions);
    await writeTable(csvSibling(files[name]), table.columns, [batch], writeOptions);
  }
  const fingerprint = await dataFingerprint({
    files,
    counts,
    fromMs: split.train[0]!.timeMs,
    toMs: split.test[split.test.length - 1]!.timeMs,
    featureColumns: table.featureColumns,
    labelColumn: data.labelColumn,
  });
  const manifest = { source: data.labels.kind, window, fingerprint, excluded: table.excluded };
  await writeFile(path.join(runDir, 'data.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return fingerprint;
}

/** The CSV copy written beside a split's Parquet file (`train.parquet` -> `train.csv`). */
export function csvSibling(file: string): string {
  return file.replace(/\.parquet$/, '') + '.csv';
}

async function loadRows(options: BuildRunDataOptions, sinceMs: number, now: number): Promise<RunTable> {
  const { spec, deps } = options;
  const { labels, featureService, labelColumn } = spec.data;
  if (labels.kind === 'feedback') {
    if (featureService !== undefined)
      throw new SlipwayError(
        'UNIMPLEMENTED',
        `pipeline "${spec.name}": data.featureService ("${featureService}") with labels: feedback is not supported yet: ` +
          'the logged request inputs are the training features; remove featureService, or use a label file',
      );
    return feedbackRows({
      predictions: deps.predictions,
      model: spec.model,
      signature: options.signature,
      sinceMs,
      untilMs: now,
      labelColumn,
    });
  }
  if (featureService === undefined)
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `pipeline "${spec.name}": a label file (${labels.path}) needs data.featureService to join features point-in-time`,
    );
  return fileRows({
    features: deps.features,
    service: featureService,
    file: labels.path,
    timestampColumn: labels.timestampColumn,
    fileLabelColumn: labels.labelColumn,
    labelColumn,
    sinceMs,
    untilMs: now,
    workDir: options.runDir,
  });
}

/**
 * A label file's joined features renamed as the model's input columns (`input_0..input_k-1` for one
 * [batch, k] input fed by k features in the feature service's order, as inference by entity feeds it),
 * so the evaluation maps them to the input as it maps a feedback run's (tensor/column-mapping.ts) and
 * never takes an entity key or a timestamp for a feature. Other shapes keep the features' names.
 */
function namedForModel(table: RunTable, signature: Signature): RunTable {
  const [input, ...others] = signature.inputs;
  const width = input?.shape.length === 2 ? input.shape[1] : undefined;
  if (input === undefined || others.length > 0 || width !== table.featureColumns.length) return table;
  const renamed = new Map(table.featureColumns.map((name, j) => [name, `${input.name}_${j}`]));
  return {
    ...table,
    columns: table.columns.map((c) => ({ ...c, name: renamed.get(c.name) ?? c.name })),
    featureColumns: table.featureColumns.map((name) => renamed.get(name)!),
  };
}

function describeExcluded(excluded: Readonly<Record<string, number>>): string {
  const entries = Object.entries(excluded);
  if (entries.length === 0) return '';
  return ` (left out: ${entries.map(([reason, n]) => `${n} with ${reason}`).join(', ')})`;
}
