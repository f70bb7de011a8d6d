import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import type { TensorSpec } from '../../tensor/datatypes.js';
import { decodeBinaryInferRequest, encodeInferResponse, inferenceHeaderLength, onlyInput } from './binary-infer.js';
import { installErrorHandling } from './errors.js';
import { decodeInferBody, wantsBinaryOutput, type DecodedInferBody } from './v2-body.js';

const x = { name: 'x', datatype: 'FP32', shape: [1, 2], data: [[1, 2]] };

function invalidMessage(body: unknown): string {
  try {
    decodeInferBody(body);
  } catch (error) {
    expect(error).toBeInstanceOf(SlipwayError);
    expect((error as SlipwayError).code).toBe('INVALID_ARGUMENT');
    return (error as SlipwayError).message;
  }
  throw new Error('expected decodeInferBody to throw');
}

describe('decodeInferBody', () => {
  it('decodes a plain JSON request as before, with JSON outputs by default', () => {
    const body = decodeInferBody({ id: '42', inputs: [x], outputs: [{ name: 'y' }], parameters: { priority: 1 } });
    expect(body.id).toBe('42');
    expect(body.inputs).toStrictEqual([{ name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array([1, 2]) }]);
    expect(body.outputs).toStrictEqual([{ name: 'y' }]);
    expect(body.parameters).toStrictEqual({ priority: 1 });
    expect(body.binaryDataOutput).toBe(false);
    expect([...body.binaryData]).toStrictEqual([]);
    expect(wantsBinaryOutput(body, 'y')).toBe(false);
  });

  it('leaves outputs undefined when the request lists none', () => {
    const body = decodeInferBody({ inputs: [x] });
    expect(body.outputs).toBeUndefined();
    expect(body.id).toBeUndefined();
    expect(body.parameters).toBeUndefined();
  });

  it('applies binary_data_output to every output', () => {
    const body = decodeInferBody({ inputs: [x], parameters: { binary_data_output: true } });
    expect(body.binaryDataOutput).toBe(true);
    expect(wantsBinaryOutput(body, 'y')).toBe(true);
    expect(wantsBinaryOutput(body, 'anything')).toBe(true);
  });

  it('lets a per-output binary_data override binary_data_output, both ways', () => {
    const on = decodeInferBody({
      inputs: [x],
      parameters: { binary_data_output: true },
      outputs: [{ name: 'a', parameters: { binary_data: false } }, { name: 'b' }, { name: 'c', parameters: {} }],
    });
    expect([...on.binaryData]).toStrictEqual([['a', false]]);
    expect(['a', 'b', 'c'].map((n) => wantsBinaryOutput(on, n))).toStrictEqual([false, true, true]);

    const off = decodeInferBody({
      inputs: [x],
      outputs: [
        { name: 'a', parameters: { binary_data: true } },
        { name: 'b', parameters: { binary_data: false } },
        { name: 'c' },
      ],
    });
    expect(off.outputs?.map((o) => o.name)).toStrictEqual(['a', 'b', 'c']);
    expect(['a', 'b', 'c'].map((n) => wantsBinaryOutput(off, n))).toStrictEqual([true, false, false]);
  });

  it('refuses non-boolean binary preferences', () => {
    expect(invalidMessage({ inputs: [x], parameters: { binary_data_output: 'yes' } })).toBe(
      '"parameters.binary_data_output" must be a boolean, got "yes"',
    );
    expect(invalidMessage({ inputs: [x], outputs: [{ name: 'y', parameters: { binary_data: 1 } }] })).toBe(
      'outputs[0] ("y"): "parameters.binary_data" must be a boolean, got 1',
    );
    expect(invalidMessage({ inputs: [x], outputs: [{ name: 'y', parameters: [true] }] })).toBe(
      'outputs[0] ("y"): "parameters" must be an object, got [true]',
    );
  });

  it('keeps its existing errors', () => {
    expect(invalidMessage([])).toBe('request body must be a JSON object with an "inputs" array');
    expect(invalidMessage({ inputs: [x], id: 7 })).toBe('"id" must be a string, got number');
    expect(invalidMessage({ inputs: {} })).toBe('request body needs an "inputs" array');
    expect(invalidMessage({ inputs: [x], parameters: 3 })).toBe('"parameters" must be an object');
    expect(invalidMessage({ inputs: [x], outputs: 'y' })).toBe('"outputs" must be an array of {"name": ...}');
    expect(invalidMessage({ inputs: [x], outputs: [{}] })).toBe('outputs[0] must be an object with a string "name"');
  });

  it('explains binary_data_size in a request that carries no binary data', () => {
    const input = { name: 'x', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } };
    expect(invalidMessage({ inputs: [input] })).toBe(
      'input "x" has "binary_data_size" but the request carries no binary data: ' +
        'send the JSON length in the Inference-Header-Content-Length header, followed by the tensor bytes',
    );
  });

  it('uses the decoder it is given for each input, in order', () => {
    const seen: number[] = [];
    const body = decodeInferBody({ inputs: ['a', 'b'] }, (_raw, position) => {
      seen.push(position);
      return { name: `t${position}`, datatype: 'INT8', shape: [1], data: new Int8Array([position]) };
    });
    expect(seen).toStrictEqual([0, 1]);
    expect(body.inputs.map((t) => t.name)).toStrictEqual(['t0', 't1']);
  });
});

