import type { AlertEventState, RuleStatus } from './alert-store.js';
import type { AlertRule } from './rule.js';
import { holds } from './rule-expr.js';

/** A rule's next status, and the event to emit when it fired or resolved. */
export interface Step {
  readonly status: RuleStatus;
  readonly emit?: { readonly state: AlertEventState; readonly startsAt: string };
}

/**
 * One evaluation of one rule, as a pure function of its status, the value read and the time:
 *
 * - condition holds: ok → pending (since now), or straight to firing when `for` is 0;
 *   pending → firing once it has held for `for` ms (emits `firing`); firing stays firing.
 * - condition does not hold: firing → ok (emits `resolved`); pending → ok silently.
 * - no data (`value` undefined): nothing changes, no event. A rule whose metric goes quiet
 *   neither fires nor resolves until data comes back; a pending rule keeps its start time.
 */
export function step(rule: AlertRule, current: RuleStatus, value: number | undefined, now: number): Step {
  if (value === undefined) return { status: current };
  const at = new Date(now).toISOString();
  const read = { value, evaluatedAt: at };
  if (holds(rule.op, value, rule.threshold)) {
    switch (current.state) {
      case 'firing':
        return { status: { ...current, ...read } };
      case 'pending': {
        const since = current.since === null ? now : Date.parse(current.since);
        if (now - since < rule.for) return { status: { ...current, ...read } };
        return { status: { state: 'firing', since: at, ...read }, emit: { state: 'firing', startsAt: at } };
      }
      case 'ok':
        if (rule.for > 0) return { status: { state: 'pending', since: at, ...read } };
        return { status: { state: 'firing', since: at, ...read }, emit: { state: 'firing', startsAt: at } };
    }
  }
  switch (current.state) {
    case 'firing':
      return {
        status: { state: 'ok', since: at, ...read },
        emit: { state: 'resolved', startsAt: current.since ?? at },
      };
    case 'pending':
    case 'ok':
      return { status: { state: 'ok', since: current.state === 'ok' ? current.since : at, ...read } };
  }
}
