import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SlipwayError } from '../../core/errors.js';
import { cancelSignal, type CancelSignal } from '../../runtime/abort.js';
import { PLATFORM, type InferenceService, type RoutedTarget } from '../inference-service.js';
import { decodeBinaryInferRequest, encodeInferResponse, INFERENCE_HEADER, inferenceHeaderLength, onlyInput } from './binary-infer.js';
import { decodeInferBody, wantsBinaryOutput, type DecodedInferBody } from './v2-body.js';
import { readInferBody } from './infer-body-reader.js';
import { entityInputs } from '../../features/entity-inference.js';
import type { FeatureStore } from '../../features/feature-store.js';
import type { ServedFeatures } from '../../features/served-features.js';
import type { Signature, Tensor } from '../../tensor/datatypes.js';
import type { HeaderLookup } from '../../deploy/sticky-key.js';

interface ModelParams {
  model: string;
  version?: string;
}

/** Request headers by lower-case name (the first value of a repeated header), for sticky keys. */
export function headerLookup(request: FastifyRequest): HeaderLookup {
  return (name) => {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
}

/**
 * A request that failed to decode, for a model or version that does not exist, answers NOT_FOUND (404)
 * rather than a complaint about its tensors. Checked only on failure, so a good request routes once.
 */
async function unknownModelOr(service: Pick<InferenceService, 'resolveRouted'>, model: string, version: string | undefined, error: unknown): Promise<unknown> {
  if (model === '' || (error instanceof SlipwayError && error.code !== 'INVALID_ARGUMENT')) return error;
  try {
    await service.resolveRouted(model, version);
  } catch (missing) {
    if (missing instanceof SlipwayError && missing.code === 'NOT_FOUND') return missing;
  }
  return error;
}

/** A signal that fires when the HTTP client goes away before the response is sent. */
export function clientGone(reply: FastifyReply): CancelSignal {
  const { signal, abort } = cancelSignal();
  // Not request.raw's 'close': an IncomingMessage closes as soon as its body has been read.
  // The response closing before it finished writing means the connection is gone.
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) abort();
  });
  return signal;
}

/**
 * Open Inference Protocol v2 over REST. `{version}` may be a
 * semver, an alias or a major (`1`: the newest active 1.x.y); without it the latest version answers. Every response names the version.
 * A version bound to a feature service also takes `"parameters": {"entities": [...], "features"?: [...]}`
 * with no `inputs` (inference by entity, features/entity-inference.ts).
 */
