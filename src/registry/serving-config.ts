import { SlipwayError } from '../core/errors.js';

/**
 * How a model is served: dynamic batching and instances (Triton's `dynamic_batching` and
 * `instance_group`, in the names of issue 3). Unset fields take the server's defaults.
 * Stored per model; applied when a version is (re)loaded.
 */
export interface ServingConfig {
  /** false turns the batcher off: every request runs on its own. */
  readonly batching?: boolean;
  readonly maxBatchSize?: number;
  readonly maxQueueDelayMicros?: number;
  /** 0 = unbounded. */
  readonly maxQueueSize?: number;
  readonly instances?: number;
  readonly priorityLevels?: number;
  /**
   * What the prediction log keeps of this model's tensors (monitor/payload-policy.ts): `full`,
   * `capped` (each tensor's first `logMaxElements` elements) or `none`. Unset: the process default
   * (SLIPWAY_LOG_PAYLOAD, capped).
   */
  readonly logPayload?: 'full' | 'capped' | 'none';
  readonly logMaxElements?: number;
}

const LOG_PAYLOADS = ['full', 'capped', 'none'] as const;

const LIMITS: Readonly<Record<Exclude<keyof ServingConfig, 'batching' | 'logPayload'>, readonly [number, number]>> = {
  maxBatchSize: [1, 1 << 20],
  maxQueueDelayMicros: [0, 10_000_000],
  maxQueueSize: [0, 1 << 24],
  instances: [1, 64],
  priorityLevels: [1, 16],
  // From monitor/payload-policy.ts (MIN_CAP_ELEMENTS, MAX_CAP_ELEMENTS): registry/ does not import monitor/.
  logMaxElements: [128, 1 << 24],
};

export const SERVING_CONFIG_KEYS = ['batching', 'logPayload', ...Object.keys(LIMITS)] as readonly (keyof ServingConfig)[];

/** Validate a serving config from a client; every problem is reported at once. */
export function parseServingConfig(value: unknown): ServingConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SlipwayError('INVALID_ARGUMENT', 'a serving config is a JSON object, e.g. {"maxBatchSize": 64}');
  }
  const problems: string[] = [];
  const config: Record<string, number | boolean | string> = {};
  for (const [key, raw] of Object.entries(value as Record<string, unknown>)) {
    if (raw === undefined || raw === null) continue;
    if (key === 'batching') {
      if (typeof raw === 'boolean') config.batching = raw;
      else problems.push(`batching must be true or false, got ${JSON.stringify(raw)}`);
      continue;
    }
    if (key === 'logPayload') {
      if ((LOG_PAYLOADS as readonly unknown[]).includes(raw)) config.logPayload = raw as string;
      else problems.push(`logPayload must be one of ${LOG_PAYLOADS.join(', ')}, got ${JSON.stringify(raw)}`);
      continue;
    }
    const limits = LIMITS[key as keyof typeof LIMITS] as readonly [number, number] | undefined;
    if (limits === undefined) {
      problems.push(`unknown setting "${key}" (known: ${SERVING_CONFIG_KEYS.join(', ')})`);
      continue;
    }
    const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < limits[0] || n > limits[1]) {
      problems.push(`${key} must be an integer from ${limits[0]} to ${limits[1]}, got ${JSON.stringify(raw)}`);
      continue;
    }
    config[key] = n;
  }
  if (problems.length > 0) throw new SlipwayError('INVALID_ARGUMENT', `invalid serving config: ${problems.join('; ')}`, { details: problems });
  return config;
}
