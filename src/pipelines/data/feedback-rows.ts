import { SlipwayError } from '../../core/errors.js';
import { elementValue } from '../../monitor/feature-columns.js';
import { MAX_READ_ROWS, type PredictionStore, type PredictionWithFeedback } from '../../monitor/prediction-store.js';
import type { Datatype, Signature, TensorSpec } from '../../tensor/datatypes.js';
import type { RunTable, TableRow } from './run-table.js';

/** The column written with each request's time (what src/features calls an entity's event timestamp). */
export const EVENT_TIMESTAMP = 'event_timestamp';

/**
 * The model's input columns as src/tensor/column-mapping.ts reads them back: `name` for an input one
 * value wide, `name_0..name_{k-1}` for a [batch, k] input. Refuses inputs without a fixed row width.
 */
export function inputColumns(signature: Signature): { spec: TensorSpec; columns: string[] }[] {
  return signature.inputs.map((spec) => {
    const inner = spec.shape.slice(1);
    if (inner.some((d) => d < 0))
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `input "${spec.name}" has shape [${spec.shape.join(', ')}]: training data needs inputs with a fixed row width`,
      );
    const width = inner.reduce((a, b) => a * b, 1);
    const columns = width === 1 ? [spec.name] : Array.from({ length: width }, (_, j) => `${spec.name}_${j}`);
    return { spec, columns };
  });
}

const INTEGER_TYPES: ReadonlySet<Datatype> = new Set([
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
]);

function columnType(datatype: Datatype): 'number' | 'integer' | 'boolean' | 'string' {
  if (datatype === 'BYTES') return 'string';
  if (datatype === 'BOOL') return 'boolean';
  return INTEGER_TYPES.has(datatype) ? 'integer' : 'number';
}

/**
 * One row per logged request of `model` with feedback whose time is in [sinceMs, untilMs]: request_id,
 * the model's input columns, the label (a class label, or the value for regression) and
 * event_timestamp (ISO). Requests whose logged inputs are not one full row each (a batch of several
 * rows, a payload the log policy truncated or omitted, an input missing) cannot carry their one label
 * to one row: they are left out and counted in `excluded`.
 */
export async function feedbackRows(options: {
  readonly predictions: PredictionStore;
  readonly model: string;
  readonly signature: Signature;
  readonly sinceMs: number;
  readonly untilMs: number;
  readonly labelColumn: string;
}): Promise<RunTable> {
  const inputs = inputColumns(options.signature);
  const featureColumns = inputs.flatMap((input) => input.columns);
  const taken = ['request_id', EVENT_TIMESTAMP, ...featureColumns];
  if (taken.includes(options.labelColumn))
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `data.labelColumn "${options.labelColumn}" clashes with a column of the training data (request_id, the model's inputs, ${EVENT_TIMESTAMP})`,
    );
  const stored = await options.predictions.joinedFeedback(
    { model: options.model, since: options.sinceMs, until: options.untilMs + 1 },
    MAX_READ_ROWS,
  );
  const excluded: Record<string, number> = {};
  const exclude = (reason: string): void => void (excluded[reason] = (excluded[reason] ?? 0) + 1);
  const kept: { row: PredictionWithFeedback; values: unknown[] }[] = [];
  for (const row of stored) {
    if (row.payload !== undefined && row.payload !== 'full') {
      exclude(`payload ${row.payload} by the log policy`);
      continue;
    }
    const values: unknown[] = [];
    let problem: string | undefined;
    for (const { spec, columns } of inputs) {
      const tensor = row.inputs.find((t) => t.name === spec.name);
      if (tensor === undefined) problem = `input "${spec.name}" not logged`;
      else if ((tensor.shape[0] ?? 1) !== 1 && spec.shape.length > 0) problem = 'a batch of several rows';
      else if (tensor.data.length !== columns.length) problem = `input "${spec.name}" of another width`;
      if (problem !== undefined) break;
      for (let j = 0; j < columns.length; j++) values.push(elementValue(tensor!, j));
    }
    if (problem !== undefined) exclude(problem);
    else kept.push({ row, values });
  }
  const classification = kept.some(({ row }) => row.label !== null);
  if (classification && kept.some(({ row }) => row.label === null))
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `model "${options.model}" has both class labels and numeric values as feedback in the window: one kind is needed`,
    );
  const integerLabels = classification && kept.every(({ row }) => /^-?\d{1,15}$/.test(row.label!));
  const labelType = !classification ? 'number' : integerLabels ? 'integer' : 'string';
  const rows: TableRow[] = kept.map(({ row, values }) => ({
    timeMs: row.timeMs,
    values: [
      row.requestId,
      ...values,
      classification ? (integerLabels ? Number(row.label) : row.label) : row.value,
      new Date(row.timeMs).toISOString(),
    ],
  }));
  return {
    columns: [
      { name: 'request_id', type: 'string' },
      ...inputs.flatMap(({ spec, columns }) => columns.map((name) => ({ name, type: columnType(spec.datatype) }))),
      { name: options.labelColumn, type: labelType },
      { name: EVENT_TIMESTAMP, type: 'string' },
    ],
    rows,
    featureColumns,
    excluded,
  };
}
