import type { Kysely, Selectable } from 'kysely';
import { SlipwayError } from '../../core/errors.js';
import type { Database } from '../../store/database.js';
import { isUniqueViolation } from '../../store/database-errors.js';
import type { AlertEventTable, AlertRuleTable, DatabaseSchema } from '../../store/schema.js';
import type {
  AlertDelivery,
  AlertEvent,
  AlertStore,
  EventQuery,
  RuleSource,
  StatusUpdate,
  StoredAlertRule,
} from './alert-store.js';
import type { AlertRule, AlertScope } from './rule.js';
import { parseRuleExpr } from './rule-expr.js';

type Db = Kysely<DatabaseSchema>;
type RuleRow = Selectable<AlertRuleTable>;
type EventRow = Selectable<AlertEventTable>;

/**
 * Alert rules, their state and history over Kysely, for SQLite and PostgreSQL alike.
 * `close()` only marks the store closed: the Database belongs to whoever opened it, who closes it
 * (several stores share one).
 *
 * @example
 * const store = new SqlAlertStore(await openDatabase({ sqlitePath: 'slipway.db' }));
 */
export class SqlAlertStore implements AlertStore {
  readonly #database: Database;
  #closed = false;

  constructor(database: Database) {
    this.#database = database;
  }

  get #db(): Db {
    if (this.#closed) throw new SlipwayError('UNAVAILABLE', 'the alert store is closed');
    return this.#database.db;
  }

  async listRules(): Promise<StoredAlertRule[]> {
    return (await this.#db.selectFrom('alert_rules').selectAll().orderBy('name').execute()).map(toRule);
  }

  async getRule(name: string): Promise<StoredAlertRule | undefined> {
    const row = await this.#db.selectFrom('alert_rules').selectAll().where('name', '=', name).executeTakeFirst();
    return row === undefined ? undefined : toRule(row);
  }

  async insertRule(rule: AlertRule, source: RuleSource): Promise<StoredAlertRule> {
    const now = new Date().toISOString();
    try {
      const row = await this.#db
        .insertInto('alert_rules')
        .values({ ...definition(rule), name: rule.name, source, created_at: now, updated_at: now })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRule(row);
    } catch (error) {
      if (isUniqueViolation(error))
        throw new SlipwayError('ALREADY_EXISTS', `alert rule "${rule.name}" already exists`, { cause: error });
      throw error;
    }
  }

  async deleteRule(name: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('alert_rules').where('name', '=', name).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async replaceFileRules(rules: readonly AlertRule[]): Promise<void> {
    const now = new Date().toISOString();
    await this.#db.transaction().execute(async (trx) => {
      const existing = new Map(
        (await trx.selectFrom('alert_rules').selectAll().execute()).map((row) => [row.name, row]),
      );
      const taken = rules.filter((rule) => existing.get(rule.name)?.source === 'api').map((rule) => rule.name);
      if (taken.length > 0) {
        throw new SlipwayError(
          'ALREADY_EXISTS',
          taken.length === 1
            ? `alert rule "${taken[0] ?? ''}" from the rule file also exists as an API rule; rename it in the file or delete the API rule (slipway alerts rm ${taken[0] ?? ''})`
            : `alert rules ${taken.map((name) => `"${name}"`).join(', ')} from the rule file also exist as API rules; rename them in the file or delete the API rules (slipway alerts rm <name>)`,
          { details: { names: taken } },
        );
      }
      const wanted = new Set(rules.map((rule) => rule.name));
      const stale = [...existing.values()]
        .filter((row) => row.source === 'file' && !wanted.has(row.name))
        .map((row) => row.name);
      if (stale.length > 0) await trx.deleteFrom('alert_rules').where('name', 'in', stale).execute();
      for (const rule of rules) {
        const values = definition(rule);
        const row = existing.get(rule.name);
        if (row === undefined) {
          await trx
            .insertInto('alert_rules')
            .values({ ...values, name: rule.name, source: 'file', created_at: now, updated_at: now })
            .execute();
        } else if (!sameDefinition(row, values)) {
          await trx
            .updateTable('alert_rules')
            .set({ ...values, updated_at: now })
            .where('name', '=', rule.name)
            .execute();
        }
      }
    });
  }

