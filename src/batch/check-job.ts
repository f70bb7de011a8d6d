import { stat } from 'node:fs/promises';
import path from 'node:path';
import { SlipwayError } from '../core/errors.js';
import { describeTable } from '../io/index.js';
import { resolveTableTarget } from '../io/table-source.js';
import { mapColumns } from '../tensor/column-mapping.js';
import { ChunkEncoder, outputColumns } from './chunk-encoder.js';
import { expandInput } from './input-files.js';
import { checkJobSettings } from './job-submission.js';
import type { BatchDeps } from './run-batch-job.js';
import { splitMapColumns } from './run-batch-job.js';
import { checkTextColumns } from './text-columns.js';
import type { BatchJobSpec } from './types.js';

/**
 * What a job's run would refuse before scoring, checked when it is submitted (the jobs API) or
 * started (`slipway batch run|resume`), so a bad job is answered at once instead of accepted with
 * 201 and failed later (issue 13, item 12): settings out of range (400 naming the field), an
 * unknown model, version or feature service (404), an input that matches no file or an output in
 * a folder that does not exist (400 naming `input` / `output`), columns the model or the id/keep
 * options need that the file lacks (400). Nothing is written. A job with `features` has its input
 * columns checked by the point-in-time join when it runs.
 */
export async function checkBatchJob(spec: BatchJobSpec, deps: BatchDeps): Promise<void> {
  checkJobSettings(spec, (field) => `job field "${field}"`);
  const record = await deps.registry.resolve(spec.model);
  await fieldError('input', expandInput(spec.input));
  await fieldError('output', checkOutput(spec.output));
  if (spec.features !== undefined) {
    if (deps.features === undefined) throw new SlipwayError('FAILED_PRECONDITION', 'this server has no feature store');
    await deps.features.service(spec.features.service);
    return;
  }
  const fileColumns = (await describeTable(spec.input)).columns;
  const keep = spec.keep ?? [];
  const overrides = Object.fromEntries(
    Object.entries(spec.map ?? {}).map(([name, columns]) => [name, splitMapColumns(columns)]),
  );
  const ignore = [...(spec.idColumn === undefined ? [] : [spec.idColumn]), ...keep];
  const mappings = mapColumns(
    record.signature,
    fileColumns.map((c) => c.name),
    ignore,
    overrides,
  );
  new ChunkEncoder(mappings, outputColumns(record.signature.outputs), fileColumns, spec.idColumn, keep);
  await checkTextColumns(spec.input, fileColumns, mappings);
}

async function checkOutput(output: string): Promise<void> {
  const target = resolveTableTarget(output);
  const folder = await stat(path.dirname(target.path)).catch(() => undefined);
  if (folder?.isDirectory() !== true)
    throw new SlipwayError('INVALID_ARGUMENT', `the folder of "${output}" does not exist`);
}

/** A problem with a path field as a 400 naming the field (a missing input file is the submitter's mistake, not a missing resource). */
async function fieldError(field: 'input' | 'output', check: Promise<unknown>): Promise<void> {
  try {
    await check;
  } catch (error) {
    if (!(error instanceof SlipwayError) || (error.code !== 'NOT_FOUND' && error.code !== 'INVALID_ARGUMENT'))
      throw error;
    throw new SlipwayError('INVALID_ARGUMENT', `job field "${field}": ${error.message}`, {
      details: { field },
      cause: error,
    });
  }
}
