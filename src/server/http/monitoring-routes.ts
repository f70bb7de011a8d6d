import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalid } from '../../core/errors.js';
import { STATS_WINDOWS, type StatsWindow } from '../../monitor/live-stats.js';
import type { Monitor } from '../../monitor/monitor.js';

type Query = Record<string, string | undefined>;

/** Read `?window=` as one of the live windows. */
export function statsWindow(value: string | undefined): StatsWindow {
  if (value === undefined) return '1m';
  if (!Object.hasOwn(STATS_WINDOWS, value))
    throw invalid(`window "${value}": expected one of ${Object.keys(STATS_WINDOWS).join(', ')}`);
  return value as StatsWindow;
}

/** `GET /metrics` (Prometheus) and `GET /api/v1/stats` (live windows). */
export function registerMonitoringRoutes(app: FastifyInstance, monitor: Monitor): void {
  app.get(
    '/metrics',
    { schema: { tags: ['monitoring'], summary: 'Prometheus metrics (text exposition format)' } },
    async (_request, reply: FastifyReply) => {
      const { contentType, body } = await monitor.metrics.scrape();
      return reply.type(contentType).send(body);
    },
  );

  app.get(
    '/api/v1/stats',
    {
      schema: {
        tags: ['monitoring'],
        summary: 'Live p50/p95/p99 latency, req/s and error rate per version over 1m, 5m or 1h',
        querystring: {
          type: 'object',
          properties: {
            model: { type: 'string' },
            version: { type: 'string' },
            deployment: { type: 'string' },
            window: { type: 'string', enum: Object.keys(STATS_WINDOWS) },
          },
        },
      },
    },
    (request: FastifyRequest<{ Querystring: Query }>) => {
      const { model, version, deployment, window } = request.query;
      return monitor.stats.queryAll({
        window: statsWindow(window),
        ...(model === undefined ? {} : { model }),
        ...(version === undefined ? {} : { version }),
        ...(deployment === undefined ? {} : { deployment }),
      });
    },
  );
}
