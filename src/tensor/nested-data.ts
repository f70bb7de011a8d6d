/**
 * Row-major nested arrays <-> flat arrays: JSON tensor data may come nested (`[[1,2],[3,4]]`) and
 * predictions go out nested.
 */
import { invalid } from '../core/errors.js';
import { elementCount } from './datatypes.js';
import { isArray } from './format.js';

/** Deeper nesting is refused rather than risking the stack on hostile input. */
export const MAX_NESTING_DEPTH = 32;

/**
 * Flatten regularly nested data in row-major order. Flat data is returned as is (no copy). Every array
 * at the same depth must have the same length and the same depth as `data[0][0]...`, otherwise the data
 * is ragged; `prefix` starts the error message (e.g. `input "x"`).
 *
 * @example flattenNested([[1, 2], [3, 4]], 'input "x"') // [1, 2, 3, 4]
 * @throws INVALID_ARGUMENT `input "x": data is ragged: data[1] has 3 items but data[0] has 2`
 */
export function flattenNested(data: readonly unknown[], prefix: string): readonly unknown[] {
  const dims = nestingDims(data, prefix);
  if (dims.length === 1) return data;
  const last = dims.length - 1;
  const path: number[] = [];
  const ragged = (detail: string) => invalid(`${prefix}: data is ragged: ${detail}`);
  const here = (i: number) => `data${path.map((p) => `[${p}]`).join('')}[${i}]`;
  const first = () => `data${'[0]'.repeat(path.length + 1)}`;

  // First pass over the arrays only (not the values): once every array is checked, the value count is
  // exactly the product of dims, so the output can be allocated once. Recursion is bounded by MAX_NESTING_DEPTH.
  const check = (items: readonly unknown[], depth: number): void => {
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (!isArray(item)) throw ragged(`${here(i)} is not an array but ${first()} is`);
      if (item.length !== dims[depth + 1])
        throw ragged(`${here(i)} has ${item.length} items but ${first()} has ${dims[depth + 1]}`);
      if (depth + 1 < last) {
        path.push(i);
        check(item, depth + 1);
        path.pop();
      }
    }
  };
  check(data, 0);

  const out = new Array<unknown>(elementCount(dims));
  let k = 0;
  const fill = (items: readonly unknown[], depth: number): void => {
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      path.push(i);
      if (depth + 1 < last) fill(item as readonly unknown[], depth + 1);
      else {
        const bad = copyValues(item as readonly unknown[], out, k);
        if (bad >= 0) throw ragged(`${here(bad)} is an array but ${first()} is not`);
        k += dims[last] ?? 0;
      }
      path.pop();
    }
  };
  fill(data, 0);
  return out;
}

/** Copy `values` into `out` from `offset`; returns the index of a nested array found instead of a value, else -1. */
function copyValues(values: readonly unknown[], out: unknown[], offset: number): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Array.isArray(v)) return i;
    out[offset + i] = v;
  }
  return -1;
}

/** The lengths along the first path `data`, `data[0]`, `data[0][0]`, ...: the dims if the data is regular. */
function nestingDims(data: readonly unknown[], prefix: string): number[] {
  const dims = [data.length];
  let current = data[0];
  while (isArray(current)) {
    if (dims.length >= MAX_NESTING_DEPTH)
      throw invalid(`${prefix}: data is nested more than ${MAX_NESTING_DEPTH} levels deep`);
    dims.push(current.length);
    current = current[0];
  }
  return dims;
}

/**
 * Nest flat row-major values into arrays of `shape` (a rank-0 shape gives the single value itself).
 *
 * @example nestFlat([1, 2, 3, 4, 5, 6], [2, 3]) // [[1, 2, 3], [4, 5, 6]]
 */
export function nestFlat<T>(values: readonly T[], shape: readonly number[], offset = 0): T | NestedArray<T> {
  if (shape.length === 0) return values[offset] as T;
  const [length = 0, ...inner] = shape;
  const stride = inner.reduce((a, b) => a * b, 1);
  const out: (T | NestedArray<T>)[] = new Array<T | NestedArray<T>>(length);
  for (let i = 0; i < length; i++)
    out[i] = inner.length === 0 ? (values[offset + i] as T) : nestFlat(values, inner, offset + i * stride);
  return out;
}

/** An array of `T` nested to any depth. */
export type NestedArray<T> = (T | NestedArray<T>)[];
