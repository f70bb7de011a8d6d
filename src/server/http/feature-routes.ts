import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalid } from '../../core/errors.js';
import type { FeatureStore } from '../../features/feature-store.js';
import { getOnlineFeatures } from '../../features/online-retrieval.js';
import { isPlainObject } from '../../tensor/format.js';

/**
 * Feature store read routes:
 * - `GET /api/v1/features/definitions`: the applied entities, views and services.
 * - `POST /api/v1/features:get` `{"service": "risk" | "features": ["view:feature", ...], "entities": [{...}, ...]}`
 *   → `{"features": [...refs], "results": [{"entity", "values", "statuses", "eventTimes"}, ...]}`
 *   (one result per entity, in order; see online-retrieval.ts).
 */
export function registerFeatureRoutes(app: FastifyInstance, features: FeatureStore): void {
  app.get(
    '/api/v1/features/definitions',
    { schema: { tags: ['features'], summary: 'The applied feature definitions (entities, views, services)' } },
    () => features.definitions(),
  );

  // `::` is find-my-way's escape for a literal colon (Google's custom-method style, like `:predict`).
  app.post(
    '/api/v1/features::get',
    {
      schema: {
        tags: ['features'],
        summary: 'Online feature values with their statuses (PRESENT, EXPIRED, NOT_FOUND) and event times',
        body: {
          description:
            '{"service": name} or {"features": ["view:feature", ...]}, and "entities": [{"join_key": value, ...}, ...]',
        },
      },
    },
    (request: FastifyRequest) => {
      const body = request.body;
      if (!isPlainObject(body)) throw invalid('request body must be {"service" | "features", "entities": [...]}');
      for (const key of Object.keys(body)) {
        if (key !== 'service' && key !== 'features' && key !== 'entities')
          throw invalid(`unknown field "${key}"; expected "service" or "features", and "entities"`);
      }
      return getOnlineFeatures(
        features,
        body as { service?: string; features?: string[]; entities: Record<string, unknown>[] },
      );
    },
  );
}
