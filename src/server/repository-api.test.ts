/**
 * Triton's model repository extension over HTTP (`POST /v2/repository/...`) and gRPC
 * (`RepositoryIndex`, `RepositoryModelLoad`, `RepositoryModelUnload`): the index with states and the
 * `ready` filter, load with a model configuration, refusals by name, unload.
 */
import type { ServiceError } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';
import { InferenceTestClient } from './grpc/grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from './grpc/grpc-server.js';
import type { ModelRepositoryParameterMessage } from './grpc/messages.js';

async function grpcRejection(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

const text = (value: string): ModelRepositoryParameterMessage => ({
  string_param: value,
  parameter_choice: 'string_param',
});

describe('model repository (Triton extension)', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  let server: GrpcServer;
  let client: InferenceTestClient;

  beforeAll(async () => {
    platform = await openTestPlatform();
    // cancer 1.0.0 and 1.1.0 (HTTP), fraud 1.0.0 (gRPC), plain 1.0.0 (refusals): input [-1, 30] FP32, outputs label [-1], probabilities [-1, 2].
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer_retrained.onnx') });
    await platform.registry.push({ name: 'fraud', bytes: fixtureBytes('breast_cancer.onnx') });
    await platform.registry.push({ name: 'plain', bytes: fixtureBytes('breast_cancer.onnx') });
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
    server = createGrpcServer({
      serving: platform.serving,
      modelConfig: { lifecycle: platform.serving.lifecycle, registry: platform.registry },
      repository: { registry: platform.registry },
    });
    client = new InferenceTestClient(`127.0.0.1:${await server.listen('127.0.0.1', 0)}`);
  });
  afterAll(async () => {
    client.close();
    await server.close(1000);
    await app.close();
    await platform.dispose();
  });

  const post = (url: string, payload?: unknown) =>
    app.inject({ method: 'POST', url, ...(payload === undefined ? {} : { payload: payload as object }) });

  describe('HTTP', () => {
    it('indexes every version with its state, loads, filters on ready, unloads', async () => {
      const before = await post('/v2/repository/index');
      expect(before.statusCode, before.body).toBe(200);
      expect(before.json<unknown[]>().filter((row) => (row as { name: string }).name === 'cancer')).toEqual([
        { name: 'cancer', version: '1.1.0', state: 'UNAVAILABLE', reason: 'unloaded' },
        { name: 'cancer', version: '1.0.0', state: 'UNAVAILABLE', reason: 'unloaded' },
      ]);
      expect((await post('/v2/repository/index', { ready: true })).json()).toEqual([]);

      const load = await post('/v2/repository/models/cancer/load', { parameters: { version: '1.0.0' } });
      expect(load.statusCode, load.body).toBe(200);
      expect(load.json()).toEqual({ name: 'cancer', version: '1.0.0', state: 'READY' });
      const all = (await post('/v2/repository/index', { ready: false })).json<{ name: string }[]>();
      expect(all.filter((row) => row.name === 'cancer')).toEqual([
        { name: 'cancer', version: '1.1.0', state: 'UNAVAILABLE', reason: 'unloaded' },
        { name: 'cancer', version: '1.0.0', state: 'READY', reason: '' },
      ]);
      expect((await post('/v2/repository/index', { ready: true })).json()).toEqual([
        { name: 'cancer', version: '1.0.0', state: 'READY', reason: '' },
      ]);
      expect((await app.inject({ method: 'GET', url: '/v2/models/cancer/versions/1.0.0/ready' })).statusCode).toBe(200);

      // Triton's HTTP client always sends unload_dependents; with no ensembles nothing depends on a model.
      const unload = await post('/v2/repository/models/cancer/unload', {
        parameters: { version: '1.0.0', unload_dependents: true },
      });
      expect(unload.statusCode, unload.body).toBe(200);
      expect(unload.json()).toEqual({ name: 'cancer', version: '1.0.0', state: 'UNAVAILABLE', unloaded: true });
      expect((await post('/v2/repository/index', { ready: true })).json()).toEqual([]);
      expect((await app.inject({ method: 'GET', url: '/v2/models/cancer/versions/1.0.0/ready' })).statusCode).toBe(503);
    });

    it('loads with a model config: max_batch_size and the queue delay show in the configuration', async () => {
      const config = JSON.stringify({ max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 500 } });
      const load = await post('/v2/repository/models/cancer/load', { parameters: { config } });
      expect(load.statusCode, load.body).toBe(200);
      expect(load.json()).toEqual({ name: 'cancer', version: '1.1.0', state: 'READY' });
      expect(await platform.registry.getServingConfig('cancer')).toEqual({
        batching: true,
        maxBatchSize: 8,
        maxQueueDelayMicros: 500,
      });
      const reported = (await app.inject({ method: 'GET', url: '/v2/models/cancer/config' })).json<{
        max_batch_size: number;
        input: unknown[];
        dynamic_batching: { max_queue_delay_microseconds: number };
      }>();
      expect(reported.max_batch_size).toBe(8);
      expect(reported.dynamic_batching.max_queue_delay_microseconds).toBe(500);
      expect(reported.input).toEqual([
        {
          name: 'input',
          data_type: 'TYPE_FP32',
          format: 'FORMAT_NONE',
          dims: [30],
          is_shape_tensor: false,
          allow_ragged_batch: false,
          optional: false,
        },
      ]);

      // What the configuration reports can be sent back as it is, with one setting changed.
      const roundTrip = JSON.stringify({
        ...reported,
        instance_group: [{ name: 'cancer_0', kind: 'KIND_CPU', count: 2 }],
      });
      const again = await post('/v2/repository/models/cancer/load', { parameters: { config: roundTrip } });
      expect(again.statusCode, again.body).toBe(200);
      expect(await platform.registry.getServingConfig('cancer')).toEqual({
        batching: true,
        maxBatchSize: 8,
        maxQueueDelayMicros: 500,
        instances: 2,
        maxQueueSize: 4096,
        priorityLevels: 2,
      });
    });

    it('refuses an unsupported field, a signature change and a file override by name, storing nothing', async () => {
      const refused = async (parameters: Record<string, unknown>, error: string) => {
        const response = await post('/v2/repository/models/plain/load', { parameters });
        expect(response.statusCode, response.body).toBe(400);
        const body = response.json<{ error: string; code: string }>();
        expect([body.error, body.code]).toEqual([error, 'INVALID_ARGUMENT']);
      };
      await refused(
        {
          config: JSON.stringify({
            max_batch_size: 8,
            optimization: { graph: { level: 1 } },
            dynamic_batching: { preferred_batch_size: [4, 8] },
          }),
        },
        'invalid model config: config.optimization is not supported by Slipway; config.dynamic_batching.preferred_batch_size is not supported by Slipway: its batcher runs every compatible queued request up to max_batch_size at once, it has no preferred sizes',
      );
      await refused(
        {
          config: JSON.stringify({ max_batch_size: 4, input: [{ name: 'input', data_type: 'TYPE_FP64', dims: [30] }] }),
        },
        'invalid model config: config.input[0].data_type "TYPE_FP64" differs from the model\'s "TYPE_FP32": the input of a model config cannot change the model\'s signature',
      );
      await refused(
        { config: JSON.stringify({ name: 'other', max_batch_size: 70000000 }) },
        'invalid model config: config.max_batch_size: maxBatchSize must be an integer from 1 to 1048576, got 70000000',
      );
      await refused(
        { 'file:1/model.onnx': 'AAAA' },
        'parameter "file:1/model.onnx": Triton\'s model file override is not supported by Slipway (push the model as a new version: slipway push)',
      );
      await refused(
        { config: '{"max_batch_size": ' },
        'parameter "config" is not valid JSON: Unexpected end of JSON input',
      );
      await refused({ speed: 'fast' }, 'unknown parameter "speed" (known: version, config)');
      expect(await platform.registry.getServingConfig('plain')).toEqual({});
      expect((await post('/v2/repository/index', { ready: 'yes' })).json()).toEqual({
        error: '"ready" must be true or false, got "yes"',
        code: 'INVALID_ARGUMENT',
      });
      expect((await post('/v2/repository/index', { repository: 'x' })).json()).toEqual({
        error: 'unknown field "repository" in the body (known: ready)',
        code: 'INVALID_ARGUMENT',
      });
    });

    it('runs a model_warmup sample at the load; one the model refuses fails the load and the settings go back', async () => {
      const warmup = (dims: number[]) =>
        JSON.stringify({
          max_batch_size: 4,
          model_warmup: [
            { name: 'zeros', batch_size: 2, inputs: { input: { data_type: 'TYPE_FP32', dims, zero_data: true } } },
          ],
        });
      const bad = await post('/v2/repository/models/plain/load', { parameters: { config: warmup([29]) } });
      // A version that fails to load answers 503 with the model's own message (runtime/model-pool.ts).
      expect(bad.statusCode, bad.body).toBe(503);
      expect(bad.json()).toEqual({
        error:
          'model plain@1.0.0 failed to load: warm-up of plain@1.0.0 failed: input "input": expected shape [-1,30], got [2,29] (dimension 1 must be 30)',
        code: 'UNAVAILABLE',
      });
      expect(await platform.registry.getServingConfig('plain')).toEqual({});
      const good = await post('/v2/repository/models/plain/load', { parameters: { config: warmup([30]) } });
      expect(good.statusCode, good.body).toBe(200);
      expect(await platform.registry.getServingConfig('plain')).toEqual({
        batching: true,
        maxBatchSize: 4,
        warmup: {
          request: {
            inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 30], data: new Array<number>(60).fill(0) }],
          },
        },
      });
      expect((await post('/v2/repository/index', { ready: true })).json()).toContainEqual({
        name: 'plain',
        version: '1.0.0',
        state: 'READY',
        reason: '',
      });
      await platform.registry.setServingConfig('plain', {});
      expect((await post('/v2/repository/models/plain/unload')).statusCode).toBe(200);
    });

    it('answers 404 for an unknown model before looking at the config', async () => {
      const response = await post('/v2/repository/models/nope/load', {
        parameters: { config: '{"optimization": {}}' },
      });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({ error: 'model "nope" does not exist', code: 'NOT_FOUND' });
    });
  });

  describe('gRPC', () => {
    it('indexes, loads a version, filters on ready, unloads; ModelReady follows', async () => {
      const fraud = (rows: { name: string }[]) => rows.filter((row) => row.name === 'fraud');
      expect(fraud((await client.call('RepositoryIndex', {})).models)).toEqual([
        { name: 'fraud', version: '1.0.0', state: 'UNAVAILABLE', reason: 'unloaded' },
      ]);
      expect(
        await client.call('RepositoryModelLoad', { model_name: 'fraud', parameters: { version: text('1.0.0') } }),
      ).toEqual({});
      expect(fraud((await client.call('RepositoryIndex', { ready: true })).models)).toEqual([
        { name: 'fraud', version: '1.0.0', state: 'READY', reason: '' },
      ]);
      expect((await client.call('RepositoryIndex', { ready: true })).models.every((row) => row.state === 'READY')).toBe(
        true,
      );
      expect(await client.call('ModelReady', { name: 'fraud', version: '1.0.0' })).toEqual({ ready: true });

      const dependents = { unload_dependents: { bool_param: true, parameter_choice: 'bool_param' as const } };
      expect(await client.call('RepositoryModelUnload', { model_name: 'fraud', parameters: dependents })).toEqual({});
      expect(fraud((await client.call('RepositoryIndex', {})).models)).toEqual([
        { name: 'fraud', version: '1.0.0', state: 'UNAVAILABLE', reason: 'unloaded' },
      ]);
      expect(fraud((await client.call('RepositoryIndex', { ready: true })).models)).toEqual([]);
      expect(await client.call('ModelReady', { name: 'fraud', version: '1.0.0' })).toEqual({ ready: false });
    });

    it('loads with a config string_param: ModelConfig reflects it', async () => {
      const config = JSON.stringify({
        max_batch_size: 8,
        dynamic_batching: { max_queue_delay_microseconds: 250, default_queue_policy: { max_queue_size: 10 } },
      });
      expect(
        await client.call('RepositoryModelLoad', { model_name: 'fraud', parameters: { config: text(config) } }),
      ).toEqual({});
      const { config: reported } = await client.call('ModelConfig', { name: 'fraud', version: '' });
      expect(reported.max_batch_size).toBe(8);
      expect(reported.dynamic_batching?.max_queue_delay_microseconds).toBe('250');
      expect(reported.dynamic_batching?.default_queue_policy?.max_queue_size).toBe(10);
      expect(await client.call('ModelReady', { name: 'fraud', version: '' })).toEqual({ ready: true });
    });

    it('refuses by name with INVALID_ARGUMENT, storing nothing', async () => {
      const refused = async (request: Parameters<InferenceTestClient['call']>[1], details: string) => {
        const error = await grpcRejection(client.call('RepositoryModelLoad', request as never));
        expect([error.code, error.details]).toEqual([3, details]);
        expect(error.metadata.get('slipway-error-code')).toEqual(['INVALID_ARGUMENT']);
      };
      await refused(
        {
          model_name: 'plain',
          parameters: { config: text('{"max_batch_size": 8, "response_cache": {"enable": true}}') },
        },
        'invalid model config: config.response_cache is not supported by Slipway',
      );
      await refused(
        { model_name: 'plain', repository_name: 'models' },
        'repository_name "models" is not supported by Slipway: it has one repository, the registry; leave repository_name empty',
      );
      await refused(
        {
          model_name: 'plain',
          parameters: { 'file:1/model.onnx': { bytes_param: Buffer.from('onnx'), parameter_choice: 'bytes_param' } },
        },
        'parameter "file:1/model.onnx": Triton\'s model file override is not supported by Slipway (push the model as a new version: slipway push)',
      );
      await refused(
        { model_name: 'plain', parameters: { version: { int64_param: '1', parameter_choice: 'int64_param' } } },
        'parameter "version" must be a string (a version, an alias or latest), got 1',
      );
      await refused({ model_name: '' }, '"model_name" is required');
      expect(await platform.registry.getServingConfig('plain')).toEqual({});
      const index = await grpcRejection(client.call('RepositoryIndex', { repository_name: 'models' }));
      expect(index.code).toBe(3);
      const missing = await grpcRejection(client.call('RepositoryModelUnload', { model_name: 'nope' }));
      expect([missing.code, missing.details]).toEqual([5, 'model "nope" does not exist']);
    });
  });
});
