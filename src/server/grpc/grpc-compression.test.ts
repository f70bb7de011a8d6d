import http2 from 'node:http2';
import { deflateSync, gzipSync, inflateSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type GrpcCompression } from '../../core/config.js';
import { tensorFromBytes, tensorToBytes } from '../../tensor/raw-bytes.js';
import { decodeRequestInput } from '../../tensor/json-codec.js';
import { expectedOutputs, firstMismatch, fixtureBytes, openTestPlatform } from '../../testing/fixtures.js';
import { InferenceTestClient } from './grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from './grpc-server.js';
import type { ModelInferRequestMessage, ModelInferResponseMessage } from './messages.js';
import { inferenceServiceDefinition } from './proto.js';
import { responseAlgorithm } from './response-compression.js';

const expected = expectedOutputs('breast_cancer');
const modelInfer = inferenceServiceDefinition().ModelInfer!;

function request(): ModelInferRequestMessage {
  const input = decodeRequestInput(expected.inputs[0]!, 0);
  return {
    model_name: 'breast_cancer',
    id: 'gz',
    inputs: [{ name: input.name, datatype: input.datatype, shape: [...input.shape] }],
    raw_input_contents: [tensorToBytes(input)],
  };
}

function expectBreastCancer(response: ModelInferResponseMessage): void {
  expect(response.id).toBe('gz');
  expect(response.outputs.map((o) => o.name)).toEqual(['label', 'probabilities']);
  const label = tensorFromBytes('label', 'INT64', [20], response.raw_output_contents[0]!) as BigInt64Array;
  expect(Array.from(label, Number)).toEqual(expected.outputs[0]!.data);
  const probabilities = tensorFromBytes(
    'probabilities',
    'FP32',
    [20, 2],
    response.raw_output_contents[1]!,
  ) as Float32Array;
  expect(firstMismatch(Array.from(probabilities), expected.outputs[1]!.data, 1e-5)).toBeUndefined();
}

interface RawAnswer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  /** The compressed-flag byte of the (one) response message. */
  flag: number;
  /** The message bytes as sent (compressed when flag is 1). */
  message: Buffer;
}

/** One ModelInfer over a bare HTTP/2 stream, to see the frames grpc-js clients hide. */
function rawCall(port: number, headers: Record<string, string>, body: Buffer, flag: 0 | 1): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({
      ':method': 'POST',
      ':path': modelInfer.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    const chunks: Buffer[] = [];
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on('response', (h: http2.IncomingHttpHeaders) => {
      responseHeaders = h;
    });
    stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
      trailers = t;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', reject);
    stream.on('end', () => {
      session.close();
      const all = Buffer.concat(chunks);
      resolve({
        headers: responseHeaders,
        trailers,
        flag: all[0] ?? -1,
        message: all.subarray(5, 5 + (all.length >= 5 ? all.readUInt32BE(1) : 0)),
      });
    });
    const framed = Buffer.alloc(5 + body.length);
    framed.writeUInt8(flag, 0);
    framed.writeUInt32BE(body.length, 1);
    body.copy(framed, 5);
    stream.end(framed);
  });
}

const ACCEPT_ALL = 'identity,deflate,gzip';

