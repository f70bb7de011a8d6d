import os from 'node:os';
import type { Principal } from '../auth/principal.js';
import { LogLimiter } from '../core/log-limiter.js';
import type { AuditEventInput, AuditPage, AuditQuery, SqlAuditStore } from './audit-store.js';

/** Details bigger than this (as JSON) are replaced by a note saying so: the trail says what, not the payload. */
export const MAX_DETAILS_CHARS = 2048;
/** Events kept in memory while the database refuses writes; beyond it the oldest are dropped and counted. */
const MAX_PENDING = 10_000;

/** Who made a change: a request's principal (or a CLI user's), and where it came from. */
export interface AuditActor {
  readonly principal: Pick<Principal, 'name'> & Partial<Pick<Principal, 'role'>>;
  readonly address?: string | null;
  readonly requestId?: string | null;
}

/** What the change was and how it ended. */
export interface AuditEntry {
  readonly action: string;
  readonly target?: string | null;
  readonly details?: Readonly<Record<string, unknown>> | null;
  /** `ok` or the error code. */
  readonly outcome: string;
}

/** The actor of a CLI command that writes the store directly: `cli:<os user>`, an admin on its own machine. */
export function cliActor(): AuditActor {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    user = process.env.USER ?? process.env.USERNAME ?? 'unknown';
  }
  return { principal: { name: `cli:${user}`, role: 'admin' } };
}

/**
 * Records changes in the audit trail. Writes are direct (one INSERT per change, not awaited by the
 * caller): changes are rare next to inference, so nothing is gained by batching, and a direct write is
 * in the table by the time the next request could read it. `record` never throws: a write the
 * database refuses is kept in memory (bounded) and retried with the next record or `flush`, and the
 * failure is logged, rate-limited.
 */
export class AuditLog {
  readonly #store: SqlAuditStore;
  readonly #log: (line: string) => void;
  readonly #limiter = new LogLimiter();
  readonly #inFlight = new Set<Promise<void>>();
  #pending: AuditEventInput[] = [];
  #dropped = 0;

  constructor(store: SqlAuditStore, log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)) {
    this.#store = store;
    this.#log = log;
  }

  /** Record one change; returns at once. `flush` waits until it is written (or kept for a retry). */
  record(actor: AuditActor, entry: AuditEntry): void {
    try {
      this.#enqueue({
        timeMs: Date.now(),
        actor: actor.principal.name,
        actorRole: actor.principal.role ?? null,
        address: actor.address ?? null,
        action: entry.action,
        target: entry.target ?? null,
        details: smallDetails(entry.details),
        outcome: entry.outcome,
        requestId: actor.requestId ?? null,
      });
    } catch (error) {
      this.#warn(error);
    }
  }

  /** Record, then wait until written: for CLI commands, which exit right after. Never throws. */
  async recordNow(actor: AuditActor, entry: AuditEntry): Promise<void> {
    this.record(actor, entry);
    await this.flush();
  }

  /** Wait for every write started so far; retry what the database refused before. Never throws. */
  async flush(): Promise<void> {
    if (this.#pending.length > 0) this.#write([]);
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  list(query: AuditQuery): Promise<AuditPage> {
    return this.#store.list(query);
  }

  #enqueue(event: AuditEventInput): void {
    this.#write([event]);
  }

  #write(events: AuditEventInput[]): void {
    const batch = this.#pending.length === 0 ? events : [...this.#pending.splice(0), ...events];
    const write: Promise<void> = this.#store
      .insert(batch)
      .catch((error: unknown) => {
        this.#keep(batch);
        this.#warn(error);
      })
      .finally(() => this.#inFlight.delete(write));
    this.#inFlight.add(write);
  }

  #keep(events: AuditEventInput[]): void {
    this.#pending.unshift(...events);
    const excess = this.#pending.length - MAX_PENDING;
    if (excess > 0) {
      this.#pending.splice(0, excess);
      this.#dropped += excess;
    }
  }

  #warn(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const line = `audit trail: could not record a change (${message}); ${this.#pending.length} kept for a retry, ${this.#dropped} dropped`;
    const suppressed = this.#limiter.check(`audit: ${message}`);
    if (suppressed !== undefined) this.#log(line);
  }
}

function smallDetails(details: AuditEntry['details']): Readonly<Record<string, unknown>> | null {
  if (details === undefined || details === null) return null;
  const text = JSON.stringify(details);
  if (text.length <= MAX_DETAILS_CHARS) return details;
  return { truncated: true, chars: text.length };
}
