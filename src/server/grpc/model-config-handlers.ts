/**
 * gRPC `ModelConfig`: serving/model-config.ts's configuration as the proto's ModelConfig message
 * (data types as enum names, dims as int64).
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { RegistryService } from '../../registry/registry-service.js';
import { buildModelConfig, type TritonModelConfig } from '../../serving/model-config.js';
import type { ServingLifecycle } from '../../serving/index.js';
import { requireModelName } from './infer-codec.js';
import type { ModelConfigMessage, ModelConfigResponseMessage, ModelRefMessage } from './messages.js';
import { unaryHandler } from './unary-call.js';

export interface ModelConfigHandlerDeps {
  readonly lifecycle: Pick<ServingLifecycle, 'describedVersion'> & Partial<Pick<ServingLifecycle, 'activeProvider'>>;
  readonly registry: Pick<RegistryService, 'getServingConfig'>;
  /** Where INTERNAL errors are reported. */
  readonly log?: (line: string) => void;
}

/** The `ModelConfig` handler, to merge with the other handlers given to `Server.addService`. */
export function createModelConfigHandlers(deps: ModelConfigHandlerDeps): UntypedServiceImplementation {
  return {
    ModelConfig: unaryHandler(
      'ModelConfig',
      async (request: ModelRefMessage): Promise<ModelConfigResponseMessage> => {
        const name = requireModelName(request.name, 'name');
        const record = await deps.lifecycle.describedVersion(name, request.version || undefined);
        const serving = await deps.registry.getServingConfig(record.model);
        const activeProvider = deps.lifecycle.activeProvider?.(record);
        const config = buildModelConfig({ name, record, serving, ...(activeProvider ? { activeProvider } : {}) });
        return { config: toModelConfigMessage(config) };
      },
      deps.log,
    ),
  };
}

/** The JSON configuration as the proto message; the two share field names, so this only restates them. */
export function toModelConfigMessage(config: TritonModelConfig): ModelConfigMessage {
  return {
    name: config.name,
    platform: config.platform,
    backend: config.backend,
    version_policy: { all: {} },
    max_batch_size: config.max_batch_size,
    input: config.input.map((t) => ({ ...t, dims: [...t.dims] })),
    output: config.output.map((t) => ({ ...t, dims: [...t.dims] })),
    ...(config.dynamic_batching === undefined
      ? {}
      : {
          dynamic_batching: {
            ...config.dynamic_batching,
            preferred_batch_size: [...config.dynamic_batching.preferred_batch_size],
          },
        }),
    ...(config.sequence_batching === undefined
      ? {}
      : {
          sequence_batching: {
            ...config.sequence_batching,
            state: config.sequence_batching.state.map((s) => ({ ...s, dims: [...s.dims] })),
          },
        }),
    instance_group: config.instance_group.map((g) => ({ ...g })),
    parameters: { ...config.parameters },
    model_warmup: [],
  };
}
