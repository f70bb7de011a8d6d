import { SlipwayError, invalid, toSlipwayError } from '../core/errors.js';
import type { ServedFeatures } from '../features/served-features.js';
import { outcomeOf, type InferenceObserver, type Protocol } from '../monitor/events.js';
import { newRequestId } from '../monitor/request-id.js';
import { isSemver } from '../registry/model-ref.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { VersionRecord } from '../registry/types.js';
import type { CancelSignal } from '../runtime/abort.js';
import { newRunTiming, type RunTiming } from '../runtime/backend.js';
import type { ModelPool } from '../runtime/model-pool.js';
import type { Signature, Tensor } from '../tensor/datatypes.js';
import { selectOutputs, validateInputs } from '../tensor/validate.js';
import { SLIPWAY_VERSION } from '../version.js';
import type { ActiveDeployment, DeploymentRouter } from '../deploy/router.js';
import { stickyKeyOf, type HeaderLookup } from '../deploy/sticky-key.js';
import type { ShadowQueue } from '../deploy/shadow-queue.js';
import { primaryVersion } from '../deploy/spec.js';

export const SERVER_NAME = 'slipway';
export const PLATFORM = 'onnxruntime_onnx';
/** Protocol extensions this server implements, for `GET /v2` and gRPC ServerMetadata. */
export const SERVER_EXTENSIONS: readonly string[] = ['binary_tensor_data', 'model_repository', 'schedule_policy'];

/** A decoded inference request, the same for every transport. */
export interface InferRequest {
  readonly model: string;
  /** A semver, an alias, or undefined for the latest version. */
  readonly version?: string;
  readonly id?: string;
  readonly inputs: readonly Tensor[];
  /** Names of the outputs wanted; all when undefined or empty. */
  readonly outputs?: readonly string[];
  readonly parameters?: Readonly<Record<string, unknown>>;
  readonly signal?: CancelSignal;
  /** The transport, for metrics; default 'http'. */
  readonly protocol?: Protocol;
  /** Inference by entity: the feature values the inputs were built from, logged with the prediction. */
  readonly features?: ServedFeatures;
  /** Request headers, for a deployment's `header:` sticky key. */
  readonly headers?: HeaderLookup;
  /**
   * Set when the adapter already routed the request (it needed the version's signature to decode
   * the body): `model` is the deployment's model and `version` the version it picked.
   */
  readonly routed?: RoutedTarget;
}

/** Where a request goes: a model version, reached directly or through a deployment. */
export interface RoutedTarget {
  readonly model: string;
  readonly deployment: string | undefined;
  /** The deployment's active revision when routed through one. */
  readonly active?: ActiveDeployment;
}

export interface InferResult {
  readonly modelName: string;
  readonly modelVersion: string;
  /** The client's id, or one the server made up when monitoring is on (feedback refers to it). */
  readonly id: string | undefined;
  readonly outputs: readonly Tensor[];
}

export interface ModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: string;
  readonly inputs: Signature['inputs'];
  readonly outputs: Signature['outputs'];
}

/** One row of Triton's repository index. */
export interface RepositoryEntry {
  readonly name: string;
  readonly version: string;
  readonly state: 'READY' | 'LOADING' | 'UNAVAILABLE';
  readonly reason: string;
}

export interface InferenceServiceOptions {
  readonly registry: RegistryService;
  readonly pool: ModelPool;
  /** How long a resolved `name@selector` is reused before the store is asked again. */
  readonly resolveCacheMs?: number;
  /** Told about every inference request (metrics, live stats, prediction log). */
  readonly observer?: InferenceObserver;
  /** Deployments: names callable as models, whose active revision picks the version. */
  readonly router?: DeploymentRouter;
  /** Where copies for a deployment's shadow versions go once the primary answered. */
  readonly shadows?: ShadowQueue;
}

/**
 * The transport-neutral inference core: resolve the version, validate against its
 * signature, run it in the model pool. HTTP and gRPC adapters only decode and encode.
 */
export class InferenceService {
  private readonly cache = new Map<string, { record: VersionRecord; until: number }>();
  private readonly warming = new Set<string>();
  /** The last resolution of each `model@selector`, kept for when the store cannot be read. */
  private readonly lastKnown = new Map<string, VersionRecord>();
  private readonly resolveCacheMs: number;
  private ready = false;

