import type { Kysely } from 'kysely';
import { writeWithoutWaiting, type Database } from '../store/database.js';
import type { DatabaseSchema } from '../store/schema.js';

type Db = Kysely<DatabaseSchema>;

/** One mirrored request, as stored. */
export interface ShadowResult {
  readonly deployment: string;
  readonly requestId: string;
  readonly timeMs: number;
  readonly primaryVersion: string;
  readonly shadowVersion: string;
  readonly primaryMs: number;
  /** Null when the shadow failed. */
  readonly shadowMs: number | null;
  readonly agree: boolean | null;
  readonly absDiffMean: number | null;
  readonly absDiffMax: number | null;
  readonly error: string | null;
  /** `{output: [values]}` JSON text. */
  readonly primaryOutputs: string | null;
  readonly shadowOutputs: string | null;
}

/** `slipway shadow report`: one row per shadow version. */
export interface ShadowVersionReport {
  readonly shadowVersion: string;
  /** Copies answered by the shadow and compared. */
  readonly compared: number;
  /** Copies the shadow failed on. */
  readonly errors: number;
  /** Copies dropped because a server's shadow queue was full. */
  readonly dropped: number;
  /** Share of compared copies whose label outputs agreed; null without label outputs. */
  readonly agreementRate: number | null;
  readonly meanAbsDiff: number | null;
  readonly maxAbsDiff: number | null;
  readonly primaryLatency: LatencySummary;
  readonly shadowLatency: LatencySummary;
}

export interface LatencySummary {
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly meanMs: number | null;
}

/** Latencies are summarised over at most this many of the newest results per version. */
const LATENCY_ROWS = 100_000;

export class SqlShadowStore {
  constructor(private readonly database: Database) {}

  private get db(): Db {
    return this.database.db;
  }

  /** Store results and set this process's running drop totals, in one transaction. */
  async write(
    results: readonly ShadowResult[],
    drops: ReadonlyMap<string, { deployment: string; shadowVersion: string; dropped: number }>,
    source: string,
  ): Promise<void> {
    if (results.length === 0 && drops.size === 0) return;
    const now = Date.now();
    await writeWithoutWaiting(this.database, async (trx) => {
      for (let i = 0; i < results.length; i += 200) {
        await trx
          .insertInto('shadow_results')
          .values(
            results.slice(i, i + 200).map((r) => ({
              deployment: r.deployment,
              request_id: r.requestId,
              time_ms: r.timeMs,
              primary_version: r.primaryVersion,
              shadow_version: r.shadowVersion,
              primary_ms: r.primaryMs,
              shadow_ms: r.shadowMs,
              agree: r.agree === null ? null : Number(r.agree),
              abs_diff_mean: r.absDiffMean,
              abs_diff_max: r.absDiffMax,
              error: r.error,
              primary_outputs: r.primaryOutputs,
              shadow_outputs: r.shadowOutputs,
            })),
          )
          .execute();
      }
      for (const d of drops.values()) {
        await trx
          .insertInto('shadow_drops')
          .values({
            deployment: d.deployment,
            shadow_version: d.shadowVersion,
            source,
            dropped: d.dropped,
            updated_ms: now,
          })
          .onConflict((oc) =>
            oc.columns(['deployment', 'shadow_version', 'source']).doUpdateSet({ dropped: d.dropped, updated_ms: now }),
          )
          .execute();
      }
    });
  }

  /** Delete results older than `timeMs`, a thousand at a time (short write locks). Returns how many. */
  async deleteBefore(timeMs: number): Promise<number> {
    let total = 0;
    for (;;) {
      const ids = this.db
        .selectFrom('shadow_results')
        .select('id')
        .where('time_ms', '<', Math.ceil(timeMs))
        .limit(1000);
      const deleted = Number(
        (await this.db.deleteFrom('shadow_results').where('id', 'in', ids).executeTakeFirst()).numDeletedRows,
      );
      total += deleted;
      if (deleted < 1000) return total;
    }
  }

