import type { Database } from '../../store/database.js';
import { LIVE_METRICS } from '../live-stats.js';
import { PERFORMANCE_METRICS } from '../performance-service.js';
import { AlertService } from './alert-service.js';
import type { AlertLogEvent, MetricReader } from './alert-service.js';
import { loadRuleFile } from './rule-file.js';
import { SqlAlertStore } from './sql-alert-store.js';
import { WebhookNotifier } from './webhook-notifier.js';
import type { WebhookNotifierOptions } from './webhook-notifier.js';

/** Dataset drift of the latest check: the share of drifted columns, and their count. */
export const DRIFT_ALERT_METRICS = ['drift_share', 'drifted_columns'] as const;

/**
 * Metric names rules may use unless the caller passes its own list: live serving windows
 * (`LiveStats.metric`), performance against ground truth (`PerformanceService.metric`) and drift.
 * The metric reader decides what each means.
 */
export const DEFAULT_ALERT_METRICS: readonly string[] = Object.freeze([
  ...LIVE_METRICS,
  ...PERFORMANCE_METRICS,
  ...DRIFT_ALERT_METRICS,
]);

export interface OpenAlertServiceOptions {
  readonly readMetric: MetricReader;
  readonly log: (event: AlertLogEvent) => void;
  /** Default `DEFAULT_ALERT_METRICS`. */
  readonly knownMetrics?: readonly string[];
  /** A YAML/JSON rule file whose rules replace the stored file rules (see `loadRuleFile`). */
  readonly ruleFile?: string;
  /** Retries and timeouts of webhook deliveries; `url` = default webhook for rules without one. */
  readonly webhook?: WebhookNotifierOptions;
  readonly now?: () => number;
}

/**
 * An AlertService over `database` with a webhook notifier, its file rules synced when
 * `ruleFile` is given. `close()` leaves `database` open: its opener closes it.
 *
 * @example
 * const alerts = await openAlertService(platform.database, { readMetric, log, ruleFile: 'alerts.yaml' });
 * alerts.start(15_000);
 */
export async function openAlertService(database: Database, options: OpenAlertServiceOptions): Promise<AlertService> {
  const knownMetrics = options.knownMetrics ?? DEFAULT_ALERT_METRICS;
  const service = new AlertService({
    store: new SqlAlertStore(database),
    knownMetrics,
    readMetric: options.readMetric,
    notifiers: [new WebhookNotifier(options.webhook)],
    ...(options.webhook?.allow === undefined ? {} : { webhookAllow: options.webhook.allow }),
    log: options.log,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  if (options.ruleFile !== undefined)
    await service.setFileRules(await loadRuleFile(options.ruleFile, { knownMetrics }));
  return service;
}
