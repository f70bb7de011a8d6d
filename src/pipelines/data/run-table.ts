import type { WriteColumn } from '../../io/types.js';

/** One row of a run's data, with its event time (epoch ms) for the time split. */
export interface TableRow {
  readonly timeMs: number;
  /** One value per column of its table, in order. */
  readonly values: readonly unknown[];
}

/** A run's rows before the split, from either label source. */
export interface RunTable {
  readonly columns: readonly WriteColumn[];
  readonly rows: readonly TableRow[];
  /** The columns feeding the model, in order. */
  readonly featureColumns: readonly string[];
  /** Rows left out, by reason (e.g. `a batch of several rows: 3`). */
  readonly excluded: Readonly<Record<string, number>>;
}