  /** The newest results first. */
  async results(
    deployment: string,
    options: { sinceMs?: number; limit?: number; requestId?: string } = {},
  ): Promise<ShadowResult[]> {
    let query = this.db
      .selectFrom('shadow_results')
      .selectAll()
      .where('deployment', '=', deployment)
      .orderBy('id', 'desc')
      .limit(Math.min(options.limit ?? 100, 10_000));
    if (options.sinceMs !== undefined) query = query.where('time_ms', '>=', options.sinceMs);
    if (options.requestId !== undefined) query = query.where('request_id', '=', options.requestId);
    return (await query.execute()).map((r) => ({
      deployment: r.deployment,
      requestId: r.request_id,
      timeMs: Number(r.time_ms),
      primaryVersion: r.primary_version,
      shadowVersion: r.shadow_version,
      primaryMs: Number(r.primary_ms),
      shadowMs: r.shadow_ms === null ? null : Number(r.shadow_ms),
      agree: r.agree === null ? null : Number(r.agree) === 1,
      absDiffMean: r.abs_diff_mean === null ? null : Number(r.abs_diff_mean),
      absDiffMax: r.abs_diff_max === null ? null : Number(r.abs_diff_max),
      error: r.error,
      primaryOutputs: r.primary_outputs,
      shadowOutputs: r.shadow_outputs,
    }));
  }

  async report(deployment: string, sinceMs = 0): Promise<ShadowVersionReport[]> {
    const aggregates = await this.db
      .selectFrom('shadow_results')
      .select((eb) => [
        'shadow_version',
        eb.fn.count<number | string>('id').as('total'),
        eb.fn.count<number | string>('error').as('errors'),
        eb.fn.avg<number | string | null>('agree').as('agreement'),
        eb.fn.count<number | string>('agree').as('labelled'),
        eb.fn.avg<number | string | null>('abs_diff_mean').as('mean_diff'),
        eb.fn.max<number | string | null>('abs_diff_max').as('max_diff'),
      ])
      .where('deployment', '=', deployment)
      .where('time_ms', '>=', sinceMs)
      .groupBy('shadow_version')
      .execute();
    const drops = await this.db
      .selectFrom('shadow_drops')
      .select((eb) => ['shadow_version', eb.fn.sum<number | string>('dropped').as('dropped')])
      .where('deployment', '=', deployment)
      .groupBy('shadow_version')
      .execute();
    const dropsOf = new Map(drops.map((d) => [d.shadow_version, Number(d.dropped)]));
    const versions = new Set([...aggregates.map((a) => a.shadow_version), ...dropsOf.keys()]);
    const out: ShadowVersionReport[] = [];
    for (const version of [...versions].sort()) {
      const a = aggregates.find((x) => x.shadow_version === version);
      const latencies = await this.db
        .selectFrom('shadow_results')
        .select(['primary_ms', 'shadow_ms'])
        .where('deployment', '=', deployment)
        .where('shadow_version', '=', version)
        .where('time_ms', '>=', sinceMs)
        .orderBy('id', 'desc')
        .limit(LATENCY_ROWS)
        .execute();
      const total = Number(a?.total ?? 0);
      const errors = Number(a?.errors ?? 0);
      out.push({
        shadowVersion: version,
        compared: total - errors,
        errors,
        dropped: dropsOf.get(version) ?? 0,
        agreementRate: a === undefined || Number(a.labelled) === 0 || a.agreement === null ? null : Number(a.agreement),
        meanAbsDiff: a?.mean_diff === null || a?.mean_diff === undefined ? null : Number(a.mean_diff),
        maxAbsDiff: a?.max_diff === null || a?.max_diff === undefined ? null : Number(a.max_diff),
        primaryLatency: summarise(latencies.map((l) => Number(l.primary_ms))),
        shadowLatency: summarise(latencies.filter((l) => l.shadow_ms !== null).map((l) => Number(l.shadow_ms))),
      });
    }
    return out;
  }
}

/** Nearest-rank percentiles (numpy's 'lower' method) and the mean. */
export function summarise(values: number[]): LatencySummary {
  if (values.length === 0) return { p50Ms: null, p99Ms: null, meanMs: null };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.floor(q * (sorted.length - 1))] as number;
  return { p50Ms: at(0.5), p99Ms: at(0.99), meanMs: values.reduce((s, v) => s + v, 0) / values.length };
}
