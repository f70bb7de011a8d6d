/**
 * The serving core: names to versions (`VersionResolver`), which versions are loaded
 * (`ServingLifecycle`) and the one request path (`RequestPipeline`). Built once by platform.ts;
 * the HTTP and gRPC adapters in server/ only map wire formats to `InferenceRequest` and back.
 */
import type { DeploymentRouter } from '../deploy/router.js';
import type { ShadowQueue } from '../deploy/shadow-queue.js';
import type { FeatureStore } from '../features/feature-store.js';
import type { InferenceObserver } from '../monitor/events.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { ModelPool } from '../runtime/model-pool.js';
import { RequestPipeline } from './request-pipeline.js';
import { ServingLifecycle } from './serving-lifecycle.js';
import { VersionResolver } from './version-resolver.js';
import { VersionSequences, type ServingConfigReader } from './version-sequences.js';

export { RequestPipeline } from './request-pipeline.js';
export {
  ServingLifecycle,
  SERVER_NAME,
  SERVER_EXTENSIONS,
  type ModelMetadata,
  type RepositoryEntry,
} from './serving-lifecycle.js';
export { VersionResolver, type RoutedTarget } from './version-resolver.js';
export { tensorRequest, type InferenceRequest, type InferResult, type RequestBody } from './inference-request.js';
export type { RequestedOutput } from './classification.js';

/** The three parts of the serving core, as the adapters see them. */
export interface Serving {
  readonly resolver: VersionResolver;
  readonly lifecycle: ServingLifecycle;
  readonly pipeline: RequestPipeline;
}

export interface ServingOptions {
  readonly registry: Pick<RegistryService, 'resolve' | 'listModels' | 'listVersions'>;
  readonly pool: ModelPool;
  readonly router?: DeploymentRouter | undefined;
  readonly shadows?: ShadowQueue | undefined;
  readonly observer?: InferenceObserver | undefined;
  readonly features?: FeatureStore | undefined;
  /** How long a resolved `name@selector` is reused (default 1 s). */
  readonly resolveCacheMs?: number;
  /** A model's stored serving settings, for stateful versions (`sequence`); absent = sequence parameters are refused. */
  readonly servingConfigOf?: ServingConfigReader | undefined;
}

export function createServing(options: ServingOptions): Serving {
  const { registry, pool } = options;
  // The resolver asks the lifecycle to warm versions; the lifecycle clears the resolver's cache.
  const resolver: VersionResolver = new VersionResolver({
    registry,
    status: (key) => pool.status(key),
    warm: (record) => lifecycle.warmInBackground(record),
    router: options.router,
    ...(options.resolveCacheMs === undefined ? {} : { cacheMs: options.resolveCacheMs }),
  });
  const sequences = options.servingConfigOf === undefined ? undefined : new VersionSequences(options.servingConfigOf);
  const lifecycle = new ServingLifecycle({ registry, pool, resolver, sequences });
  const pipeline = new RequestPipeline({
    resolver,
    pool,
    observer: options.observer,
    shadows: options.shadows,
    features: options.features,
    sequences,
  });
  return { resolver, lifecycle, pipeline };
}
