/**
 * The permission table: what every HTTP route and gRPC method needs. Pure data and lookups, no I/O;
 * the HTTP hook (server/http/auth-hook.ts) and the gRPC wrapper (server/grpc/grpc-auth.ts) enforce it.
 *
 * Each entry names the least role that may call it and where the request names its model:
 * - `{ param }` / `{ query }` / `{ field }`: the model (or deployment, or `model@selector`, or
 *   `name:predict`) is that path parameter, query parameter or gRPC message field; a token limited to
 *   model patterns may call it only for a matching model.
 * - `'any'`: about every model at once (lists, jobs, features, alerts, tokens, metrics): a token
 *   limited to model patterns is refused (403). Listing only what a token may see would mean
 *   filtering inside every handler; refusing is the safe choice, and a limited token names its models.
 * - `'none'`: about no model (health, server metadata, the API docs).
 * A route or RPC with no entry is refused by default (auth-hook.ts), so a new route cannot be served
 * unprotected by accident; src/auth/permissions.test.ts checks every registered route has one.
 */
import { modelAllowed, roleAtLeast, type Principal, type Role } from './principal.js';

export type ModelSource =
  { readonly param: string } | { readonly query: string } | { readonly field: string } | 'any' | 'none';

export interface Permission {
  readonly role: Role;
  readonly model: ModelSource;
}

const p = (role: Role, model: ModelSource = 'none'): Permission => Object.freeze({ role, model });
const param = (name: string): ModelSource => ({ param: name });
const query = (name: string): ModelSource => ({ query: name });

