import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceTestClient } from '../src/server/grpc/grpc-client.test-support.js';
import type { ModelInferRequestMessage, ModelStreamInferResponseMessage } from '../src/server/grpc/messages.js';
import { cancerPayload, distIsBuilt, printed, pushCancer, spawnServe, type ServeProcess } from './serve-harness.js';

/**
 * The protocol surface as `slipway serve` wires it (server/serve-command.ts), not as a test
 * assembles it: every Triton extension /v2 lists answers over HTTP and gRPC from the real process,
 * and what is refused is refused there too.
 */
describe('slipway serve: the KServe/Triton protocol surface, end to end', () => {
  let home: string;
  let server: ServeProcess;
  let url: string;
  let client: InferenceTestClient;
  const row = (JSON.parse(cancerPayload()) as { inputs: { data: number[] }[] }).inputs[0]!.data;
  const grpcInfer = (id: string): ModelInferRequestMessage => ({
    model_name: 'cancer',
    id,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], contents: { fp32_contents: row } }],
  });

  beforeAll(async () => {
    expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-protocol-'));
    await pushCancer(home);
    server = spawnServe(['--port', '0', '--grpc-port', '0'], { SLIPWAY_HOME: home });
    url = await printed(server, /serving on (http:\/\/[0-9.:]+)/);
    client = new InferenceTestClient(await printed(server, /gRPC on ([0-9.]+:\d+)/));
  }, 90_000);
  afterAll(async () => {
    client?.close();
    server?.cleanup();
    await rm(home, { recursive: true, force: true });
  });

  it('lists exactly the extensions it serves, on both transports', async () => {
    const extensions = [
      'binary_tensor_data',
      'classification',
      'model_configuration',
      'model_repository',
      'schedule_policy',
      'sequence',
      'statistics',
    ];
    expect(((await (await fetch(`${url}/v2`)).json()) as { extensions: string[] }).extensions).toEqual(extensions);
    expect((await client.call('ServerMetadata', {})).extensions).toEqual(extensions);
  });

  it('answers inference (gzip body), statistics, config and the repository over HTTP', async () => {
    const infer = await fetch(`${url}/v2/models/cancer/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(cancerPayload()),
    });
    expect(infer.status).toBe(200);
    const stats = (await (await fetch(`${url}/v2/models/cancer/stats`)).json()) as {
      model_stats: { version: string; inference_count: number }[];
    };
    expect(stats.model_stats.map((s) => [s.version, s.inference_count])).toEqual([['1.0.0', 1]]);
    const config = (await (await fetch(`${url}/v2/models/cancer/config`)).json()) as {
      name: string;
      platform: string;
      max_batch_size: number;
    };
    expect([config.name, config.platform, config.max_batch_size > 0]).toEqual(['cancer', 'onnxruntime_onnx', true]);
    const index = (await (
      await fetch(`${url}/v2/repository/index`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"ready": true}',
      })
    ).json()) as { name: string; state: string }[];
    expect(index).toEqual([expect.objectContaining({ name: 'cancer', version: '1.0.0', state: 'READY' })]);
    const refused = await fetch(`${url}/v2/systemsharedmemory/status`);
    expect([refused.status, ((await refused.json()) as { error: string }).error]).toEqual([
      400,
      expect.stringMatching(/system shared memory/),
    ]);
  });

  it('answers the same over gRPC: ModelInfer, ModelStreamInfer, ModelStatistics, ModelConfig, RepositoryIndex, and refuses shared memory', async () => {
    const unary = await client.call('ModelInfer', grpcInfer('u1'));
    expect(unary.raw_output_contents).toHaveLength(2);
    const stream = client.openStream();
    const answers: ModelStreamInferResponseMessage[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (message: ModelStreamInferResponseMessage) => answers.push(message));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    stream.write(grpcInfer('s1'));
    stream.write({ ...grpcInfer('s2'), model_name: 'missing' });
    stream.write(grpcInfer('s3'));
    stream.end();
    await ended;
    expect(answers.map((a) => [a.infer_response?.id, a.error_message === ''])).toEqual([
      ['s1', true],
      ['s2', false],
      ['s3', true],
    ]);
    const stats = await client.call('ModelStatistics', { name: 'cancer', version: '' });
    // 1 HTTP + 1 unary + 2 good stream requests so far.
    expect(stats.model_stats.map((s) => String(s.inference_count))).toEqual(['4']);
    const config = (await client.call('ModelConfig', { name: 'cancer', version: '' })) as {
      config: { name: string; platform: string };
    };
    expect([config.config.name, config.config.platform]).toEqual(['cancer', 'onnxruntime_onnx']);
    const index = (await client.call('RepositoryIndex', { repository_name: '', ready: true })) as {
      models: { name: string; state: string }[];
    };
    expect(index.models.map((m) => [m.name, m.state])).toEqual([['cancer', 'READY']]);
    await expect(client.call('SystemSharedMemoryStatus', {})).rejects.toMatchObject({
      code: 12,
      details: expect.stringMatching(/system shared memory/),
    });
  });
});
