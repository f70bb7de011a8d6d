/**
 * The application developer's format (TensorFlow Serving's `:predict`): examples as rows
 * (`{"instances": [...]}`) or columns (`{"inputs": {...}}`) in, `{"predictions": [...]}` out.
 * Datatypes and shapes come from the model's signature, so clients send plain JSON values.
 */
import { SlipwayError, invalid } from '../core/errors.js';
import { elementCount } from './datatypes.js';
import type { Signature, Tensor, TensorSpec } from './datatypes.js';
import { decodeElements } from './elements.js';
import { describeValue, formatShape, formatSpecs, isArray, isPlainObject, preview, quote } from './format.js';
import { toJsonElements } from './json-codec.js';
import { nestFlat } from './nested-data.js';

/**
 * Decode `instances`, one entry per example. For a model with one input (or one required input)
 * an instance may be that input's value for the example: `[5.1, 3.5, ...]` for shape [-1,30], a
 * scalar for [-1] or [-1,1]. Otherwise (and always allowed) an instance is an object
 * `{"inputName": value, ...}`; a value for a [-1,1] input may be `5.1` or `[5.1]`.
 * An optional input must be in every instance or in none. Returns tensors in signature order, each
 * with shape [instances.length, ...]; every input sent needs a variable (-1) leading dimension.
 *
 * @example decodeInstances([[1, 2], [3, 4]], { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }], outputs: [] })
 *   // [{ name: 'x', datatype: 'FP32', shape: [2, 2], data: Float32Array [1, 2, 3, 4] }]
 * @throws INVALID_ARGUMENT naming the instance and input, e.g.
 *   `instances[3]: input "petal_width_band" is 2 (number), expected a string for BYTES`
 */
export function decodeInstances(instances: unknown, signature: Signature): Tensor[] {
  if (!isArray(instances) || instances.length === 0) {
    throw invalid(`"instances" must be a non-empty array with one entry per example, got ${preview(instances)}`);
  }
  const bare = bareInput(signature);
  const specs = signature.inputs;
  const columns = specs.map((): unknown[] => []);
  const inFirst: boolean[] = [];
  instances.forEach((instance, r) => {
    const named = isPlainObject(instance) ? instance : undefined;
    if (named === undefined && bare === undefined) {
      throw invalid(
        `instances[${r}] must be an object {"input name": value, ...} since the model takes several inputs: ${formatSpecs(specs)}`,
      );
    }
    for (const key of Object.keys(named ?? {})) {
      if (!specs.some((s) => s.name === key))
        throw invalid(`instances[${r}]: unknown input ${quote(key)}; the model takes ${formatSpecs(specs)}`);
    }
    specs.forEach((spec, k) => {
      const has = named === undefined ? spec === bare : Object.hasOwn(named, spec.name);
      if (r === 0) inFirst[k] = has;
      if (has !== inFirst[k] || (!has && spec.optional !== true)) throw presenceError(spec, r, has);
      if (has) columns[k]?.push(named === undefined ? instance : named[spec.name]);
    });
  });
  return specs.flatMap((spec, k) =>
    inFirst[k] === true
      ? [decodeRows(spec, columns[k] ?? [], (r) => `instances[${r}]: input ${quote(spec.name)}`)]
      : [],
  );
}

function presenceError(spec: TensorSpec, r: number, has: boolean): SlipwayError {
  const name = quote(spec.name);
  if (spec.optional !== true) return invalid(`instances[${r}]: missing input ${formatSpecs([spec])}`);
  return has
    ? invalid(
        `instances[${r}]: optional input ${name} is sent but instances[0] does not have it; send it in every instance or in none`,
      )
    : invalid(
        `instances[${r}]: optional input ${name} is missing but instances[0] has it; send it in every instance or in none`,
      );
}

/**
 * Decode columnar `inputs`: `{"inputName": [one value per example], ...}`, or for a model with one
 * input (or one required input) a bare array of its per-example values. The same value rules as
 * `decodeInstances`; columns need not have the same length (as in `validateInputs`).
 *
 * @example decodeColumns({ a: [1, 2], b: ['x', 'y'] }, signature) // a: shape [2,1], b: shape [2,1] for [-1,1] inputs
 * @throws INVALID_ARGUMENT e.g. `input "a": example 1 is "x" (string), expected a number for FP32`
 */
export function decodeColumns(inputs: unknown, signature: Signature): Tensor[] {
  const specs = signature.inputs;
  const bare = bareInput(signature);
  if (isArray(inputs)) {
    if (bare === undefined) {
      throw invalid(
        `"inputs" must be an object {"input name": [one value per example], ...} since the model takes several inputs: ${formatSpecs(specs)}`,
      );
    }
    return [decodeColumn(bare, inputs)];
  }
  if (!isPlainObject(inputs)) {
    throw invalid(`"inputs" must be an object {"input name": [one value per example], ...}, got ${preview(inputs)}`);
  }
  for (const key of Object.keys(inputs)) {
    if (!specs.some((s) => s.name === key))
      throw invalid(`unknown input ${quote(key)}; the model takes ${formatSpecs(specs)}`);
  }
  const missing = specs.filter((s) => s.optional !== true && !Object.hasOwn(inputs, s.name));
  if (missing.length > 0) throw invalid(`missing input${missing.length > 1 ? 's' : ''} ${formatSpecs(missing)}`);
  return specs.filter((s) => Object.hasOwn(inputs, s.name)).map((spec) => decodeColumn(spec, inputs[spec.name]));
}

