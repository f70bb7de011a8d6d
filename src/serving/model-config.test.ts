import { describe, expect, it } from 'vitest';
import type { Signature } from '../tensor/datatypes.js';
import { DEFAULT_BATCHING } from '../runtime/batcher.js';
import { buildModelConfig, tritonDataType } from './model-config.js';

const record = (signature: Signature) => ({ version: '1.2.0', signature });

const batchMajor: Signature = {
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [-1, 30] },
    { name: 'note', datatype: 'BYTES', shape: [-1, -1], optional: true },
  ],
  outputs: [{ name: 'label', datatype: 'INT64', shape: [-1] }],
};

describe('model configuration (Triton model-config JSON)', () => {
  it('reports a batching model with dims without the batch dimension and the batcher defaults', () => {
    expect(buildModelConfig({ name: 'm', record: record(batchMajor), serving: {} })).toEqual({
      name: 'm',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      version_policy: { all: {} },
      max_batch_size: 64,
      input: [
        {
          name: 'x',
          data_type: 'TYPE_FP32',
          format: 'FORMAT_NONE',
          dims: [30],
          is_shape_tensor: false,
          allow_ragged_batch: false,
          optional: false,
        },
        {
          name: 'note',
          data_type: 'TYPE_STRING',
          format: 'FORMAT_NONE',
          dims: [-1],
          is_shape_tensor: false,
          allow_ragged_batch: false,
          optional: true,
        },
      ],
      output: [{ name: 'label', data_type: 'TYPE_INT64', dims: [], label_filename: '', is_shape_tensor: false }],
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
      instance_group: [{ name: 'm_0', kind: 'KIND_CPU', count: 1 }],
      parameters: { slipway_version: { string_value: '1.2.0' } },
      model_warmup: [],
    });
  });

  it('takes the stored serving config over the defaults', () => {
    const config = buildModelConfig({
      name: 'm',
      record: record(batchMajor),
      serving: { maxBatchSize: 8, maxQueueDelayMicros: 500, maxQueueSize: 0, instances: 3, priorityLevels: 4 },
    });
    expect(config.max_batch_size).toBe(8);
    expect(config.dynamic_batching).toMatchObject({
      max_queue_delay_microseconds: 500,
      priority_levels: 4,
      default_priority_level: 4,
      default_queue_policy: { max_queue_size: 0 },
    });
    expect(config.instance_group).toEqual([{ name: 'm_0', kind: 'KIND_CPU', count: 3 }]);
    expect(
      buildModelConfig({
        name: 'm',
        record: record(batchMajor),
        serving: {},
        defaults: { ...DEFAULT_BATCHING, maxBatchSize: 5 },
      }).max_batch_size,
    ).toBe(5);
  });

  it('reports batching off as max_batch_size 0, full shapes, one instance and no dynamic_batching', () => {
    const config = buildModelConfig({
      name: 'm',
      record: record(batchMajor),
      serving: { batching: false, instances: 4 },
    });
    expect(config.max_batch_size).toBe(0);
    expect(config.input.map((t) => t.dims)).toEqual([
      [-1, 30],
      [-1, -1],
    ]);
    expect(config.output.map((t) => t.dims)).toEqual([[-1]]);
    expect(config.dynamic_batching).toBeUndefined();
    expect(config.instance_group).toEqual([{ name: 'm_0', kind: 'KIND_CPU', count: 1 }]);
  });

  it('gives max_batch_size 0 when a tensor has no variable leading dimension, keeping the batcher queue', () => {
    const fixed: Signature = {
      inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 4] }],
      outputs: [{ name: 'y', datatype: 'FP64', shape: [-1, 2] }],
    };
    const config = buildModelConfig({ name: 'm', record: record(fixed), serving: {} });
    expect(config.max_batch_size).toBe(0);
    expect(config.input[0]!.dims).toEqual([1, 4]);
    expect(config.output[0]!.dims).toEqual([-1, 2]);
    expect(config.dynamic_batching?.default_queue_policy.max_queue_size).toBe(4096);
  });

  it('reports a stateful model as sequence_batching, its state tensors hidden from input and output', () => {
    const rnn: Signature = {
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [-1, 4] },
        { name: 'h', datatype: 'FP32', shape: [-1, 8] },
      ],
      outputs: [
        { name: 'y', datatype: 'FP32', shape: [-1, 3] },
        { name: 'hn', datatype: 'FP32', shape: [-1, 8] },
      ],
    };
    const config = buildModelConfig({
      name: 'rnn',
      record: record(rnn),
      serving: { sequence: { state: [{ input: 'h', output: 'hn' }], idleTimeoutMs: 2500 } },
    });
    expect(config.input.map((t) => t.name)).toEqual(['x']);
    expect(config.output.map((t) => t.name)).toEqual(['y']);
    expect(config.dynamic_batching).toBeUndefined();
    expect(config.sequence_batching).toEqual({
      max_sequence_idle_microseconds: 2_500_000,
      state: [{ input_name: 'h', output_name: 'hn', data_type: 'TYPE_FP32', dims: [8] }],
    });
    expect(
      buildModelConfig({
        name: 'rnn',
        record: record(rnn),
        serving: { sequence: { state: [{ input: 'h', output: 'hn' }] } },
      }).sequence_batching?.max_sequence_idle_microseconds,
    ).toBe(60_000_000);
  });

  it('names every datatype as Triton does', () => {
    expect((['BOOL', 'UINT8', 'INT64', 'FP16', 'FP64', 'BYTES'] as const).map(tritonDataType)).toEqual([
      'TYPE_BOOL',
      'TYPE_UINT8',
      'TYPE_INT64',
      'TYPE_FP16',
      'TYPE_FP64',
      'TYPE_STRING',
    ]);
  });
});
