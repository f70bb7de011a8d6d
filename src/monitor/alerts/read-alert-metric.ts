import type { DriftService } from '../drift-service.js';
import { LIVE_METRICS, type LiveMetric, type LiveStats } from '../live-stats.js';
import { PERFORMANCE_METRICS, type PerformanceMetric, type PerformanceService } from '../performance-service.js';
import type { MetricReader } from './alert-service.js';

/** Where alert rules read their metrics from. */
export interface AlertMetricSources {
  /** Live serving windows (the monitor's `stats`). */
  readonly live: Pick<LiveStats, 'metric'>;
  readonly performance: Pick<PerformanceService, 'metric'>;
  readonly drift: Pick<DriftService, 'results'>;
}

/**
 * The alert service's metric reader: live metrics over the last minute, performance against
 * ground truth over the last 24 h, and the latest drift result (undefined when the latest check
 * could not decide). A metric with no value yet reads undefined, which no rule fires on.
 */
export function alertMetricReader(sources: AlertMetricSources): MetricReader {
  return async (metric, scope) => {
    const { model, version, deployment } = scope;
    if ((LIVE_METRICS as readonly string[]).includes(metric)) {
      return sources.live.metric(metric as LiveMetric, {
        window: '1m',
        ...(model === undefined ? {} : { model }),
        ...(version === undefined ? {} : { version }),
        ...(deployment === undefined ? {} : { deployment }),
      });
    }
    if (model === undefined) return undefined;
    if ((PERFORMANCE_METRICS as readonly string[]).includes(metric)) {
      return sources.performance.metric(
        metric as PerformanceMetric,
        { model, ...(version === undefined ? {} : { version }) },
        86_400_000,
      );
    }
    const [latest] = await sources.drift.results({ model, ...(version === undefined ? {} : { version }), limit: 1 });
    if (latest === undefined || latest.dataset.drifted === null) return undefined;
    if (metric === 'drift_share') return latest.dataset.share;
    if (metric === 'drifted_columns') return latest.dataset.driftedColumns;
    return undefined;
  };
}
