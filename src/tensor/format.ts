/**
 * How the tensor module names values, shapes and specs in client-facing error messages, so every
 * message reads the same way (`input "x": element 3 is "abc" (string), expected ...`).
 */
import type { TensorSpec } from './datatypes.js';

const PREVIEW_CHARS = 60;

/** `[1,30]`, `[-1,3]`, `[]`: a shape as it appears in a JSON request. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** `"input" (FP32[-1,30])`. */
export function formatSpec(spec: TensorSpec): string {
  return `${JSON.stringify(spec.name)} (${spec.datatype}${formatShape(spec.shape)})`;
}

/** `"a" (FP32[-1,1]), "b" (BYTES[-1,1])`, or `nothing` for an empty list. */
export function formatSpecs(specs: readonly TensorSpec[]): string {
  return specs.length === 0 ? 'nothing' : specs.map(formatSpec).join(', ');
}

/** A JSON-quoted string, cut short so a huge value cannot flood an error message. */
export function quote(text: string): string {
  return JSON.stringify(text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text);
}

/**
 * A value and its JSON type for "element 3 is X, expected Y": `"abc" (string)`, `1.5 (number)`,
 * `true (boolean)`, `null`, `an array`, `an object`, `nothing` (absent).
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `${quote(value)} (string)`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${String(value)} (${typeof value})`;
    case 'undefined':
      return 'nothing';
    case 'object':
      if (value === null) return 'null';
      return Array.isArray(value) ? 'an array' : 'an object';
    case 'symbol':
    case 'function':
      return `a ${typeof value}`;
  }
}

/** A compact JSON rendering of any value (cut short), for "got ..." in messages: `[1,-2]`, `"FLOAT"`. */
export function preview(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    text = undefined; // cyclic: only reachable from programmatic callers
  }
  if (text === undefined) return describeValue(value);
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
}

/** True for `{...}` values (not arrays, not null). */
export function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `Array.isArray` without widening to `any[]`. */
export function isArray(value: unknown): value is readonly unknown[] {
  return Array.isArray(value);
}
