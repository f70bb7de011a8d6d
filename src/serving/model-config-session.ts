/**
 * The ONNX Runtime parts of a Triton model config sent with a repository load: the onnxruntime
 * backend's session `parameters`, `instance_group[0].kind` and `optimization.execution_accelerators`,
 * as the serving config's `session` and `executionProviders` (registry/serving-config.ts). Used by
 * serving/model-config-patch.ts's parser and serving/repository-load.ts. Pure.
 */
import type { ConfigSettings } from './model-config-patch.js';

/** Triton's onnxruntime backend parameter -> the serving config's `session` field. */
export const SESSION_FIELDS: Readonly<Record<string, string>> = {
  intra_op_thread_count: 'intraOpThreads',
  inter_op_thread_count: 'interOpThreads',
  execution_mode: 'executionMode',
  graph_optimization_level: 'graphOptimizationLevel',
  enable_mem_arena: 'enableCpuMemArena',
  enable_mem_pattern: 'enableMemPattern',
};

/**
 * The execution-provider preference a config's `instance_group[0].kind` and GPU accelerators ask
 * for, given the stored one: KIND_CPU clears it ([]), KIND_GPU keeps a stored GPU preference or asks
 * for `cuda`, accelerators come first (TensorRT falls back to CUDA, as in Triton). Undefined when the
 * config says nothing about it; problems are appended by field.
 */
export function executionProvidersFromConfig(
  settings: ConfigSettings,
  stored: readonly string[] | undefined,
  problems: string[],
): string[] | undefined {
  const { gpu, gpuAccelerators: accelerators } = settings;
  if (gpu === undefined && accelerators === undefined) return undefined;
  if (gpu === false) {
    if (accelerators !== undefined && accelerators.length > 0)
      problems.push(
        'config.optimization.execution_accelerators.gpu_execution_accelerator needs config.instance_group[0].kind KIND_GPU',
      );
    return [];
  }
  if (accelerators !== undefined && accelerators.length > 0)
    return [...accelerators, ...(accelerators.includes('cuda') ? [] : ['cuda'])];
  const storedGpu = (stored ?? []).filter((p) => p !== 'cpu');
  return storedGpu.length > 0 ? storedGpu : ['cuda'];
}

/** A session parameter's `{"string_value": ...}` as the serving config's `session` field (checked there, by name). */
export function sessionParameter(
  where: string,
  name: string,
  parameter: unknown,
  settings: ConfigSettings,
  problems: string[],
): void {
  const text = isObject(parameter) ? parameter.string_value : undefined;
  if (typeof text !== 'string') {
    problems.push(`${where} must be {"string_value": "..."}, got ${short(parameter)}`);
    return;
  }
  const field = SESSION_FIELDS[name] as string;
  let value: string | number | boolean = text;
  if (name === 'execution_mode') {
    if (text !== '0' && text !== '1') {
      problems.push(`${where} must be "0" (sequential) or "1" (parallel), got ${short(text)}`);
      return;
    }
    value = text === '1' ? 'parallel' : 'sequential';
  } else if (name === 'enable_mem_arena' || name === 'enable_mem_pattern') {
    if (!['0', '1', 'true', 'false'].includes(text)) {
      problems.push(`${where} must be "0" or "1", got ${short(text)}`);
      return;
    }
    value = text === '1' || text === 'true';
  }
  (settings.session ??= {})[field] = value;
}

/**
 * `parameters.execution_provider`: where the loaded version runs, which `GET .../config` reports
 * and a configuration read from Slipway carries back. The load decides it (from the preference), so
 * it is accepted when it names a provider and refused otherwise, pointing at the fields that ask for one.
 */
export function reportedProvider(where: string, parameter: unknown, problems: string[]): void {
  const text = isObject(parameter) ? parameter.string_value : undefined;
  if (text === 'cpu' || text === 'cuda' || text === 'tensorrt') return;
  problems.push(
    `${where} must name a provider (cpu, cuda, tensorrt), got ${short(parameter)}; it reports where the loaded version runs: ask for a GPU with config.instance_group[0].kind KIND_GPU and config.optimization.execution_accelerators`,
  );
}

/** Triton's `optimization`: only `execution_accelerators.gpu_execution_accelerator` names (tensorrt, cuda). */
export function optimization(value: unknown, settings: ConfigSettings, problems: string[]): void {
  const where = 'config.optimization';
  if (!isObject(value)) {
    problems.push(`${where} must be an object, got ${short(value)}`);
    return;
  }
  // Without execution accelerators it asks for nothing Slipway has.
  if (!isObject(value.execution_accelerators)) problems.push(`${where} is not supported by Slipway`);
  for (const [key, field] of Object.entries(value)) {
    if (field === null || field === undefined) continue;
    if (key !== 'execution_accelerators' || !isObject(field)) {
      if (isObject(value.execution_accelerators)) problems.push(`${where}.${key} is not supported by Slipway`);
      continue;
    }
    for (const [kind, list] of Object.entries(field)) {
      const at = `${where}.execution_accelerators.${kind}`;
      if (kind !== 'gpu_execution_accelerator') {
        problems.push(`${at} is not supported by Slipway (its providers: cuda, tensorrt, cpu)`);
        continue;
      }
      if (!Array.isArray(list)) {
        problems.push(`${at} must be a list like [{"name": "tensorrt"}], got ${short(list)}`);
        continue;
      }
      const names: ('tensorrt' | 'cuda')[] = [];
      list.forEach((entry: unknown, i) => {
        const name = isObject(entry) ? entry.name : undefined;
        const extra = isObject(entry) ? Object.keys(entry).filter((k) => k !== 'name') : [];
        if (name !== 'tensorrt' && name !== 'cuda')
          problems.push(`${at}[${i}].name must be "tensorrt" or "cuda", got ${short(name)}`);
        else names.push(name);
        for (const k of extra) problems.push(`${at}[${i}].${k} is not supported by Slipway`);
      });
      settings.gpuAccelerators = names;
    }
  }
}

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function short(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
