/**
 * Champion/challenger experiments: split a deployment's traffic between versions (arms), then at
 * every look compare each challenger with the champion (the first arm) on a metric from ground
 * truth: fixed-horizon tests, an always-valid sequential interval carried across looks (so looking
 * at any time keeps the false-positive rate at alpha), Bayesian chance to win, and a sample ratio
 * check. The decision rule (stats/experiment-decision.ts) promotes, stops for futility or aborts on
 * a broken split; with `autoPromote` the controller acts on it.
 */
import { SlipwayError, invalid } from '../core/errors.js';
import { EXPERIMENT_METRICS, METRIC_SHAPE, type ExperimentMetric } from '../monitor/experiment-outcomes.js';
import {
  compareArms,
  decideExperiment,
  nextSequentialState,
  sampleRatioMismatch,
  summarizeMoments,
  type ArmComparison,
  type ArmSummary,
  type ExperimentDecision,
  type SequentialState,
  type SrmResult,
} from '../stats/index.js';
import type { ControllerRecord, SqlControllerStore } from './controller-store.js';
import type { DeploymentService } from './deployment-service.js';
import type { DeploymentSpec } from './spec.js';
import { noTraffic, type SqlTrafficStatsStore } from './traffic-stats.js';

export interface ExperimentSpec {
  /** The champion first, then the challengers. */
  readonly arms: readonly string[];
  /** Percent per arm, summing to 100. */
  readonly split: readonly number[];
  readonly metric: ExperimentMetric;
  readonly alpha: number;
  readonly autoPromote: boolean;
  readonly minSamplePerArm: number;
  readonly maxSamplePerArm: number;
  /** Challenger error rate may exceed the champion's by at most this much (guardrail). */
  readonly maxErrorRateIncrease: number;
  readonly lookIntervalMs: number;
}

export interface ExperimentState {
  readonly revision: number;
  readonly looks: number;
  readonly lastLookMs: number;
  /** Per challenger version. */
  readonly sequential: Readonly<Record<string, SequentialState>>;
  readonly decision: ExperimentDecision | null;
}

export type ExperimentRecord = ControllerRecord<ExperimentSpec, ExperimentState>;

export interface ArmResult {
  readonly version: string;
  readonly requests: number;
  readonly errorRate: number | null;
  readonly p99Ms: number | null;
  /** Requests with feedback the metric could be computed on. */
  readonly n: number;
  readonly mean: number | null;
  /** Against the champion; null for the champion or before both arms have 2 outcomes. */
  readonly comparison: ArmComparison | null;
  /** The always-valid interval and p-value over all looks so far (intersected, running minimum). */
  readonly sequential: SequentialState | null;
}

export interface ExperimentResults {
  readonly experiment: ExperimentRecord;
  readonly arms: readonly ArmResult[];
  readonly srm: SrmResult | null;
  readonly decision: ExperimentDecision;
}

export interface ExperimentStartInput {
  readonly arms: readonly string[];
  readonly split?: readonly number[];
  readonly metric?: string;
  readonly alpha?: number;
  readonly autoPromote?: boolean;
  readonly minSamplePerArm?: number;
  readonly maxSamplePerArm?: number;
  readonly lookIntervalMs?: number;
}

export interface ExperimentServiceOptions {
  readonly experiments: SqlControllerStore<ExperimentSpec, ExperimentState>;
  readonly deployments: DeploymentService;
  readonly traffic: SqlTrafficStatsStore;
  /** Outcomes of requests served by `version` through the deployment since `since`, with feedback. */
  readonly outcomes: (
    scope: { model: string; version: string; deployment: string; since: number },
    metric: ExperimentMetric,
  ) => Promise<number[]>;
  readonly now?: () => number;
}

export class ExperimentService {
  private readonly now: () => number;

  constructor(private readonly options: ExperimentServiceOptions) {
    this.now = options.now ?? Date.now;
  }

