import { invalid } from '../../core/errors.js';
import type { DataSpec } from '../types.js';

/** A run's rows cut by event time: oldest to train, then validation, newest to test. */
export interface TimeSplit<T> {
  readonly train: readonly T[];
  readonly validation: readonly T[];
  readonly test: readonly T[];
}

/**
 * Split rows by event time so evaluation never sees the future: the rows are ordered by `timeOf`
 * (stable: equal times keep their input order), the oldest `split.train` share goes to train, the next
 * `split.validation` share to validation, the rest to test. A boundary never separates rows with the
 * same time: ties on a boundary go to the earlier split, so no validation or test row predates (or
 * shares the time of) a train row. Shares are rounded to whole rows; a split may come out empty (the
 * caller decides whether that is acceptable).
 *
 * @example
 * timeSplit(rows, (r) => r.timeMs, { train: 0.7, validation: 0.15, test: 0.15 })
 */
export function timeSplit<T>(rows: readonly T[], timeOf: (row: T) => number, split: DataSpec['split']): TimeSplit<T> {
  checkShares(split);
  const ordered = rows
    .map((row, index) => ({ row, index, time: timeOf(row) }))
    .sort((a, b) => a.time - b.time || a.index - b.index);
  const bad = ordered.find((entry) => !Number.isFinite(entry.time));
  if (bad !== undefined) throw invalid(`row ${bad.index + 1} has no valid event time (got ${String(bad.time)})`);
  const n = ordered.length;
  const trainEnd = extendOverTies(ordered, Math.round(n * split.train));
  const validationEnd = extendOverTies(ordered, Math.max(trainEnd, Math.round(n * (split.train + split.validation))));
  const rowsOf = (from: number, to: number): T[] => ordered.slice(from, to).map((entry) => entry.row);
  return { train: rowsOf(0, trainEnd), validation: rowsOf(trainEnd, validationEnd), test: rowsOf(validationEnd, n) };
}

/** Move a cut forward past every row sharing the time of the last row before it. */
function extendOverTies(ordered: readonly { readonly time: number }[], cut: number): number {
  if (cut <= 0) return 0;
  let end = Math.min(cut, ordered.length);
  const boundary = ordered[end - 1]!.time;
  while (end < ordered.length && ordered[end]!.time === boundary) end++;
  return end;
}

function checkShares(split: DataSpec['split']): void {
  const shares = Object.entries(split);
  const negative = shares.find(([, share]) => !(Number.isFinite(share) && share >= 0));
  if (negative !== undefined)
    throw invalid(`data.split.${negative[0]} must be a share between 0 and 1, got ${String(negative[1])}`);
  const sum = split.train + split.validation + split.test;
  if (Math.abs(sum - 1) > 1e-9)
    throw invalid(`data.split shares must add up to 1, got ${split.train} + ${split.validation} + ${split.test}`);
}
