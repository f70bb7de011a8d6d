import { SlipwayError, invalid, notFound, toSlipwayError } from '../../core/errors.js';
import type {
  AlertDelivery,
  AlertEvent,
  AlertEventDraft,
  AlertStore,
  DeliveryOutcome,
  EventQuery,
  StatusUpdate,
  StoredAlertRule,
} from './alert-store.js';
import { formatAlertLine, originOf, toPayload } from './notifier.js';
import type { AlertNotifier } from './notifier.js';
import { checkMetric, validateRule } from './rule.js';
import { checkWebhookTarget } from './webhook-policy.js';
import { DEFAULT_WEBHOOK_ALLOW, type WebhookAllow } from '../../core/exposure-config.js';
import type { AlertRule, AlertScope } from './rule.js';
import { parseDuration } from './rule-expr.js';
import { step } from './transition.js';
import type { Step } from './transition.js';

/**
 * Reads the current value of `metric` for `scope`; undefined = no data (the rule keeps its
 * state). A rejection is reported through the log and counts as no data for that rule.
 */
export type MetricReader = (metric: string, scope: AlertScope) => Promise<number | undefined>;

/** Typed instrumentation: route `message` to the process log at `level`. */
export type AlertLogEvent =
  /** The log notifier: one line per firing or resolution. */
  | { readonly type: 'alert'; readonly level: 'warn' | 'info'; readonly message: string; readonly event: AlertEvent }
  | {
      readonly type: 'delivery-failed';
      readonly level: 'warn';
      readonly message: string;
      readonly event: AlertEvent;
      readonly outcome: DeliveryOutcome;
    }
  | {
      readonly type: 'error';
      readonly level: 'error';
      readonly message: string;
      readonly rule?: string;
      readonly error: unknown;
    };

export interface AlertServiceOptions {
  readonly store: AlertStore;
  /** Metric names a rule may use; anything else is refused with the list. */
  readonly knownMetrics: readonly string[];
  readonly readMetric: MetricReader;
  /** Where events go besides the log (e.g. a `WebhookNotifier`); default none. */
  readonly notifiers?: readonly AlertNotifier[];
  /** Epoch ms; tests inject a clock. */
  readonly now?: () => number;
  readonly log: (event: AlertLogEvent) => void;
  /** Where a rule's webhook may point (`SLIPWAY_WEBHOOK_ALLOW`, webhook-policy.ts); default any public http(s) host. */
  readonly webhookAllow?: WebhookAllow;
}

/** A history query as a person writes it (query string, CLI flags). */
export interface HistoryQuery {
  readonly rule?: string;
  /** `firing` or `resolved`. */
  readonly state?: string;
  /** An ISO timestamp, or a duration back from now (`1h`). */
  readonly since?: string;
  /** 1 to 1000, default 100. */
  readonly limit?: number | string;
}

const MAX_HISTORY = 1000;
/** setTimeout's limit (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
const noop = (): void => undefined;

/**
 * Alert rules and their evaluation. Each `evaluate()` reads every enabled rule and its state from
 * the store, reads each rule's metric, moves the rule through ok → pending → firing → ok (see
 * `step` in transition.ts) and writes the new states and events in one transaction, so state
 * survives a restart and rules added by the CLI in another process apply at the next evaluation.
 *
 * Every firing and resolution is logged (the always-on log notifier) and handed to the notifiers
 * in the background: `evaluate()` never waits for a webhook; events of one rule are delivered in
 * order; each outcome is written to the event's history row. `drain()` waits for deliveries.
 *
 * @example
 * const alerts = new AlertService({ store, knownMetrics: ['p99_ms'], readMetric, notifiers: [new WebhookNotifier()], log });
 * await alerts.addRule({ name: 'fraud-p99', expr: 'p99_ms > 50 for 5m', scope: { model: 'fraud' } });
 * alerts.start(15_000);
 * // shutdown:
 * await alerts.close();
 */
