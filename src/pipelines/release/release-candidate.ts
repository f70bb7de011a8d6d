/**
 * A run's releasing step: start the pipeline's release of the registered candidate (none, an alias,
 * a shadow for a while, a canary rollout, an experiment) and follow it until it is done or stopped.
 * The release's durable facts (start time, deployment, controller id) live in the run's
 * ReleaseOutcome, so a restarted process follows the same release.
 */
import { SlipwayError, invalid } from '../../core/errors.js';
import { formatDuration } from '../../core/duration.js';
import type { DeploymentService } from '../../deploy/deployment-service.js';
import type { ExperimentService } from '../../deploy/experiment-service.js';
import type { RolloutService } from '../../deploy/rollout-service.js';
import { primaryVersion, type DeploymentSpec } from '../../deploy/spec.js';
import type { RegistryService } from '../../registry/registry-service.js';
import type { PipelineSpec, ReleaseOutcome, ReleaseSpec } from '../types.js';

export interface ReleaseDeps {
  readonly registry: RegistryService;
  readonly deployments: {
    readonly service: DeploymentService;
    readonly rollouts: RolloutService;
    readonly experiments: ExperimentService;
  };
}

export interface ReleaseInput {
  readonly spec: ReleaseSpec;
  readonly pipeline: PipelineSpec;
  /** The run's id, named in the alias event and the deployment revisions. */
  readonly run?: string;
  /** The registered candidate's version. */
  readonly candidate: string;
  /** The champion it was compared with (an experiment's first arm; default: what the deployment serves). */
  readonly champion?: string;
  readonly deps: ReleaseDeps;
  readonly now?: Date;
}

export type ReleaseProgress =
  | { readonly state: 'done'; readonly summary: string }
  | { readonly state: 'waiting'; readonly summary: string }
  | { readonly state: 'stopped'; readonly reason: string };

/**
 * Refuse a release the pipeline cannot make: shadow, rollout and experiment need `deployment`
 * (INVALID_ARGUMENT naming the pipeline and the release). Called at evaluation time, before a
 * candidate is evaluated or registered, and again by releaseCandidate.
 */
export function assertReleasable(pipeline: Pick<PipelineSpec, 'name' | 'deployment' | 'release'>): void {
  const { kind } = pipeline.release;
  if ((kind === 'shadow' || kind === 'rollout' || kind === 'experiment') && pipeline.deployment === undefined)
    throw invalid(
      `pipeline "${pipeline.name}": release "${kind}" needs "deployment" (the deployment the model feeds); name one, or release with none or an alias`,
    );
}

function who(input: Pick<ReleaseInput, 'pipeline' | 'run'>): string {
  return `pipeline ${input.pipeline.name}${input.run === undefined ? '' : ` run ${input.run}`}`;
}

/** The deployment of a release that needs one (assertReleasable has been called). */
function deploymentOf(pipeline: PipelineSpec): string {
  assertReleasable(pipeline);
  return pipeline.deployment!;
}

/**
 * Start the release of `candidate` and describe it (ReleaseOutcome). none and alias are complete at
 * once; shadow adds the candidate as a 100% shadow of the deployment; rollout and experiment start
 * the deployment's controller (src/deploy/rollout-service.ts, experiment-service.ts) — or adopt the
 * one already running for this candidate, when a restart repeats the step.
 */
