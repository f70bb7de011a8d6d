/**
 * Metrics of the process's dependence on its database (issue 13 item 4): whether it answers, and
 * the writes that could wait for it but were dropped because too many waited.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** The kinds of deferred writes counted in `slipway_dropped_writes_total`. */
export const DROPPED_WRITE_KINDS = ['prediction_log', 'traffic_stats', 'shadow_results'] as const;
export type DroppedWriteKind = (typeof DROPPED_WRITE_KINDS)[number];

export interface ReliabilitySources {
  /** The metadata database answers (as last seen). */
  readonly databaseUp: () => boolean;
  /** Running totals of writes dropped, by kind. */
  readonly droppedWrites: () => Readonly<Record<DroppedWriteKind, number>>;
}

/** Register `slipway_database_up` and `slipway_dropped_writes_total{kind}`; both read at scrape time. */
export function registerReliabilityMetrics(registry: Registry, sources: ReliabilitySources): void {
  const registers = [registry];
  new Gauge({
    name: 'slipway_database_up',
    help: 'Whether the metadata database answers (1) or not (0), as this process last saw it.',
    registers,
    // Over --workers N, the process group is only as up as its least connected worker.
    aggregator: 'min',
    collect() {
      this.set(sources.databaseUp() ? 1 : 0);
    },
  });
  new Counter({
    name: 'slipway_dropped_writes_total',
    help: 'Writes that wait for the database (prediction log, traffic counters, shadow results) dropped because too many waited, or given up on.',
    labelNames: ['kind'],
    registers,
    collect() {
      const totals = sources.droppedWrites();
      this.reset();
      for (const kind of DROPPED_WRITE_KINDS) this.inc({ kind }, totals[kind]);
    },
  });
}
