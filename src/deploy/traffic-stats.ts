/**
 * Per-version traffic of each deployment, shared by every server process: each process counts its
 * requests in one-second slots (outcomes and a DDSketch of latencies) and writes them to
 * `deployment_stats` every second. Rollout gates and experiments read windows back, merged over
 * processes and seconds, so a controller in any process sees the traffic of all of them.
 */
import { DDSketch } from '@datadog/sketches-js';
import type { Kysely } from 'kysely';
import type { InferenceEvent } from '../monitor/events.js';
import { writeWithoutWaiting, type Database } from '../store/database.js';
import { isRetryableWriteError } from '../store/database-errors.js';
import type { DatabaseSchema } from '../store/schema.js';

type Db = Kysely<DatabaseSchema>;

const SLOT_MS = 1000;
const MINUTE_MS = 60_000;
/** The `source` of rows that fold a minute of every process's per-second rows. */
const MINUTE_SOURCE = 'minute';
const RELATIVE_ACCURACY = 0.01;

/** One version's traffic over a window. */
export interface VersionTraffic {
  readonly version: string;
  readonly requests: number;
  readonly success: number;
  /** Server failures (outcome `error`). */
  readonly errors: number;
  readonly invalid: number;
  readonly rejected: number;
  /** errors / requests; null without requests. */
  readonly errorRate: number | null;
  /** Latency of successful requests, ms (DDSketch, 1% relative accuracy); null without any. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

interface Slot {
  readonly deployment: string;
  readonly version: string;
  readonly slotMs: number;
  requests: number;
  errors: number;
  invalid: number;
  rejected: number;
  readonly latency: DDSketch;
  dirty: boolean;
  /**
   * Created for a second this recorder may already have written and forgotten (a slow request
   * is counted when it ends, in the second it arrived): add the stored row to it before writing.
   */
  merge?: boolean;
}

/** Reads and writes of `deployment_stats`. */
export class SqlTrafficStatsStore {
  constructor(private readonly database: Database) {}

  private get db(): Db {
    return this.database.db;
  }

  async write(source: string, slots: readonly Slot[]): Promise<void> {
    if (slots.length === 0) return;
    await writeWithoutWaiting(this.database, async (trx) => {
      for (const s of slots) {
        if (s.merge === true) await addStored(trx, source, s);
        const row = {
          deployment: s.deployment,
          version: s.version,
          slot_ms: s.slotMs,
          source,
          requests: s.requests,
          errors: s.errors,
          invalid: s.invalid,
          rejected: s.rejected,
          latency: s.latency.toProto(),
        };
        await trx
          .insertInto('deployment_stats')
          .values(row)
          .onConflict((oc) =>
            oc.columns(['deployment', 'slot_ms', 'version', 'source']).doUpdateSet({
              requests: row.requests,
              errors: row.errors,
              invalid: row.invalid,
              rejected: row.rejected,
              latency: row.latency,
            }),
          )
          .execute();
      }
    });
  }