export class AlertService {
  readonly #store: AlertStore;
  readonly #knownMetrics: readonly string[];
  readonly #readMetric: MetricReader;
  readonly #notifiers: readonly AlertNotifier[];
  readonly #now: () => number;
  readonly #logSink: (event: AlertLogEvent) => void;
  readonly #webhookAllow: WebhookAllow;
  readonly #cancel = new AbortController();
  /** The latest evaluation; the next one starts after it. */
  #evaluating: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #intervalMs: number | undefined;
  readonly #deliveries = new Set<Promise<void>>();
  /** Per rule, the last queued delivery, so a resolution never overtakes its firing. */
  readonly #chains = new Map<string, Promise<void>>();
  #closing: Promise<void> | undefined;

  constructor(options: AlertServiceOptions) {
    if (options.knownMetrics.length === 0) throw invalid('AlertService needs at least one known metric');
    this.#store = options.store;
    this.#knownMetrics = [...options.knownMetrics];
    this.#readMetric = options.readMetric;
    this.#notifiers = options.notifiers ?? [];
    this.#now = options.now ?? Date.now;
    this.#logSink = options.log;
    this.#webhookAllow = options.webhookAllow ?? DEFAULT_WEBHOOK_ALLOW;
  }

  get knownMetrics(): readonly string[] {
    return this.#knownMetrics;
  }

  /** Every rule with its source and current state, by name. */
  listRules(): Promise<StoredAlertRule[]> {
    return this.#store.listRules();
  }

  async getRule(name: string): Promise<StoredAlertRule> {
    const rule = await this.#store.getRule(name);
    if (rule === undefined) throw notFound(`alert rule "${name}" does not exist`);
    return rule;
  }

