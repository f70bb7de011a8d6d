/**
 * Live request statistics over sliding windows (1m, 5m, 1h) per deployment/model/version: rate,
 * error rate and latency p50/p95/p99 from mergeable DDSketches (relative accuracy 1%).
 *
 * Each series keeps a ring of 10-second slots, each with its counts and a latency sketch; a
 * window query merges the slots it covers (so a "1m" window spans 60-70 s of data, its rate is
 * divided by the time actually covered). Memory is bounded by the ring, whatever the traffic.
 */
import { DDSketch } from '@datadog/sketches-js';
import { invalid } from '../core/errors.js';
import type { RequestOutcome } from './events.js';

export const STATS_WINDOWS = { '1m': 60_000, '5m': 300_000, '1h': 3_600_000 } as const;
export type StatsWindow = keyof typeof STATS_WINDOWS;

const SLOT_MS = 10_000;
const RING = STATS_WINDOWS['1h'] / SLOT_MS + 1;
const RELATIVE_ACCURACY = 0.01;

interface Slot {
  readonly number: number;
  requests: number;
  success: number;
  invalid: number;
  error: number;
  rejected: number;
  /** Latency of successful requests, in milliseconds. */
  readonly latency: DDSketch;
}

/** The sliding windows of one deployment/model/version. */
export class SeriesWindow {
  private readonly ring: (Slot | undefined)[] = new Array<Slot | undefined>(RING);

  constructor(
    readonly deployment: string | undefined,
    readonly model: string,
    readonly version: string,
  ) {}

  /** Count one request; `latencyMs` is recorded for successes only. */
  record(timeMs: number, outcome: RequestOutcome, latencyMs: number): void {
    const number = Math.floor(timeMs / SLOT_MS);
    const index = number % RING;
    let slot = this.ring[index];
    if (slot === undefined || slot.number !== number) {
      slot = {
        number,
        requests: 0,
        success: 0,
        invalid: 0,
        error: 0,
        rejected: 0,
        latency: new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY }),
      };
      this.ring[index] = slot;
    }
    slot.requests++;
    slot[outcome]++;
    if (outcome === 'success') slot.latency.accept(latencyMs);
  }

  /** The slots that fall in the last `windowMs` before `nowMs` (including the current one). */
  slots(nowMs: number, windowMs: number): Slot[] {
    const newest = Math.floor(nowMs / SLOT_MS);
    const oldest = newest - Math.ceil(windowMs / SLOT_MS);
    return this.ring.filter(
      (slot): slot is Slot => slot !== undefined && slot.number > oldest && slot.number <= newest,
    );
  }
}

/** One row of a stats report. */
export interface WindowStats {
  readonly deployment: string | null;
  readonly model: string;
  /** null in a total over several versions. */
  readonly version: string | null;
  readonly requests: number;
  readonly outcomes: Readonly<Record<RequestOutcome, number>>;
  readonly rps: number;
  /** (error + rejected) / requests: server-side failures; client mistakes (`invalid`) are not errors. */
  readonly errorRate: number | null;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly p99Ms: number | null;
}

export interface StatsReport {
  readonly window: StatsWindow;
  /** Seconds of data the window actually covers (less than the window right after start). */
  readonly seconds: number;
  readonly versions: WindowStats[];
  readonly total: WindowStats;
  /** With `--workers N`: how many workers answered, and how many did not in time (left out). */
  readonly workers?: { readonly answered: number; readonly missing: number };
}

export interface StatsQuery {
  readonly model?: string;
  readonly version?: string;
  readonly deployment?: string;
  readonly window?: StatsWindow;
}

/** Counts and latencies of one series over a window, as one worker sends them to another. */
export interface SeriesPart {
  readonly deployment: string | null;
  readonly model: string;
  readonly version: string;
  readonly requests: number;
  readonly outcomes: Readonly<Record<RequestOutcome, number>>;
  /** The window's latency DDSketch, protobuf in base64. */
  readonly latency: string;
}

/** One process's share of a window (`LiveStats.part`). */
export interface StatsPart {
  readonly startedAt: number;
  readonly series: SeriesPart[];
}

/** With `--workers N`: every worker's {@link StatsPart} for the query (this one's included). */
export type StatsGather = (query: StatsQuery) => Promise<{ results: StatsPart[]; missing: number }>;

/** A series' requests over a window: the slots it covers, added up. */
interface Tally {
  readonly deployment: string | null;
  readonly model: string;
  readonly version: string;
  requests: number;
  readonly outcomes: Record<RequestOutcome, number>;
  readonly latency: DDSketch;
}

export class LiveStats {
  private readonly series = new Map<string, SeriesWindow>();
  private readonly startedAt: number;
  private gather: StatsGather | undefined;

  constructor(private readonly now: () => number = Date.now) {
    this.startedAt = now();
  }

  /** The window of one series, created on first use (hold on to it: the lookup is the costly part). */
  window(deployment: string | undefined, model: string, version: string): SeriesWindow {
    const key = `${deployment ?? ''}\u0000${model}\u0000${version}`;
    let series = this.series.get(key);
    if (series === undefined) {
      series = new SeriesWindow(deployment, model, version);
      this.series.set(key, series);
    }
    return series;
  }

  /** This process's report. */
  query(query: StatsQuery = {}): StatsReport {
    const window = windowOf(query);
    return report(query, window, this.startedAt, this.now(), this.tallies(query, window));
  }

  /**
   * Answer {@link queryAll} from every worker from now on (`--workers N`): each sends its tallies
   * with the window's latency sketch, and the sketches merge as if one process had seen it all.
   */
  aggregateWith(gather: StatsGather): void {
    this.gather = gather;
  }

