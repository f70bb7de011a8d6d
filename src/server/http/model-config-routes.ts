/**
 * Triton's model configuration extension over REST: `GET /v2/models/{m}[/versions/{v}]/config`.
 * The version resolves as metadata does (a deployment's name describes its primary version); the
 * JSON is serving/model-config.ts's.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RegistryService } from '../../registry/registry-service.js';
import { buildModelConfig } from '../../serving/model-config.js';
import type { ServingLifecycle } from '../../serving/index.js';

/** What the configuration is read from: the described version, and its model's serving config. */
export interface ModelConfigDeps {
  readonly lifecycle: Pick<ServingLifecycle, 'describedVersion'> & Partial<Pick<ServingLifecycle, 'activeProvider'>>;
  readonly registry: Pick<RegistryService, 'getServingConfig'>;
}

interface ConfigParams {
  model: string;
  version?: string;
}

export function registerModelConfigRoutes(app: FastifyInstance, deps: ModelConfigDeps): void {
  const config = async (request: FastifyRequest<{ Params: ConfigParams }>, reply: FastifyReply) => {
    const { model, version } = request.params;
    const record = await deps.lifecycle.describedVersion(model, version);
    const serving = await deps.registry.getServingConfig(record.model);
    const activeProvider = deps.lifecycle.activeProvider?.(record);
    return reply
      .header('x-slipway-version', record.version)
      .send(buildModelConfig({ name: model, record, serving, ...(activeProvider ? { activeProvider } : {}) }));
  };
  app.get(
    '/v2/models/:model/config',
    { schema: { tags: ['inference'], summary: "Model configuration, in Triton's model-config JSON (latest version)" } },
    config,
  );
  app.get(
    '/v2/models/:model/versions/:version/config',
    { schema: { tags: ['inference'], summary: "Model version configuration, in Triton's model-config JSON" } },
    config,
  );
}