/**
 * The wiring binary-infer.ts documents for the lead, run end to end with an echo "model": the app's
 * own parsers outside, the binary-aware parser scoped to the infer route.
 */
describe('HTTP wiring of the binary extension', () => {
  const bodyLimit = 1 << 20;
  const signature: readonly TensorSpec[] = [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }];
  let app: FastifyInstance;

  beforeAll(async () => {
    app = Fastify();
    installErrorHandling(app, bodyLimit);
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit }, (_request, body, done) =>
      done(null, body),
    );
    app.post('/upload', (request) => ({ buffer: Buffer.isBuffer(request.body) }));
    await app.register((scope, _options, done) => {
      const json = scope.getDefaultJsonParser('error', 'error');
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (request, body, parsed) => {
        if (request.headers['inference-header-content-length'] !== undefined) return parsed(null, body);
        const text = (body as Buffer).toString('utf8');
        if (text === '') return parsed(null, undefined);
        return json(request, text, parsed);
      });
      scope.post(
        '/v2/models/:model/infer',
        async (request: FastifyRequest<{ Params: { model: string } }>, reply: FastifyReply) => {
          const { model } = request.params;
          const headerLength = inferenceHeaderLength(request.headers);
          let body: DecodedInferBody;
          if (headerLength === undefined) body = decodeInferBody(request.body);
          else {
            const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
            const inputs = headerLength === 0 ? await Promise.resolve(signature) : [];
            body = decodeBinaryInferRequest(bytes, headerLength, () => onlyInput(inputs, model));
          }
          const encoded = encodeInferResponse(
            {
              model_name: model,
              model_version: '1.0.0',
              id: body.id,
              outputs: body.inputs.map((t) => ({ ...t, name: 'y' })),
            },
            (name) => wantsBinaryOutput(body, name),
          );
          if (encoded.headerLength === undefined)
            return reply.type('application/json; charset=utf-8').send(encoded.body);
          return reply
            .type('application/octet-stream')
            .header('inference-header-content-length', String(encoded.headerLength))
            .send(encoded.body);
        },
      );
      done();
    });
  });
  afterAll(() => app.close());

  const floats = Buffer.from(new Float32Array([1.5, -2]).buffer);
  const header = Buffer.from(
    JSON.stringify({
      id: 'r1',
      parameters: { binary_data_output: true },
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 } }],
    }),
  );
  const expectedHeader =
    '{"model_name":"m","model_version":"1.0.0","id":"r1","outputs":[{"name":"y","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":8}}]}';

  it.each(['application/octet-stream', 'application/x-www-form-urlencoded', 'application/json'])(
    'answers a binary request sent as %s',
    async (type) => {
      const res = await app.inject({
        method: 'POST',
        url: '/v2/models/m/infer',
        payload: Buffer.concat([header, floats]),
        headers: { 'content-type': type, 'inference-header-content-length': String(header.byteLength) },
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('application/octet-stream');
      expect(res.headers['inference-header-content-length']).toBe(String(Buffer.byteLength(expectedHeader)));
      expect(res.rawPayload).toStrictEqual(Buffer.concat([Buffer.from(expectedHeader), floats]));
    },
  );

  it('answers a raw body with binary outputs, and plain JSON with JSON', async () => {
    const raw = await app.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      payload: floats,
      headers: { 'inference-header-content-length': '0' },
    });
    expect(raw.statusCode).toBe(200);
    expect(raw.rawPayload.subarray(Number(raw.headers['inference-header-content-length'])).equals(floats)).toBe(true);
    const json = await app.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      payload: { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1.5, -2] }] },
    });
    expect(json.statusCode).toBe(200);
    expect(json.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(json.headers['inference-header-content-length']).toBeUndefined();
    expect(json.json()).toStrictEqual({
      model_name: 'm',
      model_version: '1.0.0',
      outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 2], data: [1.5, -2] }],
    });
  });

  it('keeps errors and other routes as they were', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      payload: Buffer.concat([header, floats.subarray(1)]),
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.byteLength),
      },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: string }>().error).toBe(
      `expected 8 bytes of binary tensor data after the ${header.byteLength}-byte JSON header (input "x": 8), got 7`,
    );
    const notJson = await app.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      payload: '{"inputs":',
      headers: { 'content-type': 'application/json' },
    });
    expect(notJson.statusCode).toBe(400);
    const poisoned = await app.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      payload: '{"inputs":[],"__proto__":{}}',
      headers: { 'content-type': 'application/json' },
    });
    expect(poisoned.statusCode).toBe(400);
    const upload = await app.inject({
      method: 'POST',
      url: '/upload',
      payload: floats,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(upload.json()).toStrictEqual({ buffer: true });
  });
});
