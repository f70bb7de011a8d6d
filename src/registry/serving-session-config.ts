/**
 * A model's ONNX Runtime session settings and execution-provider preference, as its serving config
 * stores them (registry/serving-config.ts's `session` and `executionProviders`). Kept apart from
 * serving-config.ts, which holds the batching, logging, sequence and warm-up settings. The same
 * shapes as runtime/backend.ts's SessionSettings and ExecutionProviderName (registry/ does not import runtime/).
 */
import { quote } from '../tensor/format.js';

/** ONNX Runtime session options per model; unset fields keep the process defaults (runtime/onnx/session-settings.ts). */
export interface SessionConfig {
  readonly intraOpThreads?: number;
  readonly interOpThreads?: number;
  readonly executionMode?: 'sequential' | 'parallel';
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  readonly enableCpuMemArena?: boolean;
  readonly enableMemPattern?: boolean;
}

/** Execution providers a model may ask for, in preference order; `cpu` is always the last resort. */
export const EXECUTION_PROVIDERS = ['cuda', 'tensorrt', 'cpu'] as const;
export type ExecutionProviderName = (typeof EXECUTION_PROVIDERS)[number];

const THREAD_LIMITS = [1, 64] as const;
const CHOICES = {
  executionMode: ['sequential', 'parallel'],
  graphOptimizationLevel: ['disabled', 'basic', 'extended', 'all'],
} as const;
const BOOLEANS = ['enableCpuMemArena', 'enableMemPattern'] as const;
const THREADS = ['intraOpThreads', 'interOpThreads'] as const;

export const SESSION_CONFIG_KEYS: readonly (keyof SessionConfig)[] = [
  ...THREADS,
  ...(Object.keys(CHOICES) as (keyof typeof CHOICES)[]),
  ...BOOLEANS,
];

const SESSION_EXAMPLE = '{"intraOpThreads": 2, "executionMode": "sequential"}';

/**
 * The `session` setting (an object, or its JSON in a string for `slipway config m --set 'session={...}'`),
 * merged with `dotted` (`session.intraOpThreads=2` from `--set`, values as strings). Problems are
 * appended to `problems`, each naming `session.<field>`; undefined when there were any.
 */
export function parseSessionConfig(
  raw: unknown,
  dotted: Readonly<Record<string, unknown>>,
  problems: string[],
): SessionConfig | undefined {
  let value: unknown = raw ?? {};
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw) as unknown;
    } catch {
      problems.push(`session must be an object like ${SESSION_EXAMPLE}, got ${quote(raw)}`);
      return undefined;
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`session must be an object like ${SESSION_EXAMPLE}, got ${JSON.stringify(value)}`);
    return undefined;
  }
  const before = problems.length;
  const merged: Record<string, unknown> = { ...(value as Record<string, unknown>), ...dotted };
  const config: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(merged)) {
    if (field === undefined || field === null) continue;
    const name = `session.${key}`;
    if ((THREADS as readonly string[]).includes(key)) {
      const n = typeof field === 'string' && field.trim() !== '' ? Number(field) : field;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < THREAD_LIMITS[0] || n > THREAD_LIMITS[1])
        problems.push(
          `${name} must be an integer from ${THREAD_LIMITS[0]} to ${THREAD_LIMITS[1]}, got ${JSON.stringify(field)}`,
        );
      else config[key] = n;
    } else if (key in CHOICES) {
      const choices = CHOICES[key as keyof typeof CHOICES] as readonly string[];
      if (typeof field === 'string' && choices.includes(field)) config[key] = field;
      else problems.push(`${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(field)}`);
    } else if ((BOOLEANS as readonly string[]).includes(key)) {
      const b = field === 'true' ? true : field === 'false' ? false : field;
      if (typeof b === 'boolean') config[key] = b;
      else problems.push(`${name} must be true or false, got ${JSON.stringify(field)}`);
    } else {
      problems.push(
        `unknown setting ${quote(name)} (known: ${SESSION_CONFIG_KEYS.map((k) => `session.${k}`).join(', ')})`,
      );
    }
  }
  if (problems.length > before) return undefined;
  return config;
}

/**
 * The `executionProviders` setting: a list of `cuda`, `tensorrt`, `cpu` in preference order, or
 * the same as a comma-separated string (`--set executionProviders=cuda,cpu`). `cpu` is kept last
 * when listed (it is the last resort either way); a repeated name is refused.
 */
export function parseExecutionProviders(raw: unknown, problems: string[]): ExecutionProviderName[] | undefined {
  let list: unknown = raw;
  if (typeof raw === 'string') {
    const text = raw.trim();
    try {
      list = text.startsWith('[') ? (JSON.parse(text) as unknown) : text.split(',').map((s) => s.trim());
    } catch {
      list = undefined;
    }
  }
  const example = `a list of ${EXECUTION_PROVIDERS.join(', ')} in preference order, e.g. ["cuda", "cpu"]`;
  if (!Array.isArray(list) || list.length === 0) {
    problems.push(`executionProviders must be ${example}, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  const before = problems.length;
  const names: ExecutionProviderName[] = [];
  list.forEach((name: unknown, i) => {
    if (!(EXECUTION_PROVIDERS as readonly unknown[]).includes(name))
      problems.push(
        `executionProviders[${i}] must be one of ${EXECUTION_PROVIDERS.join(', ')}, got ${JSON.stringify(name)}`,
      );
    else if (names.includes(name as ExecutionProviderName))
      problems.push(`executionProviders names ${quote(name as string)} more than once`);
    else names.push(name as ExecutionProviderName);
  });
  const cpu = names.indexOf('cpu');
  if (cpu >= 0 && cpu !== names.length - 1)
    problems.push(
      `executionProviders: "cpu" must come last (it is the last resort whether listed or not), got ${JSON.stringify(list)}`,
    );
  return problems.length > before ? undefined : names;
}
