/**
 * Reference profiles, drift results and per-model drift settings in the metadata database
 * (migration 0005), on SQLite and PostgreSQL alike.
 */
import type { Database } from '../store/database.js';
import type { ColumnProfile, DriftOptions } from '../stats/index.js';
import type { DriftReport } from './drift-report.js';

export interface ReferenceProfile {
  readonly model: string;
  readonly version: string;
  readonly source: 'file' | 'served';
  readonly sourceDetail: string;
  readonly rows: number;
  readonly features: ColumnProfile[];
  readonly outputs: ColumnProfile[];
  /** Tensors too wide to profile column by column. */
  readonly skipped: string[];
  readonly createdAt: string;
}

export class DriftStore {
  constructor(private readonly database: Database) {}

  async putReference(profile: ReferenceProfile): Promise<void> {
    const row = {
      model: profile.model,
      version: profile.version,
      source: profile.source,
      source_detail: profile.sourceDetail,
      rows: profile.rows,
      profile: JSON.stringify({ features: profile.features, outputs: profile.outputs, skipped: profile.skipped }),
      created_at: profile.createdAt,
    };
    await this.database.db
      .insertInto('reference_profiles')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['model', 'version']).doUpdateSet({
          source: row.source,
          source_detail: row.source_detail,
          rows: row.rows,
          profile: row.profile,
          created_at: row.created_at,
        }),
      )
      .execute();
  }

  async getReference(model: string, version: string): Promise<ReferenceProfile | undefined> {
    const row = await this.database.db
      .selectFrom('reference_profiles')
      .selectAll()
      .where('model', '=', model)
      .where('version', '=', version)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    const body = JSON.parse(row.profile) as { features: ColumnProfile[]; outputs: ColumnProfile[]; skipped?: string[] };
    return {
      model: row.model,
      version: row.version,
      source: row.source,
      sourceDetail: row.source_detail,
      rows: Number(row.rows),
      features: body.features,
      outputs: body.outputs,
      skipped: body.skipped ?? [],
      createdAt: row.created_at,
    };
  }

  /** Every version that has a reference: `{model, version}` pairs. */
  async referencedVersions(): Promise<{ model: string; version: string }[]> {
    return this.database.db
      .selectFrom('reference_profiles')
      .select(['model', 'version'])
      .orderBy('model')
      .orderBy('version')
      .execute();
  }

  async putResult(report: DriftReport): Promise<void> {
    await this.database.db
      .insertInto('drift_results')
      .values({
        model: report.model,
        version: report.version,
        window: report.window,
        since_ms: report.since,
        until_ms: report.until,
        computed_at: report.computedAt,
        status: report.status,
        drifted: report.dataset.drifted === null ? null : report.dataset.drifted ? 1 : 0,
        share: report.dataset.share,
        report: JSON.stringify(report),
      })
      .execute();
  }

  /** Stored results, newest first. */
  async results(filter: { model?: string; version?: string; limit?: number }): Promise<DriftReport[]> {
    let query = this.database.db
      .selectFrom('drift_results')
      .select('report')
      .orderBy('id', 'desc')
      .limit(Math.min(filter.limit ?? 20, 1000));
    if (filter.model !== undefined) query = query.where('model', '=', filter.model);
    if (filter.version !== undefined) query = query.where('version', '=', filter.version);
    return (await query.execute()).map((r) => JSON.parse(r.report) as DriftReport);
  }

  async getSettings(model: string): Promise<Partial<DriftOptions>> {
    const row = await this.database.db
      .selectFrom('drift_settings')
      .select('options')
      .where('model', '=', model)
      .executeTakeFirst();
    return row === undefined ? {} : (JSON.parse(row.options) as Partial<DriftOptions>);
  }

  async putSettings(model: string, options: Partial<DriftOptions>): Promise<void> {
    const row = { model, options: JSON.stringify(options), updated_at: new Date().toISOString() };
    await this.database.db
      .insertInto('drift_settings')
      .values(row)
      .onConflict((oc) => oc.column('model').doUpdateSet({ options: row.options, updated_at: row.updated_at }))
      .execute();
  }
}
