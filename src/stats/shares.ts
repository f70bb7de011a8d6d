/**
 * Category counts and shares as Evidently prepares them for its categorical tests: the union of
 * the categories seen in either window, counts aligned on it, and the rule that floors empty
 * shares before taking logarithms.
 */
import { invalid } from '../core/errors.js';

/** Counts per category, as a plain record (JSON) or a Map. */
export type CategoryCounts = Readonly<Record<string, number>> | ReadonlyMap<string, number>;

/** Two count vectors aligned on the union of categories. */
export interface AlignedCounts {
  /** Categories with a positive count in either input, most frequent overall first (ties by name). */
  readonly categories: string[];
  readonly reference: number[];
  readonly current: number[];
  readonly referenceTotal: number;
  readonly currentTotal: number;
}

function entriesOf(counts: CategoryCounts): [string, number][] {
  if (counts instanceof Map) return [...(counts as ReadonlyMap<string, number>)];
  return Object.entries(counts as Readonly<Record<string, number>>);
}

function toCountMap(counts: CategoryCounts, what: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const [key, count] of entriesOf(counts)) {
    if (!(Number.isFinite(count) && count >= 0))
      throw invalid(`${what}: count of "${key}" must be a finite non-negative number (got ${count})`);
    if (count > 0) map.set(key, (map.get(key) ?? 0) + count);
  }
  return map;
}

/**
 * Align two count tables on the union of their categories (categories with zero count in both
 * are dropped, as pandas `value_counts` never lists them). Throws INVALID_ARGUMENT when either
 * side has no counts at all.
 */
export function alignCounts(reference: CategoryCounts, current: CategoryCounts): AlignedCounts {
  const ref = toCountMap(reference, 'reference counts');
  const cur = toCountMap(current, 'current counts');
  const categories = [...new Set([...ref.keys(), ...cur.keys()])];
  const combined = (key: string): number => (ref.get(key) ?? 0) + (cur.get(key) ?? 0);
  categories.sort((a, b) => combined(b) - combined(a) || (a < b ? -1 : a > b ? 1 : 0));
  const referenceCounts = categories.map((key) => ref.get(key) ?? 0);
  const currentCounts = categories.map((key) => cur.get(key) ?? 0);
  const referenceTotal = referenceCounts.reduce((acc, value) => acc + value, 0);
  const currentTotal = currentCounts.reduce((acc, value) => acc + value, 0);
  if (referenceTotal === 0) throw invalid('reference counts are empty');
  if (currentTotal === 0) throw invalid('current counts are empty');
  return { categories, reference: referenceCounts, current: currentCounts, referenceTotal, currentTotal };
}

/** counts / total. */
export function toShares(counts: readonly number[], total: number): number[] {
  return counts.map((count) => count / total);
}

/** Evidently's smallest share that an empty bin is raised to (its `get_binned_data(feel_zeroes=True)`). */
export const EMPTY_SHARE_FLOOR = 0.0001;

/**
 * Replace zero shares as Evidently does before PSI/KL: by 0.0001, or by (smallest non-zero
 * share) / 10^6 when that smallest share is itself <= 0.0001. The result is not renormalised.
 */
export function floorEmptyShares(shares: readonly number[]): number[] {
  let smallest = Number.POSITIVE_INFINITY;
  for (const share of shares) if (share !== 0 && share < smallest) smallest = share;
  if (smallest === Number.POSITIVE_INFINITY) return [...shares];
  const floor = smallest <= EMPTY_SHARE_FLOOR ? smallest / 10 ** 6 : EMPTY_SHARE_FLOOR;
  return shares.map((share) => (share === 0 ? floor : share));
}
