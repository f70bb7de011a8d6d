/**
 * What Slipway deliberately does not serve (Triton's system and CUDA shared memory, trace and log
 * settings): HTTP 400 and gRPC UNIMPLEMENTED naming the extension, and infer requests that place a
 * tensor in shared memory refused rather than ignored.
 */
import type { ServiceError } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';
import { InferenceTestClient, type MethodName } from './grpc/grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from './grpc/grpc-server.js';

const IN_BODY = 'send tensors in the request body (JSON or binary_tensor_data) or in raw_input_contents over gRPC';
const SYSTEM = `Slipway does not support Triton's system shared memory extension (system_shared_memory); ${IN_BODY}`;
const CUDA = `Slipway does not support Triton's CUDA shared memory extension (cuda_shared_memory); ${IN_BODY}`;
const TRACE =
  "Slipway does not support Triton's trace extension (trace); request timings are in the Prometheus metrics (/metrics) and the prediction log";
const LOGGING =
  "Slipway does not support Triton's logging extension (logging); the log level is set at start with SLIPWAY_LOG_LEVEL";

const HTTP_REFUSALS: [string, string][] = [
  ...['status', 'register', 'unregister'].flatMap((action): [string, string][] => [
    [`/v2/systemsharedmemory/${action}`, SYSTEM],
    [`/v2/systemsharedmemory/region/r0/${action}`, SYSTEM],
    [`/v2/cudasharedmemory/${action}`, CUDA],
    [`/v2/cudasharedmemory/region/r0/${action}`, CUDA],
  ]),
  ['/v2/trace/setting', TRACE],
  ['/v2/models/cancer/trace/setting', TRACE],
  ['/v2/logging', LOGGING],
];

const GRPC_REFUSALS: [MethodName, string][] = [
  ['SystemSharedMemoryStatus', SYSTEM],
  ['SystemSharedMemoryRegister', SYSTEM],
  ['SystemSharedMemoryUnregister', SYSTEM],
  ['CudaSharedMemoryStatus', CUDA],
  ['CudaSharedMemoryRegister', CUDA],
  ['CudaSharedMemoryUnregister', CUDA],
  ['TraceSetting', TRACE],
  ['LogSettings', LOGGING],
];

const ROW = Array.from({ length: 30 }, (_, i) => i / 10);

async function rejection(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

describe('unsupported Triton extensions', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  let server: GrpcServer;
  let client: InferenceTestClient;

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
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

  describe('HTTP', () => {
    it.each(HTTP_REFUSALS)('%s answers 400 naming the extension (GET and POST)', async (url, message) => {
      for (const method of ['GET', 'POST'] as const) {
        const response = await app.inject({
          method,
          url,
          ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, payload: '{}' } : {}),
        });
        expect(response.statusCode, `${method} ${url}`).toBe(400);
        expect(response.json()).toEqual({ error: message, code: 'INVALID_ARGUMENT' });
      }
    });

    it('refuses an input or output placed in shared memory', async () => {
      const infer = (body: unknown) =>
        app.inject({
          method: 'POST',
          url: '/v2/models/cancer/infer',
          headers: { 'content-type': 'application/json' },
          payload: JSON.stringify(body),
        });
      const input = await infer({
        inputs: [
          {
            name: 'input',
            datatype: 'FP32',
            shape: [1, 30],
            parameters: { shared_memory_region: 'r0', shared_memory_byte_size: 120 },
          },
        ],
      });
      expect(input.statusCode).toBe(400);
      expect(input.json()).toEqual({
        error: `input "input": parameters.shared_memory_region: ${SYSTEM}`,
        code: 'INVALID_ARGUMENT',
      });
      const output = await infer({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: ROW }],
        outputs: [{ name: 'label', parameters: { shared_memory_region: 'out', shared_memory_offset: 0 } }],
      });
      expect(output.statusCode).toBe(400);
      expect(output.json()).toEqual({
        error: `output "label": parameters.shared_memory_region: ${SYSTEM}`,
        code: 'INVALID_ARGUMENT',
      });
      // The same request without the region is served.
      const served = await infer({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: ROW }],
        outputs: [{ name: 'label' }],
      });
      expect(served.statusCode, served.body).toBe(200);
    });
  });

  describe('gRPC', () => {
    it.each(GRPC_REFUSALS)('%s answers UNIMPLEMENTED naming the extension', async (method, message) => {
      const error = await rejection(client.call(method, {}));
      expect([error.code, error.details]).toEqual([12, message]);
      expect(error.metadata.get('slipway-error-code')).toEqual(['UNIMPLEMENTED']);
    });

    it('refuses an input placed in shared memory with INVALID_ARGUMENT', async () => {
      const error = await rejection(
        client.call('ModelInfer', {
          model_name: 'cancer',
          inputs: [
            {
              name: 'input',
              datatype: 'FP32',
              shape: [1, 30],
              parameters: { shared_memory_region: { string_param: 'r0' } },
            },
          ],
        }),
      );
      expect([error.code, error.details]).toEqual([3, `input "input": parameters.shared_memory_region: ${SYSTEM}`]);
    });
  });
});
