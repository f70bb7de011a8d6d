import http from 'node:http';
import { Readable } from 'node:stream';
import { constants, createGzip, deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedOutputs,
  firstMismatch,
  fixtureBytes,
  openTestPlatform,
  type ExpectedTensor,
} from '../../testing/fixtures.js';
import { RESPONSE_COMPRESSION_THRESHOLD, buildApp } from '../app.js';
import { decodeBinaryInferRequest } from './binary-infer.js';
import { readInferBody } from './infer-body-reader.js';
import { decodeBody, requestCoding } from './request-decoding.js';

const expected = expectedOutputs('breast_cancer');
const rows = expected.inputs[0]!;
/** The body limit of the test server: far below the bomb's 200 MB, far above every honest body here. */
const LIMIT = 1024 * 1024;
const BOMB_BYTES = 200 * 1024 * 1024;

const jsonRequest = Buffer.from(JSON.stringify({ id: 'compressed', inputs: [rows] }));
/** The fixture rows three times: a response over the compression threshold. */
const tripled = { ...rows, shape: [rows.shape[0]! * 3, 30], data: [...rows.data, ...rows.data, ...rows.data] };
const largeRequest = Buffer.from(JSON.stringify({ id: 'large', inputs: [tripled] }));

/** A binary request (FP32 tensor bytes after the JSON header) whose tensor bytes start at an odd offset. */
function binaryRequest(): { header: Buffer; body: Buffer } {
  const raw = Buffer.from(new Float32Array(rows.data as number[]).buffer);
  const header = Buffer.from(
    JSON.stringify({
      id: 'bin',
      inputs: [{ name: 'input', datatype: 'FP32', shape: rows.shape, parameters: { binary_data_size: raw.length } }],
    }) + ' ',
  );
  return { header, body: Buffer.concat([header, raw]) };
}

/** 200 MB of zeros gzipped at level 9 (about 200 KB), made in 1 MB pieces so the test never holds 200 MB. */
async function gzipBomb(): Promise<Buffer> {
  const zeros = Buffer.alloc(1024 * 1024);
  const gzip = createGzip({ level: constants.Z_BEST_COMPRESSION });
  const parts: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => parts.push(chunk));
  const ended = new Promise((resolve) => gzip.on('end', resolve));
  for (let i = 0; i < BOMB_BYTES / zeros.length; i++) {
    if (!gzip.write(zeros)) await new Promise((resolve) => gzip.once('drain', resolve));
  }
  gzip.end();
  await ended;
  return Buffer.concat(parts);
}

function expectBreastCancer(outputs: ExpectedTensor[]): void {
  expect(outputs.map((o) => o.name)).toEqual(expected.outputs.map((o) => o.name));
  for (const want of expected.outputs) {
    const got = outputs.find((o) => o.name === want.name)!;
    expect(got.datatype).toBe(want.datatype);
    expect(got.shape).toEqual(want.shape);
    expect(firstMismatch(got.data, want.data, 1e-5), want.name).toBeUndefined();
  }
}

