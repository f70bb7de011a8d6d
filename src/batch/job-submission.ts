import { randomBytes } from 'node:crypto';
import { SlipwayError } from '../core/errors.js';
import type { BatchJobSpec } from './types.js';

/** A job as submitted: a BatchJobSpec whose `jobId` may be left out (one is made up). */
export type BatchJobSubmission = Omit<BatchJobSpec, 'jobId'> & { readonly jobId?: string };

/** Job ids name a folder (`$SLIPWAY_HOME/batch/<jobId>/`): no separators, no leading dot. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const FIELDS = ['jobId', 'model', 'input', 'output', 'idColumn', 'keep', 'map', 'maxRejectRate', 'chunkRows', 'workers', 'features'] as const;

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
    if (typeof raw.jobId !== 'string' || !JOB_ID_PATTERN.test(raw.jobId)) throw bad('jobId', 'must be 1-128 letters, digits, ".", "_" or "-", not starting with "." "_" or "-"');
    spec.jobId = raw.jobId;
  }
  if (raw.idColumn !== undefined) spec.idColumn = requiredString(raw, 'idColumn');
  if (raw.keep !== undefined) {
    if (!Array.isArray(raw.keep) || !raw.keep.every((c) => typeof c === 'string' && c !== '')) throw bad('keep', 'must be an array of column names');
    spec.keep = raw.keep;
  }
  if (raw.map !== undefined) {
    const map = raw.map;
    if (typeof map !== 'object' || map === null || Array.isArray(map) || !Object.values(map).every((c) => typeof c === 'string' && c !== '')) {
      throw bad('map', 'must be an object of model input name -> column name');
    }
    spec.map = map;
  }
  if (raw.maxRejectRate !== undefined) {
    if (typeof raw.maxRejectRate !== 'number' || !(raw.maxRejectRate >= 0 && raw.maxRejectRate <= 1)) throw bad('maxRejectRate', 'must be a number from 0 to 1');
    spec.maxRejectRate = raw.maxRejectRate;
  }
  for (const key of ['chunkRows', 'workers'] as const) {
    const value = raw[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw bad(key, 'must be a positive integer');
    spec[key] = value;
  }
  if (raw.features !== undefined) {
    const features = raw.features as Record<string, unknown> | null;
    if (typeof features !== 'object' || features === null || typeof features.service !== 'string' || typeof features.timestampColumn !== 'string') {
      throw bad('features', 'must be {"service": string, "timestampColumn": string}');
    }
    spec.features = { service: features.service, timestampColumn: features.timestampColumn };
  }
  return spec as unknown as BatchJobSubmission;
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
