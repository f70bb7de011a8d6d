import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { cancelSignal, type CancelSignal } from '../../runtime/abort.js';
import type { RequestBody, Serving } from '../../serving/index.js';
import {
  decodeBinaryInferRequest,
  encodeInferResponse,
  INFERENCE_HEADER,
  inferenceHeaderLength,
  onlyInput,
} from './binary-infer.js';
import { decodeInferBody, wantsBinaryOutput, type DecodedInferBody } from './v2-body.js';
import { readRequestBody } from './request-decoding.js';
import { isFormContentType, unsupportedContentType } from './content-types.js';
import { sendEncoded } from './response-encoding.js';
import { bodyText } from './body-text.js';
import type { HeaderLookup } from '../../deploy/sticky-key.js';
import type { Tensor } from '../../tensor/datatypes.js';

/** What the infer routes parse, for the 415 a forged form POST gets. */
const INFER_TAKES =
  'application/json (or no Content-Type), or binary tensors with an Inference-Header-Content-Length header';

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

/** A body Fastify's JSON parser refused: handed to the pipeline, which observes the failure and answers it. */
class UnparsedBody {
  constructor(readonly error: unknown) {}
}

/** The pipeline's tagged body for a decoded v2 envelope: tensors, or entity keys (inference by entity). */
function v2Body(body: DecodedInferBody, inputs: readonly Tensor[]): RequestBody {
  const common = { id: body.id, outputs: body.outputs, parameters: body.parameters };
  if (body.entities !== undefined)
    return { kind: 'entities', ...common, entities: body.entities.entities, features: body.entities.features };
  return { kind: 'tensors', ...common, inputs };
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
export async function registerV2Routes(app: FastifyInstance, serving: Serving, bodyLimit: number): Promise<void> {
  const { lifecycle, pipeline } = serving;
  app.get('/v2/health/live', { schema: { tags: ['health'], summary: 'Server liveness' } }, () => ({ live: true }));

  // `/v2/health/ready` is in health-routes.ts (it reports the database too).

  app.get('/v2', { schema: { tags: ['inference'], summary: 'Server metadata' } }, () => lifecycle.serverMetadata());

  const metadata = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    const { model, version } = request.params;
    const { record, ...meta } = await lifecycle.modelMetadata(model, version);
    return reply.header('x-slipway-version', record.version).send(meta);
  };
  app.get(
    '/v2/models/:model',
    { schema: { tags: ['inference'], summary: 'Model metadata (latest version)' } },
    metadata,
  );
  app.get(
    '/v2/models/:model/versions/:version',
    { schema: { tags: ['inference'], summary: 'Model version metadata' } },
    metadata,
  );

  const ready = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    const { model, version } = request.params;
    const state = await lifecycle.modelReady(model, version);
    return reply
      .header('x-slipway-version', state.version)
      .status(state.ready ? 200 : 503)
      .send({ name: model, version: state.version, ready: state.ready });
  };
  app.get('/v2/models/:model/ready', { schema: { tags: ['inference'], summary: 'Model readiness' } }, ready);
  app.get(
    '/v2/models/:model/versions/:version/ready',
    { schema: { tags: ['inference'], summary: 'Model version readiness' } },
    ready,
  );

  const infer = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    const { model, version } = request.params;
    const headerLength = inferenceHeaderLength(request.headers);
    // Kept for encoding the answer: which outputs go back as binary.
    let decoded: DecodedInferBody | undefined;
    const result = await pipeline.infer({
      name: model,
      version,
      headers: headerLookup(request),
      signal: clientGone(reply),
      body: () => {
        if (request.body instanceof UnparsedBody) throw request.body.error;
        if (headerLength === undefined) {
          decoded = decodeInferBody(request.body);
          return v2Body(decoded, decoded.inputs);
        }
        const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        if (headerLength > 0) {
          decoded = decodeBinaryInferRequest(bytes, headerLength);
          return v2Body(decoded, decoded.inputs);
        }
        // A bare tensor body is the only input of the version that runs it: decoded against its signature.
        return {
          kind: 'tensors',
          inputs: (signature) => {
            decoded = decodeBinaryInferRequest(bytes, 0, () => onlyInput(signature.inputs, model));
            return decoded.inputs;
          },
        };
      },
    });
    const encoded = encodeInferResponse(
      { model_name: result.modelName, model_version: result.modelVersion, id: result.id, outputs: result.outputs },
      (name) => decoded !== undefined && wantsBinaryOutput(decoded, name),
    );
    void reply.header('x-slipway-version', result.modelVersion);
    if (encoded.headerLength === undefined)
      return sendEncoded(request, reply.type('application/json; charset=utf-8'), encoded.body);
    return sendEncoded(
      request,
      reply.type('application/octet-stream').header(INFERENCE_HEADER, String(encoded.headerLength)),
      encoded.body,
    );
  };
  const inferSchema = {
    tags: ['inference'],
    summary:
      'Run inference: Open Inference Protocol JSON tensors, or binary tensors with Inference-Header-Content-Length',
    body: {
      description:
        '{"id"?, "parameters"?, "inputs": [{"name","datatype","shape","data" | "parameters":{"binary_data_size"}}], "outputs"?: [{"name","parameters"?:{"binary_data"}}]}',
    },
  };
  // The infer routes parse every body as bytes and decide by the Inference-Header-Content-Length
  // header, not the content type: curl --data-binary sends a form type, tritonclient may send none.
  // Form types (a browser's cross-site POST) are refused unless the request is a binary-extension one.
  await app.register((scope, _options, done) => {
    const json = scope.getDefaultJsonParser('error', 'error');
    scope.removeAllContentTypeParsers();
    // Read from the stream ourselves, not with parseAs: 'buffer', so binary tensor bytes land at an
    // aligned offset and are used without a copy (infer-body-reader.ts).
    scope.addContentTypeParser('*', (request, payload, parsed) => {
      // A form type without the binary extension's header is what a web page forges (content-types.ts).
      if (request.headers[INFERENCE_HEADER] === undefined && isFormContentType(request.headers['content-type'])) {
        parsed(unsupportedContentType(request.headers['content-type'], INFER_TAKES));
        return;
      }
      readRequestBody(request, payload, bodyLimit, (readError, raw) => {
        if (readError || raw === undefined) {
          parsed(readError ?? null, undefined);
          return;
        }
        if (request.headers[INFERENCE_HEADER] !== undefined) {
          parsed(null, raw);
          return;
        }
        let text: string;
        try {
          text = bodyText(raw);
        } catch (error) {
          parsed(null, new UnparsedBody(error));
          return;
        }
        if (text === '') {
          parsed(null, undefined);
          return;
        }
        void json(request, text, (error, body) => {
          // A body that is not JSON goes to the handler too, so the pipeline observes and answers it.
          parsed(null, error ? new UnparsedBody(error) : body);
        });
      });
    });
    // compress: false: these routes compress their answers themselves (response-encoding.ts).
    scope.post('/v2/models/:model/infer', { schema: inferSchema, compress: false }, infer);
    scope.post('/v2/models/:model/versions/:version/infer', { schema: inferSchema, compress: false }, infer);
    done();
  });
}
