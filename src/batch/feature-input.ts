import { stat } from 'node:fs/promises';
import path from 'node:path';
import { SlipwayError } from '../core/errors.js';
import { parseFeatureRef } from '../features/definitions/types.js';
import type { FeatureStore } from '../features/feature-store.js';
import { featureColumnName } from '../features/offline/point-in-time.js';
import type { JobFingerprint, JobFolder } from './job-folder.js';
import type { BatchJobSpec } from './types.js';

export interface FeatureInput {
  /** The point-in-time join of the input with the service's features (Parquet, in the job folder). */
  readonly file: string;
  /** The service's feature columns in its order: the single input's columns by default. */
  readonly columns: string[];
  readonly fingerprint: NonNullable<JobFingerprint['features']>;
}

/**
 * Joins the input with the feature service's point-in-time values (`buildTrainingSet`) into
 * `<job>/features.parquet`, once: a resumed job reuses the file (the job's fingerprint covers the
 * input files and the service version), so its chunks are the same rows.
 */
export async function prepareFeatures(
  spec: BatchJobSpec,
  store: FeatureStore | undefined,
  folder: JobFolder,
): Promise<FeatureInput> {
  const wanted = spec.features;
  if (wanted === undefined) throw new SlipwayError('INTERNAL', 'prepareFeatures without features');
  if (store === undefined) throw new SlipwayError('FAILED_PRECONDITION', 'this batch runner has no feature store');
  const service = await store.service(wanted.service);
  const columns = service.features
    .map(parseFeatureRef)
    .map((ref) => (ref.kind === 'view' ? featureColumnName(ref.view, ref.feature) : ref.name));
  const file = path.join(folder.dir, `features-v${service.version}.parquet`);
  if ((await stat(file).catch(() => undefined)) === undefined) {
    await folder.create();
    const { buildTrainingSet } = await import('../features/offline/training-set.js');
    await buildTrainingSet(store, {
      service: wanted.service,
      entities: path.resolve(spec.input),
      out: file,
      timestampColumn: wanted.timestampColumn,
    });
  }
  return {
    file,
    columns,
    fingerprint: { service: wanted.service, version: service.version, timestampColumn: wanted.timestampColumn },
  };
}
