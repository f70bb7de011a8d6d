import type { AlertRule, AlertScope, Severity } from './rule.js';

export type RuleState = 'ok' | 'pending' | 'firing';
export type RuleSource = 'api' | 'file';

/** Where a rule stands after its last evaluation. */
export interface RuleStatus {
  readonly state: RuleState;
  /** When the rule entered `state`: pending = the condition first held; firing = it fired. */
  readonly since: string | null;
  /** The last value read; null before the first reading. */
  readonly value: number | null;
  /** The last evaluation that read a value. */
  readonly evaluatedAt: string | null;
}

export const INITIAL_STATUS: RuleStatus = { state: 'ok', since: null, value: null, evaluatedAt: null };

/** A rule as stored, with where it came from and its current state. */
export interface StoredAlertRule extends AlertRule {
  readonly source: RuleSource;
  readonly createdAt: string;
  /** Changes whenever the definition changes (a file rule edited in the file). */
  readonly updatedAt: string;
  readonly status: RuleStatus;
}

/** What one notifier did with one event. */
export interface DeliveryOutcome {
  /** The notifier, e.g. `webhook`. */
  readonly notifier: string;
  /** Where it went, without path or credentials (a webhook's origin): history must not leak secrets in URLs. */
  readonly target: string;
  readonly delivered: boolean;
  readonly attempts: number;
  readonly lastError?: string;
}

/** The delivery of one event to every target; `pending` until the background deliveries finish. */
export interface AlertDelivery {
  readonly status: 'pending' | 'delivered' | 'failed';
  /** Every target answered with success. */
  readonly delivered: boolean;
  /** Attempts over all targets. */
  readonly attempts: number;
  readonly lastError?: string;
  readonly targets: readonly DeliveryOutcome[];
}

export type AlertEventState = 'firing' | 'resolved';

/** One firing or resolution, as recorded in the history. */
export interface AlertEvent {
  readonly id: number;
  readonly rule: string;
  readonly state: AlertEventState;
  /** The value that caused the transition. */
  readonly value: number;
  readonly threshold: number;
  readonly expr: string;
  readonly scope: AlertScope;
  readonly severity: Severity;
  readonly description: string | null;
  /** When the rule fired (for a resolution, when the episode it ends began). */
  readonly startsAt: string;
  /** When a resolution happened; null while firing. */
  readonly endsAt: string | null;
  readonly at: string;
  /** null = nothing to deliver beyond the log. */
  readonly delivery: AlertDelivery | null;
}

export type AlertEventDraft = Omit<AlertEvent, 'id' | 'endsAt'>;

/** The state of one rule after an evaluation, and the event its transition produced (if any). */
export interface StatusUpdate {
  readonly rule: string;
  /** The `updatedAt` of the definition that was evaluated; a rule changed or deleted since is not written. */
  readonly definedAt: string;
  /**
   * The status the evaluation started from; if another evaluator has moved the rule (another
   * state or since) meanwhile, nothing is written, so a transition is recorded once.
   */
  readonly from: RuleStatus;
  readonly status: RuleStatus;
  readonly event?: AlertEventDraft;
}

/** A validated history query. */
export interface EventQuery {
  readonly rule?: string;
  readonly state?: AlertEventState;
  /** ISO timestamp: events at or after it. */
  readonly since?: string;
  readonly limit: number;
}

/**
 * Persistence for alert rules, their state and the event history. One implementation over Kysely
 * serves SQLite and PostgreSQL; `alert-store.test.ts` runs one contract suite against both.
 */
export interface AlertStore {
  /** Every rule, by name. */
  listRules(): Promise<StoredAlertRule[]>;
  getRule(name: string): Promise<StoredAlertRule | undefined>;
  /** ALREADY_EXISTS when the name is taken (by an API or a file rule). */
  insertRule(rule: AlertRule, source: RuleSource): Promise<StoredAlertRule>;
  /** Delete a rule and its state (not its history); false when there was none. */
  deleteRule(name: string): Promise<boolean>;
  /**
   * Make the file rules exactly `rules`, in one transaction: new ones inserted, changed ones
   * updated (state kept), missing ones deleted. ALREADY_EXISTS, naming them, when API rules hold
   * any of the names; nothing is changed then.
   */
  replaceFileRules(rules: readonly AlertRule[]): Promise<void>;
  /**
   * Write the states of one evaluation and append their events, in one transaction; returns the
   * events written. An update whose rule was deleted, redefined or moved by another evaluator is skipped.
   */
  saveEvaluation(updates: readonly StatusUpdate[]): Promise<AlertEvent[]>;
  setDelivery(eventId: number, delivery: AlertDelivery): Promise<void>;
  /** Newest first. */
  listEvents(query: EventQuery): Promise<AlertEvent[]>;
  close(): Promise<void>;
}