  constructor(private readonly options: InferenceServiceOptions) {
    this.resolveCacheMs = options.resolveCacheMs ?? 1000;
  }

  /**
   * Route a name: a deployment picks a version of its model by its active revision (by weight, or
   * by sticky key), unless the caller named a version; any other name is a model. No I/O.
   */
  route(name: string, version: string | undefined, key: { headers?: HeaderLookup; inputs?: readonly Tensor[]; value?: string } = {}): { target: RoutedTarget; version: string | undefined } {
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

  /** {@link route} then {@link resolve}: the version record a request to `name` would run on. */
  async resolveRouted(name: string, version: string | undefined, key: { headers?: HeaderLookup; inputs?: readonly Tensor[]; value?: string } = {}): Promise<{ record: VersionRecord; target: RoutedTarget }> {
    const routed = this.route(name, version, key);
    return { record: await this.resolve(routed.target.model, routed.version), target: routed.target };
  }

  /**
   * Resolve a model and optional selector, with a short cache so the hot path rarely reads the store.
   * When an alias, `latest` or a major (`1` = newest 1.x.y) moves to a version that is not loaded yet, the previous version keeps
   * answering while the new one loads and warms up in the background (no request waits on a load).
   */
  async resolve(model: string, version?: string): Promise<VersionRecord> {
    const key = `${model}@${version ?? 'latest'}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.record;
    let record: VersionRecord;
    try {
      record = await this.options.registry.resolve(model, version ?? 'latest');
    } catch (error) {
      // The store is unreachable: a version already loaded keeps answering from its last known
      // resolution (checked again with the next cache expiry), instead of every request failing.
      const known = this.lastKnown.get(key);
      if (error instanceof SlipwayError && error.code === 'UNAVAILABLE' && known !== undefined && this.options.pool.status(poolKey(known)) === 'ready') {
        this.cache.set(key, { record: known, until: now + this.resolveCacheMs });
        return known;
      }
      throw error;
    }
    const previous = hit?.record;
    if (previous !== undefined && previous.version !== record.version && !isSemver(version ?? 'latest')) {
      const { pool } = this.options;
      if (pool.status(poolKey(record)) !== 'ready' && pool.status(poolKey(previous)) === 'ready') {
        this.warmInBackground(record);
        record = previous;
      }
    }
    this.cache.set(key, { record, until: now + this.resolveCacheMs });
    this.lastKnown.set(key, record);
    return record;
  }

  private warmInBackground(record: VersionRecord): void {
    const key = poolKey(record);
    if (this.warming.has(key)) return;
    this.warming.add(key);
    this.options.pool
      .acquire(key, () => Promise.resolve(this.options.registry.artifactPath(record)))
      .then((lease) => lease.release(), () => undefined)
      .finally(() => this.warming.delete(key));
  }

  /**
   * Load (or reload with fresh settings) a version in the background of serving: the new copy takes
   * requests only after it warmed up; the old one finishes its in-flight work first.
   */
  async load(model: string, version?: string): Promise<VersionRecord> {
    const record = await this.options.registry.resolve(model, version ?? 'latest');
    await this.options.pool.reload(poolKey(record), () => Promise.resolve(this.options.registry.artifactPath(record)));
    this.cache.clear();
    return record;
  }

  /** Unload a version once its in-flight requests end. Resolves false when it was not loaded. */
  async unload(model: string, version?: string): Promise<{ record: VersionRecord; unloaded: boolean }> {
    const record = await this.options.registry.resolve(model, version ?? 'latest');
    return { record, unloaded: await this.options.pool.unload(poolKey(record)) };
  }

  /** Every active version with its load state (Triton's repository index). */
  async repositoryIndex(): Promise<RepositoryEntry[]> {
    const rows: RepositoryEntry[] = [];
    for (const model of await this.options.registry.listModels()) {
      for (const v of await this.options.registry.listVersions(model.name)) {
        const status = this.options.pool.status(poolKey(v));
        const state: RepositoryEntry['state'] = status === 'ready' ? 'READY' : status === 'loading' ? 'LOADING' : 'UNAVAILABLE';
        rows.push({ name: model.name, version: v.version, state, reason: status === 'failed' ? 'the last load failed' : status === 'ready' || status === 'loading' ? '' : status });
      }
    }
    return rows;
  }

  /** `GET /v2` and gRPC ServerMetadata. */
  serverMetadata(): { name: string; version: string; extensions: readonly string[] } {
    return { name: SERVER_NAME, version: SLIPWAY_VERSION, extensions: SERVER_EXTENSIONS };
  }

  async infer(request: InferRequest): Promise<InferResult> {
    const { observer } = this.options;
    if (observer === undefined) return this.run(request, undefined, request.id);
    const timeMs = Date.now();
    const started = performance.now();
    const timing = newRunTiming();
    const requestId = request.id ?? newRequestId();
    let version = '';
    let target: RoutedTarget = request.routed ?? { model: request.model, deployment: undefined };
    try {
      const result = await this.run(request, timing, requestId, (resolved, routed) => {
        version = resolved;
        target = routed;
      });
      observer({
        requestId, timeMs, deployment: target.deployment, model: target.model, version,
        protocol: request.protocol ?? 'http', outcome: 'success', errorCode: undefined,
        durationSeconds: (performance.now() - started) / 1000,
        queueSeconds: timing.queueMs / 1000,
        computeSeconds: Math.max(0, timing.computeMs) / 1000,
        inputs: request.inputs, outputs: result.outputs, features: request.features,
      });
      return { ...result, id: requestId };
    } catch (error) {
      this.observeFailure(target.model, version, request.protocol ?? 'http', error, timeMs, started, requestId, target.deployment);
      throw error;
    }
  }

  /**
   * Count a request that failed before or inside `infer` (e.g. a body that did not decode). The
   * model label is kept only when the registry knows the name, so label values stay bounded.
   */
  observeFailure(model: string, version: string, protocol: Protocol, error: unknown, timeMs = Date.now(), started = performance.now(), requestId = '', deployment?: string): void {
    const { observer } = this.options;
    if (observer === undefined) return;
    // Transport errors (a body that is not JSON) carry an HTTP 4xx status instead of a code.
    const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
    const code = !(error instanceof SlipwayError) && typeof status === 'number' && status >= 400 && status < 500 ? 'INVALID_ARGUMENT' : toSlipwayError(error).code;
    observer({
      requestId, timeMs, deployment, model: version !== '' || this.isKnownModel(model) ? model : '', version,
      protocol, outcome: outcomeOf(code), errorCode: code,
      durationSeconds: (performance.now() - started) / 1000, queueSeconds: 0, computeSeconds: 0,
      inputs: undefined, outputs: undefined,
    });
  }

  /**
   * Run a resolved version on inputs without metrics or logging (reference profiles, internal
   * jobs): validated like any request.
   */
  async predictUnobserved(record: VersionRecord, inputs: readonly Tensor[]): Promise<Tensor[]> {
    const validated = validateInputs(inputs, record.signature);
    return this.options.pool.run(poolKey(record), () => Promise.resolve(this.options.registry.artifactPath(record)), validated, []);
  }

  /** Whether a recent resolve found this model (cheap; used only on error paths). */
  private isKnownModel(model: string): boolean {
    for (const entry of this.cache.values()) if (entry.record.model === model) return true;
    return false;
  }

  private async run(request: InferRequest, timing: RunTiming | undefined, requestId: string | undefined, onResolved?: (version: string, target: RoutedTarget) => void): Promise<InferResult> {
    const routed = request.routed === undefined ? this.route(request.model, request.version, { headers: request.headers, inputs: request.inputs }) : { target: request.routed, version: request.version };
    const { target } = routed;
    const record = await this.resolve(target.model, routed.version);
    onResolved?.(record.version, target);
    const inputs = validateInputs(request.inputs, record.signature);
    const outputNames = selectOutputs(request.outputs, record.signature);
    const started = performance.now();
    const outputs = await this.options.pool.run(poolKey(record), () => Promise.resolve(this.options.registry.artifactPath(record)), inputs, outputNames, {
      signal: request.signal,
      ...(timing === undefined ? {} : { timing }),
      ...scheduling(request.parameters),
    });
    const active = target.active ?? (target.deployment === undefined ? undefined : this.options.router?.get(target.deployment));
    if (active !== undefined && active.shadows.length > 0) {
      this.options.shadows?.offer(active, { requestId: requestId ?? '', version: record.version, inputs, outputs, latencyMs: performance.now() - started });
    }
    return { modelName: request.model, modelVersion: record.version, id: request.id, outputs };
  }

  /**
   * Run a version for a shadow copy: validated, unobserved (its metrics are the shadow report's).
   */
  async runShadow(model: string, version: string, inputs: readonly Tensor[]): Promise<Tensor[]> {
    return this.predictUnobserved(await this.resolve(model, version), inputs);
  }

  async modelMetadata(name: string, version?: string): Promise<ModelMetadata> {
    const { model, version: selector } = this.describedTarget(name, version);
    const record = await this.resolve(model, selector);
    const versions = await this.options.registry.listVersions(model);
    return {
      name,
      versions: versions.map((v) => v.version),
      platform: PLATFORM,
      inputs: record.signature.inputs,
      outputs: record.signature.outputs,
    };
  }

  /** The version metadata and readiness describe for a name: a deployment's primary version (most traffic), or the model's. */
  async describedVersion(name: string, version?: string): Promise<VersionRecord> {
    const { model, version: selector } = this.describedTarget(name, version);
    return this.resolve(model, selector);
  }

  private describedTarget(name: string, version: string | undefined): { model: string; version: string | undefined } {
    const active = this.options.router?.get(name);
    if (active === undefined) return { model: name, version };
    return { model: active.model, version: version ?? primaryVersion(active.spec) };
  }

  /** A model version is ready when it is loaded, warmed up and passed its smoke run. */
  async modelReady(name: string, version?: string): Promise<{ version: string; ready: boolean }> {
    const { model, version: selector } = this.describedTarget(name, version);
    const record = await this.resolve(model, selector);
    return { version: record.version, ready: this.options.pool.status(poolKey(record)) === 'ready' };
  }

  /**
   * Load the versions most likely to be called (each model's latest and every aliased version),
   * up to the pool's capacity, then report ready. Failures are logged by the caller and do not block.
   */
  async preload(limit: number, onError: (key: string, error: unknown) => void): Promise<void> {
    const { registry, pool } = this.options;
    const wanted: VersionRecord[] = [];
    for (const model of await registry.listModels()) {
      const versions = await registry.listVersions(model.name);
      for (const v of versions) {
        if (v === versions[0] || v.aliases.length > 0) wanted.push(v);
        // What a request could name it by, should the store be unreachable at its first request.
        for (const selector of [v.version, ...v.aliases, ...(v === versions[0] ? ['latest'] : [])]) this.lastKnown.set(`${model.name}@${selector}`, v);
      }
    }
    for (const record of wanted.slice(0, limit)) {
      try {
        const lease = await pool.acquire(poolKey(record), () => Promise.resolve(registry.artifactPath(record)));
        lease.release();
      } catch (error) {
        onError(poolKey(record), error);
      }
    }
    this.ready = true;
  }

  isReady(): boolean {
    return this.ready;
  }

  markReady(ready: boolean): void {
    this.ready = ready;
  }
}

/**
 * The protocol's scheduling parameters (Triton's names): `timeout` in microseconds from now, and
 * `priority` (1 = highest).
 */
function scheduling(parameters: Readonly<Record<string, unknown>> | undefined): { deadline?: number; priority?: number } {
  if (parameters === undefined) return {};
  const out: { deadline?: number; priority?: number } = {};
  const { timeout, priority } = parameters;
  if (timeout !== undefined) {
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 0) throw invalid(`parameter "timeout" must be a non-negative integer of microseconds, got ${JSON.stringify(timeout)}`);
    if (timeout > 0) out.deadline = performance.now() + timeout / 1000;
  }
  if (priority !== undefined) {
    if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 0) throw invalid(`parameter "priority" must be a non-negative integer, got ${JSON.stringify(priority)}`);
    if (priority > 0) out.priority = priority;
  }
  return out;
}

export function poolKey(record: Pick<VersionRecord, 'model' | 'version'>): string {
  return `${record.model}@${record.version}`;
}
