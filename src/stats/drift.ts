/**
 * Per-column drift verdicts over column profiles, with Evidently's default choice of test
 * (Evidently `get_default_stattest`), and the dataset-level verdict (share of drifted columns).
 *
 * Test selection, with n_unique counted over reference + current and reference rows = the
 * reference's full non-null count:
 *
 * | column                                   | reference rows <= 1000     | reference rows > 1000          |
 * |------------------------------------------|----------------------------|--------------------------------|
 * | numeric, n_unique > 5                    | KS, drift if p < 0.05      | normed Wasserstein, drift >= 0.1 |
 * | categorical, or numeric with n_unique <= 5 | chi-square (n_unique > 2) / z-test, p < 0.05 | Jensen–Shannon, drift >= 0.1 |
 *
 * KS and Wasserstein run on the profiles' reservoir samples; the categorical tests on exact
 * counts. PSI is reported beside every verdict (reference-quantile bins or categories).
 */
import { invalid } from '../core/errors.js';
import { chiSquareTest, proportionZTest } from './categorical-tests.js';
import { jensenShannonDistance, normedWasserstein } from './distances.js';
import { ksTwoSample } from './ks.js';
import { sortedCopy } from './numeric.js';
import { OVERFLOW_CATEGORY, type ColumnKind, type ColumnProfile } from './profile.js';
import { binCounts, psiFromShares, quantileCuts } from './psi.js';
import { alignCounts, toShares } from './shares.js';

export type DriftTestName = 'ks' | 'wasserstein' | 'chisquare' | 'z' | 'jensenshannon';

export interface DriftOptions {
  /** KS: drift when p < this (0.05). */
  readonly ksPValue: number;
  /** Chi-square: drift when p < this (0.05). */
  readonly chiSquarePValue: number;
  /** z-test: drift when p < this (0.05). */
  readonly zPValue: number;
  /** Normed Wasserstein: drift when >= this (0.1). */
  readonly wassersteinThreshold: number;
  /** Jensen–Shannon distance (base 2): drift when >= this (0.1). */
  readonly jensenShannonThreshold: number;
  /** Reference-quantile bins for numeric PSI (10). */
  readonly psiBins: number;
  /** PSI at or above this is a moderate shift (0.1). */
  readonly psiModerate: number;
  /** PSI at or above this is a major shift (0.25). */
  readonly psiMajor: number;
  /** Above this many reference rows, distances replace p-value tests (1000). */
  readonly largeReferenceRows: number;
  /** Numeric columns with at most this many distinct values are tested as categorical (5). */
  readonly categoricalMaxDistinct: number;
  /** Fewer non-null values than this in either window: status `not_enough_data`, no verdict (30). */
  readonly minRows: number;
  /** `datasetDrift`: drift when at least this share of evaluated columns drifted (0.5). */
  readonly driftShare: number;
  /** Reservoir size for profiles built with these options (10000); `compareColumn` uses the samples it is given. */
  readonly maxSample: number;
  /** Force one test for every column compared with these options. */
  readonly test?: DriftTestName;
  /** Force a test per column name (wins over `test`). */
  readonly columnTests?: Readonly<Record<string, DriftTestName>>;
}

export const DEFAULT_DRIFT_OPTIONS: Readonly<DriftOptions> = Object.freeze({
  ksPValue: 0.05,
  chiSquarePValue: 0.05,
  zPValue: 0.05,
  wassersteinThreshold: 0.1,
  jensenShannonThreshold: 0.1,
  psiBins: 10,
  psiModerate: 0.1,
  psiMajor: 0.25,
  largeReferenceRows: 1000,
  categoricalMaxDistinct: 5,
  minRows: 30,
  driftShare: 0.5,
  maxSample: 10_000,
});

export type PsiLevel = 'none' | 'moderate' | 'major';

export interface PsiSummary {
  readonly value: number;
  readonly moderate: number;
  readonly major: number;
  readonly level: PsiLevel;
}

