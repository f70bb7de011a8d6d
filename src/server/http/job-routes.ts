import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JobService } from '../../batch/job-service.js';
import { BATCH_JOB_STATUSES } from '../../batch/job-store.js';
import { JOB_LIMITS, parseJobSubmission } from '../../batch/job-submission.js';
import type { BatchJobStatus } from '../../batch/types.js';
import { invalid } from '../../core/errors.js';
import type { DeploymentService } from '../../deploy/deployment-service.js';
import { primaryVersion } from '../../deploy/spec.js';
import { isPlainObject } from '../../tensor/format.js';
import { bodyText } from './audit-hook.js';

interface ListQuerystring {
  status?: BatchJobStatus;
  limit?: number;
}

type IdParams = { Params: { id: string } };

/**
 * Batch scoring jobs under /api/v1/jobs: submit, status with progress, list, cancel. The body is a
 * BatchJobSpec in camelCase (`jobId`, `idColumn`, `maxRejectRate`, ...); `parseJobSubmission`
 * validates it so the 400 names the field, and the jobs service checks what the run would refuse
 * (unknown model 404, missing files or columns 400) before storing it. Paths are read and written
 * by the server inside its data roots (SLIPWAY_DATA_ROOTS; relative ones from the first root, see
 * batch/job-submission.ts confineJobPaths); an existing output is replaced only with "overwrite": true.
 */
export function registerJobRoutes(app: FastifyInstance, jobs: JobService, deployments?: DeploymentService): void {
  const tags = ['batch'];

  app.post(
    '/api/v1/jobs',
    {
      config: {
        audit: {
          action: 'job.submit',
          target: (request, response) => (typeof response?.id === 'string' ? response.id : bodyText(request, 'jobId')),
          details: (request) => ({ model: bodyText(request, 'model') }),
        },
      },
      schema: {
        tags,
        summary:
          'Submit a batch scoring job (201, status queued); model, input and output are required. Checked before it is stored: 400 naming a bad field, a setting out of range, a missing input file, output folder or column; 404 unknown model, version or deployment; 409 when jobId is taken',
        body: {
          type: 'object',
          properties: {
            jobId: {
              type: 'string',
              description:
                'names the working folder; resubmitting a finished id is refused, a new one is made up when absent',
            },
            model: { type: 'string', examples: ['fraud@champion'] },
            deployment: {
              type: 'string',
              description:
                'instead of model: a deployment, scored with its primary version (the route with the most traffic) at submission',
            },
            input: { type: 'string', description: 'a CSV, Parquet or JSONL file, or a glob of them' },
            output: { type: 'string', description: '.parquet, .csv or .jsonl' },
            overwrite: { type: 'boolean', description: 'replace an existing output file (409 without it)' },
            idColumn: { type: 'string' },
            keep: { type: 'array', items: { type: 'string' } },
            map: {
              type: 'object',
              additionalProperties: { type: 'string' },
              description: 'model input name -> column',
            },
            maxRejectRate: {
              type: 'number',
              minimum: JOB_LIMITS.maxRejectRate.min,
              maximum: JOB_LIMITS.maxRejectRate.max,
            },
            chunkRows: { type: 'integer', minimum: JOB_LIMITS.chunkRows.min, maximum: JOB_LIMITS.chunkRows.max },
            workers: { type: 'integer', minimum: JOB_LIMITS.workers.min, maximum: JOB_LIMITS.workers.max },
            features: {
              type: 'object',
              properties: { service: { type: 'string' }, timestampColumn: { type: 'string' } },
            },
          },
        },
      },
      // The schema documents; parseJobSubmission validates (one message style, naming the field).
      validatorCompiler: () => () => true,
    },
    async (request: FastifyRequest<{ Body: unknown }>, reply: FastifyReply) =>
      reply
        .status(201)
        .send(await jobs.submit(parseJobSubmission(await withDeploymentModel(request.body, deployments)))),
  );

  app.get(
    '/api/v1/jobs',
    {
      schema: {
        tags,
        summary: 'Batch jobs, newest first',
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: [...BATCH_JOB_STATUSES] },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
      },
    },
    async (request: FastifyRequest<{ Querystring: ListQuerystring }>) => ({
      jobs: await jobs.list({
        ...(request.query.status === undefined ? {} : { status: request.query.status }),
        ...(request.query.limit === undefined ? {} : { limit: request.query.limit }),
      }),
    }),
  );

  app.get(
    '/api/v1/jobs/:id',
    { schema: { tags, summary: 'One batch job: status, progress, and its summary once finished' } },
    (request: FastifyRequest<IdParams>) => jobs.status(request.params.id),
  );

  app.post(
    '/api/v1/jobs/:id/cancel',
    {
      config: { audit: 'job.cancel' },
      schema: {
        tags,
        summary:
          'Cancel a job (202): a queued one at once, a running one after its current chunk. 404 unknown, 409 already finished',
      },
    },
    async (request: FastifyRequest<IdParams>, reply: FastifyReply) =>
      reply.status(202).send(await jobs.cancel(request.params.id)),
  );
}

/** A submission naming a deployment instead of a model: the deployment's primary version, as `model`. */
async function withDeploymentModel(body: unknown, deployments: DeploymentService | undefined): Promise<unknown> {
  if (!isPlainObject(body) || body.deployment === undefined) return body;
  if (body.model !== undefined) throw invalid('give exactly one of "model" and "deployment"');
  if (typeof body.deployment !== 'string') throw invalid('"deployment" must be the name of a deployment');
  if (deployments === undefined) throw invalid('this server has no deployments');
  const view = await deployments.view(body.deployment);
  const rest: Record<string, unknown> = { ...body };
  delete rest.deployment;
  return { ...rest, model: `${view.model}@${primaryVersion(view.revision.spec)}` };
}