/** POST over a real socket (not inject), for what the network sees: status, headers, body. */
function postRaw(
  port: number,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { ...headers, 'content-length': String(body.length) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

describe('Content-Encoding of request bodies', () => {
  it('reads gzip, x-gzip and deflate, passes identity, and refuses anything else naming it and the supported ones', () => {
    expect([
      requestCoding(undefined),
      requestCoding('identity'),
      requestCoding('GZip'),
      requestCoding('x-gzip'),
      requestCoding(' deflate '),
    ]).toEqual([undefined, undefined, 'gzip', 'gzip', 'deflate']);
    expect(() => requestCoding('br')).toThrow(
      'Content-Encoding "br" is not supported: request bodies may be gzip, deflate, identity (one coding)',
    );
    expect(() => requestCoding('gzip, deflate')).toThrow('Content-Encoding "gzip, deflate" is not supported');
  });

  it('stops inflating a bomb soon after the limit: most of the compressed bytes are never decoded', async () => {
    const bomb = await gzipBomb();
    expect(bomb.length).toBeLessThan(300 * 1024);
    let offset = 0;
    // 1 KB per read, as a slow socket would deliver it.
    const raw = new Readable({
      read() {
        this.push(offset < bomb.length ? bomb.subarray(offset, (offset += 1024)) : null);
      },
    });
    const decoded = decodeBody(raw, 'gzip', LIMIT);
    let received = 0;
    const error = await new Promise<Error & { statusCode?: number }>((resolve, reject) => {
      decoded.on('data', (chunk: Buffer) => (received += chunk.length));
      decoded.on('error', resolve);
      decoded.on('end', () => reject(new Error('the bomb was decoded to its end')));
    });
    expect(error).toMatchObject({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 });
    expect(received).toBeLessThanOrEqual(LIMIT);
    // About LIMIT / 1030 (deflate's best ratio) compressed bytes produce the limit; a few stream buffers more are read ahead.
    expect(decoded.receivedEncodedLength).toBeLessThan(64 * 1024);
  });
});

describe('compressed requests and responses over HTTP', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    platform = await openTestPlatform({ maxBodyBytes: LIMIT });
    await platform.registry.push({ name: 'breast_cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  const infer = (payload: Buffer, headers: Record<string, string>) =>
    app.inject({
      method: 'POST',
      url: '/v2/models/breast_cancer/infer',
      headers: { 'content-type': 'application/json', ...headers },
      payload,
    });

  it.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
  ])('answers a %s JSON infer body with scikit-learn outputs', async (coding, encode) => {
    const response = await infer(encode(jsonRequest), { 'content-encoding': coding });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-encoding']).toBeUndefined(); // no Accept-Encoding: not compressed
    expect(response.json<{ id: string }>().id).toBe('compressed');
    expectBreastCancer(response.json<{ outputs: ExpectedTensor[] }>().outputs);
  });

  it('answers a gzip binary-tensor body whose Inference-Header-Content-Length counts the decompressed JSON header', async () => {
    const { header, body } = binaryRequest();
    const compressed = gzipSync(body);
    const response = await postRaw(
      port,
      '/v2/models/breast_cancer/infer',
      {
        'content-type': 'application/octet-stream',
        'content-encoding': 'gzip',
        'inference-header-content-length': String(header.length),
      },
      compressed,
    );
    expect(response.status, response.body.toString()).toBe(200);
    const answer = JSON.parse(response.body.toString()) as { id: string; outputs: ExpectedTensor[] };
    expect(answer.id).toBe('bin');
    expectBreastCancer(answer.outputs);
    // The header length is odd, yet the reader places the decoded tensor bytes aligned, so they are used without a copy.
    expect(header.length % 4).not.toBe(0);
  });

  it('accepts gzip bodies on :predict as well', async () => {
    const instances = [];
    for (let r = 0; r < rows.shape[0]!; r++) instances.push(rows.data.slice(r * 30, r * 30 + 30));
    const response = await app.inject({
      method: 'POST',
      url: '/v1/models/breast_cancer:predict',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: gzipSync(JSON.stringify({ instances })),
    });
    expect(response.statusCode, response.body).toBe(200);
    const predictions = response.json<{ predictions: { label: number; probabilities: number[] }[] }>().predictions;
    expect(predictions.map((p) => p.label)).toEqual(expected.outputs[0]!.data);
    expect(
      firstMismatch(
        predictions.flatMap((p) => p.probabilities),
        expected.outputs[1]!.data,
        1e-5,
      ),
    ).toBeUndefined();
  });

  it('refuses a gzip bomb with 413 without inflating it, and RSS stays bounded', async () => {
    const bomb = await gzipBomb();
    const before = process.memoryUsage().rss;
    const response = await postRaw(
      port,
      '/v2/models/breast_cancer/infer',
      { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      bomb,
    );
    const grown = process.memoryUsage().rss - before;
    expect(response.status, response.body.toString()).toBe(413);
    expect(JSON.parse(response.body.toString())).toEqual({
      error: `request body is larger than the limit of ${LIMIT} bytes (SLIPWAY_MAX_BODY_BYTES)`,
      code: 'PAYLOAD_TOO_LARGE',
    });
    expect(grown).toBeLessThan(50 * 1024 * 1024);
    // The connection and the server are fine afterwards.
    expect(
      (
        await postRaw(
          port,
          '/v2/models/breast_cancer/infer',
          { 'content-type': 'application/json', 'content-encoding': 'gzip' },
          gzipSync(jsonRequest),
        )
      ).status,
    ).toBe(200);
  });

  it('refuses a corrupt gzip body with 400 naming Content-Encoding', async () => {
    const corrupt = gzipSync(jsonRequest);
    corrupt.fill(0x55, 10, 40);
    const response = await infer(corrupt, { 'content-encoding': 'gzip' });
    expect(response.statusCode).toBe(400);
    expect(response.json<{ code: string }>().code).toBe('INVALID_ARGUMENT');
    expect(response.json<{ error: string }>().error).toMatch(
      /^the request body is not valid gzip data \(Content-Encoding: gzip\): /,
    );
  });

  it('refuses Content-Encoding br with 415 naming it and the supported codings', async () => {
    const response = await infer(jsonRequest, { 'content-encoding': 'br' });
    expect(response.statusCode).toBe(415);
    expect(response.json()).toEqual({
      error: 'Content-Encoding "br" is not supported: request bodies may be gzip, deflate, identity (one coding)',
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
  });

  it('passes Content-Encoding identity through', async () => {
    const response = await infer(jsonRequest, { 'content-encoding': 'identity' });
    expect(response.statusCode, response.body).toBe(200);
    expectBreastCancer(response.json<{ outputs: ExpectedTensor[] }>().outputs);
  });

  it('compresses a JSON response when Accept-Encoding asks, decoding to the same JSON', async () => {
    const plain = await infer(largeRequest, {});
    expect(plain.rawPayload.length).toBeGreaterThan(RESPONSE_COMPRESSION_THRESHOLD);
    for (const [coding, decode] of [['gzip', gunzipSync]] as const) {
      const response = await infer(largeRequest, { 'accept-encoding': coding });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-encoding']).toBe(coding);
      expect(response.headers.vary).toBe('accept-encoding');
      expect(response.rawPayload.length).toBeLessThan(plain.rawPayload.length);
      expect(JSON.parse(decode(response.rawPayload).toString())).toEqual(plain.json());
    }
    // Both ways at once, deflate answers too.
    const both = await infer(gzipSync(largeRequest), { 'content-encoding': 'gzip', 'accept-encoding': 'deflate' });
    expect(both.headers['content-encoding']).toBe('deflate');
  });

  it('compresses a binary response, Inference-Header-Content-Length still counting the decompressed JSON header', async () => {
    const request = Buffer.from(
      JSON.stringify({ id: 'b', inputs: [tripled], parameters: { binary_data_output: true } }),
    );
    const response = await infer(request, { 'accept-encoding': 'gzip' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-encoding']).toBe('gzip');
    const body = gunzipSync(response.rawPayload);
    const headerLength = Number(response.headers['inference-header-content-length']);
    const header = JSON.parse(body.subarray(0, headerLength).toString()) as {
      outputs: { name: string; parameters: { binary_data_size: number } }[];
    };
    expect(header.outputs.map((o) => o.name)).toEqual(['label', 'probabilities']);
    const probabilities = body.subarray(body.length - header.outputs[1]!.parameters.binary_data_size);
    const values = Array.from(
      new Float32Array(
        probabilities.buffer.slice(probabilities.byteOffset, probabilities.byteOffset + probabilities.length),
      ),
    );
    const want = expected.outputs[1]!.data;
    expect(firstMismatch(values, [...want, ...want, ...want], 1e-5)).toBeUndefined();
  });

  it('leaves responses under the threshold uncompressed', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/v2/health/live',
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-encoding']).toBeUndefined();
  });
});

describe('readInferBody on a decoded (gzip) stream', () => {
  it('places the decoded tensor bytes at an 8-byte-aligned offset, so the input is a view of the body', async () => {
    const { header, body } = binaryRequest();
    const compressed = gzipSync(body);
    const decoded = decodeBody(Readable.from([compressed.subarray(0, 100), compressed.subarray(100)]), 'gzip', LIMIT);
    const headers = {
      'content-length': String(compressed.length),
      'inference-header-content-length': String(header.length),
    };
    const read = await new Promise<Buffer>((resolve, reject) =>
      readInferBody(headers, decoded, false, LIMIT, (e, b) => (e ? reject(e) : resolve(b!))),
    );
    expect(read.equals(body)).toBe(true);
    expect((read.byteOffset + header.length) % 8).toBe(0);
    const data = decodeBinaryInferRequest(read, header.length).inputs[0]!.data as Float32Array;
    expect(data.buffer).toBe(read.buffer);
    expect(firstMismatch(Array.from(data), rows.data, 0)).toBeUndefined();
  });

  it('compares Content-Length with the compressed bytes received', async () => {
    const { header, body } = binaryRequest();
    const compressed = gzipSync(body);
    const decoded = decodeBody(Readable.from([compressed]), 'gzip', LIMIT);
    const headers = {
      'content-length': String(compressed.length + 1),
      'inference-header-content-length': String(header.length),
    };
    await expect(
      new Promise((resolve, reject) =>
        readInferBody(headers, decoded, false, LIMIT, (e, b) => (e ? reject(e) : resolve(b))),
      ),
    ).rejects.toThrow(
      `the request body has ${compressed.length} bytes, but its Content-Length header says ${compressed.length + 1}`,
    );
  });
});
