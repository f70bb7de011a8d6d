/**
 * Triton's statistics extension end to end: a scripted sequence of requests against a real server
 * (HTTP through `startServer`, gRPC through `createGrpcServer`), then exact counts over both.
 */
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, infer, ROWS, startCancerServer, type TestPlatform } from '../deploy/deploy.test-support.js';
import type { ModelStat } from '../monitor/model-statistics.js';
import { InferenceTestClient } from './grpc/grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from './grpc/grpc-server.js';
import { inferenceServiceDefinition } from './grpc/proto.js';
import type { RunningServer } from './serve.js';

type Duration = { count: number; ns: number };

/** The row as the gRPC client decodes it: every uint64 a decimal string. */
function asGrpc(stat: ModelStat): unknown {
  const d = (s: Duration) => ({ count: String(s.count), ns: String(s.ns) });
  const i = stat.inference_stats;
  return {
    name: stat.name,
    version: stat.version,
    last_inference: String(stat.last_inference),
    inference_count: String(stat.inference_count),
    execution_count: String(stat.execution_count),
    inference_stats: {
      success: d(i.success),
      fail: d(i.fail),
      queue: d(i.queue),
      compute_input: d(i.compute_input),
      compute_infer: d(i.compute_infer),
      compute_output: d(i.compute_output),
      cache_hit: d(i.cache_hit),
      cache_miss: d(i.cache_miss),
    },
    batch_stats: stat.batch_stats.map((b) => ({
      batch_size: String(b.batch_size),
      compute_input: d(b.compute_input),
      compute_infer: d(b.compute_infer),
      compute_output: d(b.compute_output),
    })),
  };
}

/** What 5 one-row requests, 1 two-row request and 2 refused ones (FP64 for an FP32 input) leave, run one at a time. */
function expectScripted(stat: ModelStat, version: string, startedMs: number, endedMs: number): void {
  const i = stat.inference_stats;
  expect([stat.name, stat.version, stat.inference_count, stat.execution_count]).toEqual(['cancer', version, 7, 6]);
  expect([
    i.success.count,
    i.fail.count,
    i.queue.count,
    i.compute_input.count,
    i.compute_infer.count,
    i.compute_output.count,
  ]).toEqual([6, 2, 6, 6, 6, 6]);
  expect([i.cache_hit, i.cache_miss, i.compute_input.ns, i.compute_output.ns]).toEqual([
    { count: 0, ns: 0 },
    { count: 0, ns: 0 },
    0,
    0,
  ]);
  for (const ns of [i.success.ns, i.fail.ns, i.queue.ns, i.compute_infer.ns]) expect(ns).toBeGreaterThan(0);
  // End to end holds the queue wait and the run.
  expect(i.success.ns).toBeGreaterThanOrEqual(i.queue.ns + i.compute_infer.ns);
  expect(
    stat.batch_stats.map((b) => [b.batch_size, b.compute_infer.count, b.compute_input.count, b.compute_output.count]),
  ).toEqual([
    [1, 5, 5, 5],
    [2, 1, 1, 1],
  ]);
  expect(stat.batch_stats.reduce((sum, b) => sum + b.compute_infer.ns, 0)).toBeGreaterThan(0);
  expect(stat.last_inference).toBeGreaterThanOrEqual(startedMs);
  expect(stat.last_inference).toBeLessThanOrEqual(endedMs);
}

