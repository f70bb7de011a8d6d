import type { ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import type { InferenceRequest as InferRequest, InferResult, Serving } from '../../serving/index.js';
import { InferenceTestClient } from './grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from './grpc-server.js';

/** A stand-in serving core whose `infer` is supplied per test: these tests are about the transport, not inference. */
function stubCore(infer: (request: InferRequest) => Promise<InferResult>): Serving {
  const unused = () => Promise.reject(new Error('not used in this test'));
  const lifecycle = {
    modelMetadata: unused,
    modelReady: unused,
    isReady: () => true,
    serverMetadata: () => ({ name: 's', version: '0', extensions: [] }),
  };
  return { pipeline: { infer }, lifecycle, resolver: {} } as unknown as Serving;
}

/** An `infer` that never finishes on its own; `aborted` resolves with the signal's reason. */
function hangingInfer() {
  let resolveAborted!: (reason: unknown) => void;
  const aborted = new Promise<unknown>((resolve) => (resolveAborted = resolve));
  const infer = (request: InferRequest) =>
    new Promise<InferResult>((_resolve, reject) => {
      request.signal?.addEventListener('abort', () => {
        resolveAborted(request.signal?.reason);
        const reason: unknown = request.signal?.reason;
        reject(reason instanceof Error ? reason : new Error(String(reason)));
      });
    });
  return { infer, aborted };
}

const request = {
  model_name: 'm',
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }],
};

describe('gRPC handlers', () => {
  let server: GrpcServer | undefined;
  let client: InferenceTestClient | undefined;
  afterEach(async () => {
    client?.close();
    await server?.close(100);
  });

  async function start(core: Serving, log?: (line: string) => void): Promise<InferenceTestClient> {
    server = createGrpcServer({ serving: core, ...(log ? { log } : {}) });
    const port = await server.listen('127.0.0.1', 0);
    client = new InferenceTestClient(`127.0.0.1:${port}`);
    return client;
  }

  it("ServerReady answers the readiness it is given (the database under SLIPWAY_READY_REQUIRES_DATABASE), else the service's", async () => {
    let ready = true;
    server = createGrpcServer({
      serving: stubCore(() => Promise.reject(new Error('unused'))),
      isServerReady: () => ready,
    });
    const port = await server.listen('127.0.0.1', 0);
    client = new InferenceTestClient(`127.0.0.1:${port}`);
    expect(await client.call('ServerReady', {})).toEqual({ ready: true });
    ready = false;
    expect(await client.call('ServerReady', {})).toEqual({ ready: false });
  });

  it('aborts the inference when the client cancels the call', async () => {
    const { infer, aborted } = hangingInfer();
    const c = await start(stubCore(infer));
    const pending = c.start('ModelInfer', request);
    await new Promise((resolve) => setTimeout(resolve, 50));
    pending.call.cancel();
    await expect(pending.response).rejects.toMatchObject({ code: 1 });
    const reason = await aborted;
    expect(reason).toBeInstanceOf(SlipwayError);
    expect((reason as SlipwayError).code).toBe('CANCELLED');
  });

  it('cancels in-flight calls once the close grace runs out', async () => {
    const { infer, aborted } = hangingInfer();
    const c = await start(stubCore(infer));
    const pending = c.start('ModelInfer', request);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await server!.close(100);
    expect(Date.now() - started).toBeLessThan(2000);
    await aborted;
    await expect(pending.response).rejects.toHaveProperty('code');
    await expect(server!.listen('127.0.0.1', 0)).rejects.toThrow(/closed/);
  });

  it('maps service errors to their status, with the code and retry-after in metadata', async () => {
    const c = await start(
      stubCore(() => Promise.reject(new SlipwayError('UNAVAILABLE', 'model is loading', { retryAfterSeconds: 1 }))),
    );
    const error = await c.call('ModelInfer', request).catch((e: unknown) => e as ServiceError);
    expect(error).toMatchObject({ code: 14, details: 'model is loading' });
    expect((error as ServiceError).metadata.get('slipway-error-code')).toEqual(['UNAVAILABLE']);
    expect((error as ServiceError).metadata.get('retry-after')).toEqual(['1']);
  });

  it('turns anything unexpected into INTERNAL, logs it, and keeps serving', async () => {
    const lines: string[] = [];
    const c = await start(
      stubCore(() => {
        throw new TypeError('boom');
      }),
      (line) => lines.push(line),
    );
    // The client reads a request id, never the detail (server/client-errors.ts); the log has both.
    const failed = (await c.call('ModelInfer', request).catch((error: unknown) => error)) as ServiceError;
    expect(failed.code).toBe(13);
    const id = /^internal error \(request id ([0-9a-f-]{36})\); the detail is in the server log$/.exec(
      failed.details,
    )?.[1];
    expect(id).toBeDefined();
    expect(lines.join('\n')).toContain(`gRPC ModelInfer failed (request id ${id}): TypeError: boom`);
    await expect(c.call('ModelMetadata', { name: 'm' })).rejects.toMatchObject({ code: 13 });
    expect(await c.call('ServerLive', {})).toEqual({ live: true });
  });

  it('requires a model name', async () => {
    const c = await start(stubCore(() => Promise.reject(new Error('unreachable'))));
    await expect(c.call('ModelReady', { name: '' })).rejects.toMatchObject({ code: 3, details: '"name" is required' });
  });
});
