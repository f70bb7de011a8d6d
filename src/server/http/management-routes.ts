import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalid } from '../../core/errors.js';
import type { PushInput, RegistryService } from '../../registry/registry-service.js';
import { parseTags } from '../../registry/tags.js';
import type { Lineage } from '../../registry/types.js';
import { isPlainObject } from '../../tensor/format.js';
import { actorName, bodyText, type AuditRoute } from './audit-hook.js';

type Query = Record<string, string | string[] | boolean | undefined>;

const one = (query: Query, key: string): string | undefined => {
  const value = query[key];
  return Array.isArray(value) ? value[value.length - 1] : typeof value === 'boolean' ? String(value) : value;
};

function optionalFlag(value: unknown, field: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalid(`"${field}" must be true or false`);
  return value;
}

function optionalObject(value: unknown, field: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) throw invalid(`"${field}" must be a JSON object`);
  return value;
}

function optionalText(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(`"${field}" must be a string`);
  return value;
}

/**
 * Class labels of a push: `label=` repeated in the query string (one per class, in index order)
 * with a raw body, `"labels": [..]` in a JSON body. The other spelling is refused, not ignored.
 */
function pushLabels(body: Record<string, unknown> | Buffer, query: Query): Pick<PushInput, 'labels' | 'labelsSource'> {
  if (Buffer.isBuffer(body)) {
    if (query.labels !== undefined)
      throw invalid(
        'give class labels as "label" query parameters, one per class in index order (label=cat&label=dog)',
      );
    if (query.label === undefined) return {};
    return {
      labels: (Array.isArray(query.label) ? query.label : [query.label]).map(String),
      labelsSource: 'query parameters "label"',
    };
  }
  if (body.label !== undefined) throw invalid('give class labels as "labels", a JSON array of strings in index order');
  if (body.labels === undefined) return {};
  if (!Array.isArray(body.labels))
    throw invalid('"labels" must be a JSON array of strings, one per class in index order');
  // Each element is checked (a string, one line, not empty) by the registry, naming its index.
  return { labels: body.labels as string[], labelsSource: '"labels"' };
}

/**
 * Read a push from either a raw `application/octet-stream` body (metadata in the query string:
 * description, bump, version, tag=k=v (repeatable), label=text (repeatable, class labels in index
 * order), dataset, git_commit, parent_version, source_path) or a JSON body `{"artifact_base64",
 * "description", "card", "metrics", "params", "tags", "lineage", "labels", "bump", "version"}`.
 * `allow_duplicate` (query string, or a JSON boolean) registers bytes a version of the model already has.
 */
function readPush(name: string, body: unknown, query: Query): PushInput {
  if (Buffer.isBuffer(body)) {
    const tagValues = query.tag === undefined ? [] : Array.isArray(query.tag) ? query.tag : [query.tag];
    const lineage: Lineage = {
      ...(one(query, 'dataset') ? { dataset: one(query, 'dataset') } : {}),
      ...(one(query, 'git_commit') ? { gitCommit: one(query, 'git_commit') } : {}),
      ...(one(query, 'parent_version') ? { parentVersion: one(query, 'parent_version') } : {}),
      ...(one(query, 'source_path') ? { sourcePath: one(query, 'source_path') } : {}),
    };
    const tagList = tagValues.map((tag) => String(tag));
    return {
      name,
      bytes: body,
      description: one(query, 'description'),
      bump: one(query, 'bump'),
      version: one(query, 'version'),
      tags: parseTags(tagList, (pair) => `tag "${pair}"`),
      lineage,
      allowDuplicate: query.allow_duplicate === true,
      ...pushLabels(body, query),
    };
  }
  if (!isPlainObject(body))
    throw invalid('send the ONNX file as application/octet-stream, or JSON with "artifact_base64"');
  const encoded = body.artifact_base64;
  if (typeof encoded !== 'string') throw invalid('"artifact_base64" must be the ONNX file, base64-encoded');
  const tags = optionalObject(body.tags, 'tags') ?? {};
  for (const [k, v] of Object.entries(tags)) if (typeof v !== 'string') throw invalid(`tag "${k}" must be a string`);
  return {
    name,
    bytes: Buffer.from(encoded, 'base64'),
    description: optionalText(body.description, 'description'),
    card: optionalText(body.card, 'card'),
    metrics: optionalObject(body.metrics, 'metrics') as Record<string, number> | undefined,
    params: optionalObject(body.params, 'params'),
    tags: tags as Record<string, string>,
    lineage: optionalObject(body.lineage, 'lineage') ?? {},
    bump: optionalText(body.bump, 'bump'),
    version: optionalText(body.version, 'version'),
    allowDuplicate: optionalFlag(body.allow_duplicate, 'allow_duplicate') ?? query.allow_duplicate === true,
    ...pushLabels(body, query),
  };
}

/** A push records the version it made (`fraud@1.2.0`); a dry run changes nothing and records nothing. */
const PUSH_AUDIT: AuditRoute = {
  action: 'model.push',
  skip: (request) => (request.query as { dry_run?: boolean }).dry_run === true,
  target: (request, response) => {
    const name = (request.params as { name: string }).name;
    return typeof response?.version === 'string' ? `${name}@${response.version}` : name;
  },
};