describe('statistics extension', () => {
  let platform: TestPlatform;
  let server: RunningServer;
  let grpc: GrpcServer;
  let inferClient: InferenceTestClient;
  let statsClient: Client;

  const modelStatistics = (request: { name?: string; version?: string }): Promise<{ model_stats: unknown[] }> => {
    const method = inferenceServiceDefinition().ModelStatistics!;
    return new Promise((resolve, reject) => {
      statsClient.makeUnaryRequest(
        method.path,
        (v: unknown) => method.requestSerialize(v),
        (b: Buffer) => method.responseDeserialize(b) as { model_stats: unknown[] },
        request,
        (error: ServiceError | null, value?: { model_stats: unknown[] }) => (error ? reject(error) : resolve(value!)),
      );
    });
  };
  const stats = async (path: string): Promise<ModelStat[]> => {
    const answer = await api(server.url, 'GET', path);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return (answer.body as { model_stats: ModelStat[] }).model_stats;
  };

  beforeAll(async () => {
    ({ platform, server } = await startCancerServer());
    grpc = createGrpcServer({
      serving: platform.serving,
      statistics: { statistics: platform.monitor.statistics, models: platform.registry },
    });
    const port = await grpc.listen('127.0.0.1', 0);
    inferClient = new InferenceTestClient(`127.0.0.1:${port}`);
    statsClient = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  afterAll(async () => {
    inferClient.close();
    statsClient.close();
    await grpc.close(1000);
    await server.stop(5000);
    await platform.dispose();
  });

  it('counts a scripted sequence over HTTP exactly, and gRPC answers the same row', async () => {
    const started = Date.now();
    for (const row of ROWS.slice(0, 5))
      expect((await infer(server.url, 'cancer/versions/1.0.0', row)).status).toBe(200);
    const two = await api(server.url, 'POST', '/v2/models/cancer/versions/1.0.0/infer', {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 30], data: [...ROWS[5]!, ...ROWS[6]!] }],
    });
    expect(two.status).toBe(200);
    for (const row of ROWS.slice(0, 2)) {
      const bad = await api(server.url, 'POST', '/v2/models/cancer/versions/1.0.0/infer', {
        inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 30], data: row }],
      });
      expect(bad.status).toBe(400);
    }
    const ended = Date.now();
    const [row, ...others] = await stats('/v2/models/cancer/versions/1.0.0/stats');
    expect(others).toEqual([]);
    expectScripted(row!, '1.0.0', started, ended);
    expect(await modelStatistics({ name: 'cancer', version: '1.0.0' })).toEqual({ model_stats: [asGrpc(row!)] });
  });

  it('counts the same sequence sent over gRPC, read over gRPC', async () => {
    const started = Date.now();
    const request = (datatype: 'FP32' | 'FP64', rows: number[][]) => ({
      model_name: 'cancer',
      model_version: '1.1.0',
      inputs: [
        {
          name: 'input',
          datatype,
          shape: [rows.length, 30],
          contents: datatype === 'FP32' ? { fp32_contents: rows.flat() } : { fp64_contents: rows.flat() },
        },
      ],
    });
    for (const row of ROWS.slice(0, 5)) await inferClient.call('ModelInfer', request('FP32', [row]));
    await inferClient.call('ModelInfer', request('FP32', [ROWS[5]!, ROWS[6]!]));
    for (const row of ROWS.slice(0, 2))
      await expect(inferClient.call('ModelInfer', request('FP64', [row]))).rejects.toMatchObject({ code: 3 });
    const ended = Date.now();
    const answer = await modelStatistics({ name: 'cancer', version: '1.1.0' });
    const [http] = await stats('/v2/models/cancer/versions/1.1.0/stats');
    expectScripted(http!, '1.1.0', started, ended);
    expect(answer).toEqual({ model_stats: [asGrpc(http!)] });
  });

  it("counts a deployment's requests under the version that ran", async () => {
    expect(
      (await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: { '1.0.0': 100 } }))
        .status,
    ).toBe(201);
    expect((await infer(server.url, 'cancer-live', ROWS[0]!)).version).toBe('1.0.0');
    const [row] = await stats('/v2/models/cancer/versions/1.0.0/stats');
    expect([row!.inference_count, row!.execution_count, row!.inference_stats.success.count]).toEqual([8, 7, 7]);
    // A deployment is not a model: its traffic is in its versions' rows.
    expect((await api(server.url, 'GET', '/v2/models/cancer-live/stats')).status).toBe(404);
  });

  it('lists the versions that served, filters by version, and refuses what does not exist', async () => {
    expect((await stats('/v2/models/cancer/stats')).map((s) => [s.version, s.inference_count])).toEqual([
      ['1.0.0', 8],
      ['1.1.0', 7],
    ]);
    expect((await stats('/v2/models/stats')).map((s) => `${s.name}@${s.version}`)).toEqual([
      'cancer@1.0.0',
      'cancer@1.1.0',
    ]);
    // A version that has not served answers zeros; a major resolves like an inference request's.
    for (const path of ['/v2/models/cancer/versions/1.2.0/stats', '/v2/models/cancer/versions/1/stats']) {
      const [quiet] = await stats(path);
      expect([
        quiet!.version,
        quiet!.inference_count,
        quiet!.execution_count,
        quiet!.last_inference,
        quiet!.batch_stats,
      ]).toEqual(['1.2.0', 0, 0, 0, []]);
    }
    const grpcAll = await modelStatistics({});
    expect((grpcAll.model_stats as { version: string }[]).map((s) => s.version)).toEqual(['1.0.0', '1.1.0']);
    expect((await api(server.url, 'GET', '/v2/models/nope/stats')).body).toMatchObject({
      code: 'NOT_FOUND',
      error: 'model "nope" does not exist',
    });
    expect((await api(server.url, 'GET', '/v2/models/nope/stats')).status).toBe(404);
    expect((await api(server.url, 'GET', '/v2/models/cancer/versions/9.0.0/stats')).status).toBe(404);
    await expect(modelStatistics({ name: 'nope' })).rejects.toMatchObject({
      code: 5,
      details: 'model "nope" does not exist',
    });
    await expect(modelStatistics({ name: 'cancer', version: '9.0.0' })).rejects.toMatchObject({ code: 5 });
    await expect(modelStatistics({ version: '1.0.0' })).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining('needs a model name'),
    });
  });
});
