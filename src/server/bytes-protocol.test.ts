import type { ServiceError } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringInputModel } from '../batch/string-model.test-support.js';
import { TRICKY_VALID, lengthPrefixed } from '../tensor/bytes-samples.test-support.js';
import { openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';
import { InferenceTestClient } from './grpc/grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from './grpc/grpc-server.js';
import type { ModelInferRequestMessage, ModelInferResponseMessage } from './grpc/messages.js';
import { decodeBinaryInferRequest } from './http/binary-infer.js';

/**
 * BYTES are bytes (issue 14): through a real ONNX model (`color_out` = Identity(color), a string
 * tensor in and out of ONNX Runtime), valid UTF-8 comes back byte for byte over HTTP JSON, HTTP
 * binary, gRPC bytes_contents and gRPC raw; invalid UTF-8, a NUL and (JSON) a lone surrogate are
 * refused with 400 / INVALID_ARGUMENT naming the input and the element.
 */

const ONNX_NOTE = 'BYTES inputs of this model are ONNX strings, which carry UTF-8 text only';
const N = TRICKY_VALID.length;
const xs = Float32Array.from({ length: N }, (_, i) => i);

/** Three good elements, then the bad one at index 3 (so the index in the message is not an accident). */
const withBadFourth = (bad: Buffer): Buffer[] => [Buffer.from('red'), Buffer.from('é'), Buffer.from('🚢'), bad];

const INVALID: readonly [string, Buffer, string][] = [
  [
    '0xff',
    Buffer.from([0x67, 0x72, 0x65, 0x65, 0x6e, 0xff]),
    `input "color": element 3 is not valid UTF-8 (byte 0xff at offset 5); ${ONNX_NOTE}`,
  ],
  [
    'a truncated 0xe2 0x82',
    Buffer.from([0xe2, 0x82]),
    `input "color": element 3 is not valid UTF-8 (byte 0xe2 at offset 0); ${ONNX_NOTE}`,
  ],
  [
    'an overlong 0xc0 0xaf',
    Buffer.from([0xc0, 0xaf]),
    `input "color": element 3 is not valid UTF-8 (byte 0xc0 at offset 0); ${ONNX_NOTE}`,
  ],
  [
    'a NUL',
    Buffer.from('re\u0000d'),
    'input "color": element 3 contains a NUL byte at offset 2, which ONNX Runtime string tensors cannot carry',
  ],
];

/** The BYTES elements of one response output as Buffers, from typed contents or from raw_output_contents (parsed by hand). */
function grpcBytesOutput(response: ModelInferResponseMessage, name: string): Buffer[] {
  const index = response.outputs.findIndex((o) => o.name === name);
  expect(index).toBeGreaterThanOrEqual(0);
  const raw = response.raw_output_contents[index];
  if (raw !== undefined) return splitLengthPrefixed(Buffer.from(raw));
  return (response.outputs[index]!.contents?.bytes_contents ?? []).map((b) => Buffer.from(b));
}

function splitLengthPrefixed(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0; offset < bytes.byteLength;) {
    const length = bytes.readUInt32LE(offset);
    out.push(bytes.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

describe('BYTES round-trip exactly and what ONNX Runtime cannot carry is refused by name', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  let grpc: GrpcServer;
  let client: InferenceTestClient;
  const internalErrors: string[] = [];

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'colors', bytes: stringInputModel() });
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
    grpc = createGrpcServer({ serving: platform.serving, log: (line) => internalErrors.push(line) });
    client = new InferenceTestClient(`127.0.0.1:${await grpc.listen('127.0.0.1', 0)}`);
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await grpc?.close(1000);
    await app?.close();
    await platform?.dispose();
    expect(internalErrors).toEqual([]);
  });

  const inferJson = (payload: unknown) =>
    app.inject({
      method: 'POST',
      url: '/v2/models/colors/infer',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });

  /** A binary-extension request: `color` as raw bytes, `x` as JSON, every output asked for as binary. */
  const inferBinary = (colors: readonly Buffer[]) => {
    const raw = lengthPrefixed(colors);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          {
            name: 'color',
            datatype: 'BYTES',
            shape: [colors.length, 1],
            parameters: { binary_data_size: raw.byteLength },
          },
          { name: 'x', datatype: 'FP32', shape: [colors.length, 1], data: Array.from(xs.subarray(0, colors.length)) },
        ],
        parameters: { binary_data_output: true },
      }),
    );
    return app.inject({
      method: 'POST',
      url: '/v2/models/colors/infer',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.byteLength),
      },
      payload: Buffer.concat([header, raw]),
    });
  };

  const grpcRequest = (colors: readonly Buffer[], raw: boolean): ModelInferRequestMessage => {
    const shape = [colors.length, 1];
    const x = xs.slice(0, colors.length);
    if (raw) {
      return {
        model_name: 'colors',
        inputs: [
          { name: 'color', datatype: 'BYTES', shape },
          { name: 'x', datatype: 'FP32', shape },
        ],
        raw_input_contents: [lengthPrefixed(colors), new Uint8Array(x.buffer)],
      };
    }
    return {
      model_name: 'colors',
      inputs: [
        { name: 'color', datatype: 'BYTES', shape, contents: { bytes_contents: [...colors] } },
        { name: 'x', datatype: 'FP32', shape, contents: { fp32_contents: Array.from(x) } },
      ],
    };
  };

  describe('valid UTF-8 (a BOM, emoji, combining marks, every sequence length) comes back byte for byte', () => {
    it('over HTTP JSON', async () => {
      const strings = TRICKY_VALID.map((b) => b.toString('utf8'));
      const response = await inferJson({
        inputs: [
          { name: 'color', datatype: 'BYTES', shape: [N, 1], data: strings },
          { name: 'x', datatype: 'FP32', shape: [N, 1], data: Array.from(xs) },
        ],
        outputs: [{ name: 'color_out' }],
      });
      expect(response.statusCode, response.body).toBe(200);
      // The raw response bytes, parsed as JSON: a BOM inside a string must survive the whole trip.
      const body = JSON.parse(response.rawPayload.toString('utf8')) as { outputs: { name: string; data: string[] }[] };
      const out = body.outputs.find((o) => o.name === 'color_out')!;
      expect(out.data.map((s) => Buffer.from(s, 'utf8'))).toEqual(TRICKY_VALID);
      expect(out.data[0]).toBe('\ufeffred');
    });

    it('over :predict rows', async () => {
      const strings = TRICKY_VALID.map((b) => b.toString('utf8'));
      const response = await app.inject({
        method: 'POST',
        url: '/v1/models/colors:predict',
        payload: { instances: strings.map((color, i) => ({ color, x: i })) },
      });
      expect(response.statusCode, response.body).toBe(200);
      const { predictions } = response.json<{ predictions: { color_out: string[] }[] }>();
      expect(predictions.map((p) => Buffer.from(p.color_out[0]!, 'utf8'))).toEqual(TRICKY_VALID);
    });

    it('over HTTP binary (request and response)', async () => {
      const response = await inferBinary(TRICKY_VALID);
      expect(response.statusCode, response.body).toBe(200);
      const headerLength = Number(response.headers['inference-header-content-length']);
      const header = JSON.parse(response.rawPayload.subarray(0, headerLength).toString('utf8')) as {
        outputs: { name: string; parameters: { binary_data_size: number } }[];
      };
      let offset = headerLength;
      const blobs = new Map<string, Buffer>();
      for (const o of header.outputs) {
        blobs.set(o.name, response.rawPayload.subarray(offset, offset + o.parameters.binary_data_size));
        offset += o.parameters.binary_data_size;
      }
      expect(offset).toBe(response.rawPayload.byteLength);
      expect(blobs.get('color_out')).toEqual(lengthPrefixed(TRICKY_VALID));
    });

    it.each([
      ['bytes_contents', false],
      ['raw_input_contents', true],
    ])('over gRPC %s', async (_, raw) => {
      const response = await client.call('ModelInfer', grpcRequest(TRICKY_VALID, raw));
      expect(grpcBytesOutput(response, 'color_out')).toEqual(TRICKY_VALID);
    });

    it('the prediction log keeps the inputs and outputs of those requests exactly', async () => {
      await client.call('ModelInfer', { ...grpcRequest(TRICKY_VALID, false), id: 'logged-bytes' });
      await platform.log.flush();
      const rows = await platform.predictions.query({ model: 'colors', limit: 50 });
      const row = rows.find((r) => r.requestId === 'logged-bytes');
      expect(row?.payload).toBe('full');
      for (const name of ['color', 'color_out']) {
        const tensor = [...row!.inputs, ...row!.outputs].find((t) => t.name === name)!;
        expect((tensor.data as string[]).map((s) => Buffer.from(s, 'utf8'))).toEqual(TRICKY_VALID);
      }
    });

    it('a raw body (Inference-Header-Content-Length: 0) keeps its BOM', () => {
      const spec = { name: 'color', datatype: 'BYTES' as const, shape: [1] };
      const decoded = decodeBinaryInferRequest(TRICKY_VALID[0]!, 0, () => spec);
      expect(decoded.inputs[0]!.data).toEqual(['\ufeffred']);
      expect(() => decodeBinaryInferRequest(Buffer.from([0x61, 0xff]), 0, () => spec)).toThrow(
        `input "color": element 0 is not valid UTF-8 (byte 0xff at offset 1); ${ONNX_NOTE}`,
      );
    });
  });

  describe('refused with 400 / INVALID_ARGUMENT naming the input and the element', () => {
    it.each(INVALID)('%s over HTTP binary', async (_, bad, message) => {
      const response = await inferBinary(withBadFourth(bad));
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toEqual({ error: message, code: 'INVALID_ARGUMENT' });
    });

    it("invalid UTF-8 inside a binary request's JSON header (BYTES sent as JSON data there)", async () => {
      const json = Buffer.from(
        JSON.stringify({
          inputs: [
            { name: 'color', datatype: 'BYTES', shape: [1, 1], data: ['XX'] },
            { name: 'x', datatype: 'FP32', shape: [1, 1], parameters: { binary_data_size: 4 } },
          ],
        }),
      );
      json.set([0xc3, 0x28], json.indexOf('XX')); // 0xc3 then "(": a broken 2-byte sequence
      const response = await app.inject({
        method: 'POST',
        url: '/v2/models/colors/infer',
        headers: {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': String(json.byteLength),
        },
        payload: Buffer.concat([json, Buffer.from(Float32Array.of(1).buffer)]),
      });
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toEqual({
        error: `the ${json.byteLength}-byte JSON header (Inference-Header-Content-Length) is not valid UTF-8`,
        code: 'INVALID_ARGUMENT',
      });
    });

    it.each(INVALID)('%s over gRPC bytes_contents', async (_, bad, message) => {
      const error = await rejection(client.call('ModelInfer', grpcRequest(withBadFourth(bad), false)));
      expect([error.code, error.details]).toEqual([3, message]);
    });

    it.each(INVALID)('%s over gRPC raw_input_contents', async (_, bad, message) => {
      const error = await rejection(client.call('ModelInfer', grpcRequest(withBadFourth(bad), true)));
      expect([error.code, error.details]).toEqual([3, message]);
    });

    it.each([
      ['a NUL', 're\u0000d', 'contains a NUL byte at offset 2, which ONNX Runtime string tensors cannot carry'],
      [
        'a lone surrogate',
        'ab\ud800',
        `has a lone surrogate (\\ud800) at index 2, which has no UTF-8 form; ${ONNX_NOTE}`,
      ],
    ])('%s over HTTP JSON and :predict', async (_, bad, problem) => {
      const colors = ['red', 'é', '🚢', bad];
      const json = await inferJson({
        inputs: [
          { name: 'color', datatype: 'BYTES', shape: [4, 1], data: colors },
          { name: 'x', datatype: 'FP32', shape: [4, 1], data: [0, 1, 2, 3] },
        ],
      });
      expect(json.statusCode, json.body).toBe(400);
      expect(json.json()).toEqual({ error: `input "color": element 3 ${problem}`, code: 'INVALID_ARGUMENT' });
      const rows = await app.inject({
        method: 'POST',
        url: '/v1/models/colors:predict',
        payload: { instances: colors.map((color) => ({ color, x: 1 })) },
      });
      expect(rows.statusCode, rows.body).toBe(400);
      expect(rows.json()).toEqual({ error: `instances[3]: input "color" ${problem}`, code: 'INVALID_ARGUMENT' });
    });

    it('still answers a good request after the refusals', async () => {
      const response = await client.call('ModelInfer', grpcRequest([Buffer.from('blue')], false));
      expect(grpcBytesOutput(response, 'color_out')).toEqual([Buffer.from('blue')]);
    });
  });

  it('refuses a JSON body that is not UTF-8 (v2, :predict and the API) instead of reading U+FFFD into a BYTES element', async () => {
    // {"inputs": [{"name":"color","datatype":"BYTES","shape":[1,1],"data":["<C3 28>"]}, ...]}: C3 28 is ill-formed.
    const json = (text: string) => Buffer.from(text, 'utf8');
    const v2 = Buffer.concat([
      json('{"inputs":[{"name":"color","datatype":"BYTES","shape":[1,1],"data":["'),
      Buffer.from([0xc3, 0x28]),
      json('"]},{"name":"x","datatype":"FP32","shape":[1,1],"data":[1]}]}'),
    ]);
    const predict = Buffer.concat([json('{"instances":[{"color":"'), Buffer.from([0xc3, 0x28]), json('","x":1}]}')]);
    for (const [url, payload] of [
      ['/v2/models/colors/infer', v2],
      ['/v1/models/colors:predict', predict],
      ['/api/v1/models/colors/aliases/prod', predict],
    ] as const) {
      for (const type of ['application/json', 'application/json; charset=utf-8']) {
        const response = await app.inject({
          method: url.startsWith('/api') ? 'PUT' : 'POST',
          url,
          headers: { 'content-type': type },
          payload,
        });
        expect([url, type, response.statusCode, response.json<{ error: string }>().error]).toEqual([
          url,
          type,
          400,
          expect.stringMatching(/^request body is not valid UTF-8 \(byte 0xc3 at offset \d+\)/),
        ]);
      }
    }
    // The same body with a valid U+FFFD the client meant is exact.
    const meant = await app.inject({
      method: 'POST',
      url: '/v1/models/colors:predict',
      headers: { 'content-type': 'application/json' },
      payload: json('{"instances":[{"color":"\ufffd","x":1}]}'),
    });
    expect(meant.statusCode, meant.body).toBe(200);
  });
});