/** The management API under /api/v1: models, versions (with upload), aliases, archive. */
export function registerManagementRoutes(app: FastifyInstance, registry: RegistryService): void {
  const tags = ['registry'];
  app.get('/api/v1/models', { schema: { tags, summary: 'List models' } }, async () => ({
    models: await registry.listModels(),
  }));

  app.get(
    '/api/v1/models/:name',
    { schema: { tags, summary: 'A model with its versions' } },
    async (request: FastifyRequest<{ Params: { name: string } }>) => {
      const model = await registry.getModel(request.params.name);
      return { ...model, versions: await registry.listVersions(model.name) };
    },
  );

  app.get(
    '/api/v1/models/:name/versions',
    {
      schema: {
        tags,
        summary: 'List versions, newest first',
        querystring: { type: 'object', properties: { include_archived: { type: 'boolean' } } },
      },
    },
    async (request: FastifyRequest<{ Params: { name: string }; Querystring: { include_archived?: boolean } }>) => ({
      versions: await registry.listVersions(request.params.name, {
        includeArchived: request.query.include_archived === true,
      }),
    }),
  );

  app.post(
    '/api/v1/models/:name/versions',
    {
      config: { acceptsBytes: true, audit: PUSH_AUDIT },
      schema: {
        tags,
        summary:
          'Push a new version (ONNX bytes as application/octet-stream, or JSON with artifact_base64). 409 when the requested version breaks the semver policy, or when a version of the model has the same bytes (pass allow_duplicate=true to register them again).',
        querystring: {
          type: 'object',
          properties: { dry_run: { type: 'boolean' }, allow_duplicate: { type: 'boolean' } },
          additionalProperties: true,
        },
      },
    },
    async (
      request: FastifyRequest<{
        Params: { name: string };
        Querystring: Query & { dry_run?: boolean; allow_duplicate?: boolean };
      }>,
      reply: FastifyReply,
    ) => {
      const push = readPush(request.params.name, request.body, request.query);
      if (request.query.dry_run === true) return registry.planPush(push);
      const record = await registry.push(push);
      return reply.status(201).send(record);
    },
  );

  app.get(
    '/api/v1/models/:name/versions/:version',
    { schema: { tags, summary: 'A version by number, alias or "latest"' } },
    (request: FastifyRequest<{ Params: { name: string; version: string } }>) =>
      registry.resolve(request.params.name, request.params.version),
  );

  app.post(
    '/api/v1/models/:name/versions/:version/archive',
    {
      config: { audit: { action: 'version.archive', details: (request) => ({ reason: bodyText(request, 'reason') }) } },
      schema: { tags, summary: 'Archive a version (refused while an alias or deployment uses it)' },
    },
    async (
      request: FastifyRequest<{ Params: { name: string; version: string }; Body: { reason?: string } | undefined }>,
    ) =>
      registry.archive(
        request.params.name,
        request.params.version,
        optionalText(isPlainObject(request.body) ? request.body.reason : undefined, 'reason'),
      ),
  );

  app.get(
    '/api/v1/models/:name/serving',
    { schema: { tags, summary: 'Serving settings (dynamic batching, instances); {} = defaults' } },
    (request: FastifyRequest<{ Params: { name: string } }>) => registry.getServingConfig(request.params.name),
  );

  app.put(
    '/api/v1/models/:name/serving',
    {
      config: { audit: 'config.set' },
      schema: {
        tags,
        summary:
          'Replace serving settings: batching, maxBatchSize, maxQueueDelayMicros, maxQueueSize, instances, priorityLevels. Applies when a version is next (re)loaded (POST /v2/repository/models/{m}/load).',
      },
    },
    (request: FastifyRequest<{ Params: { name: string }; Body: unknown }>) =>
      registry.setServingConfig(request.params.name, request.body),
  );

  app.get(
    '/api/v1/models/:name/aliases',
    { schema: { tags, summary: 'Aliases of a model' } },
    async (request: FastifyRequest<{ Params: { name: string } }>) => ({
      aliases: (await registry.getModel(request.params.name)).aliases,
    }),
  );

  app.get(
    '/api/v1/models/:name/aliases/history',
    { schema: { tags, summary: 'Every alias move, oldest first' } },
    async (request: FastifyRequest<{ Params: { name: string } }>) => ({
      events: await registry.aliasHistory(request.params.name),
    }),
  );

  app.put(
    '/api/v1/models/:name/aliases/:alias',
    {
      config: {
        audit: {
          action: 'alias.set',
          details: (request) => ({ version: bodyText(request, 'version'), reason: bodyText(request, 'reason') }),
        },
      },
      schema: {
        tags,
        summary: 'Point an alias at a version',
        body: {
          type: 'object',
          required: ['version'],
          properties: { version: { type: 'string' }, reason: { type: 'string' } },
        },
      },
    },
    (
      request: FastifyRequest<{ Params: { name: string; alias: string }; Body: { version: string; reason?: string } }>,
    ) =>
      registry.setAlias(
        request.params.name,
        request.params.alias,
        request.body.version,
        request.body.reason,
        actorName(request),
      ),
  );

  app.delete(
    '/api/v1/models/:name/aliases/:alias',
    { config: { audit: 'alias.remove' }, schema: { tags, summary: 'Remove an alias' } },
    (request: FastifyRequest<{ Params: { name: string; alias: string } }>) =>
      registry.removeAlias(request.params.name, request.params.alias, undefined, actorName(request)),
  );
}
