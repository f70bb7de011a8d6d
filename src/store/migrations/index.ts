import { Migrator } from 'kysely';
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import { SlipwayError } from '../../core/errors.js';
import type { SqlDialectName } from '../database.js';
import type { DatabaseSchema } from '../schema.js';
import { registryMigration } from './0001-registry.js';
import { servingConfigMigration } from './0002-serving-config.js';
import { predictionLogMigration } from './0003-prediction-log.js';
import { alertsMigration } from './0004-alerts.js';
import { driftMigration } from './0005-drift.js';
import { featuresMigration } from './0006-features.js';
import { batchJobsMigration } from './0007-batch-jobs.js';
import { deploymentsMigration } from './0008-deployments.js';
import { artifactLeasesMigration } from './0009-artifact-leases.js';
import { versionLabelsMigration } from './0010-version-labels.js';
import { apiTokensMigration } from './0011-api-tokens.js';
import { auditEventsMigration } from './0012-audit-events.js';
import { optimizeJobsMigration } from './0013-optimize-jobs.js';
import { pipelinesMigration } from './0014-pipelines.js';
import { artifactObjectsMigration } from './0015-artifact-objects.js';

/**
 * Every migration, by name; names sort in the order they run. Append only: never edit or
 * rename a migration that has shipped.
 */
export function migrations(dialect: SqlDialectName): Record<string, Migration> {
  return {
    '0001_registry': registryMigration(dialect),
    '0002_serving_config': servingConfigMigration,
    '0003_prediction_log': predictionLogMigration(dialect),
    '0004_alerts': alertsMigration(dialect),
    '0005_drift': driftMigration(dialect),
    '0006_features': featuresMigration(dialect),
    '0007_batch_jobs': batchJobsMigration(dialect),
    '0008_deployments': deploymentsMigration(dialect),
    '0009_artifact_leases': artifactLeasesMigration,
    '0010_version_labels': versionLabelsMigration,
    '0011_api_tokens': apiTokensMigration,
    '0012_audit_events': auditEventsMigration(dialect),
    '0013_optimize_jobs': optimizeJobsMigration,
    '0014_pipelines': pipelinesMigration(dialect),
    '0015_artifact_objects': artifactObjectsMigration(dialect),
  };
}

/** A static provider: no filesystem scanning, so it works from `dist/` and under vitest alike. */
class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: SqlDialectName) {}

  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(migrations(this.dialect));
  }
}

/**
 * Bring the database to the latest schema. `schema` names where Kysely keeps its migration
 * bookkeeping tables (PostgreSQL only); it must be the schema the tables are created in.
 */
export async function migrateToLatest(
  db: Kysely<DatabaseSchema>,
  dialect: SqlDialectName,
  schema?: string,
): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: new StaticMigrationProvider(dialect),
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName;
    const message = error instanceof Error ? error.message : JSON.stringify(error);
    const which = failed === undefined ? 'database migration' : `database migration ${failed}`;
    throw new SlipwayError('INTERNAL', `${which} failed: ${message}`, { cause: error });
  }
}
