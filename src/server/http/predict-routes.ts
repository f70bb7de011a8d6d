import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalid, notFound } from '../../core/errors.js';
import { isPlainObject } from '../../tensor/format.js';
import { parseModelRef } from '../../registry/model-ref.js';
import { encodePredictBody } from '../../tensor/rows.js';
import type { RequestBody, Serving } from '../../serving/index.js';
import { clientGone, headerLookup } from './v2-routes.js';
import { sendEncoded } from './response-encoding.js';

/**
 * `POST /v1/models/{model}[@{version}]:predict` for application developers (TensorFlow Serving's
 * shape): `{"instances": [...rows]}` or `{"inputs": {...columns}}` in, `{"predictions": [...]}` out.
 * A version bound to a feature service also takes `{"entities": ..., "features"?: ...}`
 * (features/entity-inference.ts): the server builds the instances from the online store.
 */
export function registerPredictRoutes(app: FastifyInstance, serving: Serving): void {
  const body = {
    description:
      '{"instances": [row, ...]} or {"inputs": {"name": [...]}}, or for a version bound to a feature service {"entities": {...} | [{...}, ...], "features"?: {...} | [{...}, ...]}',
  };
  const handler =
    (collection: 'models' | 'deployments') =>
    async (request: FastifyRequest<{ Params: { ref: string } }>, reply: FastifyReply) => {
      const { ref } = request.params;
      if (!ref.endsWith(':predict'))
        throw invalid(
          `unknown action in "${ref}"; use /v1/${collection}/{name}${collection === 'models' ? '[@{version}]' : ''}:predict`,
        );
      const name = ref.slice(0, -':predict'.length);
      const { model, selector: given } = parseModelRef(name);
      // No `@selector`: a deployment's routes pick the version (a model's latest otherwise).
      const selector = name.includes('@') ? given : undefined;
      if (collection === 'deployments' && !serving.resolver.isDeployment(model))
        throw notFound(`deployment "${model}" does not exist`);
      const result = await serving.pipeline.infer({
        name: model,
        version: selector,
        headers: headerLookup(request),
        signal: clientGone(reply),
        body: () => predictBody(request.body),
      });
      const answer = JSON.stringify({
        ...encodePredictBody(result.outputs),
        model_name: model,
        model_version: result.modelVersion,
        ...(result.id === undefined ? {} : { id: result.id }),
      });
      return sendEncoded(
        request,
        reply
          .header('x-slipway-version', result.modelVersion)
          .header('x-request-id', result.id ?? '')
          .type('application/json; charset=utf-8'),
        answer,
      );
    };
  app.post(
    '/v1/models/:ref',
    {
      schema: {
        tags: ['inference'],
        summary: 'Predict with rows or columns: /v1/models/{model|deployment}[@{version|alias}]:predict',
        body,
      },
      // This route compresses its answers itself (response-encoding.ts).
      compress: false,
    },
    handler('models'),
  );
  app.post(
    '/v1/deployments/:ref',
    {
      schema: {
        tags: ['inference'],
        summary: 'Predict through a deployment (its routes pick the version): /v1/deployments/{name}:predict',
        body,
      },
      compress: false,
    },
    handler('deployments'),
  );
}

/** The pipeline's tagged body for a `:predict` request: rows, columns or entity keys, exactly one. */
function predictBody(body: unknown): RequestBody {
  const given = isPlainObject(body)
    ? Number(body.instances !== undefined) + Number(body.inputs !== undefined) + Number(body.entities !== undefined)
    : 0;
  if (!isPlainObject(body) || given !== 1) {
    throw invalid(
      'request body must be {"instances": [...]} (rows), {"inputs": {...}} (columns) or {"entities": ...} (a model bound to a feature service), exactly one of them',
    );
  }
  if (body.entities !== undefined) return { kind: 'entities', entities: body.entities, features: body.features };
  if (body.instances !== undefined) return { kind: 'rows', instances: body.instances };
  return { kind: 'columns', columns: body.inputs };
}