  async start(deployment: string, input: ExperimentStartInput): Promise<ExperimentRecord> {
    const view = await this.options.deployments.view(deployment);
    const spec = checkStart(input);
    if ((await this.options.experiments.active(deployment)) !== undefined)
      throw new SlipwayError(
        'CONFLICT',
        `an experiment is already running on "${deployment}"; see "slipway experiment results ${deployment}"`,
      );
    const routes: DeploymentSpec = {
      ...view.revision.spec,
      routes: spec.arms.map((version, i) => ({ version, weight: spec.split[i] as number })),
      shadows: view.revision.spec.shadows.filter((s) => !spec.arms.includes(s.version)),
    };
    await this.options.deployments.check(routes);
    const now = this.now();
    const record = await this.options.experiments.insert(
      deployment,
      spec,
      { revision: view.activeRevision, looks: 0, lastLookMs: now, sequential: {}, decision: null },
      now,
    );
    try {
      const revision = await this.options.deployments.deploy(deployment, routes, {
        why: `experiment #${record.id}: ${spec.arms.map((a, i) => `${a}=${spec.split[i]}`).join(' ')} on ${spec.metric}`,
        source: 'experiment',
        expectActive: view.activeRevision,
        controller: 'experiment',
        intermediate: true,
      });
      return await this.options.experiments.updateOrThrow(record, {
        state: { ...record.state, revision: revision.revision },
      });
    } catch (error) {
      await this.options.experiments.update(record, {
        status: 'aborted',
        reason: `could not start: ${error instanceof Error ? error.message : String(error)}`,
        finished: true,
      });
      throw error;
    }
  }

  /** The current figures of the active (else latest) experiment; a look that does not change state. */
  async results(deployment: string): Promise<ExperimentResults> {
    const record = await this.recordOf(deployment);
    return this.compute(record);
  }

  /** End the experiment; all traffic goes to `winner` (default: the champion). */
  async stop(deployment: string, winner?: string): Promise<ExperimentRecord> {
    const record = await this.options.experiments.active(deployment);
    if (record === undefined)
      throw new SlipwayError('FAILED_PRECONDITION', `deployment "${deployment}" has no running experiment`);
    const version = winner ?? record.spec.arms[0] ?? '';
    if (!record.spec.arms.includes(version))
      throw invalid(`${version} is not an arm of the experiment (${record.spec.arms.join(', ')})`);
    return this.finish(record, 'stopped', `stopped by hand; ${version} serves 100%`, version);
  }

  /** One look at every running experiment whose look interval has passed. */
  async tick(): Promise<void> {
    for (const record of await this.options.experiments.running()) {
      if (this.now() - record.state.lastLookMs < record.spec.lookIntervalMs) continue;
      await this.lookAt(record);
    }
  }

  /** A look now, whatever the interval: fold it into the sequential state and act on the decision when auto-promoting. */
  async look(deployment: string): Promise<ExperimentRecord> {
    const record = await this.options.experiments.active(deployment);
    if (record?.status !== 'running')
      throw new SlipwayError('FAILED_PRECONDITION', `deployment "${deployment}" has no running experiment`);
    return (await this.lookAt(record)) ?? (await this.recordOf(deployment));
  }

  private async lookAt(record: ExperimentRecord): Promise<ExperimentRecord | undefined> {
    const results = await this.compute(record);
    const sequential = Object.fromEntries(
      results.arms.filter((a) => a.sequential !== null).map((a) => [a.version, a.sequential as SequentialState]),
    );
    const state: ExperimentState = {
      ...record.state,
      looks: record.state.looks + 1,
      lastLookMs: this.now(),
      sequential,
      decision: results.decision,
    };
    const updated = await this.options.experiments.update(record, { state });
    if (updated === undefined || !record.spec.autoPromote) return updated;
    const { decision } = results;
    const champion = record.spec.arms[0] as string;
    if (decision.action === 'promote') return this.finish(updated, 'promoted', decision.reason, winnerOf(results));
    if (decision.action === 'stop-futility') return this.finish(updated, 'futile', decision.reason, champion);
    if (decision.action === 'abort-srm') return this.finish(updated, 'aborted', decision.reason, champion);
    return updated;
  }