export type DriftHistogram =
  { readonly kind: 'bins'; readonly edges: number[] } | { readonly kind: 'categories'; readonly categories: string[] };

export interface ColumnDrift {
  readonly column: string;
  readonly kind: ColumnKind;
  readonly test: DriftTestName;
  /** The test's statistic (KS D, normed Wasserstein, chi-square, z, JS distance); null when a window is empty. */
  readonly statistic: number | null;
  /** p-value for KS, chi-square and z; null for the distances. */
  readonly pValue: number | null;
  readonly threshold: number;
  /** null when status is `not_enough_data`. */
  readonly drifted: boolean | null;
  readonly status: 'ok' | 'not_enough_data';
  readonly reason?: string;
  /** null when a window is empty. */
  readonly psi: PsiSummary | null;
  readonly referenceRows: number;
  readonly currentRows: number;
  /**
   * Bins: non-decreasing edges e0 … ek (e0 = smallest, ek = largest sampled value, the inner ones
   * the reference-quantile cuts); bin i is (e_i, e_{i+1}], the first also holding e0.
   * Categories: the union of both windows.
   */
  readonly histogram: DriftHistogram;
  /** Share of the reference per bin/category. */
  readonly reference: number[];
  /** Share of the current window per bin/category. */
  readonly current: number[];
}

export interface DatasetDrift {
  /** null when no column could be evaluated. */
  readonly drifted: boolean | null;
  /** driftedColumns / evaluatedColumns (0 when none evaluated). */
  readonly share: number;
  readonly driftedColumns: number;
  readonly evaluatedColumns: number;
}

const TESTS: readonly DriftTestName[] = ['ks', 'wasserstein', 'chisquare', 'z', 'jensenshannon'];

/** Merge options over the defaults and check them, reporting every problem at once. */
export function resolveDriftOptions(options: Partial<DriftOptions> = {}): DriftOptions {
  const resolved: DriftOptions = { ...DEFAULT_DRIFT_OPTIONS, ...options };
  const problems: string[] = [];
  for (const key of ['ksPValue', 'chiSquarePValue', 'zPValue', 'driftShare'] as const) {
    if (!(resolved[key] >= 0 && resolved[key] <= 1)) problems.push(`${key} must be in [0, 1]`);
  }
  for (const key of ['wassersteinThreshold', 'jensenShannonThreshold', 'psiModerate', 'psiMajor'] as const) {
    if (!(Number.isFinite(resolved[key]) && resolved[key] >= 0)) problems.push(`${key} must be a finite number >= 0`);
  }
  for (const key of ['psiBins', 'maxSample'] as const) {
    if (!(Number.isInteger(resolved[key]) && resolved[key] >= 1)) problems.push(`${key} must be an integer >= 1`);
  }
  for (const key of ['largeReferenceRows', 'categoricalMaxDistinct', 'minRows'] as const) {
    if (!(Number.isInteger(resolved[key]) && resolved[key] >= 0)) problems.push(`${key} must be an integer >= 0`);
  }
  const forced = [resolved.test, ...Object.values(resolved.columnTests ?? {})];
  for (const test of forced)
    if (test !== undefined && !TESTS.includes(test)) problems.push(`unknown test "${String(test)}"`);
  if (problems.length > 0) throw invalid(`invalid drift options: ${problems.join('; ')}`, problems);
  return resolved;
}

/** Distinct non-null values over both windows; Infinity when either profile stopped counting exactly. */
function distinctOverBoth(reference: ColumnProfile, current: ColumnProfile): number {
  if (!reference.distinctExact || !current.distinctExact) return Number.POSITIVE_INFINITY;
  const keys = new Set([...Object.keys(reference.categories), ...Object.keys(current.categories)]);
  keys.delete(OVERFLOW_CATEGORY);
  return keys.size;
}

