import compress from '@fastify/compress';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { SlipwayConfig } from '../core/config.js';
import { MAX_PATH_PARAM_LENGTH, NAME_MAX_LENGTH } from '../core/names.js';
import type { AlertService } from '../monitor/alerts/index.js';
import type { Monitor } from '../monitor/monitor.js';
import type { RegistryService } from '../registry/registry-service.js';
import { installErrorHandling } from './http/errors.js';
import { clientErrorHandler } from './http/client-error-handler.js';
import { attachRoutePermissions } from './http/auth-hook.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { TokenService } from '../auth/token-service.js';
import { registerTokenRoutes } from './http/token-routes.js';
import { installBodyParsers } from './http/content-types.js';
import { RESPONSE_COMPRESSION_THRESHOLD } from './http/response-encoding.js';
import { registerManagementRoutes } from './http/management-routes.js';
import { registerAlertRoutes } from './http/alert-routes.js';
import { registerMonitoringRoutes } from './http/monitoring-routes.js';
import { registerObservabilityRoutes, type ObservabilityApi } from './http/observability-routes.js';
import { registerPredictRoutes } from './http/predict-routes.js';
import { registerRepositoryRoutes } from './http/repository-routes.js';
import { registerStatisticsRoutes } from './http/statistics-routes.js';
import { registerV2Routes } from './http/v2-routes.js';
import { registerModelConfigRoutes } from './http/model-config-routes.js';
import { registerUnsupportedRoutes } from './http/unsupported-routes.js';
import { registerHealthRoutes, type HealthOptions } from './http/health-routes.js';
import type { Serving } from '../serving/index.js';
import type { FeatureStore } from '../features/feature-store.js';
import { registerFeatureRoutes } from './http/feature-routes.js';
import { registerFeaturePushRoutes } from './http/feature-push-routes.js';
import { SLIPWAY_VERSION } from '../version.js';
import type { JobService } from '../batch/job-service.js';
import { registerJobRoutes } from './http/job-routes.js';
import { registerOptimizeRoutes } from './http/optimize-routes.js';
import type { OptimizeJobs } from '../optimize/optimize-jobs.js';
import type { PipelineStores } from '../pipelines/definitions/overview.js';
import { registerPipelineDefinitionRoutes } from './http/pipeline-definition-routes.js';
import { registerPipelineRunRoutes } from './http/pipeline-run-routes.js';
import type { PipelineService } from '../pipelines/pipeline-service.js';
import type { Deployments } from '../deploy/index.js';
import { registerDeploymentRoutes } from './http/deployment-routes.js';
import type { AuditLog } from '../audit/audit-log.js';
import { installAuditTrail } from './http/audit-hook.js';
import { registerAuditRoutes } from './http/audit-routes.js';
import { installSecurityHeaders } from './http/security-headers.js';
import { installCors } from './http/cors.js';
import { httpServerOptions, type HttpLimits, type TlsMaterial } from './transport.js';

export interface AppOptions {
  readonly config: Pick<SlipwayConfig, 'maxBodyBytes' | 'logLevel'> &
    Partial<Pick<SlipwayConfig, 'readyRequiresDatabase'>>;
  /** The metadata database, for readiness and `/api/v1/health` (health-routes.ts); absent = not reported. */
  readonly database?: HealthOptions['database'];
  readonly registry: RegistryService;
  /** The serving core (platform.ts builds it). */
  readonly serving: Serving;
  /** Metrics, live stats, prediction log, feedback, drift and alerts routes; absent = not served. */
  readonly monitor?: Monitor;
  /** Prediction log, feedback, performance and drift routes; absent = not served. */
  readonly observability?: ObservabilityApi;
  /** Alert rules and history routes; absent = not served. */
  readonly alerts?: AlertService;
  /** Feature store routes (definitions, features:get, push); absent = not served. */
  readonly features?: FeatureStore;
  /** Batch scoring jobs under /api/v1/jobs; absent = not served. */
  readonly jobs?: JobService;
  /** Optimize and distill jobs under /api/v1/models/{m}/versions/{v}/optimize and /api/v1/optimize-jobs; absent = not served. */
  readonly optimizeJobs?: OptimizeJobs;
  /** Continuous-training definitions under GET /api/v1/pipelines[/{name}]; absent = not served. */
  readonly pipelines?: PipelineStores;
  /** Pipeline runs under /api/v1/pipelines/{name}/runs and /api/v1/pipeline-runs; absent = not served. */
  readonly pipelineRuns?: PipelineService;
  /** Deployments, rollouts, experiments under /api/v1/deployments; absent = not served. */
  readonly deployments?: Deployments;
  /** The audit trail: changing routes record into it (http/audit-hook.ts), GET /api/v1/audit reads it; absent = neither. */
  readonly audit?: AuditLog;
  /** Header size cap, timeouts and TLS (transport.ts); absent = Node's and Fastify's defaults over plain HTTP. */
  readonly transport?: { readonly limits: HttpLimits; readonly tls?: TlsMaterial };
  /** Origins allowed by CORS (SLIPWAY_CORS_ORIGINS); absent or empty = no CORS headers, preflights refused. */
  readonly corsOrigins?: readonly string[];
  /**
   * Tokens (src/auth/, http/auth-hook.ts): absent = no token asked and no request hook. Every route
   * gets its permission from the table (auth/permissions.ts) either way.
   */
  readonly auth?: Authenticator;
  /** API tokens under /api/v1/tokens (admin); absent = not served. */
  readonly tokens?: TokenService;
}

