import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { confineFiles, confineGlob, confinePath, isGlob } from '../core/data-roots.js';
import { SlipwayError } from '../core/errors.js';
import type { BatchJobSpec } from './types.js';

/** A job as submitted: a BatchJobSpec whose `jobId` may be left out (one is made up). */
export type BatchJobSubmission = Omit<BatchJobSpec, 'jobId'> & { readonly jobId?: string };

/** Job ids name a folder (`$SLIPWAY_HOME/batch/<jobId>/`): no separators, no leading dot. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const FIELDS = [
  'jobId',
  'model',
  'input',
  'output',
  'idColumn',
  'keep',
  'map',
  'maxRejectRate',
  'chunkRows',
  'workers',
  'features',
  'overwrite',
] as const;

/**
 * The allowed range of each numeric job setting, checked where a job is submitted (the jobs API,
 * `slipway batch run`) and again by the engine. `workers` threads each load the model, so the
 * bound is a sanity bound, not a recommendation (the default is one per core).
 */
export const JOB_LIMITS = {
  chunkRows: { min: 1, max: 10_000_000, integer: true, text: 'an integer from 1 to 10,000,000' },
  workers: { min: 1, max: 256, integer: true, text: 'an integer from 1 to 256' },
  maxRejectRate: { min: 0, max: 1, integer: false, text: 'a number from 0 to 1' },
} as const;

/**
 * INVALID_ARGUMENT when a numeric setting is outside {@link JOB_LIMITS}; `name` says how the
 * caller calls the field (`job field "chunkRows"` for the API, `--chunk-rows` for the CLI).
 */
export function checkJobSettings(
  spec: Partial<Pick<BatchJobSpec, keyof typeof JOB_LIMITS>>,
  name: (field: keyof typeof JOB_LIMITS) => string,
): void {
  for (const field of Object.keys(JOB_LIMITS) as (keyof typeof JOB_LIMITS)[]) {
    const value = spec[field];
    if (value === undefined) continue;
    const limit = JOB_LIMITS[field];
    if (!(value >= limit.min && value <= limit.max) || (limit.integer && !Number.isInteger(value))) {
      throw new SlipwayError('INVALID_ARGUMENT', `${name(field)} must be ${limit.text}, got ${value}`, {
        details: { field, min: limit.min, max: limit.max },
      });
    }
  }
}

/** A new job id: sortable by time, e.g. `job-20261129-141503-3f9a1c`. */
export function newJobId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `job-${stamp}-${randomBytes(3).toString('hex')}`;
}

/**
 * Check a submission from outside (the jobs API's JSON body): camelCase BatchJobSpec fields,
 * `model`, `input` and `output` required, no unknown fields. INVALID_ARGUMENT names the field.
 *
 * @example
 * parseJobSubmission({ model: 'fraud@champion', input: 'in.parquet', output: 'out.parquet', keep: ['id'] });
 */
export function parseJobSubmission(body: unknown): BatchJobSubmission {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('body', 'must be a JSON object');
  const raw = body as Record<string, unknown>;
  const unknown = Object.keys(raw).filter((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown.length > 0) throw bad(unknown[0] ?? '', `is not a job field (fields: ${FIELDS.join(', ')})`);
  const spec: Record<string, unknown> = {
    model: requiredString(raw, 'model'),
    input: requiredString(raw, 'input'),
    output: requiredString(raw, 'output'),
  };
  if (raw.jobId !== undefined) {
    if (typeof raw.jobId !== 'string' || !JOB_ID_PATTERN.test(raw.jobId))
      throw bad('jobId', 'must be 1-128 letters, digits, ".", "_" or "-", not starting with "." "_" or "-"');
    spec.jobId = raw.jobId;
  }
  if (raw.idColumn !== undefined) spec.idColumn = requiredString(raw, 'idColumn');
  if (raw.keep !== undefined) {
    if (!Array.isArray(raw.keep) || !raw.keep.every((c) => typeof c === 'string' && c !== ''))
      throw bad('keep', 'must be an array of column names');
    spec.keep = raw.keep;
  }
  if (raw.map !== undefined) {
    const map = raw.map;
    if (
      typeof map !== 'object' ||
      map === null ||
      Array.isArray(map) ||
      !Object.values(map).every((c) => typeof c === 'string' && c !== '')
    ) {
      throw bad('map', 'must be an object of model input name -> column name');
    }
    spec.map = map;
  }
  for (const key of ['maxRejectRate', 'chunkRows', 'workers'] as const) {
    const value = raw[key];
    if (value === undefined) continue;
    if (typeof value !== 'number') throw bad(key, `must be a number: ${JOB_LIMITS[key].text}`);
    spec[key] = value;
  }
  checkJobSettings(spec, (field) => `job field "${field}"`);
  if (raw.overwrite !== undefined) {
    if (typeof raw.overwrite !== 'boolean') throw bad('overwrite', 'must be true or false');
    spec.overwrite = raw.overwrite;
  }
  if (raw.features !== undefined) {
    const features = raw.features as Record<string, unknown> | null;
    if (
      typeof features !== 'object' ||
      features === null ||
      typeof features.service !== 'string' ||
      typeof features.timestampColumn !== 'string'
    ) {
      throw bad('features', 'must be {"service": string, "timestampColumn": string}');
    }
    spec.features = { service: features.service, timestampColumn: features.timestampColumn };
  }
  return spec as unknown as BatchJobSubmission;
}

/**
 * A submission from a client with its `input` and `output` confined to the data roots
 * (core/data-roots.ts: relative names from the first root, symlinks followed, a glob's matches
 * each checked) and replaced by the real paths the run will use; an existing output is refused
 * (ALREADY_EXISTS) unless `overwrite` is true. Jobs the CLI runs on its own machine skip this.
 */
export async function confineJobPaths(
  submission: BatchJobSubmission,
  roots: readonly string[],
): Promise<BatchJobSubmission> {
  const input = await confineGlob(submission.input, roots, 'job field "input"');
  if (isGlob(submission.input)) {
    // A glob: what it matches may be symlinks pointing out of the roots.
    const { expandInput } = await import('./input-files.js');
    const files = await expandInput(input).catch(() => []);
    await confineFiles(files, roots, 'job field "input"', submission.input);
  }
  const output = await confinePath(submission.output, roots, 'job field "output"');
  if (submission.overwrite !== true && (await stat(output).catch(() => undefined)) !== undefined)
    throw new SlipwayError(
      'ALREADY_EXISTS',
      `job field "output": "${submission.output}" exists; set "overwrite": true to replace it`,
      { details: { field: 'output' } },
    );
  return { ...submission, input, output };
}

function requiredString(raw: Record<string, unknown>, key: string): string {
  const value = raw[key];
  if (value === undefined || value === null) throw bad(key, 'is required');
  if (typeof value !== 'string' || value.trim() === '') throw bad(key, 'must be a non-empty string');
  return value;
}

function bad(field: string, problem: string): SlipwayError {
  return new SlipwayError('INVALID_ARGUMENT', `job field "${field}" ${problem}`, { details: { field } });
}
