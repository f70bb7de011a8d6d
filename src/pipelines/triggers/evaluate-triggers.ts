/**
 * One evaluation of a pipeline's triggers (issue 17): every trigger but `manual` measured against
 * its threshold, each with a sentence saying why it fired or why not, and the first that fired as
 * the reason to start a run. The sources (drift, feedback, run history) come through
 * {@link TriggerDeps}, so the same logic runs on the real services (trigger-deps.ts) and on plain
 * functions in tests.
 */
import { formatDuration } from '../../core/duration.js';
import type { PipelineSpec, StoredPipeline, TriggerEvaluation, TriggerFiring, TriggerSpec } from '../types.js';
import { lastOccurrence } from './schedule.js';

/** Where triggers read their figures from. */
export interface TriggerDeps {
  /** When the pipeline's latest run started, undefined when it never ran. */
  lastRunStartedAt(pipeline: string): Promise<Date | undefined>;
  /** The version the deployment (or the model's champion alias, else latest) serves, or undefined. */
  servingVersion(spec: PipelineSpec): Promise<string | undefined>;
  /** Drift over the window on that version; undefined when there is no reference or too few rows. */
  drift(model: string, version: string, windowMs: number): Promise<DriftSummary | undefined>;
  /**
   * A performance metric from feedback over the window (null when not computable) and the rows it used;
   * on `version` (the serving version) when given, else on the newest version with feedback in the window.
   */
  performance(
    model: string,
    metric: string,
    windowMs: number,
    version?: string,
  ): Promise<{ value: number | null; rows: number }>;
  /** Feedback rows for the model received since `since`; may stop counting at `atMost`. */
  feedbackSince(model: string, since: Date, atMost?: number): Promise<number>;
}

export interface DriftSummary {
  readonly datasetDrift: boolean;
  /** Drifted features / evaluated features. */
  readonly share: number;
  /** The share at or above which the dataset counts as drifted. */
  readonly threshold: number;
  readonly rows: number;
  readonly features: ReadonlyArray<{ name: string; drifted: boolean; statistic: number; pValue?: number }>;
}

export interface TriggerOutcome {
  /** The first trigger (in the spec's order) that fired, unless the min interval holds every trigger back. */
  readonly firing?: TriggerFiring;
  /** One per trigger but `manual`, in the spec's order. */
  readonly evaluations: TriggerEvaluation[];
}

type Verdict = { fired: boolean; value: number | null; reason: string };
type Evaluated = Exclude<TriggerSpec, { kind: 'manual' }>;

/**
 * Evaluate every trigger of `pipeline` at `now`. Never throws for one broken source: that trigger's
 * evaluation carries the error as its reason and the others still run. Within the min interval of the
 * last run's start nothing fires and no source is read (each evaluation says so).
 */
export async function evaluateTriggers(
  pipeline: StoredPipeline,
  deps: TriggerDeps,
  now: Date,
): Promise<TriggerOutcome> {
  const { spec } = pipeline;
  const triggers = spec.triggers.filter((t): t is Evaluated => t.kind !== 'manual');
  const at = now.toISOString();
  const evaluation = (trigger: Evaluated, verdict: Verdict): TriggerEvaluation => ({
    pipeline: pipeline.name,
    trigger: trigger.kind,
    at,
    ...verdict,
  });
  let lastRun: Date | undefined;
  try {
    lastRun = await deps.lastRunStartedAt(pipeline.name);
  } catch (error) {
    const reason = `error: the last run's start could not be read: ${messageOf(error)}`;
    return { evaluations: triggers.map((t) => evaluation(t, { fired: false, value: null, reason })) };
  }
  if (lastRun !== undefined && now.getTime() - lastRun.getTime() < spec.minIntervalMs) {
    const ago = formatDuration(now.getTime() - lastRun.getTime());
    const reason = `min interval ${formatDuration(spec.minIntervalMs)}: last run started ${ago} ago`;
    return { evaluations: triggers.map((t) => evaluation(t, { fired: false, value: null, reason })) };
  }
  const context = new TriggerContext(pipeline, deps, now, lastRun);
  const evaluations: TriggerEvaluation[] = [];
  let firing: TriggerFiring | undefined;
  for (const trigger of triggers) {
    let verdict: Verdict;
    try {
      verdict = await context.evaluate(trigger);
    } catch (error) {
      verdict = { fired: false, value: null, reason: `error: ${messageOf(error)}` };
    }
    evaluations.push(evaluation(trigger, verdict));
    if (verdict.fired && firing === undefined)
      firing = {
        kind: trigger.kind,
        reason: verdict.reason,
        ...(verdict.value === null ? {} : { value: verdict.value }),
      };
  }
  return { ...(firing === undefined ? {} : { firing }), evaluations };
}

/** The figures one evaluation shares between triggers (the serving version is read once). */
class TriggerContext {
  private serving: Promise<string | undefined> | undefined;

  constructor(
    private readonly pipeline: StoredPipeline,
    private readonly deps: TriggerDeps,
    private readonly now: Date,
    private readonly lastRun: Date | undefined,
  ) {}

  evaluate(trigger: Evaluated): Promise<Verdict> {
    switch (trigger.kind) {
      case 'schedule':
        return Promise.resolve(this.schedule(trigger));
      case 'drift':
        return this.drift(trigger);
      case 'performance':
        return this.performance(trigger);
      case 'labels':
        return this.labels(trigger);
    }
  }

