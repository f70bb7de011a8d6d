/**
 * Canary rollouts: move a candidate's weight step by step; at the end of each interval judge the
 * gates on the step's traffic (candidate vs the version it replaces); advance when every gate
 * passes, wait when there is not enough traffic yet, and roll back by itself when one fails,
 * recording why. The state lives in the database: a restarted server (or another one sharing the
 * database) carries on from the step it was at. Each transition commits the deployment revision
 * first, conditional on the revision the rollout set last, so two controllers never both act.
 */
import { SlipwayError, invalid } from '../core/errors.js';
import { formatDuration } from '../core/duration.js';
import type { ControllerRecord, SqlControllerStore } from './controller-store.js';
import type { DeploymentService } from './deployment-service.js';
import type { SqlDeploymentStore } from './deployment-store.js';
import { evaluateGates, formatGate, parseGate, type Gate, type GateCheck } from './rollout-gates.js';
import { allTrafficTo, primaryVersion, splitBetween } from './spec.js';
import { noTraffic, type SqlTrafficStatsStore } from './traffic-stats.js';

export interface RolloutSpec {
  readonly candidate: string;
  readonly baseline: string;
  /** Candidate percent at each step, increasing, in (0, 100]. */
  readonly steps: readonly number[];
  readonly intervalMs: number;
  readonly gates: readonly Gate[];
  readonly minRequests: number;
}

export interface RolloutEvent {
  readonly timeMs: number;
  readonly what: string;
}

export interface RolloutState {
  readonly stepIndex: number;
  readonly stepStartedMs: number;
  /** The deployment revision this rollout set last. */
  readonly revision: number;
  readonly checks: readonly GateCheck[];
  readonly events: readonly RolloutEvent[];
}

export type RolloutStatus = 'running' | 'paused' | 'promoted' | 'rolled_back' | 'aborted';
export type RolloutRecord = ControllerRecord<RolloutSpec, RolloutState>;

export interface RolloutStartInput {
  readonly candidate: string;
  readonly steps?: readonly number[];
  readonly intervalMs?: number;
  readonly gates?: readonly string[];
  readonly minRequests?: number;
}

export interface RolloutServiceOptions {
  readonly rollouts: SqlControllerStore<RolloutSpec, RolloutState>;
  readonly deployments: DeploymentService;
  readonly deploymentStore: SqlDeploymentStore;
  readonly traffic: SqlTrafficStatsStore;
  /** A performance metric (accuracy, mae, ...) of a version since `sinceMs`; undefined without feedback. */
  readonly metric: (name: string, model: string, version: string, sinceMs: number) => Promise<number | undefined>;
  readonly now?: () => number;
}

export const DEFAULT_STEPS: readonly number[] = [5, 25, 50, 100];
export const DEFAULT_INTERVAL_MS = 30_000;
export const DEFAULT_MIN_REQUESTS = 20;

export class RolloutService {
  private readonly now: () => number;

  constructor(private readonly options: RolloutServiceOptions) {
    this.now = options.now ?? Date.now;
  }

  async start(deployment: string, input: RolloutStartInput): Promise<RolloutRecord> {
    const view = await this.options.deployments.view(deployment);
    const steps = checkSteps(input.steps ?? DEFAULT_STEPS);
    const intervalMs = input.intervalMs ?? DEFAULT_INTERVAL_MS;
    if (!(intervalMs >= 100)) throw invalid(`rollout interval must be at least 100ms, got ${intervalMs}`);
    const minRequests = input.minRequests ?? DEFAULT_MIN_REQUESTS;
    if (!Number.isInteger(minRequests) || minRequests < 0)
      throw invalid(`min requests must be a non-negative integer, got ${minRequests}`);
    const gates = (input.gates ?? []).map(parseGate);
    const spec = view.revision.spec;
    const baseline = primaryVersion(spec);
    if (input.candidate === baseline)
      throw invalid(
        `${spec.model}@${input.candidate} already serves "${deployment}"; name another version as the candidate`,
      );
    if ((await this.options.rollouts.active(deployment)) !== undefined)
      throw new SlipwayError(
        'CONFLICT',
        `a rollout is already active on "${deployment}"; see "slipway rollout status ${deployment}"`,
      );
    const first = splitBetween(spec, baseline, input.candidate, steps[0] as number);
    await this.options.deployments.check(first);
    const rolloutSpec: RolloutSpec = { candidate: input.candidate, baseline, steps, intervalMs, gates, minRequests };
    const now = this.now();
    const what = `started: ${input.candidate} replaces ${baseline} in steps ${steps.join(',')}% every ${formatDuration(intervalMs)}${gates.length > 0 ? ` with gates ${gates.map(formatGate).join(', ')}` : ''}`;
    // The experiment check and the first revision: refused as one (CONFLICT) when an experiment runs.
    const record = await this.options.rollouts.insert(
      deployment,
      rolloutSpec,
      { stepIndex: 0, stepStartedMs: now, revision: view.activeRevision, checks: [], events: [{ timeMs: now, what }] },
      now,
    );
    try {
      const revision = await this.options.deployments.deploy(deployment, first, {
        why: stepWhy(record.id, rolloutSpec, 0),
        source: 'rollout',
        expectActive: view.activeRevision,
        controller: 'rollout',
        intermediate: true,
      });
      return await this.options.rollouts.updateOrThrow(record, {
        state: { ...record.state, revision: revision.revision },
      });
    } catch (error) {
      await this.options.rollouts.update(record, {
        status: 'aborted',
        reason: `could not start: ${error instanceof Error ? error.message : String(error)}`,
        finished: true,
      });
      throw error;
    }
  }

