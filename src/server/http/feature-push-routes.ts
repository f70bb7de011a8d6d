import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FeatureStore } from '../../features/feature-store.js';
import { deleteOnlineEntities, entityFromText } from '../../features/online-delete.js';
import type { PushTarget } from '../../features/offline/push.js';
import { bodyText, type AuditRoute } from './audit-hook.js';

interface PushBody {
  view: string;
  rows: Record<string, unknown>[];
  to?: PushTarget;
}

const pushSchema = {
  tags: ['features'],
  summary:
    'Push fresh feature values: to the online store, and appended to the offline push log so training sees them too',
  body: {
    type: 'object',
    required: ['view', 'rows'],
    additionalProperties: false,
    properties: {
      view: { type: 'string', minLength: 1 },
      rows: { type: 'array', items: { type: 'object' } },
      to: {
        type: 'string',
        enum: ['online', 'offline', 'online_and_offline'] satisfies PushTarget[],
        default: 'online_and_offline',
      },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: { rows: { type: 'integer' }, written: { type: 'integer' }, stale: { type: 'integer' } },
    },
  },
};

const deleteSchema = {
  tags: ['features'],
  summary:
    "Delete one entity's online values of a view (e.g. a value stamped in the future that makes real ones stale)",
  params: { type: 'object', required: ['view'], properties: { view: { type: 'string', minLength: 1 } } },
  querystring: {
    type: 'object',
    description: 'the entity: one value per join key of the view, e.g. ?patient_id=42',
    additionalProperties: true,
  },
  response: {
    200: {
      type: 'object',
      properties: { view: { type: 'string' }, entities: { type: 'integer' }, deleted: { type: 'integer' } },
    },
  },
};

/**
 * `POST /api/v1/features/push` `{view, rows, to?}` -> `{rows, written, stale}`: a thin adapter over
 * `pushFeatures` (404 for an unknown view, 400 naming the bad rows and columns, nothing written).
 * `DELETE /api/v1/features/views/{view}/online?<join key>=<value>...` -> `{view, entities, deleted}`:
 * one entity's online values removed (`deleteOnlineEntities`; 404 unknown view, 400 naming a
 * missing, mistyped, repeated or unknown join key; `deleted: 0` when it had none).
 */
export function registerFeaturePushRoutes(app: FastifyInstance, features: FeatureStore): void {
  const pushAudit: AuditRoute = {
    action: 'features.push',
    target: (request) => bodyText(request, 'view'),
    details: (_request, response) =>
      typeof response?.written === 'number' ? { written: response.written } : undefined,
  };
  app.post<{ Body: PushBody }>(
    '/api/v1/features/push',
    { schema: pushSchema, config: { audit: pushAudit } },
    async (request) => {
      const { view, rows, to } = request.body;
      // Loaded on first push: it brings DuckDB, which the CLI (which builds this app for `serve`) should not pay for.
      const { pushFeatures } = await import('../../features/offline/push.js');
      const result = await pushFeatures(features, { view, rows, ...(to === undefined ? {} : { to }) });
      return { rows: result.rows, written: result.written, stale: result.stale };
    },
  );

  app.delete(
    '/api/v1/features/views/:view/online',
    { schema: deleteSchema, config: { audit: 'features.delete' } },
    async (request: FastifyRequest<{ Params: { view: string }; Querystring: Record<string, string | string[]> }>) => {
      const view = await features.view(request.params.view);
      const pairs = Object.entries(request.query).flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value]).map((text) => [name, text] as const),
      );
      const entity = entityFromText(await features.joinKeys(view), pairs);
      return deleteOnlineEntities(features, view.name, [entity]);
    },
  );
}
