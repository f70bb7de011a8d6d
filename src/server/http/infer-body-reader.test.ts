import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedOutputs,
  firstMismatch,
  fixtureBytes,
  openTestPlatform,
  type ExpectedTensor,
} from '../../testing/fixtures.js';
import { buildApp } from '../app.js';
import { decodeBinaryInferRequest } from './binary-infer.js';
import { readInferBody } from './infer-body-reader.js';

const expected = expectedOutputs('breast_cancer');
const rows = expected.inputs[0]!;

/** A binary request for breast_cancer whose JSON header is `headerLength % 8 === 5` bytes long (not a multiple of 4). */
function binaryRequest(): { header: Buffer; body: Buffer } {
  const raw = Buffer.from(new Float32Array(rows.data as number[]).buffer);
  let id = '';
  let header: Buffer;
  do {
    header = Buffer.from(
      JSON.stringify({
        id: `r${id}`,
        inputs: [{ name: 'input', datatype: 'FP32', shape: rows.shape, parameters: { binary_data_size: raw.length } }],
      }),
    );
    id += 'x';
  } while (header.length % 8 !== 5);
  return { header, body: Buffer.concat([header, raw]) };
}

function read(headers: Record<string, string>, chunks: Buffer[], limit = 1 << 20, error?: Error): Promise<Buffer> {
  const payload = new Readable({ read() {} });
  for (const chunk of chunks) payload.push(chunk);
  if (error) setImmediate(() => payload.destroy(error));
  else payload.push(null);
  return new Promise((resolve, reject) =>
    readInferBody(headers, payload, true, limit, (e, body) => (e ? reject(e) : resolve(body!))),
  );
}

/** Split `body` into chunks of awkward sizes, as a socket delivers it. */
const chunked = (body: Buffer): Buffer[] => [body.subarray(0, 7), body.subarray(7, 1000), body.subarray(1000)];

describe('readInferBody', () => {
  it('places the tensor bytes after the JSON header at an 8-byte-aligned offset, and the decoded input is a view of the body', async () => {
    const { header, body } = binaryRequest();
    const headers = { 'content-length': String(body.length), 'inference-header-content-length': String(header.length) };
    const read1 = await read(headers, chunked(body));
    expect(read1.equals(body)).toBe(true);
    expect((read1.byteOffset + header.length) % 8).toBe(0);
    const [input] = decodeBinaryInferRequest(read1, header.length).inputs;
    const data = input!.data as Float32Array;
    expect(data.buffer).toBe(read1.buffer);
    expect(data.byteOffset).toBe(read1.byteOffset + header.length);
    expect(firstMismatch(Array.from(data), rows.data, 0)).toBeUndefined();
  });

  it('reads bodies without Content-Length (chunked) or without the inference header as before', async () => {
    const { header, body } = binaryRequest();
    expect((await read({ 'inference-header-content-length': String(header.length) }, chunked(body))).equals(body)).toBe(
      true,
    );
    expect((await read({ 'content-length': '2' }, [Buffer.from('{}')])).toString()).toBe('{}');
    expect((await read({ 'content-length': '0', 'inference-header-content-length': '0' }, [])).length).toBe(0);
  });

  it('refuses fewer or more bytes than Content-Length, naming it', async () => {
    const headers = (n: number) => ({ 'content-length': String(n), 'inference-header-content-length': '2' });
    await expect(read(headers(10), [Buffer.from('{}1234')])).rejects.toThrow(
      'the request body has 6 bytes, but its Content-Length header says 10',
    );
    await expect(read(headers(4), [Buffer.from('{}'), Buffer.from('1234')])).rejects.toThrow(
      'the request body has more than the 4 bytes, but its Content-Length header says 4',
    );
    await expect(read({ 'content-length': '10' }, [Buffer.from('{}')])).rejects.toThrow(
      'the request body has 2 bytes, but its Content-Length header says 10',
    );
  });

  it('refuses bodies over the limit by Content-Length or by the bytes received, as Fastify does', async () => {
    const tooLarge = { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 };
    await expect(
      read({ 'content-length': '11', 'inference-header-content-length': '2' }, [Buffer.alloc(11)], 10),
    ).rejects.toMatchObject(tooLarge);
    await expect(
      read({ 'inference-header-content-length': '2' }, [Buffer.alloc(6), Buffer.alloc(6)], 10),
    ).rejects.toMatchObject(tooLarge);
  });

  it('passes a stream error (a client that went away) on with status 400', async () => {
    const aborted = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    await expect(
      read({ 'content-length': '100', 'inference-header-content-length': '2' }, [Buffer.from('{}')], 1 << 20, aborted),
    ).rejects.toMatchObject({ message: 'aborted', statusCode: 400 });
  });
});

describe('binary infer requests over HTTP with the aligned body reader', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  const limit = 64 * 1024;

  beforeAll(async () => {
    platform = await openTestPlatform({ maxBodyBytes: limit });
    await platform.registry.push({ name: 'breast_cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  const post = (header: Buffer, payload: Buffer, headers: Record<string, string> = {}, streamError = false) =>
    app.inject({
      method: 'POST',
      url: '/v2/models/breast_cancer/infer',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.length),
        ...headers,
      },
      payload,
      simulate: { end: true, split: false, error: streamError, close: false },
    });

  it('answers a request whose JSON header length is not a multiple of 4 with the fixture outputs', async () => {
    const { header, body } = binaryRequest();
    expect(header.length % 4).not.toBe(0);
    const response = await post(header, body);
    expect(response.statusCode, response.body).toBe(200);
    const outputs = response.json<{ outputs: ExpectedTensor[] }>().outputs;
    for (const want of expected.outputs) {
      const got = outputs.find((o) => o.name === want.name)!;
      expect(got.shape).toEqual(want.shape);
      expect(firstMismatch(got.data, want.data, expected.tolerance), want.name).toBeUndefined();
    }
  });

  it('gives a 400 naming Content-Length when the body is shorter or longer than it says', async () => {
    const { header, body } = binaryRequest();
    for (const announced of [body.length + 8, body.length - 8]) {
      const response = await post(header, body, { 'content-length': String(announced) });
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json<{ error: string }>().error).toContain(`Content-Length header says ${announced}`);
    }
  });

  it('refuses a body over the limit with PAYLOAD_TOO_LARGE naming SLIPWAY_MAX_BODY_BYTES', async () => {
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [600, 30], parameters: { binary_data_size: 72000 } }],
      }),
    );
    const response = await post(header, Buffer.concat([header, Buffer.alloc(72000)]));
    // PAYLOAD_TOO_LARGE is 413 over HTTP (core/errors.ts).
    expect(response.statusCode, response.body).toBe(413);
    expect(response.json<{ code: string }>().code).toBe('PAYLOAD_TOO_LARGE');
    expect(response.json<{ error: string }>().error).toBe(
      `request body is larger than the limit of ${limit} bytes (SLIPWAY_MAX_BODY_BYTES)`,
    );
  });

  it('gives a 400 when the request stream fails, and keeps answering', async () => {
    const { header, body } = binaryRequest();
    const failed = await post(header, body, {}, true);
    expect(failed.statusCode).toBe(400);
    expect((await post(header, body)).statusCode).toBe(200);
  });
});
