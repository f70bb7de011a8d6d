import { parseDuration } from '../../core/duration.js';
import { isValidName } from '../../core/names.js';

/**
 * Typed reads of a parsed YAML tree that name each problem by its path
 * (`pipelines[0].triggers[1].performance.below must be a number`) and keep going, so one apply shows
 * every problem of a file at once. A read that fails records its problem and returns undefined.
 */
export class YamlReader {
  readonly problems: string[] = [];

  /** Record a problem at `at` (a path such as `pipelines[0].train`). */
  fail(at: string, message: string): undefined {
    this.problems.push(`${at} ${message}`);
    return undefined;
  }

  /** A mapping; refuses keys outside `allowed`, naming them. */
  object(value: unknown, at: string, allowed: readonly string[]): Record<string, unknown> | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return this.fail(at, 'must be a mapping');
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record))
      if (!allowed.includes(key))
        this.fail(`${at}.${key}`, `is not a known key (expected one of ${allowed.join(', ')})`);
    return record;
  }

  list(value: unknown, at: string): unknown[] | undefined {
    if (!Array.isArray(value)) return this.fail(at, 'must be a list');
    return value as unknown[];
  }

  string(value: unknown, at: string): string | undefined {
    if (typeof value !== 'string' || value.trim() === '') return this.fail(at, 'must be a non-empty string');
    return value;
  }

  number(value: unknown, at: string): number | undefined {
    if (typeof value !== 'number' || !Number.isFinite(value)) return this.fail(at, 'must be a number');
    return value;
  }

  /** An integer of at least `min`. */
  integer(value: unknown, at: string, min: number): number | undefined {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
      return this.fail(at, `must be an integer of at least ${min}`);
    return value;
  }

  boolean(value: unknown, at: string): boolean | undefined {
    if (typeof value !== 'boolean') return this.fail(at, 'must be true or false');
    return value;
  }

  /** A duration in src/core/duration.ts syntax (`30s`, `1h30m`), in milliseconds. */
  duration(value: unknown, at: string, allowZero = false): number | undefined {
    if (typeof value !== 'string') return this.fail(at, 'must be a duration such as 30s, 5m, 1h or 1h30m');
    try {
      return parseDuration(value, at, { allowZero });
    } catch (error) {
      this.problems.push((error as Error).message);
      return undefined;
    }
  }

  /** A model, deployment or pipeline name (src/core/names.ts `checkName`). */
  name(value: unknown, at: string): string | undefined {
    const text = this.string(value, at);
    if (text === undefined) return undefined;
    if (!isValidName(text))
      return this.fail(
        at,
        `"${text}" is not a valid name: use letters, digits, "_", "-" and ".", starting with a letter or digit (1 to 128 characters)`,
      );
    return text;
  }

  /** A list of non-empty strings. */
  strings(value: unknown, at: string): string[] | undefined {
    const items = this.list(value, at);
    if (items === undefined) return undefined;
    const out = items.map((item, i) => this.string(item, `${at}[${i}]`));
    return out.every((item) => item !== undefined) ? out : undefined;
  }

  /** `{ key: value }` written as a single-key mapping, or a bare `key` string; the key and its value. */
  variant(value: unknown, at: string, kinds: readonly string[]): { kind: string; body: unknown } | undefined {
    if (typeof value === 'string') {
      if (kinds.includes(value)) return { kind: value, body: null };
      return this.fail(at, `"${value}" is not one of ${kinds.join(', ')}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return this.fail(at, `must be one of ${kinds.join(', ')} (a name or a one-key mapping)`);
    const keys = Object.keys(value);
    if (keys.length !== 1 || !kinds.includes(keys[0] as string))
      return this.fail(at, `must have exactly one key of ${kinds.join(', ')}, got ${keys.join(', ') || 'none'}`);
    const kind = keys[0] as string;
    return { kind, body: (value as Record<string, unknown>)[kind] };
  }
}
