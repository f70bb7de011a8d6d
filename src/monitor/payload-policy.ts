import { invalid } from '../core/errors.js';

/**
 * What the prediction log keeps of a request's tensors (issue 13 item 6: four 60 MB requests
 * added 272 MB to the database). `full`: every element. `capped`: each tensor's first
 * `maxElements` elements, in whole rows when a row fits (tensor-blob.ts `cutTensor`), so tabular
 * rows `[1, F]` (F <= cap) are stored whole and drift reads them as before; a cut row says so.
 * `none`: ids, time, latency and outcome only. Per model in its serving config
 * (registry/serving-config.ts `logPayload`, `logMaxElements`), else the process default
 * (`SLIPWAY_LOG_PAYLOAD`, `SLIPWAY_LOG_MAX_ELEMENTS`).
 */
export type PayloadMode = 'full' | 'capped' | 'none';

export interface PayloadPolicy {
  readonly mode: PayloadMode;
  /** `capped`: elements kept per tensor. */
  readonly maxElements: number;
}

export const PAYLOAD_MODES: readonly PayloadMode[] = ['full', 'capped', 'none'];
/**
 * Fewest elements a cap may keep: above drift's widest row (MAX_COLUMNS_PER_TENSOR, 64), so a row
 * too wide to keep whole is one drift never profiles either.
 */
export const MIN_CAP_ELEMENTS = 128;
export const MAX_CAP_ELEMENTS = 1 << 24;
export const DEFAULT_PAYLOAD_POLICY: PayloadPolicy = Object.freeze({ mode: 'capped', maxElements: 1024 });

/** Elements per tensor the policy keeps (Infinity for full); 0 means the tensors are left out. */
export function keptElements(policy: PayloadPolicy): number {
  return policy.mode === 'full' ? Number.POSITIVE_INFINITY : policy.mode === 'none' ? 0 : policy.maxElements;
}

/** A validated policy from a mode and a cap (either may be missing: the fallback's is used). */
export function payloadPolicy(
  mode: unknown,
  maxElements: unknown,
  fallback: PayloadPolicy = DEFAULT_PAYLOAD_POLICY,
): PayloadPolicy {
  const problems: string[] = [];
  const chosenMode = mode ?? fallback.mode;
  if (typeof chosenMode !== 'string' || !(PAYLOAD_MODES as readonly string[]).includes(chosenMode))
    problems.push(`payload mode ${JSON.stringify(chosenMode)}: expected ${PAYLOAD_MODES.join(', ')}`);
  const cap = maxElements ?? fallback.maxElements;
  if (typeof cap !== 'number' || !Number.isInteger(cap) || cap < MIN_CAP_ELEMENTS || cap > MAX_CAP_ELEMENTS)
    problems.push(
      `max elements ${JSON.stringify(cap)}: expected an integer from ${MIN_CAP_ELEMENTS} to ${MAX_CAP_ELEMENTS}`,
    );
  if (problems.length > 0) throw invalid(`prediction log payload policy: ${problems.join('; ')}`, problems);
  return Object.freeze({ mode: chosenMode as PayloadMode, maxElements: cap as number });
}
