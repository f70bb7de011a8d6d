import { parseDuration } from '../core/duration.js';
import { invalid } from '../core/errors.js';
import { DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT, type AuditQuery } from './audit-store.js';

/** The filters of `slipway audit` and `GET /api/v1/audit`, as text (flags or query parameters). */
export interface AuditFilterText {
  readonly since?: string;
  readonly actor?: string;
  readonly action?: string;
  readonly limit?: string;
  /** The keyset cursor (the previous page's `next`). */
  readonly before?: string;
}

/**
 * Parse the audit filters: `since` is a duration ago (`1h`, `7d`), an ISO-8601 time or epoch
 * milliseconds; `limit` 1..1000 (default 100); `before` an event id. Every bad value is refused by name.
 */
export function parseAuditQuery(text: AuditFilterText, now = Date.now()): AuditQuery {
  const query: { -readonly [K in keyof AuditQuery]: AuditQuery[K] } = {};
  if (text.since !== undefined) query.sinceMs = parseSince(text.since, now);
  if (text.actor !== undefined) {
    if (text.actor === '') throw invalid('actor must not be empty');
    query.actor = text.actor;
  }
  if (text.action !== undefined) {
    if (text.action === '') throw invalid('action must not be empty');
    query.actionPrefix = text.action;
  }
  query.limit = text.limit === undefined ? DEFAULT_AUDIT_LIMIT : wholeNumber(text.limit, 'limit', 1, MAX_AUDIT_LIMIT);
  if (text.before !== undefined) query.beforeId = wholeNumber(text.before, 'before', 1, Number.MAX_SAFE_INTEGER);
  return query;
}

function parseSince(text: string, now: number): number {
  const trimmed = text.trim();
  if (/^\d{11,}$/.test(trimmed)) return Number(trimmed);
  if (/^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/.test(trimmed)) return now - parseDuration(trimmed, 'since');
  const parsed = /^\d{4}-\d{2}-\d{2}/.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (Number.isNaN(parsed))
    throw invalid(
      `since "${text}": expected a duration ago (1h, 7d), an ISO date (2026-11-29T10:00:00Z) or epoch milliseconds`,
    );
  return parsed;
}

function wholeNumber(text: string, name: string, min: number, max: number): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw invalid(`${name} "${text}" must be an integer from ${min} to ${max}`);
  return value;
}