  private servingVersion(): Promise<string | undefined> {
    this.serving ??= this.deps.servingVersion(this.pipeline.spec);
    return this.serving;
  }

  /** The last run's start, or when this pipeline version was applied when it never ran. */
  private since(): { at: Date; what: string } {
    if (this.lastRun !== undefined) return { at: this.lastRun, what: `the last run started (${iso(this.lastRun)})` };
    return { at: new Date(this.pipeline.createdAt), what: `pipeline version ${this.pipeline.version} was applied` };
  }

  private schedule(trigger: Extract<TriggerSpec, { kind: 'schedule' }>): Verdict {
    const created = new Date(this.pipeline.createdAt);
    const after = this.lastRun !== undefined && this.lastRun > created ? this.lastRun : created;
    const occurrence = lastOccurrence(trigger.cron, trigger.timezone, this.now);
    const schedule = `"${trigger.cron}" (${trigger.timezone})`;
    if (occurrence === undefined)
      return { fired: false, value: null, reason: `schedule ${schedule} has no occurrence` };
    if (occurrence > after)
      return { fired: true, value: null, reason: `schedule ${schedule} was due at ${iso(occurrence)}` };
    const since = after === created ? `pipeline version ${this.pipeline.version} was applied` : 'the last run started';
    return {
      fired: false,
      value: null,
      reason: `schedule ${schedule}: last due at ${iso(occurrence)}, not after ${since} (${iso(after)})`,
    };
  }

  private async drift(trigger: Extract<TriggerSpec, { kind: 'drift' }>): Promise<Verdict> {
    const { model } = this.pipeline.spec;
    const window = formatDuration(trigger.windowMs);
    const version = await this.servingVersion();
    if (version === undefined) return { fired: false, value: null, reason: `${model} has no serving version to watch` };
    const summary = await this.deps.drift(model, version, trigger.windowMs);
    if (summary === undefined)
      return {
        fired: false,
        value: null,
        reason: `no drift verdict on ${model}@${version} over ${window}: no reference profile or too few rows`,
      };
    const share = summary.share;
    if (trigger.features === undefined || trigger.features.length === 0) {
      const figures = `${round(share)} of features drifted (threshold ${round(summary.threshold)}) on ${model}@${version} over ${window}, ${summary.rows} rows`;
      return summary.datasetDrift
        ? { fired: true, value: share, reason: `dataset drift: ${figures}` }
        : { fired: false, value: share, reason: `no dataset drift: ${figures}` };
    }
    const byName = new Map(summary.features.map((f) => [f.name, f]));
    const missing = trigger.features.filter((name) => !byName.has(name));
    const drifted = trigger.features.filter((name) => byName.get(name)?.drifted === true);
    const where = `on ${model}@${version} over ${window}`;
    const unknown = missing.length > 0 ? `; not evaluated: ${missing.join(', ')}` : '';
    if (drifted.length > 0) {
      const list = drifted
        .map((name) => `${name} (statistic ${round((byName.get(name) as { statistic: number }).statistic)})`)
        .join(', ');
      return { fired: true, value: share, reason: `feature drift: ${list} drifted ${where}${unknown}` };
    }
    const checked = trigger.features.filter((name) => byName.has(name));
    return {
      fired: false,
      value: share,
      reason:
        checked.length > 0
          ? `no drift in ${checked.join(', ')} ${where}${unknown}`
          : `none of the watched features (${trigger.features.join(', ')}) was evaluated ${where}`,
    };
  }

  private async performance(trigger: Extract<TriggerSpec, { kind: 'performance' }>): Promise<Verdict> {
    const { model } = this.pipeline.spec;
    const window = formatDuration(trigger.windowMs);
    const version = await this.servingVersion();
    const { value, rows } = await this.deps.performance(model, trigger.metric, trigger.windowMs, version);
    const on = version === undefined ? model : `${model}@${version}`;
    if (rows < trigger.minRows)
      return {
        fired: false,
        value: null,
        reason: `${trigger.metric} not evaluated: ${rows} feedback rows on ${on} over ${window}, needs ${trigger.minRows}`,
      };
    if (value === null)
      return {
        fired: false,
        value: null,
        reason: `${trigger.metric} cannot be computed from the ${rows} feedback rows on ${on} over ${window}`,
      };
    const fired = compare(value, trigger.op, trigger.threshold);
    const relation = `${trigger.metric} ${round(value)} ${fired ? '' : 'not '}${trigger.op} ${trigger.threshold}`;
    return { fired, value, reason: `${relation} on ${on} over ${window} (${rows} feedback rows)` };
  }

  private async labels(trigger: Extract<TriggerSpec, { kind: 'labels' }>): Promise<Verdict> {
    const since = this.since();
    const count = await this.deps.feedbackSince(this.pipeline.spec.model, since.at, trigger.count);
    const fired = count >= trigger.count;
    return {
      fired,
      value: count,
      reason: `${count}${fired && count === trigger.count ? ' or more' : ''} new labels since ${since.what}, needs ${trigger.count}`,
    };
  }
}

function compare(value: number, op: '<' | '<=' | '>' | '>=', threshold: number): boolean {
  switch (op) {
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
  }
}

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(4).replace(/0+$/, '');
}

function iso(date: Date): string {
  return date.toISOString();
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
