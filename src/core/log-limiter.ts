/**
 * Repeated identical errors, rate-limited: while a dependency is down, every background loop and
 * every request fails the same way, and logging each failure buried the first useful line under
 * 105 MB of copies (issue 13). The first line of a kind is written at once; repeats within
 * `intervalMs` are counted, and the next line of that kind after the interval says how many were
 * suppressed.
 *
 * Lines are "the same" when they differ only in their digits (counts, ids, times, ports).
 */

export interface LogLimiterOptions {
  /** At most one line per kind per this long (default 30 s). */
  readonly intervalMs?: number;
  /** Kinds remembered at most; the oldest are forgotten beyond it (default 1,000). */
  readonly maxKinds?: number;
  readonly now?: () => number;
}

interface Kind {
  lastWrittenMs: number;
  suppressed: number;
}

export class LogLimiter {
  readonly #kinds = new Map<string, Kind>();
  readonly #intervalMs: number;
  readonly #maxKinds: number;
  readonly #now: () => number;
  /** Lines suppressed so far, over every kind. */
  suppressedTotal = 0;

  constructor(options: LogLimiterOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 30_000;
    this.#maxKinds = options.maxKinds ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Whether to write `message` now: undefined = suppress it (counted), else the number of lines of
   * its kind suppressed since the last one written (usually 0).
   */
  check(message: string): number | undefined {
    const key = message.replace(/[0-9]+/g, '#');
    const now = this.#now();
    const kind = this.#kinds.get(key);
    if (kind !== undefined && now - kind.lastWrittenMs < this.#intervalMs) {
      kind.suppressed++;
      this.suppressedTotal++;
      return undefined;
    }
    const suppressed = kind?.suppressed ?? 0;
    // Re-inserted so the Map's order is least recently written first.
    this.#kinds.delete(key);
    this.#kinds.set(key, { lastWrittenMs: now, suppressed: 0 });
    if (this.#kinds.size > this.#maxKinds) this.#kinds.delete(this.#kinds.keys().next().value as string);
    return suppressed;
  }
}

/**
 * Wrap a line writer so repeated lines are rate-limited (see {@link LogLimiter}).
 *
 * @example
 * const log = rateLimitedLog((line) => process.stderr.write(`${line}\n`));
 * log('deployments: connect ECONNREFUSED 127.0.0.1:5432'); // written
 * log('deployments: connect ECONNREFUSED 127.0.0.1:5432'); // counted, written with the next one after 30 s
 */
export function rateLimitedLog(write: (line: string) => void, options: LogLimiterOptions = {}): (line: string) => void {
  const limiter = new LogLimiter(options);
  return (line) => {
    const suppressed = limiter.check(line);
    if (suppressed === undefined) return;
    write(suppressed === 0 ? line : `${line} (${suppressed} similar line(s) suppressed since the last one written)`);
  };
}
