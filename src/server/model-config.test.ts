/**
 * Triton's model configuration over HTTP (`/v2/models/{m}[/versions/{v}]/config`) and gRPC
 * (`ModelConfig`), for a batching model and one with batching turned off.
 */
import type { ServiceError } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';
import { InferenceTestClient } from './grpc/grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from './grpc/grpc-server.js';

/** breast_cancer: input [-1, 30] FP32; outputs label [-1] INT64, probabilities [-1, 2] FP32. */
const input = (dims: number[]) => ({
  name: 'input',
  data_type: 'TYPE_FP32',
  format: 'FORMAT_NONE',
  dims,
  is_shape_tensor: false,
  allow_ragged_batch: false,
  optional: false,
});
const output = (name: string, data_type: string, dims: number[]) => ({
  name,
  data_type,
  dims,
  label_filename: '',
  is_shape_tensor: false,
});

const COMMON = {
  platform: 'onnxruntime_onnx',
  backend: 'onnxruntime',
  version_policy: { all: {} },
  parameters: { slipway_version: { string_value: '1.0.0' } },
  model_warmup: [],
};

const BATCHING = {
  ...COMMON,
  name: 'cancer',
  max_batch_size: 64,
  input: [input([30])],
  output: [output('label', 'TYPE_INT64', []), output('probabilities', 'TYPE_FP32', [2])],
  dynamic_batching: {
    preferred_batch_size: [],
    max_queue_delay_microseconds: 0,
    preserve_ordering: false,
    priority_levels: 2,
    default_priority_level: 2,
    default_queue_policy: {
      timeout_action: 'REJECT',
      default_timeout_microseconds: 0,
      allow_timeout_override: true,
      max_queue_size: 4096,
    },
  },
  instance_group: [{ name: 'cancer_0', kind: 'KIND_CPU', count: 1 }],
};

/** Batching off: the full shapes, and neither max_batch_size nor dynamic_batching. */
const PLAIN = {
  ...COMMON,
  name: 'plain',
  max_batch_size: 0,
  input: [input([-1, 30])],
  output: [output('label', 'TYPE_INT64', [-1]), output('probabilities', 'TYPE_FP32', [-1, 2])],
  instance_group: [{ name: 'plain_0', kind: 'KIND_CPU', count: 1 }],
};

async function rejection(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

describe('model configuration (Triton extension)', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  let server: GrpcServer;
  let client: InferenceTestClient;

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    await platform.registry.push({ name: 'plain', bytes: fixtureBytes('breast_cancer.onnx') });
    await platform.registry.setServingConfig('plain', { batching: false });
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
    server = createGrpcServer({
      serving: platform.serving,
      modelConfig: { lifecycle: platform.serving.lifecycle, registry: platform.registry },
    });
    client = new InferenceTestClient(`127.0.0.1:${await server.listen('127.0.0.1', 0)}`);
  });
  afterAll(async () => {
    client.close();
    await server.close(1000);
    await app.close();
    await platform.dispose();
  });

  describe('HTTP', () => {
    it('reports a batching model: max_batch_size, dims without the batch dimension, dynamic_batching', async () => {
      for (const url of [
        '/v2/models/cancer/config',
        '/v2/models/cancer/versions/1.0.0/config',
        '/v2/models/cancer/versions/1/config',
      ]) {
        const response = await app.inject({ method: 'GET', url });
        expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
        expect(response.headers['x-slipway-version']).toBe('1.0.0');
        expect(response.json()).toEqual(BATCHING);
      }
    });

    it('reports a model with batching off: max_batch_size 0, full shapes, no dynamic_batching', async () => {
      const response = await app.inject({ method: 'GET', url: '/v2/models/plain/config' });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toEqual(PLAIN);
    });

    it('answers 404 for an unknown model or version', async () => {
      const model = await app.inject({ method: 'GET', url: '/v2/models/nope/config' });
      expect(model.statusCode).toBe(404);
      expect(model.json()).toEqual({ error: 'model "nope" does not exist', code: 'NOT_FOUND' });
      const version = await app.inject({ method: 'GET', url: '/v2/models/cancer/versions/9.9.9/config' });
      expect(version.statusCode).toBe(404);
    });
  });

  describe('gRPC', () => {
    it('answers the same configuration as the proto message', async () => {
      const { config } = await client.call('ModelConfig', { name: 'cancer', version: '' });
      expect(config).toEqual(protoDecoded(BATCHING));
      const plain = await client.call('ModelConfig', { name: 'plain', version: '1.0.0' });
      expect(plain.config).toEqual(protoDecoded(PLAIN));
    });

    it('answers NOT_FOUND for an unknown model and INVALID_ARGUMENT without a name', async () => {
      const missing = await rejection(client.call('ModelConfig', { name: 'nope' }));
      expect([missing.code, missing.details]).toEqual([5, 'model "nope" does not exist']);
      const unnamed = await rejection(client.call('ModelConfig', {}));
      expect([unnamed.code, unnamed.details]).toEqual([3, '"name" is required']);
      const garbled = await rejection(
        client.sendBytes('ModelConfig', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff])),
      );
      expect(garbled.code).toBe(3);
      expect(garbled.details).toMatch(/^the ModelConfig request is not a valid protobuf message: /);
    });
  });
});

type Json = typeof BATCHING;

/**
 * The JSON configuration as @grpc/proto-loader decodes the message (proto.ts options): every
 * declared field present with its default, int64/uint64 as strings, oneof members named.
 */
function protoDecoded(json: Omit<Json, 'dynamic_batching'> & { dynamic_batching?: Json['dynamic_batching'] }): unknown {
  const tensorDefaults = { reshape: null, is_shape_tensor: false };
  return {
    name: json.name,
    platform: json.platform,
    backend: json.backend,
    version_policy: { all: {}, policy_choice: 'all' },
    max_batch_size: json.max_batch_size,
    input: json.input.map((t) => ({ ...t, ...tensorDefaults, dims: t.dims.map(String) })),
    output: json.output.map((t) => ({ ...t, ...tensorDefaults, dims: t.dims.map(String) })),
    ...(json.dynamic_batching
      ? {
          dynamic_batching: {
            ...json.dynamic_batching,
            max_queue_delay_microseconds: String(json.dynamic_batching.max_queue_delay_microseconds),
            default_queue_policy: { ...json.dynamic_batching.default_queue_policy, default_timeout_microseconds: '0' },
            priority_queue_policy: {},
          },
          scheduling_choice: 'dynamic_batching',
        }
      : {}),
    instance_group: json.instance_group,
    parameters: json.parameters,
    model_warmup: [],
  };
}
