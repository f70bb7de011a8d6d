import type { AlertEvent, AlertEventState, DeliveryOutcome } from './alert-store.js';
import type { AlertRule, AlertScope, Severity } from './rule.js';
import { describeScope } from './rule.js';
import { formatDuration } from './rule-expr.js';

/**
 * The JSON body a webhook receives, one per transition (Alertmanager-like):
 *
 * ```json
 * {
 *   "rule": "fraud-p99",              // rule name
 *   "state": "firing",                // or "resolved"
 *   "value": 63.2,                    // the value that caused the transition
 *   "threshold": 50,
 *   "expr": "p99_ms > 50 for 5m",
 *   "scope": { "model": "fraud" },    // model, version, deployment: each optional
 *   "severity": "critical",           // info | warning | critical
 *   "startsAt": "2024-05-01T12:05:00.000Z", // when it fired
 *   "endsAt": "2024-05-01T12:20:00.000Z",   // resolved only
 *   "at": "2024-05-01T12:20:00.000Z",       // when this transition happened
 *   "description": "p99 latency of fraud" // or null
 * }
 * ```
 *
 * A receiver answers 2xx to accept it; 408, 429 and 5xx (and network errors or timeouts) are
 * retried with exponential backoff; any other status is a permanent failure. Events of one rule
 * are delivered in order: a resolution is sent after its firing was delivered or given up on.
 */
export interface AlertPayload {
  readonly rule: string;
  readonly state: AlertEventState;
  readonly value: number;
  readonly threshold: number;
  readonly expr: string;
  readonly scope: AlertScope;
  readonly severity: Severity;
  readonly startsAt: string;
  readonly endsAt?: string;
  readonly at: string;
  readonly description: string | null;
}

/**
 * Somewhere alert events go besides the log (which always gets them). Implementations never
 * throw from `deliver`: a failure is an outcome, recorded in the event's history.
 */
export interface AlertNotifier {
  /** Recorded with each outcome, e.g. `webhook`. */
  readonly name: string;
  /** Where this notifier sends `rule`'s events; undefined = it has nowhere to send them. */
  targetOf(rule: AlertRule): string | undefined;
  /** Deliver one payload to `target`, retrying as it sees fit; stop early when `signal` aborts. */
  deliver(payload: AlertPayload, target: string, signal: AbortSignal): Promise<DeliveryOutcome>;
}

export function toPayload(event: AlertEvent): AlertPayload {
  return {
    rule: event.rule,
    state: event.state,
    value: event.value,
    threshold: event.threshold,
    expr: event.expr,
    scope: event.scope,
    severity: event.severity,
    startsAt: event.startsAt,
    ...(event.endsAt === null ? {} : { endsAt: event.endsAt }),
    at: event.at,
    description: event.description,
  };
}

/**
 * The log notifier's line for one transition.
 *
 * @example
 * // alert fraud-p99 firing: value 63.2 (p99_ms > 50 for 5m) scope model=fraud severity critical
 * // alert fraud-p99 resolved after 15m: value 41 (p99_ms > 50 for 5m) scope model=fraud severity critical
 */
export function formatAlertLine(event: AlertEvent): string {
  const lasted =
    event.state === 'resolved'
      ? ` after ${formatDuration(Math.max(0, Date.parse(event.at) - Date.parse(event.startsAt)))}`
      : '';
  return `alert ${event.rule} ${event.state}${lasted}: value ${event.value} (${event.expr}) scope ${describeScope(event.scope)} severity ${event.severity}`;
}

/** The URL's origin only: webhook paths often carry tokens, and outcomes end up in history and logs. */
export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '<invalid URL>';
  }
}
