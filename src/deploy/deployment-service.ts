/**
 * The deployment verbs: deploy (a new revision), rollback, history, and which share each version
 * served when. Every change is checked (versions exist, load, fit the sticky key) before it is
 * committed, so a change that cannot serve is refused and the current revision stays.
 */
import { SlipwayError, invalid, notFound } from '../core/errors.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { ControllerRecord, SqlControllerStore } from './controller-store.js';
import type { DeploymentRecord, Revision, RevisionSource, SqlDeploymentStore } from './deployment-store.js';
import {
  checkDeploymentName,
  parseDeploymentSpec,
  versionsOf,
  type DeploymentSpec,
  type DeploymentSpecInput,
} from './spec.js';
import type { DeploymentSync } from './sync.js';

export interface DeploymentServiceOptions {
  readonly store: SqlDeploymentStore;
  readonly registry: RegistryService;
  /** Load and warm versions (the model pool); throws when one cannot load. */
  readonly prepare: (model: string, versions: readonly string[]) => Promise<void>;
  /** The rollouts and experiments, to refuse a manual change while one of them is in charge. */
  readonly rollouts: SqlControllerStore<unknown, unknown>;
  readonly experiments: SqlControllerStore<unknown, unknown>;
  /** This process's router follower, refreshed right after a change so the API answers after it took effect here. */
  readonly sync?: DeploymentSync;
  /** Tells the other servers a deployment changed (src/deploy/sync-notify.ts: `deploymentAnnouncer`). */
  readonly announce?: (deployment: string) => Promise<void>;
}

export interface DeployOptions {
  readonly why?: string | null;
  /** Who asked for it (a principal's name), kept with the revision. */
  readonly actor?: string | null;
  readonly source?: RevisionSource;
  /** Commit only while this revision is active (CONFLICT otherwise). */
  readonly expectActive?: number;
  /** A controller's step on its way somewhere (`rollback` steps over it). */
  readonly intermediate?: boolean;
  /**
   * A rollout or experiment changing the traffic it is in charge of: only the other kind being
   * active is refused. Users' changes are refused while either is (CONFLICT).
   */
  readonly controller?: 'rollout' | 'experiment';
}

/** The deployment as the API shows it. */
export interface DeploymentView extends DeploymentRecord {
  readonly revision: Revision;
}

/** When a version served which share, through which deployment. */
export interface TrafficInterval {
  readonly deployment: string;
  readonly revision: number;
  readonly share: number;
  /** Epoch ms. */
  readonly fromMs: number;
  /** Epoch ms; null while it still holds. */
  readonly untilMs: number | null;
  readonly why: string | null;
}

export class DeploymentService {
  constructor(private readonly options: DeploymentServiceOptions) {}

  /** Check, load and commit a spec as the deployment's new active revision (creating it). */
  async deploy(name: string, input: DeploymentSpecInput, options: DeployOptions = {}): Promise<Revision> {
    checkDeploymentName(name);
    const spec = parseDeploymentSpec(input);
    await this.refuseWhileControlled(name, options.controller);
    await this.check(spec);
    return this.commit(name, spec, options);
  }

