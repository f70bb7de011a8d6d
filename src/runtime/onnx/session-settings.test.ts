import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ServingMetrics } from '../../monitor/metrics.js';
import { expectedOutputs, FIXTURES, firstMismatch } from '../../testing/fixtures.js';
import type { Tensor } from '../../tensor/datatypes.js';
import { ModelPool, poolEventLine, type PoolEvent } from '../model-pool.js';
import { createOrtBackend } from './ort-backend.js';
import { resolveSessionSettings, SESSION_DEFAULTS } from './session-settings.js';

const CANCER = path.join(FIXTURES, 'breast_cancer.onnx');

function cancerInput(): Tensor {
  const input = expectedOutputs('breast_cancer').inputs[0]!;
  return { name: input.name, datatype: 'FP32', shape: input.shape, data: Float32Array.from(input.data as number[]) };
}

describe('session settings', () => {
  it("resolves the model's settings over the process's over today's defaults", () => {
    expect(resolveSessionSettings(undefined)).toEqual(SESSION_DEFAULTS);
    expect(SESSION_DEFAULTS).toMatchObject({
      intraOpThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
    });
    expect(
      resolveSessionSettings({ intraOpThreads: 2, enableMemPattern: false }, { intraOpThreads: 4, interOpThreads: 3 }),
    ).toEqual({ ...SESSION_DEFAULTS, intraOpThreads: 2, interOpThreads: 3, enableMemPattern: false });
  });

  it("falls back from a 'cuda' preference to the CPU for real, serves correct outputs and says why", async () => {
    const model = await createOrtBackend().load({
      path: CANCER,
      executionProviders: ['cuda', 'tensorrt'],
      session: { intraOpThreads: 2, graphOptimizationLevel: 'basic', executionMode: 'parallel', interOpThreads: 2 },
    });
    try {
      expect(model.executionProvider?.name).toBe('cpu');
      expect(model.executionProvider?.fallbacks).toHaveLength(2);
      expect(model.executionProvider?.fallbacks[0]).toMatch(/^cuda: .*(shared library|not supported)/);
      expect(model.executionProvider?.fallbacks[1]).toMatch(/^tensorrt: /);
      const [label, probabilities] = await model.run([cancerInput()], ['label', 'probabilities']);
      const expected = expectedOutputs('breast_cancer').outputs;
      expect(Array.from(label!.data as BigInt64Array, Number)).toEqual(expected[0]!.data);
      expect(firstMismatch(Array.from(probabilities!.data as Float32Array), expected[1]!.data, 1e-5)).toBeUndefined();
    } finally {
      await model.release();
    }
  });

  it('keeps the CPU without a warning when no GPU is asked for', async () => {
    const model = await createOrtBackend().load({ path: CANCER, executionProviders: ['cpu'] });
    expect(model.executionProvider).toEqual({ name: 'cpu', fallbacks: [] });
    await model.release();
  });

  it('the pool loads with the per-model settings, keeps the provider, warns once and exports the gauge', async () => {
    const events: PoolEvent[] = [];
    const pool = new ModelPool({
      backend: createOrtBackend(),
      locate: () => CANCER,
      maxLoaded: 2,
      loadSettings: (key) =>
        key.model === 'gpu' ? { executionProviders: ['cuda'], session: { intraOpThreads: 2 } } : undefined,
      onEvent: (e) => events.push(e),
    });
    try {
      const key = { model: 'gpu', version: '1.0.0' };
      const [label] = await pool.run(key, [cancerInput()], ['label']);
      expect(Array.from(label!.data as BigInt64Array, Number)).toEqual(
        expectedOutputs('breast_cancer').outputs[0]!.data,
      );
      await pool.run({ model: 'plain', version: '1.0.0' }, [cancerInput()], ['label']);
      expect(pool.activeProvider(key)?.name).toBe('cpu');
      const lines = events.map(poolEventLine).filter((l) => l !== undefined);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^model gpu@1\.0\.0: warning: runs on cpu, not the preferred cuda: /);
      const metrics = new ServingMetrics(
        {
          queues: () => [],
          loadedModels: () => 2,
          providers: () => pool.providers().map(({ key, provider }) => ({ key, provider: provider.name })),
        },
        { processMetrics: false },
      );
      const text = await metrics.registry.metrics();
      expect(text).toContain('slipway_model_execution_provider{model="gpu",version="1.0.0",provider="cpu"} 1');
      expect(text).toContain('slipway_model_execution_provider{model="plain",version="1.0.0",provider="cpu"} 1');
    } finally {
      await pool.close();
    }
  });
});
