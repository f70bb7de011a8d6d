import { invalid } from './errors.js';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Parse a duration such as `500ms`, `30s`, `5m`, `1h`, `7d` (or a bare number of milliseconds)
 * into milliseconds.
 *
 * @example
 * parseDuration('5m', 'window') // 300000
 */
export function parseDuration(text: string, what = 'duration'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/.exec(text);
  if (match === null) throw invalid(`${what} "${text}": expected a number and a unit, e.g. 30s, 5m, 1h, 7d`);
  const ms = Number(match[1]) * (UNITS[match[2] ?? 'ms'] ?? 1);
  if (!Number.isFinite(ms) || ms <= 0) throw invalid(`${what} "${text}" must be greater than zero`);
  return Math.round(ms);
}

/** The shortest exact spelling of a duration, e.g. 3600000 -> "1h". */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    const size = UNITS[unit] as number;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
