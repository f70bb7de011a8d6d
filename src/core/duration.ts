import { invalid } from './errors.js';

/** Milliseconds per unit, largest first (the order `formatDuration` writes them in). */
const UNIT_MS = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;

const WHOLE_DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;

export interface ParseDurationOptions {
  /** Accept a bare number as milliseconds (environment variables); default false. */
  readonly bareMilliseconds?: boolean;
  /** Accept zero (`0s`, "for 0s"); default false. */
  readonly allowZero?: boolean;
}

/**
 * Parse a duration: a number and a unit (`ms s m h d w`), parts adding up (`1h30m`), into
 * milliseconds. The one duration syntax of Slipway: flags, query parameters, config, alert rules.
 *
 * @example
 * parseDuration('5m', 'window') // 300000
 * parseDuration('1h30m') // 5400000
 */
export function parseDuration(text: string, what = 'duration', options: ParseDurationOptions = {}): number {
  const trimmed = text.trim();
  let ms: number;
  if (options.bareMilliseconds === true && /^\d+(\.\d+)?$/.test(trimmed)) ms = Number(trimmed);
  else if (WHOLE_DURATION.test(trimmed)) {
    ms = 0;
    for (const [, amount, unit] of trimmed.matchAll(DURATION_PART))
      ms += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  } else {
    throw invalid(`${what} "${text}": expected e.g. 30s, 5m, 1h or 1h30m`);
  }
  ms = Math.round(ms);
  if (!Number.isFinite(ms) || ms < 0 || (ms === 0 && options.allowZero !== true))
    throw invalid(`${what} "${text}" must be greater than zero`);
  return ms;
}

/** The exact spelling of a duration, largest units first: 300000 → `5m`, 90000 → `1m30s`, 0 → `0s`. */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  let rest = Math.round(ms);
  let text = '';
  for (const [unit, size] of Object.entries(UNIT_MS)) {
    const count = Math.floor(rest / size);
    if (count > 0) text += `${count}${unit}`;
    rest -= count * size;
  }
  return text;
}
