import { describe, expect, it } from 'vitest';
import { checkSchedule, lastOccurrence, nextOccurrence } from './schedule.js';

describe('schedule', () => {
  it('03:00 Europe/Paris is 02:00Z in December (UTC+1) and 01:00Z in July (UTC+2)', () => {
    const december = lastOccurrence('0 3 * * *', 'Europe/Paris', new Date('2026-12-08T12:00:00Z'));
    expect(december?.toISOString()).toBe('2026-12-08T02:00:00.000Z');
    const july = lastOccurrence('0 3 * * *', 'Europe/Paris', new Date('2026-07-08T12:00:00Z'));
    expect(july?.toISOString()).toBe('2026-07-08T01:00:00.000Z');
  });

  it('an occurrence exactly at the given time counts as the last one; one millisecond before, the previous day does', () => {
    const at = lastOccurrence('0 3 * * *', 'Europe/Paris', new Date('2026-12-08T02:00:00.000Z'));
    expect(at?.toISOString()).toBe('2026-12-08T02:00:00.000Z');
    const before = lastOccurrence('0 3 * * *', 'Europe/Paris', new Date('2026-12-08T01:59:59.999Z'));
    expect(before?.toISOString()).toBe('2026-12-07T02:00:00.000Z');
    const next = nextOccurrence('0 3 * * *', 'Europe/Paris', new Date('2026-12-08T02:00:00.000Z'));
    expect(next?.toISOString()).toBe('2026-12-09T02:00:00.000Z');
  });

  it('six fields include seconds; UTC is UTC', () => {
    const at = lastOccurrence('30 */15 * * * *', 'UTC', new Date('2026-12-08T10:20:00Z'));
    expect(at?.toISOString()).toBe('2026-12-08T10:15:30.000Z');
  });

  it('refuses bad expressions and time zones by name', () => {
    expect(() => checkSchedule('0 3 * *', 'UTC')).toThrow(
      'schedule cron "0 3 * *": expected 5 fields (minute hour day month weekday) or 6 (with seconds)',
    );
    expect(() => checkSchedule('0 25 * * *', 'UTC')).toThrow(/^schedule cron "0 25 \* \* \*": /);
    expect(() => checkSchedule('0 3 * * *', 'Europe/Pariss')).toThrow(
      'schedule timezone "Europe/Pariss" is not an IANA time zone',
    );
  });
});
