/**
 * ONNX Runtime session options from a model's settings, and session creation that tries the
 * preferred execution providers in order before falling back to the CPU.
 *
 * GPU design (issue 16 part 5). The onnxruntime-node package published on npm ships the CPU provider
 * (and WebGPU); `cuda` and `tensorrt` are listed by `ort.listSupportedBackends()` as not bundled, and
 * asking for them fails at session creation ("Failed to load shared library"). A GPU build needs:
 * - onnxruntime-node installed with its CUDA binaries (`npm install onnxruntime-node
 *   --onnxruntime-node-install=cuda12` downloads libonnxruntime_providers_cuda.so and
 *   libonnxruntime_providers_shared.so next to the CPU library; TensorRT also needs
 *   libonnxruntime_providers_tensorrt.so and TensorRT's own libraries on LD_LIBRARY_PATH), the
 *   matching CUDA and cuDNN runtime on the host, and a driver the container can see.
 * - a device id per provider: ONNX Runtime takes `{name: 'cuda', deviceId: n}`; Slipway would pass
 *   SLIPWAY_GPU_DEVICE (default 0) to every model, and one process per GPU is the simplest
 *   placement (Triton's `instance_group.gpus` is refused by serving/model-config-patch.ts until then).
 * - memory: the CUDA provider keeps its own arena (`gpu_mem_limit`, `arena_extend_strategy`);
 *   `enableCpuMemArena` only governs host memory. A GPU pool would cap loaded models by GPU memory
 *   rather than by count (runtime/model-pool.ts `maxLoaded`).
 * Nothing else changes: tensors stay on the host (inputs are copied to the device per run), so the
 * request path, batching and validation are the same. Until such a build exists every preference
 * ends on `cpu`, with one warning per load naming the provider and ORT's reason (runtime/pool-types.ts).
 */
import * as ort from 'onnxruntime-node';
import type { ActiveProvider, ExecutionProviderName, SessionSettings } from '../backend.js';

/** What a session gets where neither the model nor the process says otherwise: today's behaviour. */
export const SESSION_DEFAULTS: Required<SessionSettings> = {
  intraOpThreads: 1,
  interOpThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  enableCpuMemArena: true,
  enableMemPattern: true,
};

/** Every setting resolved: the model's over the process's over {@link SESSION_DEFAULTS}. */
export function resolveSessionSettings(
  model: SessionSettings | undefined,
  process: SessionSettings = {},
): Required<SessionSettings> {
  return { ...SESSION_DEFAULTS, ...definedOnly(process), ...definedOnly(model ?? {}) };
}

/** ONNX Runtime's session options for resolved settings (no execution providers: see {@link createSessionWithFallback}). */
export function ortSessionOptions(
  settings: Required<SessionSettings>,
  logSeverityLevel: 0 | 1 | 2 | 3 | 4,
): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: settings.intraOpThreads,
    interOpNumThreads: settings.interOpThreads,
    executionMode: settings.executionMode,
    graphOptimizationLevel: settings.graphOptimizationLevel,
    enableCpuMemArena: settings.enableCpuMemArena,
    enableMemPattern: settings.enableMemPattern,
    logSeverityLevel,
  };
}

/**
 * Create a session on the first provider of `preference` that works, `cpu` last whether listed or
 * not. A provider this build does not list, or whose session creation fails, is passed over with
 * its reason in `provider.fallbacks`. A failure on `cpu` is the model's own and is thrown.
 */
export async function createSessionWithFallback(
  path: string,
  options: ort.InferenceSession.SessionOptions,
  preference: readonly ExecutionProviderName[] = [],
): Promise<{ session: ort.InferenceSession; provider: ActiveProvider }> {
  const fallbacks: string[] = [];
  const available = new Set(ort.listSupportedBackends().map((b) => b.name));
  for (const name of preference) {
    if (name === 'cpu') break;
    const missing = missingLibraries.get(name);
    if (!available.has(name) || missing !== undefined) {
      fallbacks.push(`${name}: ${missing ?? 'not supported by this onnxruntime-node build'}`);
      continue;
    }
    try {
      const session = await ort.InferenceSession.create(path, { ...options, executionProviders: [name] });
      return { session, provider: { name, fallbacks } };
    } catch (error) {
      const reason = firstLine(error);
      // A provider library that is not installed stays missing for the process: not tried (and logged by ORT) at every load.
      if (/shared library/i.test(reason)) missingLibraries.set(name, reason);
      fallbacks.push(`${name}: ${reason}`);
    }
  }
  const session = await ort.InferenceSession.create(path, { ...options, executionProviders: ['cpu'] });
  return { session, provider: { name: 'cpu', fallbacks } };
}

/** Providers whose library failed to load in this process, with ORT's reason. */
const missingLibraries = new Map<ExecutionProviderName, string>();

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n')[0] ?? text).trim().slice(0, 300);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
