import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalid } from '../../core/errors.js';
import type { ServingLifecycle } from '../../serving/index.js';

/** The `version` parameter of a load/unload body (`{"parameters": {"version": "1.2.0"}}`), if any. */
function versionParameter(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) throw invalid('body must be a JSON object like {"parameters": {"version": "1.2.0"}}');
  const parameters = (body as { parameters?: unknown }).parameters;
  if (parameters === undefined) return undefined;
  if (typeof parameters !== 'object' || parameters === null) throw invalid('"parameters" must be an object');
  const version = (parameters as { version?: unknown }).version;
  if (version !== undefined && typeof version !== 'string') throw invalid('parameter "version" must be a string (a version, an alias or latest)');
  return version;
}

/**
 * Triton's model repository extension: index, load (a background reload that swaps in only after
 * warm-up), unload (after in-flight work). Slipway adds an optional `version` parameter.
 */
export function registerRepositoryRoutes(app: FastifyInstance, service: ServingLifecycle): void {
  const tags = ['lifecycle'];
  app.post('/v2/repository/index', { schema: { tags, summary: 'Every active version and whether it is loaded' } }, () => service.repositoryIndex());

  app.post(
    '/v2/repository/models/:model/load',
    { schema: { tags, summary: 'Load or reload a version (default latest) with its current serving config; returns once it is ready' } },
    async (request: FastifyRequest<{ Params: { model: string } }>) => {
      const record = await service.load(request.params.model, versionParameter(request.body));
      return { name: record.model, version: record.version, state: 'READY' };
    },
  );

  app.post(
    '/v2/repository/models/:model/unload',
    { schema: { tags, summary: 'Unload a version (default latest) once its in-flight requests end' } },
    async (request: FastifyRequest<{ Params: { model: string } }>) => {
      const { record, unloaded } = await service.unload(request.params.model, versionParameter(request.body));
      return { name: record.model, version: record.version, state: 'UNAVAILABLE', unloaded };
    },
  );
}
