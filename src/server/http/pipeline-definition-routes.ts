import type { FastifyInstance, FastifyRequest } from 'fastify';
import { pipelineOverview, pipelineSummaries, type PipelineStores } from '../../pipelines/definitions/overview.js';

type NameParams = { Params: { name: string } };

/**
 * Continuous-training definitions, read only (they are applied with `slipway pipelines apply`):
 * - `GET /api/v1/pipelines` → `{"pipelines": [{name, version, spec, active, createdAt, lastRun}, ...]}`;
 * - `GET /api/v1/pipelines/:name` → `{pipeline, evaluations, runs}`, as `slipway pipelines show --json`
 *   (404 naming an unknown or removed pipeline).
 */
export function registerPipelineDefinitionRoutes(app: FastifyInstance, stores: PipelineStores): void {
  const tags = ['pipelines'];
  app.get(
    '/api/v1/pipelines',
    { schema: { tags, summary: 'Active continuous-training pipelines with their version and last run' } },
    async () => ({ pipelines: await pipelineSummaries(stores) }),
  );
  app.get(
    '/api/v1/pipelines/:name',
    {
      schema: {
        tags,
        summary: 'One pipeline: its definition, the last 10 trigger evaluations and the last 5 runs',
      },
    },
    (request: FastifyRequest<NameParams>) => pipelineOverview(stores, request.params.name),
  );
}
