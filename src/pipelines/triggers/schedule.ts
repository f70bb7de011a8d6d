/**
 * Cron schedules for the `schedule` trigger (src/pipelines/types.ts): the occurrence at or before a
 * time, the next one after it, and a check that names what is wrong with an expression or time zone.
 */
import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { invalid } from '../../core/errors.js';

/** Refuse an unknown IANA time zone by name (cron-parser's own message for one is "unhandled timestamp"). */
export function checkTimeZone(timezone: string, what = 'schedule timezone'): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw invalid(`${what} "${timezone}" is not an IANA time zone (e.g. UTC, Europe/Paris, America/New_York)`);
  }
}

function parse(cron: string, timezone: string, currentDate: Date): CronExpression {
  checkTimeZone(timezone);
  const fields = cron.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6)
    throw invalid(`schedule cron "${cron}": expected 5 fields (minute hour day month weekday) or 6 (with seconds)`);
  try {
    return CronExpressionParser.parse(cron, { currentDate, tz: timezone });
  } catch (error) {
    throw invalid(`schedule cron "${cron}": ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Check a cron expression and time zone as a pipeline is applied; throws INVALID_ARGUMENT naming the problem. */
export function checkSchedule(cron: string, timezone: string): void {
  parse(cron, timezone, new Date()).next();
}

/** The latest occurrence of `cron` in `timezone` at or before `at`; undefined when there is none. */
export function lastOccurrence(cron: string, timezone: string, at: Date): Date | undefined {
  // prev() is strictly before its current date: start 1 ms later so an occurrence exactly at `at` counts.
  const expression = parse(cron, timezone, new Date(at.getTime() + 1));
  try {
    return expression.prev().toDate();
  } catch {
    return undefined;
  }
}

/** The first occurrence of `cron` in `timezone` strictly after `at` (for showing when a pipeline runs next). */
export function nextOccurrence(cron: string, timezone: string, at: Date): Date | undefined {
  const expression = parse(cron, timezone, at);
  try {
    return expression.next().toDate();
  } catch {
    return undefined;
  }
}
