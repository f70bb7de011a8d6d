import { describe, expect, it } from 'vitest';
import { LogLimiter, rateLimitedLog } from './log-limiter.js';

describe('rateLimitedLog', () => {
  it('writes the first line of a kind, counts repeats within the interval, and says how many with the next one written', () => {
    let now = 0;
    const lines: string[] = [];
    const log = rateLimitedLog((line) => lines.push(line), { intervalMs: 10_000, now: () => now });
    for (let i = 0; i < 1000; i++) {
      now += 5; // 5 s of a loop failing every 5 ms
      log(`deployments: connect ECONNREFUSED 127.0.0.1:${5000 + (i % 7)}`);
    }
    log('alerts: rule "p99" firing');
    now = 10_006;
    log('deployments: connect ECONNREFUSED 127.0.0.1:5432');
    expect(lines).toEqual([
      'deployments: connect ECONNREFUSED 127.0.0.1:5000',
      'alerts: rule "p99" firing',
      'deployments: connect ECONNREFUSED 127.0.0.1:5432 (999 similar line(s) suppressed since the last one written)',
    ]);
  });

  it('forgets the least recently written kinds beyond maxKinds', () => {
    const limiter = new LogLimiter({ intervalMs: 60_000, maxKinds: 2, now: () => 0 });
    expect(limiter.check('a')).toBe(0);
    expect(limiter.check('b')).toBe(0);
    expect(limiter.check('a')).toBeUndefined();
    expect(limiter.check('c')).toBe(0); // "a" was written first: forgotten
    expect(limiter.check('a')).toBe(0);
    expect(limiter.suppressedTotal).toBe(1);
  });
});