  private async compute(record: ExperimentRecord): Promise<ExperimentResults> {
    const { spec } = record;
    const model = (await this.options.deployments.get(record.deployment)).model;
    const traffic = await this.options.traffic.window(
      record.deployment,
      record.startedMs,
      record.finishedMs ?? Number.MAX_SAFE_INTEGER,
    );
    const { kind, direction } = METRIC_SHAPE[spec.metric];
    const summaries: ArmSummary[] = [];
    for (const version of spec.arms) {
      const values = await this.options.outcomes(
        { model, version, deployment: record.deployment, since: record.startedMs },
        spec.metric,
      );
      let sum = 0;
      let squares = 0;
      for (const v of values) {
        sum += v;
        squares += v * v;
      }
      summaries.push(summarizeMoments(values.length, sum, squares));
    }
    const control = summaries[0] as ArmSummary;
    const controlTraffic = traffic.get(spec.arms[0] as string) ?? noTraffic(spec.arms[0] as string);
    const requests = spec.arms.map((v) => traffic.get(v)?.requests ?? 0);
    const total = requests.reduce((s, r) => s + r, 0);
    const srm =
      total === 0
        ? null
        : sampleRatioMismatch(
            requests,
            spec.split.map((w) => w / 100),
          );
    const arms: ArmResult[] = [];
    const decisions: Array<{ version: string; decision: ExperimentDecision }> = [];
    spec.arms.forEach((version, i) => {
      const summary = summaries[i] as ArmSummary;
      const t = traffic.get(version) ?? noTraffic(version);
      let comparison: ArmComparison | null = null;
      let sequential: SequentialState | null = null;
      if (i > 0 && control.n >= 2 && summary.n >= 2) {
        comparison = compareArms(control, summary, { kind, direction, alpha: spec.alpha });
        sequential = nextSequentialState(record.state.sequential[version] ?? null, comparison);
        const errorIncrease = (t.errorRate ?? 0) - (controlTraffic.errorRate ?? 0);
        const guardrailsPassed = errorIncrease <= spec.maxErrorRateIncrease;
        decisions.push({
          version,
          decision: decideExperiment({
            comparison,
            runningCi: sequential.ci,
            srm: srm ?? sampleRatioMismatch([1, 1], [0.5, 0.5]),
            direction,
            controlN: control.n,
            treatmentN: summary.n,
            minSamplePerArm: spec.minSamplePerArm,
            maxSamplePerArm: spec.maxSamplePerArm,
            guardrailsPassed,
            ...(guardrailsPassed
              ? {}
              : {
                  guardrailReason: `${version}'s error rate is ${(errorIncrease * 100).toFixed(2)} points above the champion's`,
                }),
          }),
        });
      }
      arms.push({
        version,
        requests: t.requests,
        errorRate: t.errorRate,
        p99Ms: t.p99Ms,
        n: summary.n,
        mean: summary.n === 0 ? null : summary.mean,
        comparison,
        sequential,
      });
    });
    return { experiment: record, arms, srm, decision: overall(decisions, srm, spec) };
  }

  private async finish(
    record: ExperimentRecord,
    status: string,
    reason: string,
    winner: string,
  ): Promise<ExperimentRecord> {
    const current = await this.options.deployments.view(record.deployment);
    const spec: DeploymentSpec = { ...current.revision.spec, routes: [{ version: winner, weight: 100 }] };
    const revision = await this.options.deployments.commit(record.deployment, spec, {
      why: `experiment #${record.id} ${status}: ${reason}`,
      source: 'experiment',
      expectActive: record.state.revision,
    });
    return this.options.experiments.updateOrThrow(record, {
      status,
      reason,
      finished: true,
      state: { ...record.state, revision: revision.revision },
    });
  }

  private async recordOf(deployment: string): Promise<ExperimentRecord> {
    await this.options.deployments.get(deployment);
    const record =
      (await this.options.experiments.active(deployment)) ?? (await this.options.experiments.latest(deployment));
    if (record === undefined) throw new SlipwayError('NOT_FOUND', `deployment "${deployment}" has no experiment`);
    return record;
  }
}

