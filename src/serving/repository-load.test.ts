/**
 * A repository load's parameters and Triton's model config applied as a serving config (pure),
 * and the load itself over stub dependencies (the config goes back when the load fails).
 */
import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import type { ServingConfig } from '../registry/serving-config.js';
import type { VersionRecord } from '../registry/types.js';
import type { Signature } from '../tensor/datatypes.js';
import { rejection } from '../testing/rejection.js';
import { parseModelConfigJson } from './model-config-patch.js';
import {
  loadWithParameters,
  parseLoadParameters,
  parseUnloadParameters,
  servingConfigFromModelConfig,
  type RepositoryLoadDeps,
} from './repository-load.js';

const BATCHING: Signature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
};
/** An RNN step: x and the state h in, y and the next state hn out. */
const STATEFUL: Signature = {
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [-1, 3] },
    { name: 'h', datatype: 'FP32', shape: [-1, 5] },
  ],
  outputs: [
    { name: 'y', datatype: 'FP32', shape: [-1, 2] },
    { name: 'hn', datatype: 'FP32', shape: [-1, 5] },
  ],
};
/** Fixed shapes: requests cannot share a run. */
const FIXED: Signature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 1] }],
};

function apply(config: unknown, signature: Signature = BATCHING, stored: ServingConfig = {}): ServingConfig {
  return servingConfigFromModelConfig(parseModelConfigJson(JSON.stringify(config)), {
    model: 'm',
    record: { version: '1.0.0', signature },
    stored,
  });
}

function refusal(config: unknown, signature: Signature = BATCHING, stored: ServingConfig = {}): string {
  try {
    apply(config, signature, stored);
  } catch (error) {
    expect(error).toBeInstanceOf(SlipwayError);
    expect((error as SlipwayError).code).toBe('INVALID_ARGUMENT');
    return (error as SlipwayError).message;
  }
  throw new Error('expected the config to be refused');
}

