import { sql, type Selectable } from 'kysely';
import { SlipwayError } from '../core/errors.js';
import type { Database } from '../store/database.js';
import type { AuditEventTable } from '../store/schema.js';

/** `ok`, or the error code a failed change answered with (`NOT_FOUND`, `FAILED_PRECONDITION`, ...). */
export type AuditOutcome = string;

/** One change as the audit trail records it. */
export interface AuditEventInput {
  /** Epoch milliseconds; default now. */
  readonly timeMs?: number;
  /** A token name, 'anonymous' (auth off) or 'cli:<os user>'. */
  readonly actor: string;
  readonly actorRole?: string | null;
  /** The client's address; null/absent for CLI commands. */
  readonly address?: string | null;
  /** e.g. `model.push`, `alias.set`, `deployment.rollback`, `repository.load`. */
  readonly action: string;
  /** What it acted on: `fraud@1.2.0`, `fraud:champion`, a deployment or view name. */
  readonly target?: string | null;
  /** A small JSON object (the audit log cuts big ones). */
  readonly details?: Readonly<Record<string, unknown>> | null;
  readonly outcome: AuditOutcome;
  readonly requestId?: string | null;
}

/** A recorded change, as `GET /api/v1/audit` and `slipway audit --json` show it. */
export interface AuditEvent {
  readonly id: number;
  /** ISO-8601 UTC. */
  readonly time: string;
  readonly actor: string;
  readonly actorRole: string | null;
  readonly address: string | null;
  readonly action: string;
  readonly target: string | null;
  readonly details: Record<string, unknown> | null;
  readonly outcome: AuditOutcome;
  readonly requestId: string | null;
}

export interface AuditQuery {
  /** Only events at or after this epoch ms. */
  readonly sinceMs?: number;
  /** Only this actor (exact name). */
  readonly actor?: string;
  /** Only actions starting with this text (`rollout` matches `rollout.start`). */
  readonly actionPrefix?: string;
  /** Most events in one page (default 100). */
  readonly limit?: number;
  /** Keyset cursor: only events older than this id (the `next` of the previous page). */
  readonly beforeId?: number;
}

export interface AuditPage {
  /** Newest first. */
  readonly events: AuditEvent[];
  /** Pass as `beforeId` for the next (older) page; absent on the last page. */
  readonly next?: number;
}

export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 1000;

/**
 * The audit trail's table, for SQLite and PostgreSQL alike. Rows are only ever inserted; reads
 * are keyset pages by id, newest first. The Database belongs to whoever opened it.
 */
export class SqlAuditStore {
  readonly #database: Database;

  constructor(database: Database) {
    this.#database = database;
  }

  async insert(events: readonly AuditEventInput[]): Promise<void> {
    if (events.length === 0) return;
    const now = Date.now();
    await this.#database.db
      .insertInto('audit_events')
      .values(
        events.map((event) => ({
          time_ms: event.timeMs ?? now,
          actor: event.actor,
          actor_role: event.actorRole ?? null,
          address: event.address ?? null,
          action: event.action,
          target: event.target ?? null,
          details: event.details === undefined || event.details === null ? null : JSON.stringify(event.details),
          outcome: event.outcome,
          request_id: event.requestId ?? null,
        })),
      )
      .execute();
  }

  async list(query: AuditQuery = {}): Promise<AuditPage> {
    const limit = query.limit ?? DEFAULT_AUDIT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_LIMIT)
      throw new SlipwayError('INVALID_ARGUMENT', `limit must be an integer from 1 to ${MAX_AUDIT_LIMIT}`);
    let select = this.#database.db.selectFrom('audit_events').selectAll();
    if (query.sinceMs !== undefined) select = select.where('time_ms', '>=', query.sinceMs);
    if (query.actor !== undefined) select = select.where('actor', '=', query.actor);
    if (query.actionPrefix !== undefined && query.actionPrefix !== '') {
      // substr, not LIKE: a prefix with % or _ in it means itself, on both dialects.
      const prefix = query.actionPrefix;
      select = select.where(sql<string>`substr(action, 1, ${prefix.length})`, '=', prefix);
    }
    if (query.beforeId !== undefined) select = select.where('id', '<', query.beforeId);
    const rows = await select
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const events = rows.slice(0, limit).map(toEvent);
    const last = events[events.length - 1];
    return rows.length > limit && last !== undefined ? { events, next: last.id } : { events };
  }
}

function toEvent(row: Selectable<AuditEventTable>): AuditEvent {
  return {
    id: Number(row.id),
    time: new Date(Number(row.time_ms)).toISOString(),
    actor: row.actor,
    actorRole: row.actor_role,
    address: row.address,
    action: row.action,
    target: row.target,
    details: row.details === null ? null : (JSON.parse(row.details) as Record<string, unknown>),
    outcome: row.outcome,
    requestId: row.request_id,
  };
}
