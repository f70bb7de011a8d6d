/**
 * The GRPCInferenceService methods over the serving core: decode, call the pipeline or the
 * lifecycle, encode. Every handler is wrapped so that whatever a client sends, it gets a status back
 * and the process carries on.
 */
import type { CancelSignal } from '../../runtime/abort.js';
import type { Metadata, ServerDuplexStream, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { invalid } from '../../core/errors.js';
import { cancellationSignal, checkDecoded, toStatus, unaryHandler } from './unary-call.js';
import type { RequestBody, Serving } from '../../serving/index.js';
import type { HeaderLookup } from '../../deploy/sticky-key.js';
import { decodeInferRequest, encodeInferResponse, requireModelName, type DecodedInfer } from './infer-codec.js';
import type {
  ModelInferRequestMessage,
  ModelInferResponseMessage,
  ModelMetadataResponseMessage,
  ModelRefMessage,
  ModelStreamInferResponseMessage,
  TensorMetadataMessage,
} from './messages.js';

export interface HandlerOptions {
  /** Where INTERNAL errors are reported (the client only sees the message). */
  readonly log?: (line: string) => void;
  /**
   * Server readiness as `/v2/health/ready` decides it (health-routes.ts: the database's state under
   * SLIPWAY_READY_REQUIRES_DATABASE); absent = the serving lifecycle's own readiness.
   */
  readonly isServerReady?: () => boolean;
}

/** Build the service implementation for `Server.addService`. */
export function createInferenceHandlers(serving: Serving, options: HandlerOptions = {}): UntypedServiceImplementation {
  const { lifecycle } = serving;
  const unary = <Req, Res>(
    method: string,
    run: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
  ) => unaryHandler(method, run, options.log);

  return {
    ServerLive: unary('ServerLive', () => ({ live: true })),
    ServerReady: unary('ServerReady', () => ({
      ready: options.isServerReady ? options.isServerReady() : lifecycle.isReady(),
    })),
    ServerMetadata: unary('ServerMetadata', () => {
      const meta = lifecycle.serverMetadata();
      return { name: meta.name, version: meta.version, extensions: [...meta.extensions] };
    }),
    ModelReady: unary('ModelReady', async (request: ModelRefMessage) => {
      const state = await lifecycle.modelReady(requireModelName(request.name, 'name'), request.version || undefined);
      return { ready: state.ready };
    }),
    ModelMetadata: unary('ModelMetadata', async (request: ModelRefMessage): Promise<ModelMetadataResponseMessage> => {
      const meta = await lifecycle.modelMetadata(requireModelName(request.name, 'name'), request.version || undefined);
      const tensor = (t: { name: string; datatype: string; shape: readonly number[] }): TensorMetadataMessage => ({
        name: t.name,
        datatype: t.datatype,
        shape: [...t.shape],
      });
      return {
        name: meta.name,
        versions: [...meta.versions],
        platform: meta.platform,
        inputs: meta.inputs.map(tensor),
        outputs: meta.outputs.map(tensor),
      };
    }),
    ModelInfer: unary('ModelInfer', (request: ModelInferRequestMessage, call) =>
      modelInfer(serving, request, call.metadata, cancellationSignal(call)),
    ),
    ModelStreamInfer: (call: ServerDuplexStream<ModelInferRequestMessage, ModelStreamInferResponseMessage>) =>
      streamInfer(serving, call, options.log),
  };
}

/** Requests read ahead of the one running before the stream stops reading (the client's sends then wait). */
const STREAM_READ_AHEAD = 64;

/**
 * Triton's `ModelStreamInfer`: one response per request, in the order sent (a stream's requests run
 * one after another, so a sequence's steps sent on one stream run in order). A failed request is
 * answered with `error_message` (and the request's id and model) and the stream stays open.
 */
function streamInfer(
  serving: Serving,
  call: ServerDuplexStream<ModelInferRequestMessage, ModelStreamInferResponseMessage>,
  log?: (line: string) => void,
): void {
  const signal = cancellationSignal(call);
  let tail: Promise<void> = Promise.resolve();
  let queued = 0;
  let paused = false;
  const answer = async (message: ModelInferRequestMessage): Promise<void> => {
    let response: ModelStreamInferResponseMessage;
    try {
      response = {
        error_message: '',
        infer_response: await modelInfer(serving, checkDecoded('ModelStreamInfer', message), call.metadata, signal),
      };
    } catch (raw) {
      const { details } = toStatus('ModelStreamInfer', raw, log);
      const request =
        typeof message === 'object' && message !== null ? message : ({} as Partial<ModelInferRequestMessage>);
      response = {
        error_message: details,
        infer_response: {
          model_name: request.model_name ?? '',
          model_version: request.model_version ?? '',
          id: request.id ?? '',
          outputs: [],
          raw_output_contents: [],
        },
      };
    }
    if (!call.cancelled) call.write(response);
  };
  call.on('data', (message: ModelInferRequestMessage) => {
    queued += 1;
    if (queued > STREAM_READ_AHEAD && !paused) {
      paused = true;
      call.pause();
    }
    tail = tail
      .then(() => answer(message))
      .finally(() => {
        queued -= 1;
        if (paused && queued <= STREAM_READ_AHEAD / 2) {
          paused = false;
          call.resume();
        }
      });
  });
  call.on('end', () => void tail.then(() => call.end()));
  // A stream that breaks (the client went away) has nothing left to answer.
  call.on('error', () => undefined);
}

/** One ModelInfer request through the pipeline (unary, and each message of a stream). Errors are thrown for the caller to answer. */
export async function modelInfer(
  serving: Serving,
  request: ModelInferRequestMessage,
  metadata: Metadata,
  signal: CancelSignal | undefined,
): Promise<ModelInferResponseMessage> {
  const result = await serving.pipeline.infer({
    name: request.model_name ?? '',
    version: request.model_version || undefined,
    protocol: 'grpc',
    headers: metadataLookup(metadata),
    signal,
    body: () => grpcBody(decodeInferRequest(request).request),
  });
  return encodeInferResponse(result);
}

/**
 * The pipeline's tagged body for a ModelInferRequest: its tensors, or for inference by entity
 * `parameters.entities` (and optionally `parameters.features`) holding the same JSON as the REST
 * `parameters`, as string_params, since InferParameter has no list type.
 */
function grpcBody(request: DecodedInfer['request']): RequestBody {
  const common = { id: request.id, outputs: request.outputs };
  const entities = request.parameters?.entities;
  if (request.inputs.length > 0 || entities === undefined)
    return { kind: 'tensors', ...common, parameters: request.parameters, inputs: request.inputs };
  const parameters = { ...request.parameters };
  const { features } = parameters;
  delete parameters.entities;
  delete parameters.features;
  return {
    kind: 'entities',
    ...common,
    parameters,
    entities: jsonParameter(entities, 'entities'),
    features: features === undefined ? undefined : jsonParameter(features, 'features'),
  };
}

/** gRPC metadata by lower-case key (the first value), for a deployment's `header:` sticky key. */
function metadataLookup(metadata: Metadata): HeaderLookup {
  return (name) => {
    const [value] = metadata.get(name);
    return value === undefined ? undefined : typeof value === 'string' ? value : value.toString('utf8');
  };
}

function jsonParameter(value: unknown, name: string): unknown {
  if (typeof value !== 'string')
    throw invalid(`parameters.${name} must be a string_param holding JSON, e.g. '[{"patient_id": 42}]'`);
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw invalid(`parameters.${name} is not valid JSON: ${value.slice(0, 80)}`);
  }
}