describe('a model config as serving settings', () => {
  it('maps batching, the queue, priorities and instances, merged over the stored settings', () => {
    const config = {
      name: 'm',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: '16',
      dynamic_batching: {
        max_queue_delay_microseconds: 100,
        priority_levels: 3,
        default_priority_level: 3,
        preferred_batch_size: [],
        default_queue_policy: { max_queue_size: 7, timeout_action: 'REJECT' },
      },
      instance_group: [{ count: 2, kind: 'KIND_CPU', gpus: [], passive: false }],
      version_policy: { all: {} },
      parameters: { slipway_version: { string_value: '1.0.0' } },
    };
    expect(apply(config, BATCHING, { logPayload: 'none', maxQueueSize: 1 })).toEqual({
      logPayload: 'none',
      batching: true,
      maxBatchSize: 16,
      maxQueueDelayMicros: 100,
      priorityLevels: 3,
      maxQueueSize: 7,
      instances: 2,
    });
    // Triton's priority_levels 0 is no priorities: one level.
    expect(apply({ dynamic_batching: { priority_levels: 0 } })).toEqual({ batching: true, priorityLevels: 1 });
  });

  it('turns the batcher off with max_batch_size 0, and refuses what would then not apply', () => {
    expect(apply({ max_batch_size: 0 }, BATCHING, { maxBatchSize: 8 })).toEqual({ batching: false, maxBatchSize: 8 });
    expect(refusal({ max_batch_size: 0, dynamic_batching: {}, instance_group: [{ count: 3 }] })).toBe(
      'invalid model config: config.dynamic_batching needs config.max_batch_size > 0: max_batch_size 0 turns the batcher off; config.instance_group[0].count 3 needs the batcher (max_batch_size > 0): without it a model runs one request at a time',
    );
    // A model whose tensors have fixed first dimensions reports 0 and keeps its queue.
    expect(apply({ max_batch_size: 0, dynamic_batching: { max_queue_delay_microseconds: 5 } }, FIXED)).toEqual({
      batching: true,
      maxQueueDelayMicros: 5,
    });
    expect(refusal({ max_batch_size: 4 }, FIXED)).toBe(
      'invalid model config: config.max_batch_size 4 needs every input and output to have a variable first dimension (the batch), and this model\'s do not ("x" [1,4], "y" [1,1]): its max_batch_size is 0',
    );
  });

  it('refuses every field Slipway has no setting for, by name, all at once', () => {
    expect(
      refusal({
        optimization: {},
        ensemble_scheduling: {},
        dynamic_batching: {
          priority_queue_policy: {},
          preserve_ordering: true,
          default_queue_policy: { default_timeout_microseconds: 5, timeout_action: 'DELAY' },
        },
        instance_group: [{ kind: 'KIND_GPU', rate_limiter: {} }],
        version_policy: { latest: { num_versions: 1 } },
        parameters: { threads: { string_value: '4' } },
      }),
    ).toBe(
      'invalid model config: config.optimization is not supported by Slipway; config.ensemble_scheduling is not supported by Slipway; config.dynamic_batching.priority_queue_policy is not supported by Slipway; config.instance_group[0].rate_limiter is not supported by Slipway; ' +
        'config.dynamic_batching.preserve_ordering true is not supported by Slipway (for this model it is false); config.dynamic_batching.default_queue_policy.default_timeout_microseconds 5 is not supported by Slipway (for this model it is 0); ' +
        'config.dynamic_batching.default_queue_policy.timeout_action "DELAY" is not supported by Slipway (for this model it is "REJECT"); ' +
        'config.version_policy {"latest":{"num_versions":1}} is not supported by Slipway (for this model it is {"all":{}}); config.parameters.threads is not supported by Slipway',
    );
    expect(refusal({ instance_group: [{ count: 1 }, { count: 1 }] })).toBe(
      'invalid model config: config.instance_group must hold exactly one group, e.g. [{"count": 2, "kind": "KIND_CPU"}]: Slipway runs one group of instances on the CPU, got [{"count":1},{"count":1}]',
    );
  });

  it("accepts the model's own name, platform and tensors, and refuses a change to them", () => {
    expect(
      apply({
        max_batch_size: 4,
        input: [{ name: 'x', data_type: 'TYPE_FP32', dims: ['4'] }],
        output: [{ name: 'y', dims: [1] }],
      }),
    ).toEqual({ batching: true, maxBatchSize: 4 });
    expect(
      refusal({
        name: 'n',
        platform: 'tensorrt_plan',
        max_batch_size: 0,
        input: [{ name: 'x', dims: [4], reshape: { shape: [2, 2] } }, { name: 'z' }],
      }),
    ).toBe(
      'invalid model config: config.name "n" differs from the model\'s "m"; config.platform "tensorrt_plan" differs from the model\'s "onnxruntime_onnx"; ' +
        "config.input[0].dims [4] differs from the model's [-1,4]: the input of a model config cannot change the model's signature; config.input[0].reshape is not supported by Slipway; " +
        'config.input[1]: "z" is not an input of model "m" ("x"); the input of a model config cannot change the model\'s signature',
    );
  });

  it('maps sequence_batching to the sequence setting, checked against the signature', () => {
    const sequence = {
      max_sequence_idle_microseconds: 5_000_000,
      state: [{ input_name: 'h', output_name: 'hn', data_type: 'TYPE_FP32', dims: [5] }],
    };
    expect(
      apply({ max_batch_size: 8, sequence_batching: sequence }, STATEFUL, {
        sequence: { state: [{ input: 'a', output: 'b' }], maxSequences: 10 },
      }),
    ).toEqual({
      batching: true,
      maxBatchSize: 8,
      sequence: { state: [{ input: 'h', output: 'hn' }], idleTimeoutMs: 5000, maxSequences: 10 },
    });
    expect(
      refusal(
        {
          max_batch_size: 8,
          sequence_batching: {
            max_sequence_idle_microseconds: 1500,
            control_input: [],
            state: [{ input_name: 'h', output_name: 'hn', dims: [6], initial_state: [] }],
          },
        },
        STATEFUL,
      ),
    ).toBe(
      'invalid model config: config.sequence_batching.max_sequence_idle_microseconds must be whole milliseconds (a multiple of 1000), got 1500; ' +
        'config.sequence_batching.control_input is not supported by Slipway: a request marks its sequence with the sequence_id, sequence_start and sequence_end parameters; ' +
        "config.sequence_batching.state[0].initial_state is not supported by Slipway: a sequence's state starts from zeros; config.sequence_batching.state[0].dims [6] is not supported by Slipway (for this model it is [5])",
    );
    expect(refusal({ sequence_batching: { state: [{ input_name: 'x', output_name: 'hn' }] } }, STATEFUL)).toBe(
      'invalid model config: config.sequence_batching: state "hn" -> "x": shapes differ (output [-1,5], input [-1,3]); the output\'s dims must equal the input\'s',
    );
    expect(
      refusal(
        { dynamic_batching: {}, sequence_batching: { state: [{ input_name: 'h', output_name: 'hn' }] } },
        STATEFUL,
      ),
    ).toBe(
      "invalid model config: config.dynamic_batching and config.sequence_batching are exclusive (Triton's scheduling_choice): give one",
    );
    // Dynamic batching replaces a stored sequence (one scheduling choice).
    expect(apply({ dynamic_batching: {} }, STATEFUL, { sequence: { state: [{ input: 'h', output: 'hn' }] } })).toEqual({
      batching: true,
    });
  });

  it('maps a zero_data warm-up sample to a warm-up request, with the batch dimension when batching', () => {
    const warmup = (batchSize: number) => [
      {
        name: 'zeros',
        batch_size: batchSize,
        count: 3,
        inputs: { x: { data_type: 'TYPE_FP32', dims: [4], zero_data: true } },
      },
    ];
    expect(apply({ max_batch_size: 4, model_warmup: warmup(2) }).warmup).toEqual({
      request: { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 4], data: [0, 0, 0, 0, 0, 0, 0, 0] }] },
      count: 3,
    });
    expect(
      apply(
        {
          max_batch_size: 0,
          model_warmup: [{ name: 'z', inputs: { x: { data_type: 'TYPE_FP32', dims: [1, 4], zero_data: true } } }],
        },
        FIXED,
      ).warmup,
    ).toEqual({
      request: { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [0, 0, 0, 0] }] },
    });
    expect(apply({ model_warmup: [] })).toEqual({});
    expect(
      refusal({
        model_warmup: [{ name: 'r', inputs: { x: { data_type: 'TYPE_FP32', dims: [4], random_data: true } } }],
      }),
    ).toBe(
      'invalid model config: config.model_warmup[0].inputs.x.random_data is not supported by Slipway (a warm-up sample is zero_data); config.model_warmup[0].inputs.x needs "zero_data": true (the one kind of sample Slipway runs)',
    );
    expect(refusal({ model_warmup: [{ name: 'a' }, { name: 'b' }] })).toMatch(
      /^invalid model config: config\.model_warmup must hold one sample/,
    );
  });
});

