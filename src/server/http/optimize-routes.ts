import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OptimizeJobs } from '../../optimize/optimize-jobs.js';
import { principalOf } from './auth-hook.js';

type VersionParams = { Params: { name: string; version: string } };
type IdParams = { Params: { id: string } };
type ListQuery = { Querystring: { model?: string; limit?: number } };

/**
 * Optimize and distill runs as jobs: POST starts one (202 with the job; 400 naming a bad field, pass
 * setting or file, 404 unknown version), GET shows its progress, report, gate verdicts and the version
 * it registered. A refused candidate ends `refused` with the report and stores nothing.
 */
export function registerOptimizeRoutes(app: FastifyInstance, jobs: OptimizeJobs): void {
  const tags = ['optimize'];
  for (const kind of ['optimize', 'distill'] as const) {
    app.post(
      `/api/v1/models/:name/versions/:version/${kind}`,
      {
        config: {
          audit: {
            action: `model.${kind}`,
            target: (request) => {
              const { name, version } = request.params as { name: string; version: string };
              return `${name}@${version}`;
            },
          },
        },
        schema: {
          tags,
          summary:
            kind === 'optimize'
              ? 'Start an optimization job (202): {"passes": [{"pass": "quantize-dynamic"}, ...], "eval": "held-out.csv", "labelColumn"?, "calibration"?, "train"?, "gates"?: ["accuracy>=-0.005"], "dryRun"?}. Passes: graph (level), quantize-dynamic (perChannel, opTypes, includeNodes, excludeNodes), quantize-static (method, ...; needs calibration), prune-magnitude (sparsity), prune-neurons (fraction, fineTuneEpochs, learningRate; a fine-tune needs train), fp16'
              : 'Start a distillation job (202): {"data": "unlabeled.csv", "student": "mlp:128,64", "epochs"?, "temperature"?, "eval": "held-out.csv", "labelColumn"?, "gates"?, "dryRun"?}',
        },
      },
      async (request: FastifyRequest<VersionParams>, reply: FastifyReply) => {
        const { name, version } = request.params;
        const principal = principalOf(request);
        const job = await jobs.submit(kind, name, version, request.body, principal.name);
        return reply.status(202).send(job);
      },
    );
  }
  app.get(
    '/api/v1/optimize-jobs',
    {
      schema: {
        tags,
        summary: 'Optimize and distill jobs, newest first',
        querystring: {
          type: 'object',
          properties: { model: { type: 'string' }, limit: { type: 'integer', minimum: 1, maximum: 1000 } },
          additionalProperties: false,
        },
      },
    },
    async (request: FastifyRequest<ListQuery>) => ({ jobs: await jobs.list(request.query) }),
  );
  app.get(
    '/api/v1/optimize-jobs/:id',
    {
      schema: {
        tags,
        summary: 'One optimize job: status, progress, report with gate verdicts, the registered version',
      },
    },
    async (request: FastifyRequest<IdParams>) => jobs.get(request.params.id),
  );
}
