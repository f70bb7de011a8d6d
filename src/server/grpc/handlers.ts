/**
 * The GRPCInferenceService methods over the serving core: decode, call the pipeline or the
 * lifecycle, encode. Every handler is wrapped so that whatever a client sends, it gets a status back
 * and the process carries on.
 */
import { cancelSignal, type CancelSignal } from '../../runtime/abort.js';
import { Metadata, type ServerUnaryCall, type ServiceDefinition, type UntypedServiceImplementation, type sendUnaryData } from '@grpc/grpc-js';
import { SlipwayError, invalid, toSlipwayError } from '../../core/errors.js';
import type { RequestBody, Serving } from '../../serving/index.js';
import type { HeaderLookup } from '../../deploy/sticky-key.js';
import { decodeInferRequest, encodeInferResponse, requireModelName, type DecodedInfer } from './infer-codec.js';
import type { ModelInferRequestMessage, ModelInferResponseMessage, ModelMetadataResponseMessage, ModelRefMessage, TensorMetadataMessage } from './messages.js';

/** Trailing metadata key carrying the Slipway error code (e.g. `INVALID_ARGUMENT`) next to the gRPC status. */
export const ERROR_CODE_METADATA_KEY = 'slipway-error-code';

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
  const unary = <Req, Res>(method: string, run: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      void respond(method, () => run(checkDecoded(method, call.request), call), callback, options.log);
    };

  return {
    ServerLive: unary('ServerLive', () => ({ live: true })),
    ServerReady: unary('ServerReady', () => ({ ready: options.isServerReady ? options.isServerReady() : lifecycle.isReady() })),
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
      return { name: meta.name, versions: [...meta.versions], platform: meta.platform, inputs: meta.inputs.map(tensor), outputs: meta.outputs.map(tensor) };
    }),
    ModelInfer: unary('ModelInfer', (request: ModelInferRequestMessage, call) => modelInfer(serving, request, call.metadata, cancellationSignal(call))),
  };
}

/** One ModelInfer request through the pipeline (unary, and each message of a stream). */
export async function modelInfer(serving: Serving, request: ModelInferRequestMessage, metadata: Metadata, signal: CancelSignal | undefined): Promise<ModelInferResponseMessage> {
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
  if (request.inputs.length > 0 || entities === undefined) return { kind: 'tensors', ...common, parameters: request.parameters, inputs: request.inputs };
  const parameters = { ...request.parameters };
  const { features } = parameters;
  delete parameters.entities;
  delete parameters.features;
  return { kind: 'entities', ...common, parameters, entities: jsonParameter(entities, 'entities'), features: features === undefined ? undefined : jsonParameter(features, 'features') };
}

/** gRPC metadata by lower-case key (the first value), for a deployment's `header:` sticky key. */
function metadataLookup(metadata: Metadata): HeaderLookup {
  return (name) => {
    const [value] = metadata.get(name);
    return value === undefined ? undefined : typeof value === 'string' ? value : value.toString('utf8');
  };
}

function jsonParameter(value: unknown, name: string): unknown {
  if (typeof value !== 'string') throw invalid(`parameters.${name} must be a string_param holding JSON, e.g. '[{"patient_id": 42}]'`);
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw invalid(`parameters.${name} is not valid JSON: ${value.slice(0, 80)}`);
  }
}

/** What a request that failed to decode is replaced with, so the handler can answer INVALID_ARGUMENT. */
class MalformedRequest {
  constructor(readonly reason: string) {}
}

/**
 * The service definition with request decoding that never throws: grpc-js would answer a message
 * that is not valid protobuf with INTERNAL, but it is the client's mistake.
 */
export function withTolerantDecoding(definition: ServiceDefinition): ServiceDefinition {
  const methods = Object.entries(definition).map(([name, method]) => {
    const requestDeserialize = (bytes: Buffer): unknown => {
      try {
        return method.requestDeserialize(bytes);
      } catch (error) {
        return new MalformedRequest(error instanceof Error ? error.message : String(error));
      }
    };
    return [name, { ...method, requestDeserialize }] as const;
  });
  return Object.fromEntries(methods);
}

function checkDecoded<Req>(method: string, request: Req): Req {
  if (request instanceof MalformedRequest) throw invalid(`the ${method} request is not a valid protobuf message: ${request.reason}`);
  return request;
}

/** A signal that fires when the client cancels the call or goes away (cheap: see runtime/abort.ts). */
export function cancellationSignal(call: ServerUnaryCall<unknown, unknown>): CancelSignal {
  const { signal, abort } = cancelSignal();
  const cancel = (): void => abort(new SlipwayError('CANCELLED', 'the client cancelled the call'));
  if (call.cancelled) cancel();
  else call.once('cancelled', cancel);
  return signal;
}

async function respond<Res>(method: string, run: () => Promise<Res> | Res, callback: sendUnaryData<Res>, log?: (line: string) => void): Promise<void> {
  let response: Res;
  try {
    response = await run();
  } catch (raw) {
    callback(toStatus(method, raw, log));
    return;
  }
  try {
    callback(null, response);
  } catch (raw) {
    // Serialising the response threw before anything was sent, so the call can still get a status.
    callback(toStatus(method, raw, log));
  }
}

function toStatus(method: string, raw: unknown, log?: (line: string) => void): { code: number; details: string; metadata: Metadata } {
  const error = toSlipwayError(raw);
  if (error.code === 'INTERNAL') log?.(`gRPC ${method} failed: ${raw instanceof Error ? (raw.stack ?? raw.message) : String(raw)}`);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, error.code);
  if (error.retryAfterSeconds !== undefined) metadata.set('retry-after', String(error.retryAfterSeconds));
  return { code: error.grpcStatus, details: error.message, metadata };
}
