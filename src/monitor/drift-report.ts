import type { ColumnDrift, DatasetDrift } from '../stats/index.js';

/** The drift of one model version over one window, against its reference profile. */
export interface DriftReport {
  readonly model: string;
  readonly version: string;
  /** The window's length, e.g. "1h". */
  readonly window: string;
  /** Epoch ms bounds of the window. */
  readonly since: number;
  readonly until: number;
  readonly computedAt: string;
  /**
   * `ok`: every column has a verdict or says why not; `not_enough_data`: the window holds fewer
   * logged predictions than the minimum; `no_reference`: the version has no reference profile.
   */
  readonly status: 'ok' | 'not_enough_data' | 'no_reference';
  readonly reference: { readonly source: string; readonly detail: string; readonly rows: number } | null;
  /** Logged predictions in the window, and how many of them were read (an even sample when more). */
  readonly currentRows: number;
  readonly sampledRows: number;
  /** Over input features only; prediction drift is in `outputs`. */
  readonly dataset: DatasetDrift;
  readonly features: ColumnDrift[];
  readonly outputs: ColumnDrift[];
  /** Tensors too wide to test column by column. */
  readonly skipped: string[];
}
