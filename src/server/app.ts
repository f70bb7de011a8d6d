import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import type { SlipwayConfig } from '../core/config.js';
import type { RegistryService } from '../registry/registry-service.js';
import { installErrorHandling } from './http/errors.js';
import { registerManagementRoutes } from './http/management-routes.js';
import { registerPredictRoutes } from './http/predict-routes.js';
import { registerV2Routes } from './http/v2-routes.js';
import type { InferenceService } from './inference-service.js';
import { SLIPWAY_VERSION } from '../version.js';

export interface AppOptions {
  readonly config: Pick<SlipwayConfig, 'maxBodyBytes' | 'logLevel'>;
  readonly registry: RegistryService;
  readonly inference: InferenceService;
}

/**
 * Build the HTTP app without listening (STYLE.md §11): tests call `app.inject()`, `serve` calls `listen()`.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const bodyLimit = options.config.maxBodyBytes;
  const app = Fastify({
    bodyLimit,
    logger: options.config.logLevel === 'silent' ? false : { level: options.config.logLevel },
    // Our tensors and files are data, not prototypes: refuse __proto__/constructor keys outright.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false } },
  });
  installErrorHandling(app, bodyLimit);
  // Model uploads arrive as raw bytes.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));
  // `curl -d` sends form content types; treat any body we have no parser for as JSON.
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (_request, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'Slipway', version: SLIPWAY_VERSION, description: 'Open Inference Protocol serving and the model registry API.' },
      tags: [
        { name: 'inference', description: 'Open Inference Protocol v2 and :predict' },
        { name: 'health', description: 'Liveness and readiness' },
        { name: 'registry', description: 'Models, versions, aliases' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  registerV2Routes(app, options.inference);
  registerPredictRoutes(app, options.inference);
  registerManagementRoutes(app, options.registry);
  return app;
}