export async function registerV2Routes(app: FastifyInstance, service: InferenceService, bodyLimit: number, features?: FeatureStore): Promise<void> {
  app.get('/v2/health/live', { schema: { tags: ['health'], summary: 'Server liveness' } }, () => ({ live: true }));

  // `/v2/health/ready` is in health-routes.ts (it reports the database too).

  app.get('/v2', { schema: { tags: ['inference'], summary: 'Server metadata' } }, () => service.serverMetadata());

  const metadata = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    const { model, version } = request.params;
    const meta = await service.modelMetadata(model, version);
    const record = await service.describedVersion(model, version);
    return reply.header('x-slipway-version', record.version).send({ ...meta, platform: PLATFORM });
  };
  app.get('/v2/models/:model', { schema: { tags: ['inference'], summary: 'Model metadata (latest version)' } }, metadata);
  app.get('/v2/models/:model/versions/:version', { schema: { tags: ['inference'], summary: 'Model version metadata' } }, metadata);

  const ready = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    const { model, version } = request.params;
    const state = await service.modelReady(model, version);
    return reply
      .header('x-slipway-version', state.version)
      .status(state.ready ? 200 : 503)
      .send({ name: model, version: state.version, ready: state.ready });
  };
  app.get('/v2/models/:model/ready', { schema: { tags: ['inference'], summary: 'Model readiness' } }, ready);
  app.get('/v2/models/:model/versions/:version/ready', { schema: { tags: ['inference'], summary: 'Model version readiness' } }, ready);

  const infer = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    const { model } = request.params;
    let { version } = request.params;
    const headerLength = inferenceHeaderLength(request.headers);
    let body: DecodedInferBody;
    let inputs: readonly Tensor[];
    let served: ServedFeatures | undefined;
    let routed: RoutedTarget | undefined;
    const headers = headerLookup(request);
    try {
      if (headerLength === undefined) {
        body = decodeInferBody(request.body);
      } else {
        const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        let specs: Signature['inputs'] = [];
        if (headerLength === 0) {
          // A bare tensor body decodes against the signature of the version that will run it: route once, and pin it.
          const { record, target } = await service.resolveRouted(model, version, { headers });
          version = record.version;
          routed = target;
          specs = record.signature.inputs;
        }
        body = decodeBinaryInferRequest(bytes, headerLength, () => onlyInput(specs, model));
      }
      inputs = body.inputs;
      if (body.entities !== undefined) {
        // Pin the routed version so the features are built for the version that runs.
        const { record, target } = await service.resolveRouted(model, version, { headers });
        version = record.version;
        routed = target;
        ({ inputs, served } = await entityInputs(features, record, body.entities));
      }
    } catch (error) {
      const failure = await unknownModelOr(service, model, version, error);
      service.observeFailure(model, '', 'http', failure);
      throw failure;
    }
    const result = await service.infer({
      model,
      version,
      id: body.id,
      inputs,
      features: served,
      headers,
      routed,
      outputs: body.outputs,
      parameters: body.parameters,
      signal: clientGone(reply),
    });
    const encoded = encodeInferResponse(
      { model_name: result.modelName, model_version: result.modelVersion, id: result.id, outputs: result.outputs },
      (name) => wantsBinaryOutput(body, name),
    );
    void reply.header('x-slipway-version', result.modelVersion);
    if (encoded.headerLength === undefined) return reply.type('application/json; charset=utf-8').send(encoded.body);
    return reply.type('application/octet-stream').header(INFERENCE_HEADER, String(encoded.headerLength)).send(encoded.body);
  };
  const inferSchema = {
    tags: ['inference'],
    summary: 'Run inference: Open Inference Protocol JSON tensors, or binary tensors with Inference-Header-Content-Length',
    body: {
      description: '{"id"?, "parameters"?, "inputs": [{"name","datatype","shape","data" | "parameters":{"binary_data_size"}}], "outputs"?: [{"name","parameters"?:{"binary_data"}}]}',
    },
  };
  // The infer routes parse every body as bytes and decide by the Inference-Header-Content-Length
  // header, not the content type: curl --data-binary sends a form type, tritonclient may send none.
  await app.register((scope, _options, done) => {
    const json = scope.getDefaultJsonParser('error', 'error');
    scope.removeAllContentTypeParsers();
    // Read from the stream ourselves, not with parseAs: 'buffer', so binary tensor bytes land at an
    // aligned offset and are used without a copy (infer-body-reader.ts).
    scope.addContentTypeParser('*', (request, payload, parsed) => {
      readInferBody(request.headers, payload, payload === request.raw, bodyLimit, (readError, raw) => {
        if (readError || raw === undefined) {
          parsed(readError ?? null, undefined);
          return;
        }
        if (request.headers[INFERENCE_HEADER] !== undefined) {
          parsed(null, raw);
          return;
        }
        const text = raw.toString('utf8');
        if (text === '') {
          parsed(null, undefined);
          return;
        }
        void json(request, text, (error, body) => {
          // A body that is not JSON never reaches the handler; count it here.
          if (error) service.observeFailure((request.params as Partial<ModelParams>).model ?? '', '', 'http', error);
          parsed(error, body);
        });
      });
    });
    scope.post('/v2/models/:model/infer', { schema: inferSchema }, infer);
    scope.post('/v2/models/:model/versions/:version/infer', { schema: inferSchema }, infer);
    done();
  });
}
