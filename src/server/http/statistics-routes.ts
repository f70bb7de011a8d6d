/**
 * Triton's statistics extension over HTTP: `GET /v2/models/stats`, `/v2/models/{m}/stats` and
 * `/v2/models/{m}/versions/{v}/stats`, answering `{"model_stats": [...]}` (monitor/model-statistics.ts
 * says what each figure measures). A model named `stats` keeps its metadata at
 * `/v2/models/stats/versions/{v}`; `GET /v2/models/stats` is the statistics of every model, as in Triton.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { queryStatistics, type ModelStatistics, type StatisticsModels } from '../../monitor/model-statistics.js';

type Params = { model?: string; version?: string };

export function registerStatisticsRoutes(
  app: FastifyInstance,
  statistics: ModelStatistics,
  models: StatisticsModels,
): void {
  const tags = ['inference'];
  const handler = async (request: FastifyRequest<{ Params: Params }>) => ({
    model_stats: await queryStatistics(statistics, models, request.params.model, request.params.version),
  });
  app.get(
    '/v2/models/stats',
    { schema: { tags, summary: 'Statistics of every model version that served (Triton statistics extension)' } },
    handler,
  );
  app.get(
    '/v2/models/:model/stats',
    { schema: { tags, summary: 'Statistics of every version of a model that served' } },
    handler,
  );
  app.get(
    '/v2/models/:model/versions/:version/stats',
    { schema: { tags, summary: 'Statistics of one model version (zeros when it has not served)' } },
    handler,
  );
}