function decodeColumn(spec: TensorSpec, column: unknown): Tensor {
  const name = quote(spec.name);
  if (!isArray(column) || column.length === 0) {
    throw invalid(`input ${name} must be a non-empty array with one value per example, got ${preview(column)}`);
  }
  return decodeRows(spec, column, (r) => `input ${name}: example ${r}`);
}

/** The input a bare (unnamed) value goes to: the only input, or the only required one. */
function bareInput(signature: Signature): TensorSpec | undefined {
  if (signature.inputs.length === 1) return signature.inputs[0];
  const required = signature.inputs.filter((s) => s.optional !== true);
  return required.length === 1 ? required[0] : undefined;
}

/** Stack per-example values of one input into a tensor of shape [rows.length, ...]. */
function decodeRows(spec: TensorSpec, rows: readonly unknown[], rowLabel: (r: number) => string): Tensor {
  const [lead, ...rowShape] = spec.shape;
  if (lead === undefined || lead >= 0) {
    throw invalid(
      `input ${quote(spec.name)} has shape ${formatShape(spec.shape)}; examples need a variable leading (batch) dimension (-1), use the v2 infer endpoint instead`,
    );
  }
  // Variable dimensions after the first are fixed by the first example: a tensor is rectangular.
  const dims = [...rowShape];
  const scalarOk = rowShape.every((d) => d === 1);
  const leaves: unknown[] = [];
  const shape = formatShape(spec.shape);

  const walk = (value: unknown, depth: number, where: string): void => {
    const want = dims[depth] ?? 0;
    if (!isArray(value)) {
      throw invalid(
        `${where} must be an array${want >= 0 ? ` of ${want} values` : ''} (shape ${shape}), got ${describeValue(value)}`,
      );
    }
    if (want < 0) dims[depth] = value.length;
    else if (value.length !== want) {
      const why = (rowShape[depth] ?? 0) < 0 ? 'like the first example' : `(shape ${shape})`;
      throw invalid(`${where} has ${value.length} values, expected ${want} ${why}`);
    }
    if (depth === dims.length - 1) for (const leaf of value) leaves.push(leaf);
    else value.forEach((item, i) => walk(item, depth + 1, `${where}${depth === 0 ? ' at ' : ''}[${i}]`));
  };

  rows.forEach((row, r) => {
    if (rowShape.length === 0 && isArray(row))
      throw invalid(`${rowLabel(r)} must be a single value (shape ${shape}), got an array`);
    if (rowShape.length === 0 || (scalarOk && !isArray(row))) leaves.push(row);
    else walk(row, 0, rowLabel(r));
  });
  const resolved = dims.map((d) => Math.max(d, 0)); // a variable dimension never reached holds no values
  const rowSize = elementCount(resolved);
  const data = decodeElements(spec.datatype, leaves, (i) => {
    const r = Math.floor(i / rowSize);
    return rowSize === 1 ? rowLabel(r) : `${rowLabel(r)} element ${i % rowSize}`;
  });
  return { name: spec.name, datatype: spec.datatype, shape: [rows.length, ...resolved], data };
}

/**
 * Outputs as rows: `predictions[i]` is the i-th slice along dimension 0 of the single output (a
 * scalar for shape [n], nested arrays for [n, k, ...]), or with several outputs an object
 * `{outputName: slice, ...}`. Values as in `encodeResponseOutput` (INT64 as numbers, BOOL as booleans).
 *
 * @example encodePredictions([label INT64 [2] = [0, 2]]) // [0, 2]
 * @throws FAILED_PRECONDITION when the outputs do not share a leading dimension (see `encodePredictBody`).
 */
export function encodePredictions(outputs: readonly Tensor[]): unknown[] {
  const n = commonLeadingDim(outputs);
  if (n === undefined) {
    const shapes = outputs.map((t) => `${quote(t.name)} ${formatShape(t.shape)}`).join(', ');
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `the outputs ${shapes} do not share a leading dimension, so they cannot be returned as rows`,
    );
  }
  const values = outputs.map(toJsonElements);
  const slice = (k: number, i: number): unknown => {
    const rest = outputs[k]?.shape.slice(1) ?? [];
    return nestFlat(values[k] ?? [], rest, i * elementCount(rest));
  };
  const rows = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    rows[i] = outputs.length === 1 ? slice(0, i) : Object.fromEntries(outputs.map((t, k) => [t.name, slice(k, i)]));
  }
  return rows;
}

/**
 * Outputs as columns (TensorFlow Serving's `"outputs"`): the whole nested tensor for a single
 * output, else `{outputName: nestedTensor, ...}`.
 */
export function encodeColumns(outputs: readonly Tensor[]): unknown {
  const nested = outputs.map((t) => nestFlat(toJsonElements(t), t.shape));
  if (outputs.length === 1) return nested[0];
  return Object.fromEntries(outputs.map((t, k) => [t.name, nested[k]]));
}

/**
 * The body of a `:predict` response: `{predictions}` (rows) when every output has the same leading
 * dimension, else `{outputs}` (columns, see `encodeColumns`), as TensorFlow Serving names them.
 */
export function encodePredictBody(outputs: readonly Tensor[]): { predictions: unknown[] } | { outputs: unknown } {
  return commonLeadingDim(outputs) === undefined
    ? { outputs: encodeColumns(outputs) }
    : { predictions: encodePredictions(outputs) };
}

/** The leading dimension shared by all outputs (0 for none), or undefined if there is none. */
function commonLeadingDim(outputs: readonly Tensor[]): number | undefined {
  const first = outputs[0]?.shape[0] ?? (outputs.length === 0 ? 0 : undefined);
  return outputs.every((t) => t.shape.length > 0 && t.shape[0] === first) ? first : undefined;
}
