import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AlertService } from '../../monitor/alerts/alert-service.js';
import { SEVERITIES } from '../../monitor/alerts/rule.js';
import { bodyText } from './audit-hook.js';

interface HistoryQuerystring {
  rule?: string;
  state?: string;
  since?: string;
  limit?: number;
}

const scopeSchema = {
  type: 'object',
  properties: { model: { type: 'string' }, version: { type: 'string' }, deployment: { type: 'string' } },
};

/**
 * Alert rules and history under /api/v1/alerts. The AlertService validates everything; the
 * schemas here document the API and coerce query-string numbers.
 */
export function registerAlertRoutes(app: FastifyInstance, alerts: AlertService): void {
  const tags = ['monitoring'];

  app.get(
    '/api/v1/alerts',
    {
      schema: {
        tags,
        summary: 'Alert history (firing and resolved events with their delivery), newest first',
        querystring: {
          type: 'object',
          properties: {
            rule: { type: 'string' },
            state: { type: 'string', enum: ['firing', 'resolved'] },
            since: { type: 'string', description: 'ISO timestamp, or a duration back from now such as 1h' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
      },
    },
    async (request: FastifyRequest<{ Querystring: HistoryQuerystring }>) => ({
      events: await alerts.history(request.query),
    }),
  );

  app.get(
    '/api/v1/alerts/rules',
    { schema: { tags, summary: 'Alert rules with their source (api, file) and current state' } },
    async () => ({
      rules: await alerts.listRules(),
    }),
  );

  app.get(
    '/api/v1/alerts/rules/:name',
    { schema: { tags, summary: 'One alert rule with its current state' } },
    (request: FastifyRequest<{ Params: { name: string } }>) => alerts.getRule(request.params.name),
  );

  app.post(
    '/api/v1/alerts/rules',
    {
      config: { audit: { action: 'alert.create', target: (request) => bodyText(request, 'name') } },
      schema: {
        tags,
        summary: `Add an alert rule; expr is "<metric> <op> <number> [for <duration>]", ops > >= < <= == !=. 409 when the name is taken. Metrics: ${alerts.knownMetrics.join(', ')}`,
        body: {
          type: 'object',
          required: ['name', 'expr'],
          properties: {
            name: { type: 'string', description: 'a-z, 0-9, "_", "." and "-"' },
            expr: { type: 'string', examples: ['p99_ms > 50 for 5m'] },
            scope: scopeSchema,
            webhook: { type: 'string', description: "http(s) URL receiving this rule's events" },
            severity: { type: 'string', enum: [...SEVERITIES], default: 'warning' },
            description: { type: 'string' },
            enabled: { type: 'boolean', default: true },
          },
        },
      },
    },
    async (request: FastifyRequest<{ Body: unknown }>, reply: FastifyReply) =>
      reply.status(201).send(await alerts.addRule(request.body)),
  );

  app.delete(
    '/api/v1/alerts/rules/:name',
    {
      config: { audit: 'alert.delete' },
      schema: { tags, summary: 'Delete an API rule (its history stays); 409 for a rule from the rule file' },
    },
    (request: FastifyRequest<{ Params: { name: string } }>) => alerts.removeRule(request.params.name),
  );
}
