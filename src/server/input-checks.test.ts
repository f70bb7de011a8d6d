/**
 * Issue 14 section 3: input checks over HTTP and gRPC with a two-input model whose inputs share the
 * symbolic batch dimension `N` (a: [N,3], b: [N,2]).
 */
import type { ServiceError } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedBatchModel } from '../runtime/onnx/tiny-onnx.test-support.js';
import { openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';
import { InferenceTestClient } from './grpc/grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from './grpc/grpc-server.js';

const MISMATCH = 'input "b": dimension 0 ("N") is 3, but input "a" has 2 there; inputs sharing "N" must agree';
const a = (n: number) => ({
  name: 'a',
  datatype: 'FP32',
  shape: [n, 3],
  data: Array.from({ length: n * 3 }, (_, i) => i),
});
const b = (n: number) => ({
  name: 'b',
  datatype: 'FP32',
  shape: [n, 2],
  data: Array.from({ length: n * 2 }, (_, i) => 10 + i),
});

async function rejection(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

describe('input checks (issue 14 section 3)', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  let server: GrpcServer;
  let client: InferenceTestClient;

  beforeAll(async () => {
    platform = await openTestPlatform({ maxBodyBytes: 4096 });
    await platform.registry.push({ name: 'pair', bytes: sharedBatchModel() });
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
    server = createGrpcServer({ serving: platform.serving });
    client = new InferenceTestClient(`127.0.0.1:${await server.listen('127.0.0.1', 0)}`);
  });
  afterAll(async () => {
    client.close();
    await server.close(1000);
    await app.close();
    await platform.dispose();
  });

  const infer = (payload: unknown, model = 'pair') =>
    app.inject({
      method: 'POST',
      url: `/v2/models/${model}/infer`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });

  describe('HTTP', () => {
    it('answers inputs that agree on N', async () => {
      const response = await infer({ inputs: [a(2), b(2)] });
      expect(response.statusCode, response.body).toBe(200);
      const outputs = response.json<{ outputs: Array<{ name: string; shape: number[]; data: number[] }> }>().outputs;
      expect(outputs.map((o) => [o.name, o.shape, o.data])).toEqual([
        ['ya', [2, 3], [0, 1, 2, 3, 4, 5]],
        ['yb', [2, 2], [10, 11, 12, 13]],
      ]);
    });

    it('refuses inputs with different batch sizes with a 400 naming both inputs and their sizes', async () => {
      const response = await infer({ inputs: [a(2), b(3)] });
      expect(response.statusCode).toBe(400);
      expect(response.json<{ error: string; code: string }>()).toMatchObject({
        error: MISMATCH,
        code: 'INVALID_ARGUMENT',
      });
      // Concurrent good requests (batched together) still answer.
      const [good1, bad, good2] = await Promise.all([
        infer({ inputs: [a(1), b(1)] }),
        infer({ inputs: [a(2), b(3)] }),
        infer({ inputs: [a(3), b(3)] }),
      ]);
      expect([good1.statusCode, bad.statusCode, good2.statusCode]).toEqual([200, 400, 200]);
    });

    it('refuses a body over maxBodyBytes with 413 PAYLOAD_TOO_LARGE', async () => {
      const response = await infer({ inputs: [a(400), b(400)] });
      expect(response.statusCode).toBe(413);
      expect(response.json<{ error: string; code: string }>()).toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
        error: 'request body is larger than the limit of 4096 bytes (SLIPWAY_MAX_BODY_BYTES)',
      });
    });

    it('answers 404 for an unknown model before looking at its tensors', async () => {
      for (const input of [
        { ...a(2), shape: [1_000_000_000, 3] },
        { ...a(2), data: [1, 2] },
        { ...a(2), datatype: 'FLOAT' },
      ]) {
        const response = await infer({ inputs: [input] }, 'nope');
        expect(response.statusCode, response.body).toBe(404);
        expect(response.json<{ error: string }>().error).toBe('model "nope" does not exist');
      }
      const version = await app.inject({
        method: 'POST',
        url: '/v2/models/pair/versions/9.9.9/infer',
        payload: { inputs: [{ ...a(2), data: [1] }] },
      });
      expect(version.statusCode).toBe(404);
      expect(version.json<{ error: string }>().error).toBe('model "pair" has no version 9.9.9');
    });
  });

  describe('gRPC', () => {
    const typed = (t: ReturnType<typeof a>) => ({
      name: t.name,
      datatype: t.datatype,
      shape: t.shape,
      contents: { fp32_contents: t.data },
    });

    it('refuses inputs with different batch sizes with INVALID_ARGUMENT naming both inputs and their sizes', async () => {
      const ok = await client.call('ModelInfer', { model_name: 'pair', inputs: [typed(a(2)), typed(b(2))] });
      expect(ok.outputs.map((o) => [o.name, o.shape.map(Number)])).toEqual([
        ['ya', [2, 3]],
        ['yb', [2, 2]],
      ]);
      const error = await rejection(
        client.call('ModelInfer', { model_name: 'pair', inputs: [typed(a(2)), typed(b(3))] }),
      );
      expect(error.code).toBe(3);
      expect(error.details).toBe(MISMATCH);
      expect(error.metadata.get('slipway-error-code')).toEqual(['INVALID_ARGUMENT']);
    });

    it('answers NOT_FOUND for an unknown model before looking at its tensors', async () => {
      const error = await rejection(
        client.call('ModelInfer', { model_name: 'nope', inputs: [{ ...typed(a(2)), shape: [21, 3] }] }),
      );
      expect(error.code).toBe(5);
      expect(error.details).toBe('model "nope" does not exist');
      expect(error.metadata.get('slipway-error-code')).toEqual(['NOT_FOUND']);
    });
  });
});
