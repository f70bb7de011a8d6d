import { SlipwayError } from '../core/errors.js';
import { isSemver } from '../registry/model-ref.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { VersionRecord } from '../registry/types.js';
import type { ModelKey, ModelStatus } from '../runtime/model-pool.js';
import type { Tensor } from '../tensor/datatypes.js';
import type { ActiveDeployment, DeploymentRouter } from '../deploy/router.js';
import { stickyKeyOf, type HeaderLookup } from '../deploy/sticky-key.js';
import { primaryVersion } from '../deploy/spec.js';

/** Where a request goes: a model version, reached directly or through a deployment. */
export interface RoutedTarget {
  readonly model: string;
  readonly deployment: string | undefined;
  /** The deployment's active revision when routed through one. */
  readonly active?: ActiveDeployment;
}

/** What a deployment's sticky key may read: request headers, the decoded inputs, or a value the adapter found. */
export interface StickyKeySource {
  readonly headers?: HeaderLookup | undefined;
  readonly inputs?: readonly Tensor[] | undefined;
  readonly value?: string | undefined;
}

export interface VersionResolverOptions {
  readonly registry: Pick<RegistryService, 'resolve'>;
  /** The load state of a version (the model pool's), to keep an old version answering while a new one warms up. */
  readonly status: (key: ModelKey) => ModelStatus;
  /** Start loading a version in the background (no request waits on it). */
  readonly warm: (record: VersionRecord) => void;
  /** Deployments: names callable as models, whose active revision picks the version. */
  readonly router?: DeploymentRouter | undefined;
  /** How long a resolved `name@selector` is reused before the store is asked again (default 1 s). */
  readonly cacheMs?: number;
}

/**
 * Names to versions: a deployment's active revision picks a version of its model (no I/O), and a
 * `model@selector` resolves through the registry with a short cache, so the hot path rarely reads
 * the store.
 */
export class VersionResolver {
  private readonly cache = new Map<string, { record: VersionRecord; until: number }>();
  /** The last resolution of each `model@selector`, kept for when the store cannot be read. */
  private readonly lastKnown = new Map<string, VersionRecord>();
  private readonly cacheMs: number;

  constructor(private readonly options: VersionResolverOptions) {
    this.cacheMs = options.cacheMs ?? 1000;
  }

  /**
   * Route a name: a deployment picks a version of its model by its active revision (by weight, or
   * by sticky key), unless the caller named a version; any other name is a model. No I/O.
   */
  route(
    name: string,
    version: string | undefined,
    key: StickyKeySource = {},
  ): { target: RoutedTarget; version: string | undefined } {
    const active = this.options.router?.get(name);
    if (active === undefined) return { target: { model: name, deployment: undefined }, version };
    const target = { model: active.model, deployment: active.name, active };
    if (version !== undefined) return { target, version };
    const sticky = active.sticky;
    const value = sticky === null ? undefined : (key.value ?? stickyKeyOf(sticky, key.headers, key.inputs));
    return { target, version: active.pick(value) };
  }

  /** Whether `name` is a deployment this process routes. */
  isDeployment(name: string): boolean {
    return this.options.router?.has(name) ?? false;
  }

  /** The input a deployment's sticky key reads, if it is `input:<name>`. */
  stickyInputOf(name: string): string | undefined {
    const sticky = this.options.router?.get(name)?.sticky;
    return sticky?.kind === 'input' ? sticky.name : undefined;
  }

  /** The model and selector that metadata and readiness describe for a name: a deployment's primary version (most traffic), or the model's. */
  described(name: string, version: string | undefined): { model: string; version: string | undefined } {
    const active = this.options.router?.get(name);
    if (active === undefined) return { model: name, version };
    return { model: active.model, version: version ?? primaryVersion(active.spec) };
  }

  /**
   * Resolve a model and optional selector. When an alias, `latest` or a major (`1` = newest 1.x.y)
   * moves to a version that is not loaded yet, the previous version keeps answering while the new one
   * loads and warms up in the background. When the store is unreachable, a loaded version answers
   * from its last known resolution.
   */
  async resolve(model: string, version?: string): Promise<VersionRecord> {
    const key = `${model}@${version ?? 'latest'}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.record;
    const { status } = this.options;
    let record: VersionRecord;
    try {
      record = await this.options.registry.resolve(model, version ?? 'latest');
    } catch (error) {
      const known = this.lastKnown.get(key);
      if (
        error instanceof SlipwayError &&
        error.code === 'UNAVAILABLE' &&
        known !== undefined &&
        status(known) === 'ready'
      ) {
        this.cache.set(key, { record: known, until: now + this.cacheMs });
        return known;
      }
      throw error;
    }
    const previous = hit?.record;
    if (previous !== undefined && previous.version !== record.version && !isSemver(version ?? 'latest')) {
      if (status(record) !== 'ready' && status(previous) === 'ready') {
        this.options.warm(record);
        record = previous;
      }
    }
    this.cache.set(key, { record, until: now + this.cacheMs });
    this.lastKnown.set(key, record);
    return record;
  }

  /** Remember what a version can be called by, should the store be unreachable at its first request. */
  remember(model: string, selectors: readonly string[], record: VersionRecord): void {
    for (const selector of selectors) this.lastKnown.set(`${model}@${selector}`, record);
  }

  /** Forget cached resolutions (after a load or reload with fresh settings). */
  clear(): void {
    this.cache.clear();
  }

  /** Whether a recent resolve found this model (cheap; used only on error paths to keep metric labels bounded). */
  isKnownModel(model: string): boolean {
    for (const entry of this.cache.values()) if (entry.record.model === model) return true;
    return false;
  }
}