  /** The report of the whole server: this process's, or every worker's once {@link aggregateWith} is set. */
  async queryAll(query: StatsQuery = {}): Promise<StatsReport> {
    if (this.gather === undefined) return this.query(query);
    const window = windowOf(query);
    const { results, missing } = await this.gather(query);
    const merged = new Map<string, Tally>();
    let startedAt = this.startedAt;
    for (const part of results) {
      startedAt = Math.min(startedAt, part.startedAt);
      for (const series of part.series) {
        const key = `${series.deployment ?? ''}\u0000${series.model}\u0000${series.version}`;
        const latency = DDSketch.fromProto(Buffer.from(series.latency, 'base64'));
        const into = merged.get(key);
        if (into === undefined) {
          merged.set(key, { ...series, outcomes: { ...series.outcomes }, latency });
          continue;
        }
        into.requests += series.requests;
        for (const outcome of Object.keys(into.outcomes) as RequestOutcome[])
          into.outcomes[outcome] += series.outcomes[outcome];
        if (latency.count > 0) into.latency.merge(latency);
      }
    }
    return {
      ...report(query, window, startedAt, this.now(), [...merged.values()]),
      workers: { answered: results.length, missing },
    };
  }

  /** This process's share of `query`'s window, for another worker's {@link queryAll}. */
  part(query: StatsQuery): StatsPart {
    const series = this.tallies(query, windowOf(query)).map((t) => ({
      deployment: t.deployment,
      model: t.model,
      version: t.version,
      requests: t.requests,
      outcomes: t.outcomes,
      latency: Buffer.from(t.latency.toProto()).toString('base64'),
    }));
    return { startedAt: this.startedAt, series };
  }

  /** One figure for alert rules and rollout gates; undefined when the window holds no data for it. */
  metric(name: LiveMetric, scope: StatsQuery): number | undefined {
    const { total } = this.query(scope);
    if (total.requests === 0) return undefined;
    const value = {
      requests: total.requests,
      rps: total.rps,
      error_rate: total.errorRate,
      p50_ms: total.p50Ms,
      p95_ms: total.p95Ms,
      p99_ms: total.p99Ms,
    }[name];
    return value ?? undefined;
  }

  private tallies(query: StatsQuery, window: StatsWindow): Tally[] {
    const now = this.now();
    const tallies: Tally[] = [];
    for (const series of this.series.values()) {
      if (query.model !== undefined && series.model !== query.model) continue;
      if (query.version !== undefined && series.version !== query.version) continue;
      if (query.deployment !== undefined && series.deployment !== query.deployment) continue;
      const slots = series.slots(now, STATS_WINDOWS[window]);
      if (slots.length > 0) tallies.push(tally(slots, series.deployment ?? null, series.model, series.version));
    }
    return tallies;
  }
}

function windowOf(query: StatsQuery): StatsWindow {
  const window = query.window ?? '1m';
  if (!Object.hasOwn(STATS_WINDOWS, window))
    throw invalid(`window "${String(window)}": expected one of ${Object.keys(STATS_WINDOWS).join(', ')}`);
  return window;
}

function report(
  query: StatsQuery,
  window: StatsWindow,
  startedAt: number,
  now: number,
  tallies: readonly Tally[],
): StatsReport {
  const seconds = Math.max(1, Math.min(STATS_WINDOWS[window], now - startedAt)) / 1000;
  const versions = tallies.map((t) => summarise([t], seconds, t.deployment, t.model, t.version));
  versions.sort(
    (a, b) =>
      a.model.localeCompare(b.model) || (a.version ?? '').localeCompare(b.version ?? '', undefined, { numeric: true }),
  );
  const total = summarise(tallies, seconds, query.deployment ?? null, query.model ?? '', query.version ?? null);
  return { window, seconds, versions, total };
}

export const LIVE_METRICS = ['requests', 'rps', 'error_rate', 'p50_ms', 'p95_ms', 'p99_ms'] as const;
export type LiveMetric = (typeof LIVE_METRICS)[number];

function tally(slots: readonly Slot[], deployment: string | null, model: string, version: string): Tally {
  const t: Tally = {
    deployment,
    model,
    version,
    requests: 0,
    outcomes: { success: 0, invalid: 0, error: 0, rejected: 0 },
    latency: new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY }),
  };
  for (const slot of slots) {
    t.requests += slot.requests;
    t.outcomes.success += slot.success;
    t.outcomes.invalid += slot.invalid;
    t.outcomes.error += slot.error;
    t.outcomes.rejected += slot.rejected;
    if (slot.latency.count > 0) t.latency.merge(slot.latency);
  }
  return t;
}

function summarise(
  tallies: readonly Tally[],
  seconds: number,
  deployment: string | null,
  model: string,
  version: string | null,
): WindowStats {
  const outcomes = { success: 0, invalid: 0, error: 0, rejected: 0 };
  let requests = 0;
  const latency = new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY });
  for (const t of tallies) {
    requests += t.requests;
    outcomes.success += t.outcomes.success;
    outcomes.invalid += t.outcomes.invalid;
    outcomes.error += t.outcomes.error;
    outcomes.rejected += t.outcomes.rejected;
    if (t.latency.count > 0) latency.merge(t.latency);
  }
  const quantile = (q: number) => (latency.count > 0 ? round(latency.getValueAtQuantile(q)) : null);
  return {
    deployment,
    model,
    version,
    requests,
    outcomes,
    rps: round(requests / seconds),
    errorRate: requests > 0 ? (outcomes.error + outcomes.rejected) / requests : null,
    p50Ms: quantile(0.5),
    p95Ms: quantile(0.95),
    p99Ms: quantile(0.99),
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