describe('gRPC compression', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  const servers: Partial<Record<GrpcCompression, { server: GrpcServer; port: number }>> = {};
  const internalErrors: string[] = [];

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'breast_cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    for (const compression of ['none', 'gzip', 'deflate'] as const) {
      const server = createGrpcServer({
        serving: platform.serving,
        compression,
        log: (line) => internalErrors.push(line),
      });
      servers[compression] = { server, port: await server.listen('127.0.0.1', 0) };
    }
  });
  afterAll(async () => {
    for (const s of Object.values(servers)) await s.server.close(1000);
    await platform.dispose();
    expect(internalErrors).toEqual([]);
  });

  const port = (compression: GrpcCompression): number => servers[compression]!.port;
  const body = (): Buffer => modelInfer.requestSerialize(request());

  it('picks the response algorithm from the setting, the request encoding and grpc-accept-encoding', () => {
    expect(responseAlgorithm('none', 'identity', ACCEPT_ALL)).toBeUndefined();
    expect(responseAlgorithm('none', 'gzip', ACCEPT_ALL)).toBe('gzip');
    expect(responseAlgorithm('none', 'deflate', 'identity, deflate')).toBe('deflate');
    expect(responseAlgorithm('none', 'gzip', 'identity')).toBeUndefined();
    expect(responseAlgorithm('gzip', 'identity', ACCEPT_ALL)).toBe('gzip');
    expect(responseAlgorithm('gzip', 'identity', undefined)).toBeUndefined();
    expect(responseAlgorithm('deflate', 'gzip', 'identity,gzip')).toBeUndefined();
  });

  it.each([
    [1, 'deflate'],
    [2, 'gzip'],
  ])('a grpc-js client compressing its requests (algorithm %i, %s) gets the right outputs', async (algorithm) => {
    const client = new InferenceTestClient(`127.0.0.1:${port('none')}`, {
      'grpc.default_compression_algorithm': algorithm,
    });
    try {
      expectBreastCancer(await client.call('ModelInfer', request()));
    } finally {
      client.close();
    }
  });

  it('a grpc-js client decodes the responses of a server that compresses them all', async () => {
    for (const compression of ['gzip', 'deflate'] as const) {
      const client = new InferenceTestClient(`127.0.0.1:${port(compression)}`);
      try {
        expectBreastCancer(await client.call('ModelInfer', request()));
      } finally {
        client.close();
      }
    }
  });

  it.each([
    ['gzip', gzipSync, gunzipSync],
    ['deflate', deflateSync, inflateSync],
  ] as const)(
    'with the default setting, a %s request is answered in the same encoding on the wire',
    async (coding, compress, decompress) => {
      const answer = await rawCall(
        port('none'),
        { 'grpc-encoding': coding, 'grpc-accept-encoding': ACCEPT_ALL },
        compress(body()),
        1,
      );
      expect(answer.trailers['grpc-status']).toBe('0');
      expect(answer.headers['grpc-encoding']).toBe(coding);
      expect(answer.flag).toBe(1);
      expectBreastCancer(modelInfer.responseDeserialize(decompress(answer.message)) as ModelInferResponseMessage);
    },
  );

  it('with the default setting, an uncompressed request is answered uncompressed', async () => {
    const answer = await rawCall(port('none'), { 'grpc-accept-encoding': ACCEPT_ALL }, body(), 0);
    expect(answer.trailers['grpc-status']).toBe('0');
    expect(answer.headers['grpc-encoding']).toBe('identity');
    expect(answer.flag).toBe(0);
    expectBreastCancer(modelInfer.responseDeserialize(answer.message) as ModelInferResponseMessage);
  });

  it("SLIPWAY_GRPC_COMPRESSION=deflate compresses an uncompressed request's answer, unless the client does not accept deflate", async () => {
    const answer = await rawCall(port('deflate'), { 'grpc-accept-encoding': ACCEPT_ALL }, body(), 0);
    expect(answer.headers['grpc-encoding']).toBe('deflate');
    expect(answer.flag).toBe(1);
    expectBreastCancer(modelInfer.responseDeserialize(inflateSync(answer.message)) as ModelInferResponseMessage);

    const identityOnly = await rawCall(port('deflate'), { 'grpc-accept-encoding': 'identity,gzip' }, body(), 0);
    expect(identityOnly.headers['grpc-encoding']).toBe('identity');
    expect(identityOnly.flag).toBe(0);
    expectBreastCancer(modelInfer.responseDeserialize(identityOnly.message) as ModelInferResponseMessage);
  });

  it('a corrupt gzip request fails with a status, and the server keeps answering', async () => {
    const corrupt = gzipSync(body());
    corrupt.fill(0x55, 10, 40);
    const answer = await rawCall(
      port('none'),
      { 'grpc-encoding': 'gzip', 'grpc-accept-encoding': ACCEPT_ALL },
      corrupt,
      1,
    );
    expect(answer.trailers['grpc-status'] ?? answer.headers['grpc-status']).toBe('13'); // grpc-js: INTERNAL "Failed to decompress message"
    expect(
      (await rawCall(port('none'), { 'grpc-accept-encoding': ACCEPT_ALL }, body(), 0)).trailers['grpc-status'],
    ).toBe('0');
  });

  it('SLIPWAY_GRPC_COMPRESSION accepts none, gzip, deflate and refuses anything else by name', () => {
    expect(loadConfig({}).grpcCompression).toBe('none');
    expect(loadConfig({ SLIPWAY_GRPC_COMPRESSION: 'gzip' }).grpcCompression).toBe('gzip');
    expect(() => loadConfig({ SLIPWAY_GRPC_COMPRESSION: 'br' })).toThrow(
      'SLIPWAY_GRPC_COMPRESSION=br: expected none, gzip, deflate',
    );
  });
});
