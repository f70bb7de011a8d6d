import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import type { ServingConfig } from '../registry/serving-config.js';
import type { Signature } from '../tensor/datatypes.js';
import { parseModelConfigJson } from './model-config-patch.js';
import { buildModelConfig } from './model-config.js';
import { servingConfigFromModelConfig } from './repository-load.js';

const SIGNATURE: Signature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
};
const record = { version: '1.0.0', signature: SIGNATURE };

function apply(config: unknown, stored: ServingConfig = {}): ServingConfig {
  return servingConfigFromModelConfig(parseModelConfigJson(JSON.stringify(config)), { model: 'm', record, stored });
}

function refusal(config: unknown, stored: ServingConfig = {}): string {
  try {
    apply(config, stored);
  } catch (error) {
    expect(error).toBeInstanceOf(SlipwayError);
    return (error as SlipwayError).message;
  }
  throw new Error('expected a refusal');
}

describe('model config: ONNX Runtime session settings and execution providers', () => {
  it("reports the model's session settings as Triton's onnxruntime parameters, and a GPU preference as KIND_GPU", () => {
    const config = buildModelConfig({
      name: 'm',
      record,
      serving: {
        session: {
          intraOpThreads: 2,
          executionMode: 'parallel',
          enableMemPattern: false,
          graphOptimizationLevel: 'basic',
        },
        executionProviders: ['tensorrt', 'cuda'],
      },
      activeProvider: { name: 'cpu' },
    });
    expect(config.parameters).toEqual({
      slipway_version: { string_value: '1.0.0' },
      execution_provider: { string_value: 'cpu' },
      intra_op_thread_count: { string_value: '2' },
      execution_mode: { string_value: '1' },
      enable_mem_pattern: { string_value: '0' },
      graph_optimization_level: { string_value: 'basic' },
    });
    expect(config.instance_group[0]?.kind).toBe('KIND_GPU');
    expect(config.optimization).toEqual({
      execution_accelerators: { gpu_execution_accelerator: [{ name: 'tensorrt' }] },
    });
    const plain = buildModelConfig({ name: 'm', record, serving: {} });
    expect(plain.parameters).toEqual({ slipway_version: { string_value: '1.0.0' } });
    expect(plain.instance_group[0]?.kind).toBe('KIND_CPU');
    expect(plain.optimization).toBeUndefined();
  });

  it('a repository load with these parameters applies them over the stored session, and reads back the same', () => {
    const next = apply(
      {
        parameters: {
          intra_op_thread_count: { string_value: '2' },
          execution_mode: { string_value: '0' },
          enable_mem_arena: { string_value: '0' },
          slipway_version: { string_value: '1.0.0' },
        },
        instance_group: [{ kind: 'KIND_GPU', count: 1 }],
        optimization: { execution_accelerators: { gpu_execution_accelerator: [{ name: 'tensorrt' }] } },
      },
      { maxBatchSize: 8, session: { interOpThreads: 2 } },
    );
    expect(next).toEqual({
      maxBatchSize: 8,
      instances: 1,
      session: { interOpThreads: 2, intraOpThreads: 2, executionMode: 'sequential', enableCpuMemArena: false },
      executionProviders: ['tensorrt', 'cuda'],
    });
    // The configuration read back from Slipway (a loaded version's, naming its provider) loads again unchanged.
    const reported = buildModelConfig({ name: 'm', record, serving: next, activeProvider: { name: 'cpu' } });
    const again = apply(reported, next);
    expect(again.session).toEqual(next.session);
    expect(again.executionProviders).toEqual(next.executionProviders);
    // KIND_CPU clears a GPU preference.
    expect(apply({ instance_group: [{ kind: 'KIND_CPU' }] }, next).executionProviders).toBeUndefined();
  });

  it('refuses unknown parameters, bad values and a reported-only field by name', () => {
    expect(
      refusal({
        parameters: {
          intra_op_thread_count: { string_value: '0' },
          execution_mode: { string_value: 'parallel' },
          cudnn_conv_algo_search: { string_value: '1' },
          execution_provider: { string_value: 'gpu' },
        },
        optimization: { execution_accelerators: { cpu_execution_accelerator: [{ name: 'openvino' }] } },
      }),
    ).toBe(
      'invalid model config: config.parameters.execution_mode must be "0" (sequential) or "1" (parallel), got "parallel"; ' +
        'config.parameters.execution_provider must name a provider (cpu, cuda, tensorrt), got {"string_value":"gpu"}; it reports where the loaded version runs: ask for a GPU with config.instance_group[0].kind KIND_GPU and config.optimization.execution_accelerators; ' +
        'config.optimization.execution_accelerators.cpu_execution_accelerator is not supported by Slipway (its providers: cuda, tensorrt, cpu); ' +
        'config.parameters: session.intraOpThreads must be an integer from 1 to 64, got "0"',
    );
    expect(refusal({ parameters: { cudnn_conv_algo_search: { string_value: '1' } } })).toBe(
      'invalid model config: config.parameters.cudnn_conv_algo_search is not supported by Slipway',
    );
  });
});