/** Responses smaller than this many bytes are sent uncompressed whatever Accept-Encoding says. */
export { RESPONSE_COMPRESSION_THRESHOLD };

/**
 * Build the HTTP app without listening: tests call `app.inject()`, `serve` calls `listen()`.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const bodyLimit = options.config.maxBodyBytes;
  const app = Fastify({
    bodyLimit,
    ...(options.transport ? httpServerOptions(options.transport.limits, options.transport.tls) : {}),
    logger: options.config.logLevel === 'silent' ? false : { level: options.config.logLevel },
    // A pino child logger per request costs ~15% of single-row throughput (measured); requests log
    // only their errors, which carry the request id themselves (http/errors.ts).
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (logger) => logger,
    // Our tensors and files are data, not prototypes: refuse __proto__/constructor keys outright.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false } },
    // Every name the registry accepts must fit in a path parameter (core/names.ts); Fastify's
    // default of 100 left names of 101..128 characters unreachable (issue 13 item 16).
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    // What the HTTP parser refuses before any route runs, in the one error shape (http/client-error-handler.ts).
    clientErrorHandler,
    // Errors the router raises before any route runs, in our error model rather than Fastify's.
    frameworkErrors: (error, _request, reply) => {
      const message =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? `a path segment is longer than ${MAX_PATH_PARAM_LENGTH} characters; names are at most ${NAME_MAX_LENGTH} characters`
          : error.message;
      void (reply as FastifyReply).status(400).send({ error: message, code: 'INVALID_ARGUMENT' });
    },
  });
  installErrorHandling(app, bodyLimit);
  // Before the token check: a preflight carries no token, and a refusal must still be readable by an allowed origin.
  installCors(app, options.corsOrigins ?? []);
  // Before any route (the docs' included): each takes its permission, and with auth its own token
  // check, as it is registered; route hooks run after CORS's global one, which answers preflights.
  attachRoutePermissions(app, options.auth);
  // Before any route: attached to /api/v1 and /docs routes as they are registered (none on the inference routes).
  installSecurityHeaders(app);
  // Responses compressed when Accept-Encoding asks (as Triton does). The inference routes (v2 infer,
  // :predict) opt out of the plugin and compress their answers themselves (http/response-encoding.ts),
  // binary ones included (Inference-Header-Content-Length then counts the decompressed JSON header,
  // as Triton's), so their hot path carries none of its hooks. Request decompression is ours too (the
  // parsers below, http/request-decoding.ts): the plugin's decoder keeps inflating a bomb after the
  // parser has refused it.
  await app.register(compress, {
    global: true,
    globalDecompression: false,
    encodings: ['gzip', 'deflate', 'br'],
    threshold: RESPONSE_COMPRESSION_THRESHOLD,
  });
  // Which content types each route parses, 415 for the rest (http/content-types.ts); every parser
  // reads the body itself (http/request-decoding.ts): Content-Encoding gzip/deflate undone, the
  // route's body limit applied to the decoded bytes.
  installBodyParsers(app, bodyLimit);

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Slipway',
        version: SLIPWAY_VERSION,
        description: 'Open Inference Protocol serving and the model registry API.',
      },
      tags: [
        { name: 'inference', description: 'Open Inference Protocol v2 and :predict' },
        { name: 'health', description: 'Liveness and readiness' },
        { name: 'lifecycle', description: 'Load, reload and unload model versions' },
        { name: 'registry', description: 'Models, versions, aliases' },
        { name: 'monitoring', description: 'Metrics, live stats, prediction log, feedback, drift, alerts' },
        { name: 'features', description: 'Feature store: definitions, online features, push' },
        { name: 'batch', description: 'Batch scoring jobs: submit, status with progress, cancel' },
        { name: 'optimize', description: 'Optimize and distill jobs: a faster version, gated on held-out rows' },
        { name: 'pipelines', description: 'Continuous training: pipeline definitions, trigger evaluations, runs' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Before any route: each changing route gets its own audit hooks as it is registered.
  if (options.audit) installAuditTrail(app, options.audit);
  registerHealthRoutes(app, options.serving.lifecycle, {
    database: options.database,
    readyRequiresDatabase: options.config.readyRequiresDatabase ?? false,
  });
  await registerV2Routes(app, options.serving, bodyLimit);
  registerPredictRoutes(app, options.serving);
  registerModelConfigRoutes(app, { lifecycle: options.serving.lifecycle, registry: options.registry });
  registerUnsupportedRoutes(app);
  registerRepositoryRoutes(app, { lifecycle: options.serving.lifecycle, registry: options.registry });
  registerManagementRoutes(app, options.registry);
  if (options.monitor) registerMonitoringRoutes(app, options.monitor);
  if (options.monitor) registerStatisticsRoutes(app, options.monitor.statistics, options.registry);
  if (options.observability) registerObservabilityRoutes(app, options.observability);
  if (options.alerts) registerAlertRoutes(app, options.alerts);
  if (options.features) {
    registerFeatureRoutes(app, options.features);
    registerFeaturePushRoutes(app, options.features);
  }
  if (options.jobs) registerJobRoutes(app, options.jobs, options.deployments?.service);
  if (options.optimizeJobs) registerOptimizeRoutes(app, options.optimizeJobs);
  if (options.pipelines) registerPipelineDefinitionRoutes(app, options.pipelines);
  if (options.pipelineRuns) registerPipelineRunRoutes(app, options.pipelineRuns);
  if (options.deployments) registerDeploymentRoutes(app, options.deployments);
  if (options.audit) registerAuditRoutes(app, options.audit);
  if (options.tokens) registerTokenRoutes(app, options.tokens);
  return app;
}
