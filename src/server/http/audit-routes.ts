import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditLog } from '../../audit/audit-log.js';
import { parseAuditQuery } from '../../audit/audit-query.js';
import { invalid } from '../../core/errors.js';

type Query = Record<string, string | string[] | undefined>;
const FILTERS = ['since', 'actor', 'action', 'limit', 'before'] as const;

/**
 * `GET /api/v1/audit?since=1h&actor=ci&action=deployment&limit=100&before=<id>` → `{events, next?}`:
 * recorded changes, newest first, in keyset pages (`before` = the previous page's `next`). Unknown
 * or repeated parameters are refused by name.
 */
export function registerAuditRoutes(app: FastifyInstance, audit: AuditLog): void {
  app.get(
    '/api/v1/audit',
    {
      schema: {
        tags: ['security'],
        summary:
          'The audit trail: every change (push, alias, archive, deploy, rollback, rollout, experiment, features, tokens, config), newest first',
        querystring: {
          type: 'object',
          properties: Object.fromEntries(FILTERS.map((name) => [name, { type: 'string' }])),
        },
      },
    },
    async (request: FastifyRequest<{ Querystring: Query }>) => {
      const text: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.query)) {
        if (!(FILTERS as readonly string[]).includes(name))
          throw invalid(`unknown query parameter "${name}"; the audit trail takes ${FILTERS.join(', ')}`);
        if (Array.isArray(value)) throw invalid(`query parameter "${name}" given more than once`);
        if (value !== undefined) text[name] = value;
      }
      return audit.list(parseAuditQuery(text));
    },
  );
}