describe('repository parameters', () => {
  it('reads version and config, and refuses file overrides and unknown keys by name', () => {
    expect(parseLoadParameters(undefined)).toEqual({});
    expect(parseLoadParameters({ version: '1.2.0', config: '{}' })).toEqual({ version: '1.2.0', config: '{}' });
    expect(() => parseLoadParameters({ config: true })).toThrow(
      'parameter "config" must be a string holding the model configuration JSON',
    );
    expect(() => parseLoadParameters({ 'file:1/model.onnx': new Uint8Array(3) })).toThrow(
      'parameter "file:1/model.onnx": Triton\'s model file override is not supported by Slipway',
    );
    expect(() => parseLoadParameters({ unload_dependents: true })).toThrow(
      'unknown parameter "unload_dependents" (known: version, config)',
    );
    expect(parseUnloadParameters({ version: 'latest', unload_dependents: false })).toEqual({ version: 'latest' });
    expect(() => parseUnloadParameters({ unload_dependents: 'yes' })).toThrow(
      'parameter "unload_dependents" must be true or false, got "yes"',
    );
    expect(() => parseUnloadParameters({ config: '{}' })).toThrow(
      'unknown parameter "config" (known: version, unload_dependents)',
    );
  });
});

describe('loadWithParameters', () => {
  const record = { model: 'm', version: '1.0.0', signature: BATCHING } as unknown as VersionRecord;

  function stubs(load: () => Promise<VersionRecord>): { deps: RepositoryLoadDeps; stored: ServingConfig[] } {
    const stored: ServingConfig[] = [{ maxBatchSize: 2 }];
    const deps: RepositoryLoadDeps = {
      registry: {
        resolve: () => Promise.resolve(record),
        getServingConfig: () => Promise.resolve(stored[stored.length - 1]!),
        setServingConfig: (_model, config) => {
          stored.push(config as ServingConfig);
          return Promise.resolve(config as ServingConfig);
        },
      },
      lifecycle: { load },
    };
    return { deps, stored };
  }

  it('stores the config, then loads', async () => {
    const { deps, stored } = stubs(() => Promise.resolve(record));
    expect(await loadWithParameters(deps, 'm', { config: '{"max_batch_size": 8}' })).toBe(record);
    expect(stored).toEqual([{ maxBatchSize: 2 }, { maxBatchSize: 8, batching: true }]);
  });

  it('puts the previous config back when the load fails', async () => {
    const { deps, stored } = stubs(() =>
      Promise.reject(new SlipwayError('INVALID_ARGUMENT', 'warm-up of m@1.0.0 failed')),
    );
    const error = await rejection(
      loadWithParameters(deps, 'm', { config: '{"max_batch_size": 8}' }),
      'INVALID_ARGUMENT',
    );
    expect(error.message).toBe('warm-up of m@1.0.0 failed');
    expect(stored).toEqual([{ maxBatchSize: 2 }, { maxBatchSize: 8, batching: true }, { maxBatchSize: 2 }]);
  });

  it('stores nothing for a refused config', async () => {
    const { deps, stored } = stubs(() => Promise.resolve(record));
    await rejection(loadWithParameters(deps, 'm', { config: '{"optimization": {}}' }), 'INVALID_ARGUMENT');
    expect(stored).toEqual([{ maxBatchSize: 2 }]);
  });
});
