/**
 * Bounded-memory column profiles: what drift detection keeps of a window of values. A numeric
 * column keeps a uniform reservoir sample (at most `maxSample` values) and every column keeps exact
 * value counts for up to `maxCategories` distinct values, so a profile's size never depends on
 * the number of rows. Profiles are plain JSON-serialisable objects.
 */
import { invalid } from '../core/errors.js';
import { mulberry32 } from './random.js';

export type ColumnKind = 'numeric' | 'categorical';

/** Key under which values beyond `maxCategories` distinct ones are counted. */
export const OVERFLOW_CATEGORY = '__overflow__';

export interface ColumnProfile {
  readonly name: string;
  readonly kind: ColumnKind;
  /** Non-null values seen. */
  readonly count: number;
  /** null, undefined, NaN, ±Infinity (and, for a column forced numeric, non-numeric strings). */
  readonly nulls: number;
  /** Numeric columns: a uniform sample of the values, at most `maxSample`; categorical: empty. */
  readonly sample: number[];
  /** Exact count per value (numbers as `String(value)`); past `maxCategories` values under OVERFLOW_CATEGORY. */
  readonly categories: Record<string, number>;
  /** Distinct non-null values: exact when `distinctExact`, otherwise a lower bound (maxCategories + 1). */
  readonly distinct: number;
  readonly distinctExact: boolean;
}

export interface ProfileOptions {
  /** Force the kind; by default a column is numeric until its first string value. */
  readonly kind?: ColumnKind;
  /** Reservoir size for numeric columns (default 10000). */
  readonly maxSample: number;
  /** Distinct values counted exactly (default 1000). */
  readonly maxCategories: number;
  /** Seed of the reservoir's random choices (default 1): same input and seed, same sample. */
  readonly seed: number;
}

export const DEFAULT_PROFILE_OPTIONS: Readonly<ProfileOptions> = Object.freeze({
  maxSample: 10_000,
  maxCategories: 1000,
  seed: 1,
});

function resolveOptions(options: Partial<ProfileOptions>): ProfileOptions {
  const resolved = { ...DEFAULT_PROFILE_OPTIONS, ...options };
  if (!Number.isInteger(resolved.maxSample) || resolved.maxSample < 1)
    throw invalid(`maxSample must be a positive integer (got ${resolved.maxSample})`);
  if (!Number.isInteger(resolved.maxCategories) || resolved.maxCategories < 1)
    throw invalid(`maxCategories must be a positive integer (got ${resolved.maxCategories})`);
  return resolved;
}