/** `METHOD /route/pattern` (as registered with Fastify; HEAD is looked up as GET) → permission. */
export const HTTP_PERMISSIONS: Readonly<Record<string, Permission>> = {
  // --- infer: inference, health, metadata ---
  'GET /v2/health/live': p('infer'),
  'GET /v2/health/ready': p('infer'),
  'GET /api/v1/health': p('infer'),
  'GET /v2': p('infer'),
  'GET /v2/models/:model': p('infer', param('model')),
  'GET /v2/models/:model/versions/:version': p('infer', param('model')),
  'GET /v2/models/:model/ready': p('infer', param('model')),
  'GET /v2/models/:model/versions/:version/ready': p('infer', param('model')),
  'POST /v2/models/:model/infer': p('infer', param('model')),
  'POST /v2/models/:model/versions/:version/infer': p('infer', param('model')),
  'POST /v1/models/:ref': p('infer', param('ref')),
  'POST /v1/deployments/:ref': p('infer', param('ref')),
  'GET /docs': p('infer'),
  'GET /docs/': p('infer'),
  'GET /docs/static/index.html': p('infer'),
  'GET /docs/static/swagger-initializer.js': p('infer'),
  'GET /docs/static/*': p('infer'),
  'GET /docs/*': p('infer'),
  'GET /docs/json': p('infer'),
  'GET /docs/yaml': p('infer'),
  // --- read: registry, deployments, stats, drift, performance, predictions, features:get, jobs list ---
  'GET /api/v1/models': p('read', 'any'),
  'GET /api/v1/models/:name': p('read', param('name')),
  'GET /api/v1/models/:name/versions': p('read', param('name')),
  'GET /api/v1/models/:name/versions/:version': p('read', param('name')),
  'GET /api/v1/models/:model/versions/:version/traffic': p('read', param('model')),
  'GET /api/v1/models/:name/serving': p('read', param('name')),
  'GET /api/v1/models/:name/aliases': p('read', param('name')),
  'GET /api/v1/models/:name/aliases/history': p('read', param('name')),
  'GET /api/v1/models/:ref/reference': p('read', param('ref')),
  'GET /api/v1/models/:model/drift-settings': p('read', param('model')),
  'GET /v2/models/:model/config': p('read', param('model')),
  'GET /v2/models/:model/versions/:version/config': p('read', param('model')),
  'GET /v2/models/stats': p('read', 'any'),
  'GET /v2/models/:model/stats': p('read', param('model')),
  'GET /v2/models/:model/versions/:version/stats': p('read', param('model')),
  'POST /v2/repository/index': p('read', 'any'),
  'GET /api/v1/stats': p('read', query('model')),
  'GET /api/v1/predictions': p('read', query('model')),
  'GET /api/v1/performance': p('read', query('model')),
  'GET /api/v1/drift': p('read', query('model')),
  'GET /api/v1/drift/results': p('read', query('model')),
  'GET /api/v1/deployments': p('read', 'any'),
  'GET /api/v1/deployments/:name': p('read', param('name')),
  'GET /api/v1/deployments/:name/history': p('read', param('name')),
  'GET /api/v1/deployments/:name/shadow': p('read', param('name')),
  'GET /api/v1/deployments/:name/rollout': p('read', param('name')),
  'GET /api/v1/deployments/:name/experiment': p('read', param('name')),
  'GET /api/v1/features/definitions': p('read', 'any'),
  'POST /api/v1/features::get': p('read', 'any'),
  'GET /api/v1/jobs': p('read', 'any'),
  'GET /api/v1/jobs/:id': p('read', 'any'),
  'GET /api/v1/optimize-jobs': p('read', 'any'),
  'GET /api/v1/pipelines': p('read', 'any'),
  'GET /api/v1/pipelines/:name': p('read', 'any'),
  'GET /api/v1/pipelines/:name/runs': p('read', 'any'),
  'GET /api/v1/pipeline-runs/:id': p('read', 'any'),
  'GET /api/v1/pipeline-runs/:id/logs': p('read', 'any'),
  'GET /api/v1/optimize-jobs/:id': p('read', 'any'),
  'GET /metrics': p('read', 'any'),
  // --- deploy: aliases, deployments, rollouts, experiments, rollback, feedback, features push, jobs, load/unload ---
  'PUT /api/v1/models/:name/aliases/:alias': p('deploy', param('name')),
  'DELETE /api/v1/models/:name/aliases/:alias': p('deploy', param('name')),
  'PUT /api/v1/deployments/:name': p('deploy', param('name')),
  'DELETE /api/v1/deployments/:name': p('deploy', param('name')),
  'POST /api/v1/deployments/:name/rollback': p('deploy', param('name')),
  'POST /api/v1/deployments/:name/rollout': p('deploy', param('name')),
  'POST /api/v1/deployments/:name/rollout/:action': p('deploy', param('name')),
  'POST /api/v1/deployments/:name/experiment': p('deploy', param('name')),
  'POST /api/v1/deployments/:name/experiment/stop': p('deploy', param('name')),
  'POST /api/v1/feedback': p('deploy', 'any'),
  'POST /api/v1/features/push': p('deploy', 'any'),
  'DELETE /api/v1/features/views/:view/online': p('deploy', 'any'),
  'POST /api/v1/jobs': p('deploy', 'any'),
  'POST /api/v1/jobs/:id/cancel': p('deploy', 'any'),
  // A run registers a version only through its gates and releases through the deployment's own gates.
  'POST /api/v1/pipelines/:name/runs': p('deploy', 'any'),
  'POST /api/v1/pipeline-runs/:id/cancel': p('deploy', 'any'),
  'POST /v2/repository/models/:model/load': p('deploy', param('model')),
  'POST /v2/repository/models/:model/unload': p('deploy', param('model')),
  // --- admin: push, archive, config, alerts, tokens ---
  'POST /api/v1/models/:name/versions': p('admin', param('name')),
  'POST /api/v1/models/:name/versions/:version/archive': p('admin', param('name')),
  // Optimize and distill register a new version, like a push.
  'POST /api/v1/models/:name/versions/:version/optimize': p('admin', param('name')),
  'POST /api/v1/models/:name/versions/:version/distill': p('admin', param('name')),
  'PUT /api/v1/models/:name/serving': p('admin', param('name')),
  'PUT /api/v1/models/:ref/reference': p('admin', param('ref')),
  'PUT /api/v1/models/:model/drift-settings': p('admin', param('model')),
  'GET /api/v1/alerts': p('admin', 'any'),
  'GET /api/v1/alerts/rules': p('admin', 'any'),
  'POST /api/v1/alerts/rules': p('admin', 'any'),
  'GET /api/v1/alerts/rules/:name': p('admin', 'any'),
  'DELETE /api/v1/alerts/rules/:name': p('admin', 'any'),
  'GET /api/v1/audit': p('admin', 'any'),
  'GET /api/v1/tokens': p('admin', 'any'),
  'POST /api/v1/tokens': p('admin', 'any'),
  'DELETE /api/v1/tokens/:name': p('admin', 'any'),
  // Triton extensions Slipway does not support (unsupported-routes.ts answers them): the strictest role.
  ...unsupported(['/v2/trace/setting', '/v2/models/:model/trace/setting', '/v2/logging']),
  ...unsupported(
    ['systemsharedmemory', 'cudasharedmemory'].flatMap((kind) =>
      [
        '/status',
        '/register',
        '/unregister',
        '/region/:region/status',
        '/region/:region/register',
        '/region/:region/unregister',
      ].map((tail) => `/v2/${kind}${tail}`),
    ),
  ),
};

