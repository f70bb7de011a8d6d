/**
 * The gRPC half of the route fuzzer (test/fuzz-routes.test.ts): every RPC of the service
 * definition the server is built from, called with raw bytes (valid messages with typed fields
 * mutated, serialized messages with bytes flipped or cut, random bytes), through a client whose
 * serializer is the identity, so nothing the client library would refuse stays untested.
 */
import { Client, Metadata, credentials, status, type ServiceError } from '@grpc/grpc-js';
import fc from 'fast-check';
import { inferenceServiceDefinition } from '../src/server/grpc/proto.js';
import { mutatedBytes, mutatedJson, nastyName } from './fuzz-inputs.js';

export interface GrpcFuzzCall {
  readonly method: string;
  readonly streaming: boolean;
  readonly messages: readonly Buffer[];
  readonly metadata: readonly [string, string][];
}

/** A valid request per method (the rest take an empty message). */
function seedMessage(method: string, row: readonly number[]): Record<string, unknown> {
  switch (method) {
    case 'ModelInfer':
    case 'ModelStreamInfer':
      return {
        model_name: 'cancer',
        id: 'fuzz',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], contents: { fp32_contents: [...row] } }],
      };
    case 'ModelReady':
    case 'ModelMetadata':
    case 'ModelConfig':
    case 'ModelStatistics':
      return { name: 'cancer', version: '' };
    case 'RepositoryIndex':
      return { repository_name: '', ready: true };
    case 'RepositoryModelLoad':
    case 'RepositoryModelUnload':
      return { repository_name: '', model_name: 'cancer', parameters: {} };
    default:
      return {};
  }
}

/** The raw-contents form of an infer request: the same row as little-endian FP32 bytes. */
function rawInfer(row: readonly number[]): Record<string, unknown> {
  return {
    model_name: 'cancer',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30] }],
    raw_input_contents: [Buffer.from(new Float32Array(row).buffer)],
  };
}

export function grpcCalls(row: readonly number[]): { methods: string[]; arbitrary: fc.Arbitrary<GrpcFuzzCall> } {
  const definition = inferenceServiceDefinition();
  const methods = Object.keys(definition).filter((name) => /^[A-Z]/.test(name));
  const perMethod = methods.map((method) => {
    const spec = definition[method]!;
    const serialize = (value: unknown): Buffer | undefined => {
      try {
        return spec.requestSerialize(value);
      } catch {
        return undefined;
      }
    };
    const seeds = [seedMessage(method, row), ...(method.includes('Infer') ? [rawInfer(row)] : [])];
    const valid = seeds.map((s) => serialize(s)!);
    const message = fc.oneof(
      { weight: 1, arbitrary: fc.constantFrom(...valid) },
      ...seeds.map((seed, i) => ({
        weight: 3,
        arbitrary: mutatedJson(seed).map((text) => serialize(JSON.parse(text)) ?? valid[i]!),
      })),
      { weight: 2, arbitrary: fc.constantFrom(...valid).chain((bytes) => mutatedBytes(bytes)) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)) },
    );
    const metadata = fc.array(
      fc.tuple(
        fc.constantFrom('x-sticky', 'authorization', 'grpc-encoding-x', 'x-request-id', 'user-agent-x'),
        nastyName,
      ),
      { maxLength: 2 },
    );
    return fc.record({
      method: fc.constant(method),
      streaming: fc.constant(spec.requestStream),
      messages: spec.requestStream ? fc.array(message, { minLength: 1, maxLength: 3 }) : message.map((m) => [m]),
      metadata,
    });
  });
  return { methods, arbitrary: fc.oneof(...perMethod) };
}

export interface GrpcOutcome {
  /** The status code (0 = OK), or -1 when the call did not end within the deadline. */
  readonly code: number;
  readonly details: string;
}

/** Send one fuzz call; resolves with how it ended (never rejects). */
export function sendGrpc(client: Client, call: GrpcFuzzCall, timeoutMs: number): Promise<GrpcOutcome> {
  const spec = inferenceServiceDefinition()[call.method]!;
  const metadata = new Metadata();
  for (const [key, value] of call.metadata) {
    try {
      metadata.set(key, value);
    } catch {
      // a value Metadata refuses is the client's business, not the server's
    }
  }
  const identity = (b: Buffer): Buffer => b;
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const done = (error: ServiceError | null | undefined) =>
      resolve(error ? { code: error.code, details: error.details } : { code: status.OK, details: '' });
    if (!call.streaming) {
      client.makeUnaryRequest(spec.path, identity, identity, call.messages[0]!, metadata, { deadline }, done);
      return;
    }
    const stream = client.makeBidiStreamRequest(spec.path, identity, identity, metadata, { deadline });
    stream.on('data', () => undefined);
    stream.on('error', (error: ServiceError) => done(error));
    stream.on('status', (s: { code: number; details: string }) => {
      if (s.code === Number(status.OK)) done(null);
    });
    for (const message of call.messages) stream.write(message);
    stream.end();
  });
}

export function grpcClient(address: string): Client {
  return new Client(address, credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  });
}