  /** Commit an already-checked spec (rollbacks and controllers). */
  async commit(name: string, spec: DeploymentSpec, options: DeployOptions = {}): Promise<Revision> {
    try {
      await this.options.prepare(spec.model, versionsOf(spec));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `refused: a version of "${spec.model}" in this change cannot load (${message}); the current revision stays`,
        { cause: error },
      );
    }
    const revision = await this.options.store.commit(name, spec, {
      why: options.why ?? null,
      actor: options.actor ?? null,
      source: options.source ?? 'user',
      intermediate: options.intermediate === true,
      ...(options.expectActive === undefined ? {} : { expectActive: options.expectActive }),
    });
    await this.options.announce?.(name);
    await this.options.sync?.refresh();
    return revision;
  }

  /**
   * Restore the previous revision's traffic as a new revision (like `kubectl rollout undo`). The
   * steps a rollout or experiment took on its way are stepped over: rolling back during or after a
   * rollout restores the traffic from before it. A running rollout or experiment stops, with the
   * reason recorded.
   */
  async rollback(name: string, why?: string, actor?: string): Promise<Revision> {
    const record = await this.get(name);
    const history = await this.options.store.history(name);
    const previous = history.filter((r) => r.revision < record.activeRevision && !r.intermediate).at(-1);
    if (previous === undefined)
      throw new SlipwayError('FAILED_PRECONDITION', `deployment "${name}" has no previous revision to roll back to`);
    await this.stopControllers(name, `stopped by a rollback to revision ${previous.revision}`);
    return this.commit(name, previous.spec, {
      why: why ?? `rollback to revision ${previous.revision}`,
      source: 'rollback',
      actor: actor ?? null,
    });
  }

  async get(name: string): Promise<DeploymentRecord> {
    const record = await this.options.store.get(name);
    if (record === undefined) throw notFound(`deployment "${name}" does not exist`);
    return record;
  }

  async view(name: string): Promise<DeploymentView> {
    const record = await this.get(name);
    return { ...record, revision: await this.options.store.revision(name, record.activeRevision) };
  }

  async list(): Promise<DeploymentView[]> {
    const records = await this.options.store.list();
    return Promise.all(
      records.map(async (r) => ({ ...r, revision: await this.options.store.revision(r.name, r.activeRevision) })),
    );
  }

  async history(name: string): Promise<Revision[]> {
    await this.get(name);
    return this.options.store.history(name);
  }

  async delete(name: string): Promise<void> {
    if (!(await this.options.store.delete(name))) throw notFound(`deployment "${name}" does not exist`);
    await this.options.announce?.(name);
    await this.options.sync?.refresh();
  }

  /** Every interval in which `model@version` had a share of a deployment's traffic, oldest first. */
  async versionTraffic(model: string, version: string): Promise<TrafficInterval[]> {
    await this.options.registry.resolve(model, version);
    const revisions = await this.options.store.historyOfModel(model);
    const out: TrafficInterval[] = [];
    const open = new Map<string, TrafficInterval>();
    for (const r of revisions) {
      const previous = open.get(r.deployment);
      if (previous !== undefined) {
        out.push({ ...previous, untilMs: r.createdMs });
        open.delete(r.deployment);
      }
      const share = r.spec.routes.find((route) => route.version === version)?.weight ?? 0;
      if (share > 0)
        open.set(r.deployment, {
          deployment: r.deployment,
          revision: r.revision,
          share,
          fromMs: r.createdMs,
          untilMs: null,
          why: r.why,
        });
    }
    out.push(...open.values());
    return out.sort((a, b) => a.fromMs - b.fromMs);
  }

  /** Versions exist in the registry, and a sticky input is an input of every routed version. */
  async check(spec: DeploymentSpec): Promise<void> {
    for (const version of new Set([...spec.routes.map((r) => r.version), ...spec.shadows.map((s) => s.version)])) {
      const record = await this.options.registry.resolve(spec.model, version);
      if (record.status !== 'active')
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `${spec.model}@${version} is ${record.status}; it cannot take traffic`,
        );
      const { sticky } = spec;
      if (
        sticky?.kind === 'input' &&
        spec.routes.some((r) => r.version === version) &&
        !record.signature.inputs.some((i) => i.name === sticky.name)
      ) {
        throw invalid(
          `sticky key input:${sticky.name}: ${spec.model}@${version} has no input "${sticky.name}" (inputs: ${record.signature.inputs.map((i) => i.name).join(', ')})`,
        );
      }
    }
  }

  /** A manual change while a rollout or experiment steers the traffic would be undone by it: refuse. */
  private async refuseWhileControlled(name: string, controller?: 'rollout' | 'experiment'): Promise<void> {
    const rollout = controller === 'rollout' ? undefined : await this.options.rollouts.active(name);
    if (rollout !== undefined)
      throw new SlipwayError(
        'CONFLICT',
        `a rollout is ${rollout.status} on "${name}"; use "slipway rollout promote|abort ${name}" first`,
      );
    const experiment = controller === 'experiment' ? undefined : await this.options.experiments.active(name);
    if (experiment !== undefined)
      throw new SlipwayError(
        'CONFLICT',
        `an experiment is ${experiment.status} on "${name}"; use "slipway experiment stop ${name}" first`,
      );
  }

  private async stopControllers(name: string, reason: string): Promise<void> {
    for (const [store, status] of [
      [this.options.rollouts, 'aborted'],
      [this.options.experiments, 'stopped'],
    ] as const) {
      const active: ControllerRecord<unknown, unknown> | undefined = await store.active(name);
      if (active !== undefined) await store.update(active, { status, reason, finished: true });
    }
  }
}