function defaultTest(
  referenceRows: number,
  categoricalView: boolean,
  distinct: number,
  options: DriftOptions,
): DriftTestName {
  if (referenceRows <= options.largeReferenceRows) {
    if (!categoricalView) return 'ks';
    return distinct > 2 ? 'chisquare' : 'z';
  }
  return categoricalView ? 'jensenshannon' : 'wasserstein';
}

function thresholdOf(test: DriftTestName, options: DriftOptions): number {
  switch (test) {
    case 'ks':
      return options.ksPValue;
    case 'wasserstein':
      return options.wassersteinThreshold;
    case 'chisquare':
      return options.chiSquarePValue;
    case 'z':
      return options.zPValue;
    case 'jensenshannon':
      return options.jensenShannonThreshold;
  }
}

interface View {
  readonly histogram: DriftHistogram;
  readonly referenceCounts: Map<string, number>;
  readonly currentCounts: Map<string, number>;
  readonly reference: number[];
  readonly current: number[];
}

function categoryView(reference: ColumnProfile, current: ColumnProfile): View {
  const aligned = alignCounts(reference.categories, current.categories);
  return {
    histogram: { kind: 'categories', categories: aligned.categories },
    referenceCounts: new Map(aligned.categories.map((key, i) => [key, aligned.reference[i]!])),
    currentCounts: new Map(aligned.categories.map((key, i) => [key, aligned.current[i]!])),
    reference: toShares(aligned.reference, aligned.referenceTotal),
    current: toShares(aligned.current, aligned.currentTotal),
  };
}

function binView(reference: ColumnProfile, current: ColumnProfile, bins: number): View {
  const sortedReference = sortedCopy(reference.sample);
  const cuts = quantileCuts(sortedReference, bins);
  const referenceBins = binCounts(sortedReference, cuts);
  const currentBins = binCounts(current.sample, cuts);
  let low = sortedReference[0]!;
  let high = sortedReference[sortedReference.length - 1]!;
  for (const value of current.sample) {
    if (value < low) low = value;
    if (value > high) high = value;
  }
  const edges = [Math.min(low, cuts[0] ?? low), ...cuts, Math.max(high, cuts[cuts.length - 1] ?? high)];
  const label = (i: number): string => `bin ${String(i).padStart(3, '0')}`;
  return {
    histogram: { kind: 'bins', edges },
    referenceCounts: new Map(referenceBins.map((count, i) => [label(i), count])),
    currentCounts: new Map(currentBins.map((count, i) => [label(i), count])),
    reference: toShares(referenceBins, sortedReference.length),
    current: toShares(currentBins, current.sample.length),
  };
}

function psiSummary(view: View, options: DriftOptions): PsiSummary {
  const value = psiFromShares(view.reference, view.current);
  const level: PsiLevel = value >= options.psiMajor ? 'major' : value >= options.psiModerate ? 'moderate' : 'none';
  return { value, moderate: options.psiModerate, major: options.psiMajor, level };
}

function runTest(
  test: DriftTestName,
  reference: ColumnProfile,
  current: ColumnProfile,
  view: View,
): { statistic: number; pValue: number | null } {
  switch (test) {
    case 'ks': {
      const result = ksTwoSample(reference.sample, current.sample);
      return { statistic: result.statistic, pValue: result.pValue };
    }
    case 'wasserstein':
      return { statistic: normedWasserstein(reference.sample, current.sample), pValue: null };
    case 'chisquare': {
      const result = chiSquareTest(view.referenceCounts, view.currentCounts);
      return { statistic: result.statistic, pValue: result.pValue };
    }
    case 'z': {
      const result = proportionZTest(view.referenceCounts, view.currentCounts);
      return { statistic: result.statistic, pValue: result.pValue };
    }
    case 'jensenshannon':
      return { statistic: jensenShannonDistance(view.reference, view.current), pValue: null };
  }
}

function shortWindowReason(referenceRows: number, currentRows: number, minRows: number): string | undefined {
  if (currentRows < minRows)
    return `current window has ${currentRows} non-null values, fewer than minRows (${minRows})`;
  if (referenceRows < minRows) return `reference has ${referenceRows} non-null values, fewer than minRows (${minRows})`;
  return undefined;
}

