import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { encodeResponseOutput } from '../../tensor/json-codec.js';
import { PLATFORM, type InferenceService } from '../inference-service.js';
import { decodeInferBody } from './v2-body.js';

interface ModelParams {
  model: string;
  version?: string;
}

/** An AbortSignal that fires when the HTTP client goes away before the response is sent. */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  // Not request.raw's 'close': an IncomingMessage closes as soon as its body has been read.
  // The response closing before it finished writing means the connection is gone.
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/**
 * Open Inference Protocol v2 over REST (shared/reference/serving.md §1.2–1.3). `{version}` may be a
 * semver or an alias; without it the latest version answers. Every response names the version.
 */
export function registerV2Routes(app: FastifyInstance, service: InferenceService): void {
  app.get('/v2/health/live', { schema: { tags: ['health'], summary: 'Server liveness' } }, () => ({ live: true }));

  app.get('/v2/health/ready', { schema: { tags: ['health'], summary: 'Server readiness' } }, (_request, reply) => {
    const ready = service.isReady();
    return reply.status(ready ? 200 : 503).send({ ready });
  });

  app.get('/v2', { schema: { tags: ['inference'], summary: 'Server metadata' } }, () => service.serverMetadata());

  const metadata = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    const { model, version } = request.params;
    const meta = await service.modelMetadata(model, version);
    const record = await service.resolve(model, version);
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
    const { model, version } = request.params;
    const body = decodeInferBody(request.body);
    const result = await service.infer({
      model,
      version,
      id: body.id,
      inputs: body.inputs,
      outputs: body.outputs,
      parameters: body.parameters,
      signal: clientGone(reply),
    });
    const response: Record<string, unknown> = { model_name: result.modelName, model_version: result.modelVersion };
    if (result.id !== undefined) response.id = result.id;
    response.outputs = result.outputs.map(encodeResponseOutput);
    return reply.header('x-slipway-version', result.modelVersion).send(response);
  };
  const inferSchema = {
    tags: ['inference'],
    summary: 'Run inference (Open Inference Protocol JSON tensors)',
    body: {
      description: '{"id"?, "parameters"?, "inputs": [{"name","datatype","shape","data"}], "outputs"?: [{"name"}]}',
    },
  };
  app.post('/v2/models/:model/infer', { schema: inferSchema }, infer);
  app.post('/v2/models/:model/versions/:version/infer', { schema: inferSchema }, infer);
}
