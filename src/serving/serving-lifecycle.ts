import type { RegistryService } from '../registry/registry-service.js';
import type { VersionRecord } from '../registry/types.js';
import { modelKeyText, type ModelPool } from '../runtime/model-pool.js';
import type { ActiveProvider } from '../runtime/backend.js';
import type { Signature } from '../tensor/datatypes.js';
import { SLIPWAY_VERSION } from '../version.js';
import type { VersionResolver } from './version-resolver.js';
import type { VersionSequences } from './version-sequences.js';
import { TRITON_PLATFORM } from './model-config.js';

export const SERVER_NAME = 'slipway';
/** Protocol extensions this server implements, for `GET /v2` and gRPC ServerMetadata. */
export const SERVER_EXTENSIONS: readonly string[] = [
  'binary_tensor_data',
  'classification',
  'model_configuration',
  'model_repository',
  'schedule_policy',
  'sequence',
  'statistics',
];

export interface ModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: string;
  readonly inputs: Signature['inputs'];
  readonly outputs: Signature['outputs'];
  /**
   * Slipway's extra facts about the described version, in the shape of OIP's `parameters`
   * (clients ignore fields they do not know): `execution_provider` when it is loaded (`cpu`,
   * `cuda`, `tensorrt`), and `execution_provider_fallback` naming the preferred providers passed over and why.
   */
  readonly parameters?: { readonly execution_provider: string; readonly execution_provider_fallback?: string };
}

/** One row of Triton's repository index. */
export interface RepositoryEntry {
  readonly name: string;
  readonly version: string;
  readonly state: 'READY' | 'LOADING' | 'UNAVAILABLE';
  readonly reason: string;
}

export interface ServingLifecycleOptions {
  readonly registry: Pick<RegistryService, 'resolve' | 'listModels' | 'listVersions'>;
  readonly pool: ModelPool;
  readonly resolver: VersionResolver;
  /** Stateful versions' sequences: ended when the version is loaded again or unloaded. */
  readonly sequences?: VersionSequences | undefined;
}

/**
 * Which versions are loaded and whether the server is ready: load, warm, unload, reload, the
 * repository index, model metadata and readiness (the KServe/Triton control plane).
 */
export class ServingLifecycle {
  private readonly warming = new Set<string>();
  private ready = false;

  constructor(private readonly options: ServingLifecycleOptions) {}

  /** Load a version in the background; requests keep going to the version they resolve to meanwhile. */
  warmInBackground(record: VersionRecord): void {
    const id = modelKeyText(record);
    if (this.warming.has(id)) return;
    this.warming.add(id);
    this.options.pool
      .acquire(record)
      .then(
        (lease) => lease.release(),
        () => undefined,
      )
      .finally(() => this.warming.delete(id));
  }

  /** Load a version and release it (deployments warm the versions of a new revision with it). */
  async warm(model: string, version: string): Promise<void> {
    const record = await this.options.registry.resolve(model, version);
    (await this.options.pool.acquire(record)).release();
  }

  /**
   * Load (or reload with fresh settings) a version in the background of serving: the new copy takes
   * requests only after it warmed up; the old one finishes its in-flight work first.
   */
  async load(model: string, version?: string): Promise<VersionRecord> {
    const record = await this.options.registry.resolve(model, version ?? 'latest');
    await this.options.pool.reload(record);
    this.options.resolver.clear();
    // Sequence settings are read again with the fresh copy, like batching.
    this.options.sequences?.drop(record);
    return record;
  }

  /** Unload a version once its in-flight requests end. `unloaded` is false when it was not loaded. */
  async unload(model: string, version?: string): Promise<{ record: VersionRecord; unloaded: boolean }> {
    const record = await this.options.registry.resolve(model, version ?? 'latest');
    const unloaded = await this.options.pool.unload(record);
    this.options.sequences?.drop(record);
    return { record, unloaded };
  }

  /** Every active version with its load state (Triton's repository index). */
  async repositoryIndex(): Promise<RepositoryEntry[]> {
    const { registry, pool } = this.options;
    const rows: RepositoryEntry[] = [];
    for (const model of await registry.listModels()) {
      for (const v of await registry.listVersions(model.name)) {
        const { status, error, warmup } = pool.loadState(v);
        const state: RepositoryEntry['state'] =
          status === 'ready' ? 'READY' : status === 'loading' ? 'LOADING' : 'UNAVAILABLE';
        // A failed load says why; a ready version whose generated warm-up was skipped says so: where the API shows that warning.
        const reason =
          status === 'failed'
            ? (error?.message ?? 'the last load failed')
            : status === 'ready'
              ? (warmup?.skipped ?? '')
              : status === 'loading'
                ? ''
                : status;
        rows.push({ name: model.name, version: v.version, state, reason });
      }
    }
    return rows;
  }

  /** `GET /v2` and gRPC ServerMetadata. */
  serverMetadata(): { name: string; version: string; extensions: readonly string[] } {
    return { name: SERVER_NAME, version: SLIPWAY_VERSION, extensions: SERVER_EXTENSIONS };
  }

  /** The version metadata and readiness describe for a name: a deployment's primary version (most traffic), or the model's. */
  async describedVersion(name: string, version?: string): Promise<VersionRecord> {
    const target = this.options.resolver.described(name, version);
    return this.options.resolver.resolve(target.model, target.version);
  }

  async modelMetadata(name: string, version?: string): Promise<ModelMetadata & { record: VersionRecord }> {
    const record = await this.describedVersion(name, version);
    const versions = await this.options.registry.listVersions(record.model);
    // A stateful version's state tensors are not the client's to send or read.
    const signature = (await this.options.sequences?.statesFor(record))?.clientSignature ?? record.signature;
    const provider = this.activeProvider(record);
    return {
      name,
      versions: versions.map((v) => v.version),
      platform: TRITON_PLATFORM,
      inputs: signature.inputs,
      outputs: signature.outputs,
      ...(provider === undefined
        ? {}
        : {
            parameters: {
              execution_provider: provider.name,
              ...(provider.fallbacks.length > 0 ? { execution_provider_fallback: provider.fallbacks.join('; ') } : {}),
            },
          }),
      record,
    };
  }

  /** The execution provider a loaded version runs on; undefined while it is not loaded. */
  activeProvider(record: Pick<VersionRecord, 'model' | 'version'>): ActiveProvider | undefined {
    return this.options.pool.activeProvider(record);
  }

  /** A model version is ready when it is loaded, warmed up and passed its smoke run. */
  async modelReady(name: string, version?: string): Promise<{ version: string; ready: boolean }> {
    const record = await this.describedVersion(name, version);
    return { version: record.version, ready: this.options.pool.status(record) === 'ready' };
  }

  /**
   * Load the versions most likely to be called (each model's latest and every aliased version),
   * up to the pool's capacity, then report ready. Failures go to `onError` and do not block.
   */
  async preload(limit: number, onError: (key: string, error: unknown) => void): Promise<void> {
    const { registry, pool, resolver } = this.options;
    const wanted: VersionRecord[] = [];
    for (const model of await registry.listModels()) {
      const versions = await registry.listVersions(model.name);
      for (const v of versions) {
        if (v === versions[0] || v.aliases.length > 0) wanted.push(v);
        resolver.remember(model.name, [v.version, ...v.aliases, ...(v === versions[0] ? ['latest'] : [])], v);
      }
    }
    for (const record of wanted.slice(0, limit)) {
      try {
        (await pool.acquire(record)).release();
      } catch (error) {
        onError(modelKeyText(record), error);
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
