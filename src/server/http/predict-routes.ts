import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalid } from '../../core/errors.js';
import { isPlainObject } from '../../tensor/format.js';
import { parseModelRef } from '../../registry/model-ref.js';
import { decodeColumns, decodeInstances, encodePredictBody } from '../../tensor/rows.js';
import type { InferenceService } from '../inference-service.js';
import type { VersionRecord } from '../../registry/types.js';
import type { Tensor } from '../../tensor/datatypes.js';
import { clientGone } from './v2-routes.js';

/**
 * `POST /v1/models/{model}[@{version}]:predict` for application developers (TensorFlow Serving's
 * shape): `{"instances": [...rows]}` or `{"inputs": {...columns}}` in, `{"predictions": [...]}` out.
 */
export function registerPredictRoutes(app: FastifyInstance, service: InferenceService): void {
  app.post(
    '/v1/models/:ref',
    {
      schema: {
        tags: ['inference'],
        summary: 'Predict with rows or columns: /v1/models/{model}[@{version|alias}]:predict',
        body: { description: '{"instances": [row, ...]} or {"inputs": {"name": [...]}}' },
      },
    },
    async (request: FastifyRequest<{ Params: { ref: string } }>, reply: FastifyReply) => {
      const { ref } = request.params;
      if (!ref.endsWith(':predict')) throw invalid(`unknown action in "${ref}"; use /v1/models/{model}[@{version}]:predict`);
      const { model, selector } = parseModelRef(ref.slice(0, -':predict'.length));
      let record: VersionRecord | undefined;
      let inputs: Tensor[];
      try {
        record = await service.resolve(model, selector);
        const body = request.body;
        if (!isPlainObject(body) || (body.instances === undefined) === (body.inputs === undefined)) {
          throw invalid('request body must be {"instances": [...]} (rows) or {"inputs": {...}} (columns), exactly one of them');
        }
        inputs = body.instances !== undefined ? decodeInstances(body.instances, record.signature) : decodeColumns(body.inputs, record.signature);
      } catch (error) {
        service.observeFailure(model, record?.version ?? '', 'http', error);
        throw error;
      }
      const result = await service.infer({ model, version: record.version, inputs, signal: clientGone(reply) });
      return reply
        .header('x-slipway-version', result.modelVersion)
        .header('x-request-id', result.id ?? '')
        .send({ ...encodePredictBody(result.outputs), model_name: model, model_version: result.modelVersion, ...(result.id === undefined ? {} : { id: result.id }) });
    },
  );
}