function unsupported(urls: readonly string[]): Record<string, Permission> {
  return Object.fromEntries(urls.flatMap((url) => ['GET', 'POST'].map((method) => [`${method} ${url}`, p('admin')])));
}

/** gRPC method (as named in the proto's service) → permission; the model is a request field. */
export const GRPC_PERMISSIONS: Readonly<Record<string, Permission>> = {
  ServerLive: p('infer'),
  ServerReady: p('infer'),
  ServerMetadata: p('infer'),
  ModelReady: p('infer', { field: 'name' }),
  ModelMetadata: p('infer', { field: 'name' }),
  ModelInfer: p('infer', { field: 'model_name' }),
  ModelStreamInfer: p('infer', { field: 'model_name' }),
  ModelConfig: p('read', { field: 'name' }),
  ModelStatistics: p('read', { field: 'name' }),
  RepositoryIndex: p('read', 'any'),
  RepositoryModelLoad: p('deploy', { field: 'model_name' }),
  RepositoryModelUnload: p('deploy', { field: 'model_name' }),
  SystemSharedMemoryStatus: p('admin'),
  SystemSharedMemoryRegister: p('admin'),
  SystemSharedMemoryUnregister: p('admin'),
  CudaSharedMemoryStatus: p('admin'),
  CudaSharedMemoryRegister: p('admin'),
  CudaSharedMemoryUnregister: p('admin'),
  TraceSetting: p('admin'),
  LogSettings: p('admin'),
};

/** The permission of an HTTP route as registered (`url` is its pattern); undefined = no entry, refused. */
export function httpPermission(method: string, url: string): Permission | undefined {
  return HTTP_PERMISSIONS[`${method === 'HEAD' ? 'GET' : method} ${url}`];
}

/**
 * The model a name in a request stands for: `fraud@champion:predict` → `fraud`, and a deployment's
 * name → its model (`deploymentModel`), so a token limited to `fraud` may call a deployment of fraud.
 */
export function modelOfName(name: string, deploymentModel?: (name: string) => string | undefined): string {
  const cut = name.search(/[@:]/);
  const base = cut < 0 ? name : name.slice(0, cut);
  return deploymentModel?.(base) ?? base;
}

/**
 * Why `principal` may not do what `permission` needs (the 403's message), or undefined when it may.
 * `model` is the name the request carries where the permission says the request names one
 * (undefined or empty: the request spans every model).
 */
export function denial(principal: Principal, permission: Permission, model: string | undefined): string | undefined {
  if (!roleAtLeast(principal.role, permission.role))
    return `token "${principal.name}" has role ${principal.role}; this needs role ${permission.role}`;
  if (principal.models === undefined || permission.model === 'none') return undefined;
  if (permission.model === 'any' || model === undefined || model === '')
    return `token "${principal.name}" is limited to models ${principal.models.join(', ')}; this request is about every model`;
  if (!modelAllowed(principal, model))
    return `token "${principal.name}" is limited to models ${principal.models.join(', ')}; not "${model}"`;
  return undefined;
}