  /** Each version's traffic in `[sinceMs, untilMs)` (whole seconds), over every process. */
  async window(
    deployment: string,
    sinceMs: number,
    untilMs = Number.MAX_SAFE_INTEGER,
  ): Promise<Map<string, VersionTraffic>> {
    const rows = await this.db
      .selectFrom('deployment_stats')
      .select(['version', 'requests', 'errors', 'invalid', 'rejected', 'latency'])
      .where('deployment', '=', deployment)
      .where('slot_ms', '>=', Math.floor(sinceMs / SLOT_MS) * SLOT_MS)
      .where('slot_ms', '<', untilMs)
      .execute();
    const merged = new Map<
      string,
      { requests: number; errors: number; invalid: number; rejected: number; latency: DDSketch }
    >();
    for (const row of rows) {
      let m = merged.get(row.version);
      if (m === undefined)
        merged.set(
          row.version,
          (m = {
            requests: 0,
            errors: 0,
            invalid: 0,
            rejected: 0,
            latency: new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY }),
          }),
        );
      m.requests += Number(row.requests);
      m.errors += Number(row.errors);
      m.invalid += Number(row.invalid);
      m.rejected += Number(row.rejected);
      m.latency.merge(DDSketch.fromProto(row.latency));
    }
    const out = new Map<string, VersionTraffic>();
    for (const [version, m] of merged) {
      const success = m.requests - m.errors - m.invalid - m.rejected;
      const hasLatency = m.latency.count > 0;
      out.set(version, {
        version,
        requests: m.requests,
        success,
        errors: m.errors,
        invalid: m.invalid,
        rejected: m.rejected,
        errorRate: m.requests === 0 ? null : m.errors / m.requests,
        p50Ms: hasLatency ? m.latency.getValueAtQuantile(0.5) * 1000 : null,
        p99Ms: hasLatency ? m.latency.getValueAtQuantile(0.99) * 1000 : null,
      });
    }
    return out;
  }

  /** Drop slots older than `beforeMs`. */
  async prune(beforeMs: number): Promise<void> {
    await this.db.deleteFrom('deployment_stats').where('slot_ms', '<', beforeMs).execute();
  }

  /**
   * Fold the per-second rows of whole minutes before `beforeMs` into one row per minute, deployment
   * and version (source `minute`): 60 times fewer rows for long experiments to read, the same
   * counts and merged sketches. Windows read them like any row (a minute row counts from its
   * minute's start). Returns the per-second rows folded.
   */
  async compact(beforeMs: number, batchRows = 5000): Promise<number> {
    const cut = Math.floor(beforeMs / MINUTE_MS) * MINUTE_MS;
    let folded = 0;
    for (;;) {
      const rows = await this.db
        .selectFrom('deployment_stats')
        .selectAll()
        .where('slot_ms', '<', cut)
        .where('source', '!=', MINUTE_SOURCE)
        .orderBy('deployment')
        .orderBy('version')
        .orderBy('slot_ms')
        .limit(batchRows)
        .execute();
      if (rows.length === 0) return folded;
      await this.db.transaction().execute(async (trx) => {
        const minutes = new Map<string, Slot>();
        for (const row of rows) {
          const slotMs = Math.floor(Number(row.slot_ms) / MINUTE_MS) * MINUTE_MS;
          const key = `${row.deployment}\u0000${row.version}\u0000${slotMs}`;
          let minute = minutes.get(key);
          if (minute === undefined) {
            minute = {
              deployment: row.deployment,
              version: row.version,
              slotMs,
              requests: 0,
              errors: 0,
              invalid: 0,
              rejected: 0,
              latency: new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY }),
              dirty: true,
              merge: true,
            };
            minutes.set(key, minute);
          }
          minute.requests += Number(row.requests);
          minute.errors += Number(row.errors);
          minute.invalid += Number(row.invalid);
          minute.rejected += Number(row.rejected);
          minute.latency.merge(DDSketch.fromProto(row.latency));
          await trx
            .deleteFrom('deployment_stats')
            .where('deployment', '=', row.deployment)
            .where('slot_ms', '=', row.slot_ms)
            .where('version', '=', row.version)
            .where('source', '=', row.source)
            .execute();
        }
        for (const minute of minutes.values()) {
          await addStored(trx, MINUTE_SOURCE, minute);
          const row = {
            deployment: minute.deployment,
            version: minute.version,
            slot_ms: minute.slotMs,
            source: MINUTE_SOURCE,
            requests: minute.requests,
            errors: minute.errors,
            invalid: minute.invalid,
            rejected: minute.rejected,
            latency: minute.latency.toProto(),
          };
          await trx
            .insertInto('deployment_stats')
            .values(row)
            .onConflict((oc) =>
              oc.columns(['deployment', 'slot_ms', 'version', 'source']).doUpdateSet({
                requests: row.requests,
                errors: row.errors,
                invalid: row.invalid,
                rejected: row.rejected,
                latency: row.latency,
              }),
            )
            .execute();
        }
      });
      folded += rows.length;
    }
  }
}

