import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalid } from '../../core/errors.js';
import type { ServingLifecycle } from '../../serving/index.js';
import {
  loadWithParameters,
  parseLoadParameters,
  parseUnloadParameters,
  type RepositoryLoadDeps,
  type RepositoryParameterValue,
} from '../../serving/repository-load.js';
import { quote } from '../../tensor/format.js';
import type { AuditRoute } from './audit-hook.js';

export interface RepositoryRouteDeps {
  readonly lifecycle: Pick<ServingLifecycle, 'load' | 'unload' | 'repositoryIndex'>;
  /** Where a load's `config` parameter is stored (the model's serving config). */
  readonly registry: RepositoryLoadDeps['registry'];
}

/** A body's top-level object (none: an empty body), with every key outside `known` refused by name. */
function bodyObject(body: unknown, known: readonly string[], example: string): Readonly<Record<string, unknown>> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw invalid(`body must be a JSON object like ${example}`);
  for (const key of Object.keys(body)) {
    if (!known.includes(key)) throw invalid(`unknown field ${quote(key)} in the body (known: ${known.join(', ')})`);
  }
  return body as Readonly<Record<string, unknown>>;
}

/** The `parameters` of a load/unload body (`{"parameters": {"version": "1.2.0"}}`), if any. */
function repositoryParameters(body: unknown): Record<string, RepositoryParameterValue> | undefined {
  const { parameters } = bodyObject(body, ['parameters'], '{"parameters": {"version": "1.2.0"}}');
  if (parameters === undefined || parameters === null) return undefined;
  if (typeof parameters !== 'object' || Array.isArray(parameters)) throw invalid('"parameters" must be an object');
  for (const [key, value] of Object.entries(parameters)) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw invalid(`parameter ${quote(key)} must be a string, a number or a boolean, got ${JSON.stringify(value)}`);
    }
  }
  return parameters as Record<string, RepositoryParameterValue>;
}

/**
 * Triton's model repository extension: index (all versions, or `{"ready": true}` for the ready
 * ones), load (a background reload that swaps in only after warm-up; `parameters.config` applies a
 * model configuration first, serving/repository-load.ts), unload (after in-flight work). Slipway
 * adds an optional `version` parameter.
 */
/** Loads and unloads name the version they acted on (`fraud@1.2.0`), from the answer. */
const versionTarget = (request: FastifyRequest, response: Record<string, unknown> | undefined) => {
  const model = (request.params as { model: string }).model;
  return typeof response?.version === 'string' ? `${model}@${response.version}` : model;
};
const REPOSITORY_LOAD_AUDIT: AuditRoute = { action: 'repository.load', target: versionTarget };
const REPOSITORY_UNLOAD_AUDIT: AuditRoute = { action: 'repository.unload', target: versionTarget };

export function registerRepositoryRoutes(app: FastifyInstance, deps: RepositoryRouteDeps): void {
  const tags = ['lifecycle'];
  app.post(
    '/v2/repository/index',
    { schema: { tags, summary: 'Every active version and its state; {"ready": true} lists only the ready ones' } },
    async (request) => {
      const { ready } = bodyObject(request.body, ['ready'], '{"ready": true}');
      if (ready !== undefined && typeof ready !== 'boolean')
        throw invalid(`"ready" must be true or false, got ${JSON.stringify(ready)}`);
      const rows = await deps.lifecycle.repositoryIndex();
      return ready === true ? rows.filter((row) => row.state === 'READY') : rows;
    },
  );

  app.post(
    '/v2/repository/models/:model/load',
    {
      config: { audit: REPOSITORY_LOAD_AUDIT },
      schema: {
        tags,
        summary:
          "Load or reload a version (default latest) with its serving config, after applying parameters.config (Triton's model configuration JSON, as a string) if given; returns once it is ready",
      },
    },
    async (request: FastifyRequest<{ Params: { model: string } }>) => {
      const record = await loadWithParameters(
        deps,
        request.params.model,
        parseLoadParameters(repositoryParameters(request.body)),
      );
      return { name: record.model, version: record.version, state: 'READY' };
    },
  );

  app.post(
    '/v2/repository/models/:model/unload',
    {
      config: { audit: REPOSITORY_UNLOAD_AUDIT },
      schema: {
        tags,
        summary:
          'Unload a version (default latest) once its in-flight requests end; unload_dependents is accepted (there are no ensembles)',
      },
    },
    async (request: FastifyRequest<{ Params: { model: string } }>) => {
      const { version } = parseUnloadParameters(repositoryParameters(request.body));
      const { record, unloaded } = await deps.lifecycle.unload(request.params.model, version);
      return { name: record.model, version: record.version, state: 'UNAVAILABLE', unloaded };
    },
  );
}
