/**
 * API tokens over HTTP (admin only, auth/permissions.ts): create (201 with the secret, the only
 * answer that ever carries it), list (never a secret or hash), revoke.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TokenService } from '../../auth/token-service.js';
import { invalid } from '../../core/errors.js';
import { bodyText } from './audit-hook.js';

interface CreateBody {
  name?: unknown;
  role?: unknown;
  models?: unknown;
  expires?: unknown;
}

const FIELDS = new Set(['name', 'role', 'models', 'expires']);

export function registerTokenRoutes(app: FastifyInstance, tokens: TokenService): void {
  const tags = ['tokens'];
  app.get('/api/v1/tokens', { schema: { tags, summary: 'API tokens (never their secrets)' } }, async () => ({
    tokens: await tokens.list(),
  }));
  app.post(
    '/api/v1/tokens',
    {
      schema: { tags, summary: 'Create a token: {name, role, models?, expires?}; the answer carries its secret, once' },
      config: { audit: { action: 'token.create', target: (request) => bodyText(request, 'name') } },
    },
    async (request: FastifyRequest<{ Body: CreateBody }>, reply) => {
      const body = request.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw invalid('expected a JSON object body');
      for (const key of Object.keys(body)) if (!FIELDS.has(key)) throw invalid(`unknown field "${key}"`);
      if (typeof body.name !== 'string') throw invalid('"name" must be a string');
      if (typeof body.role !== 'string') throw invalid('"role" must be a string');
      if (body.models !== undefined && !(Array.isArray(body.models) && body.models.every((m) => typeof m === 'string')))
        throw invalid('"models" must be an array of model-name patterns');
      if (body.expires !== undefined && typeof body.expires !== 'string')
        throw invalid('"expires" must be a duration such as "90d"');
      const created = await tokens.create({
        name: body.name,
        role: body.role,
        ...(body.models === undefined ? {} : { models: body.models }),
        ...(body.expires === undefined ? {} : { expires: body.expires }),
      });
      return reply.status(201).send({ ...created.token, secret: created.secret });
    },
  );
  app.delete(
    '/api/v1/tokens/:name',
    { schema: { tags, summary: 'Revoke a token' }, config: { audit: 'token.revoke' } },
    async (request: FastifyRequest<{ Params: { name: string } }>) => {
      await tokens.revoke(request.params.name);
      return { revoked: request.params.name };
    },
  );
}
