import { parseDuration } from '../core/duration.js';
import { invalid } from '../core/errors.js';

/**
 * A point in time from a query parameter or flag: epoch milliseconds, an ISO-8601 date, or a
 * duration meaning "that long ago" (`1h`, `7d`).
 */
export function parseTime(text: string, what: string, now = Date.now()): number {
  const trimmed = text.trim();
  if (/^\d{11,}$/.test(trimmed)) return Number(trimmed);
  if (/^\d+(\.\d+)?\s*(ms|s|m|h|d|w)$/.test(trimmed)) return now - parseDuration(trimmed, what);
  const parsed = Date.parse(trimmed);
  if (Number.isNaN(parsed))
    throw invalid(
      `${what} "${text}": expected an ISO date (2026-11-29T10:00:00Z), epoch milliseconds, or a duration ago (1h, 7d)`,
    );
  return parsed;
}
