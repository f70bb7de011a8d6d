import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalid, notFound } from '../../core/errors.js';
import { keyText } from '../../deploy/sticky-key.js';
import { isPlainObject } from '../../tensor/format.js';
import { parseModelRef } from '../../registry/model-ref.js';
import { decodeColumns, decodeInstances, encodePredictBody } from '../../tensor/rows.js';
import type { InferenceService, RoutedTarget } from '../inference-service.js';
import type { VersionRecord } from '../../registry/types.js';
import type { Tensor } from '../../tensor/datatypes.js';
import { clientGone, headerLookup } from './v2-routes.js';
import { entityInputs } from '../../features/entity-inference.js';
import type { FeatureStore } from '../../features/feature-store.js';
import type { ServedFeatures } from '../../features/served-features.js';

/**
 * `POST /v1/models/{model}[@{version}]:predict` for application developers (TensorFlow Serving's
 * shape): `{"instances": [...rows]}` or `{"inputs": {...columns}}` in, `{"predictions": [...]}` out.
 * A version bound to a feature service also takes `{"entities": ..., "features"?: ...}`
 * (features/entity-inference.ts): the server builds the instances from the online store.
 */
export function registerPredictRoutes(app: FastifyInstance, service: InferenceService, features?: FeatureStore): void {
  const body = { description: '{"instances": [row, ...]} or {"inputs": {"name": [...]}}, or for a version bound to a feature service {"entities": {...} | [{...}, ...], "features"?: {...} | [{...}, ...]}' };
  const handler = (collection: 'models' | 'deployments') => async (request: FastifyRequest<{ Params: { ref: string } }>, reply: FastifyReply) => {
      const { ref } = request.params;
      if (!ref.endsWith(':predict')) throw invalid(`unknown action in "${ref}"; use /v1/${collection}/{name}${collection === 'models' ? '[@{version}]' : ''}:predict`);
      const name = ref.slice(0, -':predict'.length);
      const { model, selector: given } = parseModelRef(name);
      // No `@selector`: a deployment's routes pick the version (a model's latest otherwise).
      const selector = name.includes('@') ? given : undefined;
      if (collection === 'deployments' && !service.isDeployment(model)) throw notFound(`deployment "${model}" does not exist`);
      let record: VersionRecord | undefined;
      let target: RoutedTarget | undefined;
      let inputs: Tensor[];
      let served: ServedFeatures | undefined;
      try {
        const body = request.body;
        ({ record, target } = await service.resolveRouted(model, selector, { headers: headerLookup(request), value: stickyValueOfBody(service.stickyInputOf(model), body) }));
        const given = isPlainObject(body) ? Number(body.instances !== undefined) + Number(body.inputs !== undefined) + Number(body.entities !== undefined) : 0;
        if (!isPlainObject(body) || given !== 1) {
          throw invalid('request body must be {"instances": [...]} (rows), {"inputs": {...}} (columns) or {"entities": ...} (a model bound to a feature service), exactly one of them');
        }
        if (body.entities !== undefined) ({ inputs, served } = await entityInputs(features, record, { entities: body.entities, features: body.features }));
        else inputs = body.instances !== undefined ? decodeInstances(body.instances, record.signature) : decodeColumns(body.inputs, record.signature);
      } catch (error) {
        service.observeFailure(target?.model ?? model, record?.version ?? '', 'http', error, undefined, undefined, undefined, target?.deployment);
        throw error;
      }
      const result = await service.infer({ model, version: record.version, routed: target, inputs, signal: clientGone(reply), features: served });
      return reply
        .header('x-slipway-version', result.modelVersion)
        .header('x-request-id', result.id ?? '')
        .send({ ...encodePredictBody(result.outputs), model_name: model, model_version: result.modelVersion, ...(result.id === undefined ? {} : { id: result.id }) });
  };
  app.post('/v1/models/:ref', { schema: { tags: ['inference'], summary: 'Predict with rows or columns: /v1/models/{model|deployment}[@{version|alias}]:predict', body } }, handler('models'));
  app.post('/v1/deployments/:ref', { schema: { tags: ['inference'], summary: 'Predict through a deployment (its routes pick the version): /v1/deployments/{name}:predict', body } }, handler('deployments'));
}

/** A deployment's `input:` sticky key read from a :predict body before it is decoded: the first row's value, or the column's first. */
function stickyValueOfBody(input: string | undefined, body: unknown): string | undefined {
  if (input === undefined || !isPlainObject(body)) return undefined;
  if (Array.isArray(body.instances)) {
    const first: unknown = body.instances[0];
    return isPlainObject(first) ? keyText(first[input]) : undefined;
  }
  if (isPlainObject(body.inputs)) {
    const column = body.inputs[input];
    return keyText(Array.isArray(column) ? column[0] : column);
  }
  return undefined;
}
