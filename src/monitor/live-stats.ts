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
      slot = { number, requests: 0, success: 0, invalid: 0, error: 0, rejected: 0, latency: new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY }) };
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
    return this.ring.filter((slot): slot is Slot => slot !== undefined && slot.number > oldest && slot.number <= newest);
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
}

export interface StatsQuery {
  readonly model?: string;
  readonly version?: string;
  readonly deployment?: string;
  readonly window?: StatsWindow;
}

export class LiveStats {
  private readonly series = new Map<string, SeriesWindow>();
  private readonly startedAt: number;

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

  query(query: StatsQuery = {}): StatsReport {
    const window = query.window ?? '1m';
    const windowMs = STATS_WINDOWS[window];
    if (windowMs === undefined) throw invalid(`window "${String(window)}": expected one of ${Object.keys(STATS_WINDOWS).join(', ')}`);
    const now = this.now();
    const seconds = Math.max(1, Math.min(windowMs, now - this.startedAt)) / 1000;
    const versions: WindowStats[] = [];
    const all: Slot[] = [];
    for (const series of this.series.values()) {
      if (query.model !== undefined && series.model !== query.model) continue;
      if (query.version !== undefined && series.version !== query.version) continue;
      if (query.deployment !== undefined && series.deployment !== query.deployment) continue;
      const slots = series.slots(now, windowMs);
      if (slots.length === 0) continue;
      all.push(...slots);
      versions.push(summarise(slots, seconds, series.deployment ?? null, series.model, series.version));
    }
    versions.sort((a, b) => a.model.localeCompare(b.model) || (a.version ?? '').localeCompare(b.version ?? '', undefined, { numeric: true }));
    const total = summarise(all, seconds, query.deployment ?? null, query.model ?? '', query.version ?? null);
    return { window, seconds, versions, total };
  }

  /** One figure for alert rules and rollout gates; undefined when the window holds no data for it. */
  metric(name: LiveMetric, scope: StatsQuery): number | undefined {
    const { total } = this.query(scope);
    if (total.requests === 0) return undefined;
    const value = { requests: total.requests, rps: total.rps, error_rate: total.errorRate, p50_ms: total.p50Ms, p95_ms: total.p95Ms, p99_ms: total.p99Ms }[name];
    return value ?? undefined;
  }
}

export const LIVE_METRICS = ['requests', 'rps', 'error_rate', 'p50_ms', 'p95_ms', 'p99_ms'] as const;
export type LiveMetric = (typeof LIVE_METRICS)[number];

function summarise(slots: readonly Slot[], seconds: number, deployment: string | null, model: string, version: string | null): WindowStats {
  const outcomes = { success: 0, invalid: 0, error: 0, rejected: 0 };
  let requests = 0;
  const latency = new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY });
  for (const slot of slots) {
    requests += slot.requests;
    outcomes.success += slot.success;
    outcomes.invalid += slot.invalid;
    outcomes.error += slot.error;
    outcomes.rejected += slot.rejected;
    if (slot.latency.count > 0) latency.merge(slot.latency);
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
