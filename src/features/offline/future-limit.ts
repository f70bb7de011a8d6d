import { CONFIG_ENV } from '../../core/config.js';
import { formatDuration } from '../../core/duration.js';

/**
 * The one rule for times past the server's clock, shared by push and materialization: the online
 * store keeps the newest event time per key, so one row stamped in year 99999 would make every
 * real value after it stale, forever (issue 13 item 2). Anything later than `now + skewMs` is
 * refused; the skew absorbs producers whose clocks run a little ahead.
 */
export interface FutureLimit {
  readonly now: number;
  readonly skewMs: number;
}

/** Why `timeMs` is too far ahead (`"<time> is more than 5m in the future"`), or undefined when it is not. */
export function futureProblem(timeMs: number, limit: FutureLimit): string | undefined {
  if (timeMs <= limit.now + limit.skewMs) return undefined;
  return `${formatTime(timeMs)} is more than ${formatDuration(limit.skewMs)} in the future`;
}

/** Names the setting, for messages: `limit SLIPWAY_FEATURE_MAX_FUTURE_SKEW=5m`. */
export function limitSetting(limit: FutureLimit): string {
  return `limit ${CONFIG_ENV.featureMaxFutureSkewMs}=${formatDuration(limit.skewMs)}`;
}

/** ISO-8601 when `Date` can hold it, else the number. */
function formatTime(ms: number): string {
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms} ms`;
}
