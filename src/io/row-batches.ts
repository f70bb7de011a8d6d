import { SlipwayError, invalid } from '../core/errors.js';
import { checkRow } from './row-values.js';
import type { RowBatches, WriteColumn } from './types.js';

/** A batch whose every row has passed `checkRow`. */
export type CheckedBatch = readonly (readonly unknown[])[];

/**
 * The caller's batches, each row checked against `columns` (not copied). Only one batch is held
 * at a time. Stops with CANCELLED between batches once `signal` aborts.
 */
export async function* checkedBatches(
  file: string,
  columns: readonly WriteColumn[],
  rows: RowBatches,
  signal: AbortSignal | undefined,
): AsyncGenerator<CheckedBatch, void, undefined> {
  let rowNumber = 0;
  for await (const batch of rows) {
    throwIfCancelled(file, signal);
    const candidate: unknown = batch;
    if (!Array.isArray(candidate))
      throw invalid(`rows must come in batches (arrays of rows); got ${typeof candidate} after row ${rowNumber}`);
    for (const row of batch) checkRow(columns, row, ++rowNumber);
    yield batch;
  }
  throwIfCancelled(file, signal);
}

function throwIfCancelled(file: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted === true)
    throw new SlipwayError('CANCELLED', `writing "${file}" was cancelled`, { cause: signal.reason });
}
