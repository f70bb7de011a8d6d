import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PipelineService } from '../../pipelines/pipeline-service.js';
import { principalOf } from './auth-hook.js';

type NameParams = { Params: { name: string }; Querystring: { limit?: number } };
type IdParams = { Params: { id: string } };

/**
 * Runs of continuous-training pipelines: start one by hand (201; 409 when one is running, 404 unknown
 * pipeline), list a pipeline's runs, one run's record (trigger, data fingerprint, training, evaluation,
 * versions, release), its training log, cancel.
 */
export function registerPipelineRunRoutes(app: FastifyInstance, pipelines: PipelineService): void {
  const tags = ['pipelines'];
  app.post(
    '/api/v1/pipelines/:name/runs',
    {
      config: { audit: 'pipeline.run' },
      schema: { tags, summary: 'Start a run by hand (201); 409 while one runs, 404 unknown pipeline' },
    },
    async (request: FastifyRequest<NameParams>, reply: FastifyReply) => {
      const run = await pipelines.startRun(request.params.name, {
        kind: 'manual',
        reason: `started by hand (${principalOf(request).name})`,
      });
      return reply.status(201).send(run);
    },
  );
  app.get(
    '/api/v1/pipelines/:name/runs',
    {
      schema: {
        tags,
        summary: 'Runs of a pipeline, newest first',
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 } },
          additionalProperties: false,
        },
      },
    },
    async (request: FastifyRequest<NameParams>) => ({
      runs: await pipelines.list({ pipeline: request.params.name, limit: request.query.limit ?? 50 }),
    }),
  );
  app.get(
    '/api/v1/pipeline-runs/:id',
    {
      schema: {
        tags,
        summary: 'One run: status, step, trigger, data, training, evaluation, versions, release, reason',
      },
    },
    async (request: FastifyRequest<IdParams>) => pipelines.get(request.params.id),
  );
  app.get(
    '/api/v1/pipeline-runs/:id/logs',
    { schema: { tags, summary: "The run's training log (stdout and stderr, capped), text/plain" } },
    async (request: FastifyRequest<IdParams>, reply: FastifyReply) =>
      reply.type('text/plain; charset=utf-8').send(await pipelines.logs(request.params.id)),
  );
  app.post(
    '/api/v1/pipeline-runs/:id/cancel',
    {
      config: { audit: 'pipeline.cancel' },
      schema: { tags, summary: 'Cancel a run (202): training stopped, nothing more registered or released' },
    },
    async (request: FastifyRequest<IdParams>, reply: FastifyReply) =>
      reply.status(202).send(await pipelines.cancel(request.params.id)),
  );
}