/** Sort category entries most frequent first, ties by key, for a stable JSON shape. */
function sortedEntries(counts: Map<string, number>): [string, number][] {
  return [...counts].sort(([a, ca], [b, cb]) => cb - ca || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Streams values into a `ColumnProfile` in O(1) memory per column.
 *
 * @example
 * const builder = new ProfileBuilder('age', { maxSample: 1000, seed: 7 });
 * for (const row of rows) builder.add(row.age);
 * const profile = builder.build();
 */
export class ProfileBuilder {
  private readonly options: ProfileOptions;
  private readonly random: () => number;
  private kind: ColumnKind;
  private count = 0;
  private nulls = 0;
  private numericSeen = 0;
  private readonly sample: number[] = [];
  private readonly counts = new Map<string | number, number>();
  private overflow = 0;

  constructor(
    readonly name: string,
    options: Partial<ProfileOptions> = {},
  ) {
    this.options = resolveOptions(options);
    this.random = mulberry32(this.options.seed);
    this.kind = this.options.kind ?? 'numeric';
  }

  /** Add one value. Strings make an unforced column categorical; non-finite numbers count as nulls. */
  add(value: number | string | null | undefined): void {
    if (value === null || value === undefined) {
      this.nulls++;
      return;
    }
    if (typeof value === 'string') {
      if (this.options.kind === 'numeric') {
        const parsed = value.trim() === '' ? Number.NaN : Number(value);
        this.add(Number.isFinite(parsed) ? parsed : null);
        return;
      }
      this.kind = 'categorical';
      this.count++;
      this.countValue(value);
      return;
    }
    if (!Number.isFinite(value)) {
      this.nulls++;
      return;
    }
    this.count++;
    this.countValue(this.options.kind === 'categorical' ? String(value) : value);
    if (this.options.kind !== 'categorical') this.sampleValue(value);
  }

  /** Add every value of an iterable or array. */
  addAll(values: Iterable<number | string | null | undefined> | ArrayLike<number>): void {
    if (Symbol.iterator in Object(values)) {
      for (const value of values as Iterable<number | string | null | undefined>) this.add(value);
    } else {
      const array = values as ArrayLike<number>;
      for (let i = 0; i < array.length; i++) this.add(array[i]);
    }
  }

  private countValue(key: string | number): void {
    const known = this.counts.get(key);
    if (known !== undefined) this.counts.set(key, known + 1);
    else if (this.counts.size < this.options.maxCategories) this.counts.set(key, 1);
    else this.overflow++;
  }

  /** Reservoir sampling, Algorithm R (Vitter 1985): every value seen so far is kept with equal probability. */
  private sampleValue(value: number): void {
    this.numericSeen++;
    if (this.sample.length < this.options.maxSample) {
      this.sample.push(value);
      return;
    }
    const slot = Math.floor(this.random() * this.numericSeen);
    if (slot < this.options.maxSample) this.sample[slot] = value;
  }

  /** The profile so far (the builder can keep accepting values). */
  build(): ColumnProfile {
    const merged = new Map<string, number>();
    for (const [key, count] of this.counts) {
      const name = String(key);
      merged.set(name, (merged.get(name) ?? 0) + count);
    }
    return finishProfile(
      this.name,
      this.kind,
      this.count,
      this.nulls,
      this.kind === 'numeric' ? [...this.sample] : [],
      merged,
      this.overflow,
      this.options.maxCategories,
    );
  }
}

function finishProfile(
  name: string,
  kind: ColumnKind,
  count: number,
  nulls: number,
  sample: number[],
  counts: Map<string, number>,
  overflow: number,
  maxCategories: number,
): ColumnProfile {
  const entries = sortedEntries(counts);
  let extra = overflow;
  while (entries.length > maxCategories) extra += entries.pop()![1];
  if (extra > 0) entries.push([OVERFLOW_CATEGORY, extra]);
  const distinctExact = extra === 0;
  const distinct = distinctExact ? entries.length : maxCategories + 1;
  return { name, kind, count, nulls, sample, categories: Object.fromEntries(entries), distinct, distinctExact };
}

/**
 * Profile a whole array in one call.
 *
 * @example
 * profileColumn('country', ['fr', 'de', null, 'fr']).categories; // { fr: 2, de: 1 }
 */
export function profileColumn(
  name: string,
  values: Iterable<number | string | null | undefined> | ArrayLike<number>,
  options: Partial<ProfileOptions> = {},
): ColumnProfile {
  const builder = new ProfileBuilder(name, options);
  builder.addAll(values);
  return builder.build();
}

/** Draw `k` of `values` uniformly without replacement (partial Fisher–Yates on a copy). */
function drawWithoutReplacement(values: readonly number[], k: number, random: () => number): number[] {
  const pool = [...values];
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k);
}

/**
 * Merge two profiles of the same column (e.g. two time windows). Counts add up exactly; the
 * merged sample draws from each side in proportion to its row count (so it stays close to
 * uniform over both windows), capped at `maxSample`; the most frequent `maxCategories` values keep
 * exact counts. Either side categorical makes the result categorical. Both must profile the same
 * column name (INVALID_ARGUMENT otherwise).
 */
export function mergeProfiles(
  a: ColumnProfile,
  b: ColumnProfile,
  options: Partial<ProfileOptions> = {},
): ColumnProfile {
  if (a.name !== b.name) throw invalid(`mergeProfiles: cannot merge column "${a.name}" with column "${b.name}"`);
  const resolved = resolveOptions(options);
  const kind: ColumnKind = a.kind === 'categorical' || b.kind === 'categorical' ? 'categorical' : 'numeric';
  const counts = new Map<string, number>();
  let overflow = 0;
  for (const profile of [a, b]) {
    for (const [key, count] of Object.entries(profile.categories)) {
      if (key === OVERFLOW_CATEGORY) overflow += count;
      else counts.set(key, (counts.get(key) ?? 0) + count);
    }
  }
  let sample: number[] = [];
  if (kind === 'numeric') {
    const random = mulberry32(resolved.seed);
    const size = Math.min(resolved.maxSample, a.sample.length + b.sample.length);
    const total = a.count + b.count;
    let fromA = total === 0 ? 0 : Math.round((size * a.count) / total);
    fromA = Math.min(Math.max(fromA, size - b.sample.length), a.sample.length);
    sample = [
      ...drawWithoutReplacement(a.sample, fromA, random),
      ...drawWithoutReplacement(b.sample, size - fromA, random),
    ];
  }
  return finishProfile(
    a.name,
    kind,
    a.count + b.count,
    a.nulls + b.nulls,
    sample,
    counts,
    overflow,
    resolved.maxCategories,
  );
}