  /** The active rollout of a deployment, else its latest; NOT_FOUND when it never had one. */
  async status(deployment: string): Promise<RolloutRecord> {
    await this.options.deployments.get(deployment);
    const record = (await this.options.rollouts.active(deployment)) ?? (await this.options.rollouts.latest(deployment));
    if (record === undefined) throw new SlipwayError('NOT_FOUND', `deployment "${deployment}" has no rollout`);
    return record;
  }

  async pause(deployment: string): Promise<RolloutRecord> {
    const record = await this.activeOf(deployment, ['running']);
    return this.options.rollouts.updateOrThrow(record, {
      status: 'paused',
      state: withEvent(record.state, this.now(), 'paused'),
    });
  }

  /** Continue a paused rollout; its current step's interval starts again. */
  async resume(deployment: string): Promise<RolloutRecord> {
    const record = await this.activeOf(deployment, ['paused']);
    const now = this.now();
    return this.options.rollouts.updateOrThrow(record, {
      status: 'running',
      state: { ...withEvent(record.state, now, 'resumed'), stepStartedMs: now },
    });
  }

  /** Give all traffic back to the baseline now. */
  async abort(deployment: string, reason = 'aborted by hand'): Promise<RolloutRecord> {
    const record = await this.activeOf(deployment, ['running', 'paused']);
    return this.finish(record, 'aborted', reason, true);
  }

  /** Give all traffic to the candidate now, skipping the remaining steps. */
  async promote(deployment: string): Promise<RolloutRecord> {
    const record = await this.activeOf(deployment, ['running', 'paused']);
    return this.finish(record, 'promoted', 'promoted by hand', false);
  }

  /** One look at every running rollout whose interval has ended (the controller's tick). */
  async tick(): Promise<void> {
    for (const record of await this.options.rollouts.running()) {
      if (this.now() - record.state.stepStartedMs < record.spec.intervalMs) continue;
      await this.evaluate(record);
    }
  }

  private async evaluate(record: RolloutRecord): Promise<void> {
    const { spec, state } = record;
    const now = this.now();
    // Whole seconds from a second after the step began: other servers take up to half a second to
    // follow the new weights, and the second they do in still mixes the previous ones.
    const window = await this.options.traffic.window(
      record.deployment,
      Math.ceil((state.stepStartedMs + 1000) / 1000) * 1000,
      now,
    );
    const model = (await this.options.deployments.get(record.deployment)).model;
    const checks = await evaluateGates(spec.gates, {
      candidate: window.get(spec.candidate) ?? noTraffic(spec.candidate),
      baseline: window.get(spec.baseline) ?? noTraffic(spec.baseline),
      candidatePercent: spec.steps[state.stepIndex] as number,
      minRequests: spec.minRequests,
      metric: (name, which) =>
        this.options.metric(name, model, which === 'candidate' ? spec.candidate : spec.baseline, record.startedMs),
    });
    const failed = checks.filter((c) => c.verdict === 'fail');
    if (failed.length > 0) {
      await this.finish(
        { ...record, state: { ...state, checks } },
        'rolled_back',
        `gate failed at step ${state.stepIndex + 1} (${spec.steps[state.stepIndex]}%): ${failed.map((c) => c.detail).join('; ')}`,
        true,
      );
      return;
    }
    // Fewer than minRequests candidate requests: wait, whatever gates there are (README: "it waits").
    if (
      checks.some((c) => c.verdict === 'wait') ||
      (window.get(spec.candidate)?.requests ?? 0) < Math.max(1, spec.minRequests)
    ) {
      await this.options.rollouts.update(record, { state: { ...state, checks } });
      return;
    }
    const next = state.stepIndex + 1;
    if (next >= spec.steps.length || (spec.steps[state.stepIndex] as number) >= 100) {
      await this.finish(
        { ...record, state: { ...state, checks } },
        'promoted',
        `every step passed its gates; ${spec.candidate} serves 100%`,
        false,
      );
      return;
    }
    const deploymentSpec = (await this.options.deploymentStore.revision(record.deployment, state.revision)).spec;
    const revision = await this.commitOrStop(
      record,
      splitBetween(deploymentSpec, spec.baseline, spec.candidate, spec.steps[next] as number),
      stepWhy(record.id, spec, next),
      true,
    );
    if (revision === undefined) return;
    await this.options.rollouts.update(record, {
      state: {
        ...withEvent(state, now, `step ${next + 1}/${spec.steps.length}: ${spec.candidate} at ${spec.steps[next]}%`),
        stepIndex: next,
        stepStartedMs: now,
        revision,
        checks,
      },
    });
  }

