import type { FastifyInstance } from 'fastify';
import type { ServingLifecycle } from '../../serving/index.js';
import { redactServerDetails } from '../client-errors.js';

/** The metadata database's state as the store reports it (store/connection-guard.ts). */
interface DatabaseHealth {
  readonly up: boolean;
  readonly downSince: number | undefined;
  readonly reason: string | undefined;
}

export interface HealthOptions {
  /** The metadata database's state; absent = not watched (always up). */
  readonly database?: { health(): DatabaseHealth };
  /** Readiness fails while the database is unreachable (SLIPWAY_READY_REQUIRES_DATABASE). */
  readonly readyRequiresDatabase?: boolean;
}

/** What readiness and `/api/v1/health` report. */
export interface HealthReport {
  readonly ready: boolean;
  /** ok; degraded (ready, with reasons); not_ready. */
  readonly status: 'ok' | 'degraded' | 'not_ready';
  readonly reasons: readonly string[];
  readonly database: { readonly up: boolean; readonly down_since: string | null; readonly error: string | null };
}

/**
 * Readiness with the database down (issue 13 item 4): serve-but-degraded. Loaded versions and
 * deployments answer from memory, so `/v2/health/ready` stays 200 while models can serve and
 * says `degraded` with the reason. A readiness probe that failed on a shared dependency would take
 * every replica out of its Service at once and turn a partial outage into a total one.
 * `SLIPWAY_READY_REQUIRES_DATABASE=true` makes it 503 instead, for those who want that.
 */
export function healthReport(inference: Pick<ServingLifecycle, 'isReady'>, options: HealthOptions): HealthReport {
  const serving = inference.isReady();
  const health = options.database?.health() ?? { up: true, downSince: undefined, reason: undefined };
  // The reason is the driver's message ("connect ECONNREFUSED 10.0.0.5:5432"): no address to clients.
  const db = { ...health, reason: health.reason === undefined ? undefined : redactServerDetails(health.reason) };
  const reasons: string[] = [];
  if (!serving) reasons.push('models are not ready (starting up or stopping)');
  const downSince = db.downSince === undefined ? null : new Date(db.downSince).toISOString();
  if (!db.up)
    reasons.push(
      `database unreachable since ${downSince ?? 'unknown'}${db.reason === undefined ? '' : `: ${db.reason}`}`,
    );
  const ready = serving && (db.up || options.readyRequiresDatabase !== true);
  return {
    ready,
    status: !ready ? 'not_ready' : reasons.length > 0 ? 'degraded' : 'ok',
    reasons,
    database: { up: db.up, down_since: downSince, error: db.reason ?? null },
  };
}

/** `GET /v2/health/ready` (200 or 503, with the report) and `GET /api/v1/health` (always 200, the report). */
export function registerHealthRoutes(
  app: FastifyInstance,
  inference: Pick<ServingLifecycle, 'isReady'>,
  options: HealthOptions,
): void {
  app.get(
    '/v2/health/ready',
    {
      schema: {
        tags: ['health'],
        summary: 'Server readiness (200 while models can serve; the body says degraded and why)',
      },
    },
    (_request, reply) => {
      const report = healthReport(inference, options);
      return reply.status(report.ready ? 200 : 503).send(report);
    },
  );
  app.get(
    '/api/v1/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Health report: ok, degraded or not_ready, with reasons and the database state',
      },
    },
    () => healthReport(inference, options),
  );
}
