/**
 * A real @grpc/grpc-js client for tests, built from the same proto as the server, with one typed
 * promise per unary call.
 */
import { Client, Metadata, credentials, type ChannelOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import type { ModelInferRequestMessage, ModelInferResponseMessage, ModelMetadataResponseMessage, ModelRefMessage } from './messages.js';
import { inferenceServiceDefinition } from './proto.js';

/** Request and response of each method, as the client sends and receives them. */
export interface InferenceMethods {
  ServerLive: [Record<string, never>, { live: boolean }];
  ServerReady: [Record<string, never>, { ready: boolean }];
  ServerMetadata: [Record<string, never>, { name: string; version: string; extensions: string[] }];
  ModelReady: [ModelRefMessage, { ready: boolean }];
  ModelMetadata: [ModelRefMessage, ModelMetadataResponseMessage];
  ModelInfer: [ModelInferRequestMessage, ModelInferResponseMessage];
}

export type MethodName = keyof InferenceMethods;

/** A started call: `response` settles with the answer or the ServiceError; `call.cancel()` cancels it. */
export interface PendingCall<Res> {
  readonly call: ClientUnaryCall;
  readonly response: Promise<Res>;
}

export class InferenceTestClient {
  private readonly client: Client;

  constructor(address: string, options: ChannelOptions = {}) {
    this.client = new Client(address, credentials.createInsecure(), options);
  }

  call<M extends MethodName>(method: M, request: InferenceMethods[M][0], metadata?: Metadata): Promise<InferenceMethods[M][1]> {
    return this.start(method, request, metadata).response;
  }

  start<M extends MethodName>(method: M, request: InferenceMethods[M][0], metadata = new Metadata()): PendingCall<InferenceMethods[M][1]> {
    const definition = inferenceServiceDefinition()[method];
    if (definition === undefined) throw new Error(`no method ${method}`);
    return this.startRaw(definition.path, (value: InferenceMethods[M][0]) => definition.requestSerialize(value), request, (bytes) =>
      definition.responseDeserialize(bytes) as InferenceMethods[M][1],
      metadata,
    );
  }

  /** Send arbitrary bytes as a method's request (to test what malformed messages do). */
  sendBytes(method: MethodName, bytes: Buffer): Promise<unknown> {
    const definition = inferenceServiceDefinition()[method];
    if (definition === undefined) throw new Error(`no method ${method}`);
    return this.startRaw(definition.path, (value: Buffer) => value, bytes, (b) => definition.responseDeserialize(b) as unknown).response;
  }

  close(): void {
    this.client.close();
  }

  private startRaw<Req, Res>(path: string, serialize: (value: Req) => Buffer, request: Req, deserialize: (bytes: Buffer) => Res, metadata = new Metadata()): PendingCall<Res> {
    let call: ClientUnaryCall | undefined;
    const response = new Promise<Res>((resolve, reject) => {
      call = this.client.makeUnaryRequest(path, serialize, deserialize, request, metadata, (error: ServiceError | null, value?: Res) => {
        if (error) reject(error);
        else resolve(value as Res);
      });
    });
    return { call: call!, response };
  }
}