  /** End a rollout: all traffic to the baseline (`toBaseline`) or to the candidate. */
  private async finish(
    record: RolloutRecord,
    status: RolloutStatus,
    reason: string,
    toBaseline: boolean,
  ): Promise<RolloutRecord> {
    const { spec, state } = record;
    const current = (await this.options.deploymentStore.revision(record.deployment, state.revision)).spec;
    const target = toBaseline
      ? splitBetween(current, spec.baseline, spec.candidate, 0)
      : allTrafficTo(current, spec.candidate);
    // After a last step of 100% the traffic already is the target: no second, identical revision.
    const unchanged = JSON.stringify(target) === JSON.stringify(current);
    const revision = unchanged
      ? state.revision
      : await this.commitOrStop(record, target, `rollout #${record.id} ${status.replace('_', ' ')}: ${reason}`);
    const updated = await this.options.rollouts.update(record, {
      status,
      reason,
      finished: true,
      state: {
        ...withEvent(state, this.now(), `${status.replace('_', ' ')}: ${reason}`),
        revision: revision ?? state.revision,
      },
    });
    if (updated === undefined)
      throw new SlipwayError(
        'CONFLICT',
        `the rollout of "${record.deployment}" changed meanwhile; see "slipway rollout status ${record.deployment}"`,
      );
    return updated;
  }

  /**
   * Commit a revision only if the deployment still has the one this rollout set. When someone else
   * changed it, the rollout stops (aborted, with the reason) and nothing is committed.
   */
  private async commitOrStop(
    record: RolloutRecord,
    spec: Parameters<DeploymentService['commit']>[1],
    why: string,
    intermediate = false,
  ): Promise<number | undefined> {
    try {
      return (
        await this.options.deployments.commit(record.deployment, spec, {
          why,
          source: 'rollout',
          expectActive: record.state.revision,
          intermediate,
        })
      ).revision;
    } catch (error) {
      if (!(error instanceof SlipwayError) || error.code !== 'CONFLICT') throw error;
      const fresh = await this.options.rollouts.get(record.id);
      if (fresh !== undefined && fresh.seq === record.seq) {
        await this.options.rollouts.update(fresh, {
          status: 'aborted',
          reason: 'the deployment was changed outside the rollout',
          finished: true,
        });
      }
      return undefined;
    }
  }

  private async activeOf(deployment: string, statuses: readonly RolloutStatus[]): Promise<RolloutRecord> {
    const record = await this.options.rollouts.active(deployment);
    if (record === undefined || !statuses.includes(record.status as RolloutStatus)) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        record === undefined
          ? `deployment "${deployment}" has no active rollout`
          : `the rollout of "${deployment}" is ${record.status}`,
      );
    }
    return record;
  }
}

function checkSteps(steps: readonly number[]): number[] {
  if (steps.length === 0) throw invalid('a rollout needs at least one step');
  let last = 0;
  for (const s of steps) {
    if (!(s > last && s <= 100)) throw invalid(`rollout steps must increase within (0, 100], got ${steps.join(',')}`);
    last = s;
  }
  return [...steps];
}

function stepWhy(id: number, spec: RolloutSpec, index: number): string {
  return `rollout #${id} step ${index + 1}/${spec.steps.length}: ${spec.candidate} at ${spec.steps[index]}%`;
}

function withEvent(state: RolloutState, timeMs: number, what: string): RolloutState {
  return { ...state, events: [...state.events, { timeMs, what }].slice(-100) };
}