export async function releaseCandidate(input: ReleaseInput): Promise<ReleaseOutcome> {
  const { spec, pipeline, candidate, deps } = input;
  const startedAt = (input.now ?? new Date()).toISOString();
  const actor = `pipeline:${pipeline.name}`;
  switch (spec.kind) {
    case 'none':
      return {
        kind: 'none',
        summary: `registered ${pipeline.model}@${candidate}; release: none`,
        startedAt,
        candidate,
      };
    case 'alias': {
      const event = await deps.registry.setAlias(
        pipeline.model,
        spec.alias,
        candidate,
        `released by ${who(input)}`,
        actor,
      );
      return {
        kind: 'alias',
        summary: `alias ${spec.alias} -> ${candidate}${event.fromVersion === null ? '' : ` (was ${event.fromVersion})`}`,
        startedAt,
        candidate,
      };
    }
    case 'shadow': {
      const deployment = deploymentOf(pipeline);
      const view = await deps.deployments.service.view(deployment);
      const current = view.revision.spec;
      await deps.deployments.service.deploy(deployment, withShadow(current, candidate), {
        why: `${who(input)}: shadow ${candidate} at 100% for ${formatDuration(spec.durationMs)}`,
        actor,
      });
      return {
        kind: 'shadow',
        summary: `shadow of ${candidate} at 100% on ${deployment} for ${formatDuration(spec.durationMs)} (serving ${primaryVersion(current)})`,
        startedAt,
        deployment,
        candidate,
        champion: primaryVersion(current),
      };
    }
    case 'rollout': {
      const deployment = deploymentOf(pipeline);
      const running = await activeRollout(deps, deployment);
      const record =
        running !== undefined && running.spec.candidate === candidate
          ? running
          : await deps.deployments.rollouts.start(deployment, {
              candidate,
              steps: spec.steps,
              intervalMs: spec.intervalMs,
              gates: spec.gates,
            });
      return {
        kind: 'rollout',
        summary: `rollout #${record.id} started on ${deployment}: ${candidate} replaces ${record.spec.baseline} in steps ${record.spec.steps.join(', ')}% every ${formatDuration(record.spec.intervalMs)}`,
        startedAt,
        deployment,
        candidate,
        champion: record.spec.baseline,
        controllerId: record.id,
      };
    }
    case 'experiment': {
      const deployment = deploymentOf(pipeline);
      const running = await activeExperiment(deps, deployment);
      const champion =
        input.champion ?? primaryVersion((await deps.deployments.service.view(deployment)).revision.spec);
      const record =
        running !== undefined && running.spec.arms.includes(candidate)
          ? running
          : await deps.deployments.experiments.start(deployment, {
              arms: [champion, candidate],
              metric: spec.metric,
              autoPromote: spec.autoPromote,
            });
      return {
        kind: 'experiment',
        summary: `experiment #${record.id} started on ${deployment}: ${record.spec.arms.join(' vs ')} on ${record.spec.metric}${spec.autoPromote ? ', auto-promote' : ''}`,
        startedAt,
        deployment,
        candidate,
        champion: record.spec.arms[0]!,
        controllerId: record.id,
      };
    }
  }
}

export interface ReleaseProgressInput extends Omit<ReleaseInput, 'now'> {
  /** What releaseCandidate returned (stored in the run). */
  readonly release: ReleaseOutcome;
  readonly now?: Date;
}

/**
 * Where the release stands: none and alias are done; a shadow is waiting until `durationMs` after
 * the release started, then the shadow is removed and it is done; a rollout is waiting while it
 * runs, done once promoted, stopped with its reason when rolled back or aborted (the champion keeps
 * 100%); an experiment is waiting until it decides, done when the decision is the candidate, stopped
 * otherwise.
 */
export async function releaseProgress(input: ReleaseProgressInput): Promise<ReleaseProgress> {
  const { release, deps, candidate } = input;
  const now = (input.now ?? new Date()).getTime();
  switch (release.kind) {
    case 'none':
    case 'alias':
      return { state: 'done', summary: release.summary };
    case 'shadow': {
      if (input.spec.kind !== 'shadow')
        throw invalid(
          `the run's release is a shadow, but pipeline "${input.pipeline.name}" now says ${input.spec.kind}`,
        );
      const deployment = release.deployment ?? deploymentOf(input.pipeline);
      const started = Date.parse(release.startedAt ?? '');
      if (!Number.isFinite(started))
        throw new SlipwayError('INTERNAL', `the shadow release of ${candidate} has no start time`);
      const left = started + input.spec.durationMs - now;
      if (left > 0)
        return {
          state: 'waiting',
          summary: `shadow of ${candidate} on ${deployment}: ${formatDuration(left)} left of ${formatDuration(input.spec.durationMs)}`,
        };
      const current = (await deps.deployments.service.view(deployment)).revision.spec;
      if (current.shadows.some((s) => s.version === candidate))
        await deps.deployments.service.deploy(deployment, withoutShadow(current, candidate), {
          why: `${who(input)}: shadow of ${candidate} ended after ${formatDuration(input.spec.durationMs)}`,
          actor: `pipeline:${input.pipeline.name}`,
        });
      return {
        state: 'done',
        summary: `shadowed ${candidate} on ${deployment} for ${formatDuration(input.spec.durationMs)}`,
      };
    }
    case 'rollout':
      return rolloutProgress(input);
    case 'experiment':
      return experimentProgress(input);
  }
}