  /** Validate and store an API rule. INVALID_ARGUMENT for a bad rule, ALREADY_EXISTS for a taken name. */
  async addRule(input: unknown): Promise<StoredAlertRule> {
    const rule = validateRule(input, this.#knownMetrics);
    // A webhook aimed at the server's own network is refused before it is stored (webhook-policy.ts).
    if (rule.webhook !== undefined) checkWebhookTarget(rule.webhook, this.#webhookAllow);
    return this.#store.insertRule(rule, 'api');
  }

  /**
   * Delete an API rule (its history stays; a firing rule sends no resolution). NOT_FOUND if
   * unknown; FAILED_PRECONDITION for a rule-file rule.
   */
  async removeRule(name: string): Promise<StoredAlertRule> {
    const rule = await this.getRule(name);
    if (rule.source === 'file') {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `alert rule "${name}" comes from the rule file; remove it there and restart the server`,
      );
    }
    await this.#store.deleteRule(name);
    return rule;
  }

  /**
   * Make the stored file rules exactly `rules` (see `loadRuleFile`): call once at start-up.
   * Every unknown metric is reported at once; ALREADY_EXISTS when an API rule holds a file rule's name.
   */
  async setFileRules(rules: readonly AlertRule[]): Promise<void> {
    const problems: string[] = [];
    for (const rule of rules) {
      try {
        checkMetric(rule.metric, rule.expr, this.#knownMetrics);
        if (rule.webhook !== undefined) checkWebhookTarget(rule.webhook, this.#webhookAllow);
      } catch (error) {
        problems.push(`rule "${rule.name}": ${toSlipwayError(error).message}`);
      }
    }
    if (problems.length > 0) throw invalid(`invalid alert rules:\n  ${problems.join('\n  ')}`, problems);
    await this.#store.replaceFileRules(rules);
  }

  /** Events, newest first. INVALID_ARGUMENT for a bad state, since or limit. */
  async history(query: HistoryQuery = {}): Promise<AlertEvent[]> {
    return this.#store.listEvents(this.#eventQuery(query));
  }

  /**
   * Evaluate every enabled rule once; resolves with the events it produced (firing, resolved).
   * Evaluations never overlap: a call made while one runs starts after it. A rule whose metric
   * has no data keeps its state and produces no event.
   */
  evaluate(): Promise<AlertEvent[]> {
    const run = this.#evaluating.then(() => this.#evaluateOnce());
    this.#evaluating = run.then(noop, noop);
    return run;
  }

  /**
   * Evaluate every `intervalMs` (measured from the end of one evaluation to the start of the
   * next) until `stop()`. The timer does not keep the process alive; failures are reported
   * through the log, never thrown.
   */
  start(intervalMs: number): void {
    if (!Number.isInteger(intervalMs) || intervalMs < 1 || intervalMs > MAX_TIMER_MS) {
      throw invalid(`alert interval ${intervalMs}: expected an integer of ms from 1 to ${MAX_TIMER_MS}`);
    }
    if (this.#closing !== undefined) throw new SlipwayError('UNAVAILABLE', 'the alert service is closed');
    if (this.#intervalMs !== undefined)
      throw new SlipwayError('FAILED_PRECONDITION', 'the alert loop is already running');
    this.#intervalMs = intervalMs;
    this.#schedule();
  }

  /** Stop the loop and wait for a running evaluation. Deliveries continue; see `drain`. */
  async stop(): Promise<void> {
    this.#intervalMs = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#evaluating;
  }

  /** Wait until every queued delivery has finished (delivered or given up). */
  async drain(): Promise<void> {
    while (this.#deliveries.size > 0) await Promise.all(this.#deliveries);
  }

  /**
   * Stop and cut short the retries of pending deliveries (recorded as cancelled), leaving the store
   * open: for a process whose shared database other services still write to.
   */
  async shutdown(): Promise<void> {
    await this.stop();
    this.#cancel.abort();
    await this.drain();
  }

  /** {@link shutdown}, then close the store. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.shutdown();
      await this.#store.close();
    })();
    return this.#closing;
  }

  #schedule(): void {
    if (this.#intervalMs === undefined || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => void this.#tick(), this.#intervalMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    try {
      await this.evaluate();
    } catch (error) {
      this.#report('alert evaluation failed', error);
    }
    this.#schedule();
  }

  async #evaluateOnce(): Promise<AlertEvent[]> {
    const rules = (await this.#store.listRules()).filter((rule) => rule.enabled);
    const now = this.#now();
    const values = await Promise.all(rules.map((rule) => this.#read(rule)));
    const at = new Date(now).toISOString();
    const updates: StatusUpdate[] = [];
    rules.forEach((rule, i) => {
      const value = values[i];
      const { status, emit } = step(rule, rule.status, value, now);
      if (status === rule.status || value === undefined) return;
      updates.push({
        rule: rule.name,
        definedAt: rule.updatedAt,
        from: rule.status,
        status,
        ...(emit ? { event: this.#draft(rule, emit, value, at) } : {}),
      });
    });
    const events = await this.#store.saveEvaluation(updates);
    const byName = new Map(rules.map((rule) => [rule.name, rule]));
    for (const event of events) {
      this.#log({
        type: 'alert',
        level: event.state === 'firing' ? 'warn' : 'info',
        message: formatAlertLine(event),
        event,
      });
      const rule = byName.get(event.rule);
      if (rule !== undefined && event.delivery !== null) this.#dispatch(event, rule);
    }
    return events;
  }

  async #read(rule: AlertRule): Promise<number | undefined> {
    try {
      const value = await this.#readMetric(rule.metric, rule.scope);
      // NaN and infinities compare oddly and do not survive JSON: treat them as no data.
      return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
    } catch (error) {
      this.#report(`alert rule ${rule.name}: reading ${rule.metric} failed`, error, rule.name);
      return undefined;
    }
  }

  #draft(rule: AlertRule, emit: NonNullable<Step['emit']>, value: number, at: string): AlertEventDraft {
    const targets = this.#targetsOf(rule);
    return {
      rule: rule.name,
      state: emit.state,
      value,
      threshold: rule.threshold,
      expr: rule.expr,
      scope: rule.scope,
      severity: rule.severity,
      description: rule.description ?? null,
      startsAt: emit.startsAt,
      at,
      delivery:
        targets.length === 0
          ? null
          : {
              status: 'pending',
              delivered: false,
              attempts: 0,
              targets: targets.map(([notifier, target]) => ({
                notifier: notifier.name,
                target: originOf(target),
                delivered: false,
                attempts: 0,
              })),
            },
    };
  }

  #targetsOf(rule: AlertRule): Array<[AlertNotifier, string]> {
    return this.#notifiers.flatMap((notifier): Array<[AlertNotifier, string]> => {
      const target = notifier.targetOf(rule);
      return target === undefined ? [] : [[notifier, target]];
    });
  }

  #dispatch(event: AlertEvent, rule: AlertRule): void {
    const targets = this.#targetsOf(rule);
    const delivery: Promise<void> = (this.#chains.get(rule.name) ?? Promise.resolve())
      .then(() => this.#deliver(event, targets))
      .catch((error: unknown) =>
        this.#report(`alert ${event.rule}: recording the delivery of event ${event.id} failed`, error, event.rule),
      )
      .finally(() => {
        this.#deliveries.delete(delivery);
        if (this.#chains.get(rule.name) === delivery) this.#chains.delete(rule.name);
      });
    this.#chains.set(rule.name, delivery);
    this.#deliveries.add(delivery);
  }

  async #deliver(event: AlertEvent, targets: ReadonlyArray<[AlertNotifier, string]>): Promise<void> {
    const payload = toPayload(event);
    const outcomes = await Promise.all(
      targets.map(([notifier, target]) =>
        notifier.deliver(payload, target, this.#cancel.signal).catch((error: unknown): DeliveryOutcome => ({
          notifier: notifier.name,
          target: originOf(target),
          delivered: false,
          attempts: 1,
          lastError: toSlipwayError(error).message,
        })),
      ),
    );
    for (const outcome of outcomes) {
      if (outcome.delivered) continue;
      const message = `alert ${event.rule} ${event.state}: ${outcome.notifier} delivery to ${outcome.target} failed after ${outcome.attempts} attempt(s): ${outcome.lastError ?? 'unknown error'}`;
      this.#log({ type: 'delivery-failed', level: 'warn', message, event, outcome });
    }
    await this.#store.setDelivery(event.id, summarise(outcomes));
  }

  #eventQuery(query: HistoryQuery): EventQuery {
    const { rule, state, since, limit } = query;
    if (state !== undefined && state !== 'firing' && state !== 'resolved')
      throw invalid(`state "${state}": expected firing or resolved`);
    const count = limit === undefined || limit === '' ? 100 : Number(limit);
    if (!Number.isInteger(count) || count < 1 || count > MAX_HISTORY)
      throw invalid(`limit ${String(limit)}: expected an integer from 1 to ${MAX_HISTORY}`);
    return {
      limit: count,
      ...(rule === undefined || rule === '' ? {} : { rule }),
      ...(state === undefined ? {} : { state }),
      ...(since === undefined || since === '' ? {} : { since: this.#sinceOf(since) }),
    };
  }

  #sinceOf(text: string): string {
    if (/^\d/.test(text) && /[a-z]$/.test(text)) {
      try {
        return new Date(this.#now() - parseDuration(text)).toISOString();
      } catch {
        // not a duration: try it as a timestamp below
      }
    }
    const at = Date.parse(text);
    if (Number.isNaN(at))
      throw invalid(
        `since "${text}": expected an ISO timestamp (2024-05-01T12:00:00Z) or a duration back from now (1h)`,
      );
    return new Date(at).toISOString();
  }

  #report(message: string, error: unknown, rule?: string): void {
    this.#log({
      type: 'error',
      level: 'error',
      message: `${message}: ${toSlipwayError(error).message}`,
      ...(rule === undefined ? {} : { rule }),
      error,
    });
  }

  #log(event: AlertLogEvent): void {
    try {
      this.#logSink(event);
    } catch {
      // A throwing logger must not take an evaluation, the loop or a delivery down with it.
    }
  }
}

function summarise(outcomes: readonly DeliveryOutcome[]): AlertDelivery {
  const delivered = outcomes.every((outcome) => outcome.delivered);
  const lastError = outcomes.findLast((outcome) => !outcome.delivered)?.lastError;
  return {
    status: delivered ? 'delivered' : 'failed',
    delivered,
    attempts: outcomes.reduce((sum, outcome) => sum + outcome.attempts, 0),
    ...(lastError === undefined ? {} : { lastError }),
    targets: outcomes,
  };
}
