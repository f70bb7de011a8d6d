import type { FastifyInstance } from 'fastify';
import type { FeatureStore } from '../../features/feature-store.js';
import type { PushTarget } from '../../features/offline/push.js';

interface PushBody {
  view: string;
  rows: Record<string, unknown>[];
  to?: PushTarget;
}

const pushSchema = {
  tags: ['features'],
  summary: 'Push fresh feature values: to the online store, and appended to the offline push log so training sees them too',
  body: {
    type: 'object',
    required: ['view', 'rows'],
    additionalProperties: false,
    properties: {
      view: { type: 'string', minLength: 1 },
      rows: { type: 'array', items: { type: 'object' } },
      to: { type: 'string', enum: ['online', 'offline', 'online_and_offline'] satisfies PushTarget[], default: 'online_and_offline' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: { rows: { type: 'integer' }, written: { type: 'integer' }, stale: { type: 'integer' } },
    },
  },
};

/**
 * `POST /api/v1/features/push` `{view, rows, to?}` -> `{rows, written, stale}`: a thin adapter over
 * `pushFeatures` (404 for an unknown view, 400 naming the bad rows and columns, nothing written).
 */
export function registerFeaturePushRoutes(app: FastifyInstance, features: FeatureStore): void {
  app.post<{ Body: PushBody }>('/api/v1/features/push', { schema: pushSchema }, async (request) => {
    const { view, rows, to } = request.body;
    // Loaded on first push: it brings DuckDB, which the CLI (which builds this app for `serve`) should not pay for.
    const { pushFeatures } = await import('../../features/offline/push.js');
    const result = await pushFeatures(features, { view, rows, ...(to === undefined ? {} : { to }) });
    return { rows: result.rows, written: result.written, stale: result.stale };
  });
}