/** Before any challenger can be judged: continue; SRM: abort; else the first challenger to promote, else futility when all are futile. */
function overall(
  decisions: ReadonlyArray<{ version: string; decision: ExperimentDecision }>,
  srm: SrmResult | null,
  spec: ExperimentSpec,
): ExperimentDecision {
  if (srm?.mismatch === true)
    return {
      action: 'abort-srm',
      reason: `sample ratio mismatch: requests per arm do not match the split ${spec.split.join('/')} (p = ${srm.pValue.toPrecision(3)} < 0.001)`,
    };
  if (decisions.length === 0)
    return {
      action: 'continue',
      reason: `waiting for feedback: each arm needs at least 2 outcomes (minimum for a decision: ${spec.minSamplePerArm})`,
    };
  const promote = decisions.find((d) => d.decision.action === 'promote');
  if (promote !== undefined) return { action: 'promote', reason: `${promote.version}: ${promote.decision.reason}` };
  const srmAbort = decisions.find((d) => d.decision.action === 'abort-srm');
  if (srmAbort !== undefined) return srmAbort.decision;
  if (decisions.length === spec.arms.length - 1 && decisions.every((d) => d.decision.action === 'stop-futility'))
    return { action: 'stop-futility', reason: decisions.map((d) => `${d.version}: ${d.decision.reason}`).join('; ') };
  return (
    decisions
      .map((d) => ({ ...d.decision, reason: `${d.version}: ${d.decision.reason}` }))
      .find((d) => d.action === 'continue') ?? { action: 'continue', reason: 'no decision yet' }
  );
}

/** The challenger the decision promotes. */
function winnerOf(results: ExperimentResults): string {
  const version = /^(\S+):/.exec(results.decision.reason)?.[1];
  return version !== undefined && results.experiment.spec.arms.includes(version)
    ? version
    : (results.experiment.spec.arms[1] as string);
}

function checkStart(input: ExperimentStartInput): ExperimentSpec {
  const arms = [...input.arms];
  if (arms.length < 2)
    throw invalid(
      'an experiment needs at least two arms: the champion first, then the challengers (e.g. --arms 1.2.0,1.3.0)',
    );
  if (new Set(arms).size !== arms.length) throw invalid(`experiment arms must differ, got ${arms.join(',')}`);
  const split = input.split === undefined ? evenSplit(arms.length) : [...input.split];
  if (split.length !== arms.length)
    throw invalid(`--split needs one percent per arm (${arms.length}), got ${split.join(',')}`);
  if (split.some((s) => !(s > 0)) || Math.abs(split.reduce((a, b) => a + b, 0) - 100) > 1e-9)
    throw invalid(`--split must be positive percents summing to 100, got ${split.join(',')}`);
  const metric = (input.metric ?? 'accuracy') as ExperimentMetric;
  if (!EXPERIMENT_METRICS.includes(metric))
    throw invalid(`--metric must be one of ${EXPERIMENT_METRICS.join(', ')}, got "${input.metric}"`);
  const alpha = input.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 0.5)) throw invalid(`--alpha must be in (0, 0.5), got ${alpha}`);
  const minSamplePerArm = input.minSamplePerArm ?? 100;
  const maxSamplePerArm = input.maxSamplePerArm ?? 100_000;
  if (!(
    Number.isInteger(minSamplePerArm) &&
    minSamplePerArm >= 2 &&
    Number.isInteger(maxSamplePerArm) &&
    maxSamplePerArm >= minSamplePerArm
  )) {
    throw invalid(`sample sizes need 2 <= min (${minSamplePerArm}) <= max (${maxSamplePerArm}), whole numbers`);
  }
  const lookIntervalMs = input.lookIntervalMs ?? 30_000;
  if (!(lookIntervalMs >= 100)) throw invalid(`look interval must be at least 100ms, got ${lookIntervalMs}`);
  return {
    arms,
    split,
    metric,
    alpha,
    autoPromote: input.autoPromote ?? false,
    minSamplePerArm,
    maxSamplePerArm,
    maxErrorRateIncrease: 0.01,
    lookIntervalMs,
  };
}

function evenSplit(n: number): number[] {
  const base = Math.floor((100 / n) * 1000) / 1000;
  const split = Array.from({ length: n }, () => base);
  split[0] = Math.round((100 - base * (n - 1)) * 1000) / 1000;
  return split;
}