/**
 * Compare one column's current window with its reference and decide whether it drifted.
 * The test is Evidently's default for the column (see the module comment) unless forced with
 * `options.columnTests[name]` or `options.test`; KS and Wasserstein need a numeric column
 * (INVALID_ARGUMENT otherwise). A window with fewer than `minRows` non-null values gets status
 * `not_enough_data` and `drifted: null` (the statistic is still reported when both windows have
 * values). Every number in the result is finite, whatever categories appear.
 *
 * @example
 * const drift = compareColumn(profileColumn('age', trainAges), profileColumn('age', lastHourAges));
 * if (drift.drifted) alert(`${drift.column}: ${drift.test} ${drift.statistic}`);
 */
export function compareColumn(
  reference: ColumnProfile,
  current: ColumnProfile,
  options: Partial<DriftOptions> = {},
): ColumnDrift {
  const resolved = resolveDriftOptions(options);
  const kind: ColumnKind =
    reference.kind === 'categorical' || current.kind === 'categorical' ? 'categorical' : 'numeric';
  const distinct = distinctOverBoth(reference, current);
  const categoricalView = kind === 'categorical' || distinct <= resolved.categoricalMaxDistinct;
  const referenceRows = reference.count;
  const currentRows = current.count;
  const test =
    resolved.columnTests?.[reference.name] ??
    resolved.test ??
    defaultTest(referenceRows, categoricalView, distinct, resolved);
  if ((test === 'ks' || test === 'wasserstein') && kind === 'categorical') {
    throw invalid(`column "${reference.name}" is categorical: the ${test} test needs numeric values`);
  }
  const threshold = thresholdOf(test, resolved);
  const reason = shortWindowReason(referenceRows, currentRows, resolved.minRows);
  const empty = categoricalView
    ? referenceRows === 0 || currentRows === 0
    : reference.sample.length === 0 || current.sample.length === 0;
  const base = { column: reference.name, kind, test, threshold, referenceRows, currentRows };
  if (empty) {
    const histogram: DriftHistogram = categoricalView
      ? { kind: 'categories', categories: [] }
      : { kind: 'bins', edges: [] };
    const why = reason ?? 'a window has no values';
    return {
      ...base,
      statistic: null,
      pValue: null,
      drifted: null,
      status: 'not_enough_data',
      reason: why,
      psi: null,
      histogram,
      reference: [],
      current: [],
    };
  }
  const view = categoricalView ? categoryView(reference, current) : binView(reference, current, resolved.psiBins);
  const { statistic, pValue } = runTest(test, reference, current, view);
  const drifted = reason !== undefined ? null : pValue !== null ? pValue < threshold : statistic >= threshold;
  const shared = {
    ...base,
    statistic,
    pValue,
    drifted,
    psi: psiSummary(view, resolved),
    histogram: view.histogram,
    reference: view.reference,
    current: view.current,
  };
  return reason === undefined ? { ...shared, status: 'ok' } : { ...shared, status: 'not_enough_data', reason };
}

/**
 * Dataset-level verdict, Evidently's rule: drift when the share of drifted columns among the
 * evaluated ones (status `ok`) is at least `driftShare`.
 */
export function datasetDrift(
  columns: readonly ColumnDrift[],
  driftShare = DEFAULT_DRIFT_OPTIONS.driftShare,
): DatasetDrift {
  const evaluated = columns.filter((column) => column.status === 'ok');
  const driftedColumns = evaluated.filter((column) => column.drifted === true).length;
  if (evaluated.length === 0) return { drifted: null, share: 0, driftedColumns: 0, evaluatedColumns: 0 };
  const share = driftedColumns / evaluated.length;
  return { drifted: share >= driftShare, share, driftedColumns, evaluatedColumns: evaluated.length };
}
