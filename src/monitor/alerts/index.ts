/**
 * Alerts: rules on live, performance and drift metrics (`p99_ms > 50 for 5m`), evaluated
 * periodically, firing and resolving, delivered to the log and by webhook, with history.
 */
export {
  AlertService,
  type AlertServiceOptions,
  type AlertLogEvent,
  type HistoryQuery,
  type MetricReader,
} from './alert-service.js';
export type {
  AlertDelivery,
  AlertEvent,
  AlertStore,
  DeliveryOutcome,
  RuleState,
  RuleStatus,
  StoredAlertRule,
} from './alert-store.js';
export { SqlAlertStore } from './sql-alert-store.js';
export { WebhookNotifier, type WebhookNotifierOptions } from './webhook-notifier.js';
export { formatAlertLine, type AlertNotifier, type AlertPayload } from './notifier.js';
export {
  validateRule,
  SEVERITIES,
  type AlertRule,
  type AlertRuleInput,
  type AlertScope,
  type Severity,
} from './rule.js';
export { parseRuleExpr, parseDuration, formatDuration, type RuleCondition, type ComparisonOp } from './rule-expr.js';
export { loadRuleFile, parseRuleFile } from './rule-file.js';
export {
  openAlertService,
  DEFAULT_ALERT_METRICS,
  DRIFT_ALERT_METRICS,
  type OpenAlertServiceOptions,
} from './open-alert-service.js';