/** Fold the row `source` stored for `slot` into it, so it holds the second's totals again. */
async function addStored(trx: Db, source: string, slot: Slot): Promise<void> {
  const stored = await trx
    .selectFrom('deployment_stats')
    .select(['requests', 'errors', 'invalid', 'rejected', 'latency'])
    .where('deployment', '=', slot.deployment)
    .where('slot_ms', '=', slot.slotMs)
    .where('version', '=', slot.version)
    .where('source', '=', source)
    .executeTakeFirst();
  // Cleared before anything is added: should the transaction fail, the slot already holds the
  // stored row (unchanged by the rollback) plus its own events, and the next write replaces it.
  slot.merge = false;
  if (stored === undefined) return;
  slot.requests += Number(stored.requests);
  slot.errors += Number(stored.errors);
  slot.invalid += Number(stored.invalid);
  slot.rejected += Number(stored.rejected);
  slot.latency.merge(DDSketch.fromProto(stored.latency));
}

/** The empty traffic of a version that served nothing in a window. */
export function noTraffic(version: string): VersionTraffic {
  return {
    version,
    requests: 0,
    success: 0,
    errors: 0,
    invalid: 0,
    rejected: 0,
    errorRate: null,
    p50Ms: null,
    p99Ms: null,
  };
}

/**
 * Counts this process's deployment traffic (an {@link InferenceEvent} observer: one map lookup per
 * request) and writes the slots that changed once a second.
 */
export class TrafficRecorder {
  private readonly slots = new Map<string, Slot>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Slots before this may have been written and then forgotten. */
  private forgottenBefore = Number.NEGATIVE_INFINITY;
  /** Unwritten slots dropped because more than `maxUnwritten` waited (the database was unreachable). */
  droppedSlots = 0;

  constructor(
    private readonly store: SqlTrafficStatsStore,
    private readonly source: string,
    private readonly onError: (error: unknown) => void = () => undefined,
    /** Slots kept while they cannot be written (default 10,000: an hour of one deployment with three versions). */
    private readonly maxUnwritten = 10_000,
  ) {}

  readonly observe = (event: InferenceEvent): void => {
    if (event.deployment === undefined || event.version === '') return;
    const slotMs = Math.floor(event.timeMs / SLOT_MS) * SLOT_MS;
    const key = `${event.deployment}\u0000${event.version}\u0000${slotMs}`;
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = {
        deployment: event.deployment,
        version: event.version,
        slotMs,
        requests: 0,
        errors: 0,
        invalid: 0,
        rejected: 0,
        latency: new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY }),
        dirty: true,
        merge: slotMs < this.forgottenBefore,
      };
      this.slots.set(key, slot);
    }
    slot.requests++;
    slot.dirty = true;
    if (event.outcome === 'success') slot.latency.accept(Math.max(event.durationSeconds, 1e-6));
    else if (event.outcome === 'error') slot.errors++;
    else if (event.outcome === 'invalid') slot.invalid++;
    else slot.rejected++;
  };

  start(intervalMs = SLOT_MS): void {
    this.timer ??= setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  /** Write every slot that changed since the last flush; forget slots more than 5 s old once written. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const dirty = [...this.slots.values()].filter((s) => s.dirty);
      for (const s of dirty) s.dirty = false;
      try {
        await this.store.write(this.source, dirty);
      } catch (error) {
        // Kept for the next flush; a locked database (the log's writer thread) is routine.
        for (const s of dirty) s.dirty = true;
        if (!isRetryableWriteError(error)) this.onError(error);
        this.dropBeyondBound();
      }
      const old = Date.now() - 5 * SLOT_MS;
      for (const [key, s] of this.slots) if (!s.dirty && s.slotMs < old) this.slots.delete(key);
      this.forgottenBefore = Math.max(this.forgottenBefore, old);
    });
    return this.flushing;
  }

  /**
   * While the database cannot be written (an outage), unwritten slots pile up, one per second per
   * deployment and version: beyond `maxUnwritten` the oldest are dropped and counted.
   */
  private dropBeyondBound(): void {
    let excess = this.slots.size - this.maxUnwritten;
    if (excess <= 0) return;
    // Map order is insertion order: the oldest slots first.
    for (const [key, slot] of this.slots) {
      if (excess-- <= 0) break;
      this.slots.delete(key);
      if (slot.dirty) this.droppedSlots++;
    }
  }

  /** Stop the timer and write what is left (a few tries while the database is locked). */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (let attempt = 0; attempt < 20; attempt++) {
      await this.flush();
      if (![...this.slots.values()].some((s) => s.dirty)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
