/**
 * A model that prefers a GPU, served on a machine without one (issue 16 part 5): it loads on the CPU,
 * answers correctly, and says where it runs and why in metadata, its model config and the metrics; a
 * repository load with Triton's onnxruntime parameters stores the session settings it names.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../server/app.js';
import { expectedOutputs, firstMismatch, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';

describe('execution-provider preference with CPU fall-back, over HTTP', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'gpu', bytes: fixtureBytes('breast_cancer.onnx') });
    await platform.registry.setServingConfig('gpu', {
      executionProviders: ['tensorrt', 'cuda'],
      session: { intraOpThreads: 2, graphOptimizationLevel: 'extended' },
    });
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
  }, 30_000);
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  it('serves correct outputs on the CPU and reports the provider and the reason everywhere', async () => {
    const expected = expectedOutputs('breast_cancer');
    const infer = await app.inject({
      method: 'POST',
      url: '/v2/models/gpu/infer',
      payload: { inputs: expected.inputs },
    });
    expect(infer.statusCode, infer.body).toBe(200);
    const outputs = infer.json<{ outputs: { name: string; data: number[] }[] }>().outputs;
    for (const want of expected.outputs) {
      const got = outputs.find((o) => o.name === want.name)!;
      expect(firstMismatch(got.data, want.data, expected.tolerance)).toBeUndefined();
    }

    const meta = (await app.inject({ method: 'GET', url: '/v2/models/gpu/versions/1.0.0' })).json<{
      parameters: { execution_provider: string; execution_provider_fallback: string };
    }>();
    expect(meta.parameters.execution_provider).toBe('cpu');
    expect(meta.parameters.execution_provider_fallback).toMatch(/^tensorrt: .+; cuda: .+/);

    const config = (await app.inject({ method: 'GET', url: '/v2/models/gpu/config' })).json<{
      instance_group: { kind: string }[];
      optimization: unknown;
      parameters: Record<string, { string_value: string }>;
    }>();
    expect(config.instance_group[0]!.kind).toBe('KIND_GPU');
    expect(config.optimization).toEqual({
      execution_accelerators: { gpu_execution_accelerator: [{ name: 'tensorrt' }] },
    });
    expect(config.parameters).toEqual({
      slipway_version: { string_value: '1.0.0' },
      execution_provider: { string_value: 'cpu' },
      intra_op_thread_count: { string_value: '2' },
      graph_optimization_level: { string_value: 'extended' },
    });

    const metrics = await platform.monitor.metrics.registry.metrics();
    expect(metrics).toContain('slipway_model_execution_provider{model="gpu",version="1.0.0",provider="cpu"} 1');
  });

  it("a repository load with Triton's onnxruntime parameters stores and applies them; an unknown one is refused by name", async () => {
    const config = JSON.stringify({
      parameters: { inter_op_thread_count: { string_value: '2' }, execution_mode: { string_value: '1' } },
      instance_group: [{ kind: 'KIND_CPU', count: 1 }],
    });
    const load = await app.inject({
      method: 'POST',
      url: '/v2/repository/models/gpu/load',
      payload: { parameters: { config } },
    });
    expect(load.statusCode, load.body).toBe(200);
    const stored = await platform.registry.getServingConfig('gpu');
    expect(stored.session).toEqual({
      intraOpThreads: 2,
      graphOptimizationLevel: 'extended',
      interOpThreads: 2,
      executionMode: 'parallel',
    });
    expect(stored.executionProviders).toBeUndefined();
    const reported = (await app.inject({ method: 'GET', url: '/v2/models/gpu/config' })).json<{
      instance_group: { kind: string }[];
      parameters: Record<string, { string_value: string }>;
    }>();
    expect(reported.instance_group[0]!.kind).toBe('KIND_CPU');
    expect(reported.parameters.execution_mode).toEqual({ string_value: '1' });

    const refused = await app.inject({
      method: 'POST',
      url: '/v2/repository/models/gpu/load',
      payload: {
        parameters: { config: JSON.stringify({ parameters: { arena_extend_strategy: { string_value: '1' } } }) },
      },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json<{ error: string }>().error).toBe(
      'invalid model config: config.parameters.arena_extend_strategy is not supported by Slipway',
    );
  });
});