async function rolloutProgress(input: ReleaseProgressInput): Promise<ReleaseProgress> {
  const { release, deps, candidate } = input;
  const deployment = release.deployment ?? deploymentOf(input.pipeline);
  const record = await deps.deployments.rollouts.status(deployment);
  if (record.id !== release.controllerId) return replaced(input, deployment, `rollout #${release.controllerId}`);
  const step = record.state.stepIndex;
  switch (record.status) {
    case 'running':
    case 'paused':
      return {
        state: 'waiting',
        summary: `rollout #${record.id} ${record.status} on ${deployment}: step ${step + 1}/${record.spec.steps.length}, ${candidate} at ${record.spec.steps[step]}%`,
      };
    case 'promoted':
      return {
        state: 'done',
        summary: `rollout #${record.id} promoted ${candidate} on ${deployment}: ${record.reason}`,
      };
    default:
      return {
        state: 'stopped',
        reason: `rollout #${record.id} on ${deployment} ${record.status.replace('_', ' ')}: ${record.reason ?? 'no reason recorded'}; ${record.spec.baseline} keeps the traffic`,
      };
  }
}

async function experimentProgress(input: ReleaseProgressInput): Promise<ReleaseProgress> {
  const { release, deps, candidate } = input;
  const deployment = release.deployment ?? deploymentOf(input.pipeline);
  const results = await deps.deployments.experiments.results(deployment);
  const record = results.experiment;
  if (record.id !== release.controllerId) return replaced(input, deployment, `experiment #${release.controllerId}`);
  if (record.status === 'running' || record.status === 'paused') {
    const { decision } = results;
    // Without auto-promote the experiment keeps its split after deciding; the run ends with the decision.
    if (record.spec.autoPromote || decision.action === 'continue')
      return { state: 'waiting', summary: `experiment #${record.id} on ${deployment}: ${decision.reason}` };
    if (decision.action === 'promote' && decision.reason.startsWith(`${candidate}:`))
      return {
        state: 'done',
        summary: `experiment #${record.id} on ${deployment} decided for ${candidate} (${decision.reason}); end it with "slipway experiment stop ${deployment} --winner ${candidate}"`,
      };
    return {
      state: 'stopped',
      reason: `experiment #${record.id} on ${deployment} decided against ${candidate}: ${decision.reason}`,
    };
  }
  const serving = primaryVersion((await deps.deployments.service.view(deployment)).revision.spec);
  if (serving === candidate)
    return { state: 'done', summary: `experiment #${record.id} ${record.status} on ${deployment}: ${record.reason}` };
  return {
    state: 'stopped',
    reason: `experiment #${record.id} on ${deployment} ${record.status}: ${record.reason ?? 'no reason recorded'}; ${serving} serves it`,
  };
}

/** Another rollout or experiment took the deployment after ours: judge by what it serves now. */
async function replaced(input: ReleaseProgressInput, deployment: string, ours: string): Promise<ReleaseProgress> {
  const serving = primaryVersion((await input.deps.deployments.service.view(deployment)).revision.spec);
  if (serving === input.candidate)
    return { state: 'done', summary: `${ours} ended; ${input.candidate} serves ${deployment}` };
  return {
    state: 'stopped',
    reason: `${ours} on ${deployment} is no longer the latest (another controller took over); ${serving} serves it`,
  };
}

async function activeRollout(deps: ReleaseDeps, deployment: string) {
  const record = await optional(deps.deployments.rollouts.status(deployment));
  return record !== undefined && (record.status === 'running' || record.status === 'paused') ? record : undefined;
}

async function activeExperiment(deps: ReleaseDeps, deployment: string) {
  const results = await optional(deps.deployments.experiments.results(deployment));
  const record = results?.experiment;
  return record !== undefined && (record.status === 'running' || record.status === 'paused') ? record : undefined;
}

async function optional<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof SlipwayError && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
}

function withShadow(spec: DeploymentSpec, candidate: string): DeploymentSpec {
  return {
    ...spec,
    shadows: [...spec.shadows.filter((s) => s.version !== candidate), { version: candidate, percent: 100 }],
  };
}

function withoutShadow(spec: DeploymentSpec, candidate: string): DeploymentSpec {
  return { ...spec, shadows: spec.shadows.filter((s) => s.version !== candidate) };
}