  async saveEvaluation(updates: readonly StatusUpdate[]): Promise<AlertEvent[]> {
    if (updates.length === 0) return [];
    return this.#db.transaction().execute(async (trx) => {
      const events: AlertEvent[] = [];
      for (const { rule, definedAt, from, status, event } of updates) {
        const result = await trx
          .updateTable('alert_rules')
          .set({
            state: status.state,
            state_since: status.since,
            last_value: status.value,
            evaluated_at: status.evaluatedAt,
          })
          .where('name', '=', rule)
          .where('updated_at', '=', definedAt)
          .where('state', '=', from.state)
          .where('state_since', from.since === null ? 'is' : '=', from.since)
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n || event === undefined) continue;
        const row = await trx
          .insertInto('alert_events')
          .values({
            rule: event.rule,
            state: event.state,
            value: event.value,
            threshold: event.threshold,
            expr: event.expr,
            severity: event.severity,
            description: event.description,
            scope: JSON.stringify(event.scope),
            starts_at: event.startsAt,
            at: event.at,
            delivery: event.delivery === null ? null : JSON.stringify(event.delivery),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        events.push(toEvent(row));
      }
      return events;
    });
  }

  async setDelivery(eventId: number, delivery: AlertDelivery): Promise<void> {
    await this.#db
      .updateTable('alert_events')
      .set({ delivery: JSON.stringify(delivery) })
      .where('id', '=', eventId)
      .execute();
  }

  async listEvents(query: EventQuery): Promise<AlertEvent[]> {
    let select = this.#db.selectFrom('alert_events').selectAll().orderBy('id', 'desc').limit(query.limit);
    if (query.rule !== undefined) select = select.where('rule', '=', query.rule);
    if (query.state !== undefined) select = select.where('state', '=', query.state);
    if (query.since !== undefined) select = select.where('at', '>=', query.since);
    return (await select.execute()).map(toEvent);
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

/** The columns that define a rule (everything but its name, source, timestamps and state). */
function definition(rule: AlertRule) {
  return {
    expr: rule.expr,
    scope: JSON.stringify(rule.scope),
    webhook: rule.webhook ?? null,
    severity: rule.severity,
    description: rule.description ?? null,
    enabled: rule.enabled ? 1 : 0,
  };
}

function sameDefinition(row: RuleRow, values: ReturnType<typeof definition>): boolean {
  return (Object.keys(values) as (keyof typeof values)[]).every((key) => row[key] === values[key]);
}

function toRule(row: RuleRow): StoredAlertRule {
  return {
    name: row.name,
    expr: row.expr,
    ...parseRuleExpr(row.expr),
    scope: JSON.parse(row.scope) as AlertScope,
    ...(row.webhook === null ? {} : { webhook: row.webhook }),
    severity: row.severity,
    ...(row.description === null ? {} : { description: row.description }),
    enabled: row.enabled === 1,
    source: row.source,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    status: { state: row.state, since: row.state_since, value: row.last_value, evaluatedAt: row.evaluated_at },
  };
}

function toEvent(row: EventRow): AlertEvent {
  return {
    id: row.id,
    rule: row.rule,
    state: row.state,
    value: row.value,
    threshold: row.threshold,
    expr: row.expr,
    scope: JSON.parse(row.scope) as AlertScope,
    severity: row.severity,
    description: row.description,
    startsAt: row.starts_at,
    endsAt: row.state === 'resolved' ? row.at : null,
    at: row.at,
    delivery: row.delivery === null ? null : (JSON.parse(row.delivery) as AlertDelivery),
  };
}
