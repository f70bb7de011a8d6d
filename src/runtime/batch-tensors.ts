import type { Tensor, TensorData } from '../tensor/datatypes.js';

/**
 * Concatenate and split tensors along the first (batch) axis. Requests share a batch only when
 * every input agrees on datatype and non-batch dimensions, which `batchKey` encodes.
 */

/** Rows a request contributes: the shared first dimension of its inputs, or undefined if they differ. */
export function requestRows(inputs: readonly Tensor[]): number | undefined {
  let rows: number | undefined;
  for (const t of inputs) {
    const n = t.shape[0];
    if (n === undefined) return undefined;
    if (rows === undefined) rows = n;
    else if (rows !== n) return undefined;
  }
  return rows;
}

/** Requests with equal keys can be concatenated: same inputs, datatypes, inner dimensions and outputs. */
export function batchKey(inputs: readonly Tensor[], outputNames: readonly string[]): string {
  let key = outputNames.join(',');
  for (const t of inputs) key += `|${t.name}:${t.datatype}:${t.shape.slice(1).join('x')}`;
  return key;
}

/** Concatenate the same-named input of several requests along axis 0. */
export function concatInputs(requests: readonly (readonly Tensor[])[]): Tensor[] {
  const first = requests[0];
  if (first === undefined) return [];
  return first.map((template, i) => {
    const parts = requests.map((inputs) => inputs[i] as Tensor);
    const rows = parts.reduce((n, t) => n + (t.shape[0] ?? 0), 0);
    return {
      name: template.name,
      datatype: template.datatype,
      shape: [rows, ...template.shape.slice(1)],
      data: concatData(parts.map((t) => t.data)),
    };
  });
}

function concatData(parts: readonly TensorData[]): TensorData {
  const first = parts[0];
  if (first === undefined) return [];
  if (Array.isArray(first)) return (parts as readonly string[][]).flat();
  const total = parts.reduce((n, p) => n + p.length, 0);
  const Ctor = first.constructor as new (n: number) => Exclude<TensorData, string[]>;
  const out = new Ctor(total);
  let offset = 0;
  for (const p of parts as readonly Exclude<TensorData, string[]>[]) {
    // The typed-array family matches by construction: every part has the same datatype.
    (out as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Split batch outputs back into per-request outputs by row counts; undefined if an output is not batch-major. */
export function splitOutputs(outputs: readonly Tensor[], rowCounts: readonly number[]): Tensor[][] | undefined {
  const total = rowCounts.reduce((a, b) => a + b, 0);
  if (outputs.some((t) => t.shape[0] !== total)) return undefined;
  const result: Tensor[][] = rowCounts.map(() => []);
  for (const t of outputs) {
    const rowSize = t.shape.slice(1).reduce((a, b) => a * b, 1);
    let row = 0;
    rowCounts.forEach((n, r) => {
      const start = row * rowSize;
      const end = (row + n) * rowSize;
      const data = Array.isArray(t.data) ? t.data.slice(start, end) : t.data.slice(start, end);
      (result[r] as Tensor[]).push({ name: t.name, datatype: t.datatype, shape: [n, ...t.shape.slice(1)], data });
      row += n;
    });
  }
  return result;
}
