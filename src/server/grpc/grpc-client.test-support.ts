/**
 * A real @grpc/grpc-js client for tests, built from the same proto as the server, with one typed
 * promise per unary call.
 */
import {
  Client,
  Metadata,
  credentials,
  type ChannelOptions,
  type ClientDuplexStream,
  type ClientUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import type {
  ModelConfigResponseMessage,
  ModelInferRequestMessage,
  ModelInferResponseMessage,
  ModelMetadataResponseMessage,
  ModelRefMessage,
  ModelStatisticsResponseMessage,
  ModelStreamInferResponseMessage,
  RepositoryIndexRequestMessage,
  RepositoryIndexResponseMessage,
  RepositoryModelRequestMessage,
} from './messages.js';
import { inferenceServiceDefinition } from './proto.js';

/** Request and response of each method, as the client sends and receives them. */
export interface InferenceMethods {
  ServerLive: [Record<string, never>, { live: boolean }];
  ServerReady: [Record<string, never>, { ready: boolean }];
  ServerMetadata: [Record<string, never>, { name: string; version: string; extensions: string[] }];
  ModelReady: [ModelRefMessage, { ready: boolean }];
  ModelMetadata: [ModelRefMessage, ModelMetadataResponseMessage];
  ModelInfer: [ModelInferRequestMessage, ModelInferResponseMessage];
  ModelConfig: [ModelRefMessage, ModelConfigResponseMessage];
  ModelStatistics: [ModelRefMessage, ModelStatisticsResponseMessage];
  RepositoryIndex: [RepositoryIndexRequestMessage, RepositoryIndexResponseMessage];
  RepositoryModelLoad: [RepositoryModelRequestMessage, Record<string, never>];
  RepositoryModelUnload: [RepositoryModelRequestMessage, Record<string, never>];
  // Refused by Slipway (UNIMPLEMENTED); typed loosely, since only the status matters.
  SystemSharedMemoryStatus: [Record<string, unknown>, unknown];
  SystemSharedMemoryRegister: [Record<string, unknown>, unknown];
  SystemSharedMemoryUnregister: [Record<string, unknown>, unknown];
  CudaSharedMemoryStatus: [Record<string, unknown>, unknown];
  CudaSharedMemoryRegister: [Record<string, unknown>, unknown];
  CudaSharedMemoryUnregister: [Record<string, unknown>, unknown];
  TraceSetting: [Record<string, unknown>, unknown];
  LogSettings: [Record<string, unknown>, unknown];
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

  call<M extends MethodName>(
    method: M,
    request: InferenceMethods[M][0],
    metadata?: Metadata,
  ): Promise<InferenceMethods[M][1]> {
    return this.start(method, request, metadata).response;
  }

  start<M extends MethodName>(
    method: M,
    request: InferenceMethods[M][0],
    metadata = new Metadata(),
  ): PendingCall<InferenceMethods[M][1]> {
    const definition = inferenceServiceDefinition()[method];
    if (definition === undefined) throw new Error(`no method ${method}`);
    return this.startRaw(
      definition.path,
      (value: InferenceMethods[M][0]) => definition.requestSerialize(value),
      request,
      (bytes) => definition.responseDeserialize(bytes) as InferenceMethods[M][1],
      metadata,
    );
  }

  /** Send arbitrary bytes as a method's request (to test what malformed messages do). */
  sendBytes(method: MethodName, bytes: Buffer): Promise<unknown> {
    const definition = inferenceServiceDefinition()[method];
    if (definition === undefined) throw new Error(`no method ${method}`);
    return this.startRaw(
      definition.path,
      (value: Buffer) => value,
      bytes,
      (b) => definition.responseDeserialize(b) as unknown,
    ).response;
  }

  /** Open a `ModelStreamInfer` stream: write requests, read one response per request, `end()` to finish. */
  openStream(metadata = new Metadata()): ClientDuplexStream<ModelInferRequestMessage, ModelStreamInferResponseMessage> {
    const definition = inferenceServiceDefinition().ModelStreamInfer;
    if (definition === undefined) throw new Error('no method ModelStreamInfer');
    return this.client.makeBidiStreamRequest(
      definition.path,
      (value: ModelInferRequestMessage) => definition.requestSerialize(value),
      (bytes: Buffer) => definition.responseDeserialize(bytes) as ModelStreamInferResponseMessage,
      metadata,
    );
  }

  close(): void {
    this.client.close();
  }

  private startRaw<Req, Res>(
    path: string,
    serialize: (value: Req) => Buffer,
    request: Req,
    deserialize: (bytes: Buffer) => Res,
    metadata = new Metadata(),
  ): PendingCall<Res> {
    let call: ClientUnaryCall | undefined;
    const response = new Promise<Res>((resolve, reject) => {
      call = this.client.makeUnaryRequest(
        path,
        serialize,
        deserialize,
        request,
        metadata,
        (error: ServiceError | null, value?: Res) => {
          if (error) reject(error);
          else resolve(value as Res);
        },
      );
    });
    return { call: call!, response };
  }
}
