import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseDuration } from '../../core/duration.js';
import { invalid } from '../../core/errors.js';
import type { Deployments } from '../../deploy/index.js';
import { isPlainObject } from '../../tensor/format.js';
import { actorName, bodyText } from './audit-hook.js';

type NameParams = { Params: { name: string } };
const tags = ['deployments'];
// The schemas document; the services validate (one message style, naming the field).
const documentOnly = { validatorCompiler: () => () => true };

/**
 * Deployments under /api/v1/deployments: specs as immutable revisions, rollback, history, shadow
 * reports, canary rollouts and champion/challenger experiments; and when a version served which
 * share at /api/v1/models/{model}/versions/{version}/traffic.
 */
export function registerDeploymentRoutes(app: FastifyInstance, deployments: Deployments): void {
  const { service, rollouts, experiments, shadowStore } = deployments;

  app.get(
    '/api/v1/deployments',
    { schema: { tags, summary: 'Every deployment with its active revision' } },
    async () => ({ deployments: await service.list() }),
  );

  app.get(
    '/api/v1/deployments/:name',
    {
      schema: {
        tags,
        summary: 'A deployment: its active revision, and its current (else latest) rollout and experiment',
      },
    },
    async (request: FastifyRequest<NameParams>) => {
      const { name } = request.params;
      const view = await service.view(name);
      const [rollout, experiment] = await Promise.all([
        rollouts.status(name).catch(() => null),
        experiments.results(name).then(
          (r) => r.experiment,
          () => null,
        ),
      ]);
      return { ...view, rollout, experiment };
    },
  );

  app.put(
    '/api/v1/deployments/:name',
    {
      config: {
        audit: {
          action: 'deployment.deploy',
          details: (_request, response) =>
            typeof response?.revision === 'number' ? { revision: response.revision } : undefined,
        },
      },
      schema: {
        tags,
        summary:
          'Create a deployment or change its traffic: a new immutable revision (201 when created). 400 invalid spec, 404 unknown version, 409 a version cannot load or a rollout/experiment is in charge',
        body: {
          type: 'object',
          properties: {
            model: { type: 'string' },
            routes: { description: '{"1.2.0": 90, "1.3.0": 10} or ["1.2.0=90", ...]; weights sum to 100' },
            shadows: { description: '{"1.4.0": 100}: percent of answered requests mirrored' },
            sticky: { type: 'string', examples: ['header:x-user-id', 'input:customer_id'] },
            notes: { type: 'string' },
            why: { type: 'string' },
          },
        },
      },
      ...documentOnly,
    },
    async (request: FastifyRequest<NameParams & { Body: unknown }>, reply: FastifyReply) => {
      const body = objectBody(request.body);
      const revision = await service.deploy(request.params.name, body, {
        why: optionalText(body.why, 'why') ?? null,
        actor: actorName(request),
      });
      return reply.status(revision.revision === 1 ? 201 : 200).send(revision);
    },
  );

  app.delete(
    '/api/v1/deployments/:name',
    {
      config: { audit: 'deployment.delete' },
      schema: { tags, summary: 'Delete a deployment, its history and statistics (the model versions stay)' },
    },
    async (request: FastifyRequest<NameParams>, reply: FastifyReply) => {
      await service.delete(request.params.name);
      return reply.status(204).send();
    },
  );

  app.get(
    '/api/v1/deployments/:name/history',
    {
      schema: {
        tags,
        summary: 'Every revision, oldest first: when, why, who (user, rollback, rollout, experiment) and the spec',
      },
    },
    async (request: FastifyRequest<NameParams>) => ({
      revisions: await service.history(request.params.name),
    }),
  );

  app.post(
    '/api/v1/deployments/:name/rollback',
    {
      config: {
        audit: {
          action: 'deployment.rollback',
          details: (_request, response) =>
            typeof response?.revision === 'number' ? { revision: response.revision } : undefined,
        },
      },
      schema: {
        tags,
        summary: 'Restore the previous revision now (as a new revision); stops a running rollout or experiment',
      },
      ...documentOnly,
    },
    async (request: FastifyRequest<NameParams & { Body: unknown }>) => {
      const body = request.body === undefined ? {} : objectBody(request.body);
      return service.rollback(request.params.name, optionalText(body.why, 'why'), actorName(request));
    },
  );

  app.get(
    '/api/v1/deployments/:name/shadow',
    {
      schema: {
        tags,
        summary:
          'Shadow report per shadow version (agreement, differences, latency, drops) and the newest results with both outputs',
        querystring: {
          type: 'object',
          properties: {
            since: { type: 'string', examples: ['1h'] },
            results: { type: 'integer', minimum: 0, maximum: 10000, default: 20 },
            request_id: { type: 'string' },
          },
        },
      },
    },
    async (
      request: FastifyRequest<NameParams & { Querystring: { since?: string; results?: number; request_id?: string } }>,
    ) => {
      const { name } = request.params;
      await service.get(name);
      const sinceMs = request.query.since === undefined ? 0 : Date.now() - parseDuration(request.query.since, 'since');
      const limit = request.query.results ?? 20;
      return {
        deployment: name,
        sinceMs,
        versions: await shadowStore.report(name, sinceMs),
        results:
          limit === 0
            ? []
            : await shadowStore.results(name, {
                sinceMs,
                limit,
                ...(request.query.request_id === undefined ? {} : { requestId: request.query.request_id }),
              }),
      };
    },
  );

  app.post(
    '/api/v1/deployments/:name/rollout',
    {
      config: {
        audit: { action: 'rollout.start', details: (request) => ({ candidate: bodyText(request, 'candidate') }) },
      },
      schema: {
        tags,
        summary:
          'Start a canary rollout (201). Body: {candidate, steps?: [5,25,50,100], interval?: "30s", gates?: ["error_rate<0.01", "p99_ms<50", "metric:accuracy>=-0.01"], minRequests?: 20}',
      },
      ...documentOnly,
    },
    async (request: FastifyRequest<NameParams & { Body: unknown }>, reply: FastifyReply) => {
      const body = objectBody(request.body);
      if (typeof body.candidate !== 'string') throw invalid('"candidate" (the version to roll out) is required');
      const record = await rollouts.start(request.params.name, {
        candidate: body.candidate,
        ...(body.steps === undefined ? {} : { steps: numberList(body.steps, 'steps') }),
        ...(body.interval === undefined ? {} : { intervalMs: duration(body.interval, 'interval') }),
        ...(body.gates === undefined ? {} : { gates: textList(body.gates, 'gates') }),
        ...(body.minRequests === undefined ? {} : { minRequests: Number(body.minRequests) }),
      });
      return reply.status(201).send(record);
    },
  );

  app.get(
    '/api/v1/deployments/:name/rollout',
    { schema: { tags, summary: 'The active (else latest) rollout: step, gate checks, events' } },
    (request: FastifyRequest<NameParams>) => rollouts.status(request.params.name),
  );

  app.post(
    '/api/v1/deployments/:name/rollout/:action',
    {
      config: {
        audit: {
          action: (request) => `rollout.${(request.params as { action: string }).action.slice(0, 40)}`,
          target: (request) => (request.params as { name: string }).name,
        },
      },
      schema: { tags, summary: 'pause | resume | abort | promote the active rollout' },
    },
    (request: FastifyRequest<{ Params: { name: string; action: string } }>) => {
      const { name, action } = request.params;
      if (action === 'pause') return rollouts.pause(name);
      if (action === 'resume') return rollouts.resume(name);
      if (action === 'abort') return rollouts.abort(name);
      if (action === 'promote') return rollouts.promote(name);
      throw invalid(`unknown rollout action "${action}"; use pause, resume, abort or promote`);
    },
  );

  app.post(
    '/api/v1/deployments/:name/experiment',
    {
      config: { audit: 'experiment.start' },
      schema: {
        tags,
        summary:
          'Start a champion/challenger experiment (201). Body: {arms: ["1.2.0","1.3.0"], split?: [50,50], metric?: accuracy|conversion|mae, alpha?: 0.05, autoPromote?: false, minSamples?: 100, maxSamples?: 100000, lookInterval?: "30s"}',
      },
      ...documentOnly,
    },
    async (request: FastifyRequest<NameParams & { Body: unknown }>, reply: FastifyReply) => {
      const body = objectBody(request.body);
      const record = await experiments.start(request.params.name, {
        arms: textList(body.arms, 'arms'),
        ...(body.split === undefined ? {} : { split: numberList(body.split, 'split') }),
        ...(body.metric === undefined
          ? {}
          : { metric: typeof body.metric === 'string' ? body.metric : JSON.stringify(body.metric) }),
        ...(body.alpha === undefined ? {} : { alpha: Number(body.alpha) }),
        ...(body.autoPromote === undefined ? {} : { autoPromote: body.autoPromote === true }),
        ...(body.minSamples === undefined ? {} : { minSamplePerArm: Number(body.minSamples) }),
        ...(body.maxSamples === undefined ? {} : { maxSamplePerArm: Number(body.maxSamples) }),
        ...(body.lookInterval === undefined ? {} : { lookIntervalMs: duration(body.lookInterval, 'lookInterval') }),
      });
      return reply.status(201).send(record);
    },
  );

  app.get(
    '/api/v1/deployments/:name/experiment',
    {
      schema: {
        tags,
        summary:
          'Results of the active (else latest) experiment: per arm n, mean, lift with CI, fixed and sequential tests, chance to win; SRM; the decision',
      },
    },
    (request: FastifyRequest<NameParams>) => experiments.results(request.params.name),
  );

  app.post(
    '/api/v1/deployments/:name/experiment/stop',
    {
      config: { audit: { action: 'experiment.stop', details: (request) => ({ winner: bodyText(request, 'winner') }) } },
      schema: { tags, summary: 'Stop the experiment; all traffic to {"winner"} (default: the champion)' },
      ...documentOnly,
    },
    async (request: FastifyRequest<NameParams & { Body: unknown }>) => {
      const body = request.body === undefined ? {} : objectBody(request.body);
      return experiments.stop(request.params.name, optionalText(body.winner, 'winner'));
    },
  );

  app.get(
    '/api/v1/models/:model/versions/:version/traffic',
    {
      schema: { tags, summary: 'When this version served which share of which deployment (from the revision history)' },
    },
    async (request: FastifyRequest<{ Params: { model: string; version: string } }>) => {
      const { model, version } = request.params;
      return { model, version, intervals: await service.versionTraffic(model, version) };
    },
  );
}

function objectBody(body: unknown): Record<string, unknown> {
  if (!isPlainObject(body)) throw invalid('the request body must be a JSON object');
  return body;
}

function optionalText(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(`"${what}" must be text`);
  return value;
}

function textList(value: unknown, what: string): string[] {
  if (typeof value === 'string')
    return value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw invalid(`"${what}" must be a list of text`);
  return value as string[];
}

function numberList(value: unknown, what: string): number[] {
  const list = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(list)) throw invalid(`"${what}" must be a list of numbers`);
  return list.map((v) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
    if (!Number.isFinite(n)) throw invalid(`"${what}": ${JSON.stringify(v)} is not a number`);
    return n;
  });
}

function duration(value: unknown, what: string): number {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') throw invalid(`"${what}" must be a duration such as "30s"`);
  return parseDuration(value, what);
}
