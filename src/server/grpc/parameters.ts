/**
 * `map<string, InferParameter>` -> the JSON-like parameters the inference service takes, so a
 * parameter reads the same whether it came over REST or gRPC.
 */
import { invalid } from '../../core/errors.js';
import { quote } from '../../tensor/format.js';
import type { InferParameterMessage, ParameterMapMessage } from './messages.js';

/** A decoded parameter value: what the same parameter would be in a REST request's JSON. */
export type ParameterValue = boolean | number | string;

/**
 * Decode a parameter map. int64/uint64 values become numbers when exactly representable, else
 * their decimal strings (never a lossy number). A parameter with no value set is left out.
 * Returns undefined for an empty map, as a REST request without `"parameters"`.
 *
 * @example decodeParameters({ priority: { int64_param: '1', parameter_choice: 'int64_param' } }, 'request')
 *   // { priority: 1 }
 */
export function decodeParameters(
  map: ParameterMapMessage | null | undefined,
  where: string,
): Record<string, ParameterValue> | undefined {
  if (!map) return undefined;
  const out: Record<string, ParameterValue> = {};
  for (const [key, parameter] of Object.entries(map)) {
    const value = decodeParameter(parameter, () => `${where}: parameter ${quote(key)}`);
    if (value !== undefined) out[key] = value;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function decodeParameter(parameter: InferParameterMessage, where: () => string): ParameterValue | undefined {
  switch (parameter.parameter_choice) {
    case undefined:
      return undefined;
    case 'bool_param':
      return parameter.bool_param === true;
    case 'string_param':
      return parameter.string_param ?? '';
    case 'double_param':
      return parameter.double_param ?? 0;
    case 'int64_param':
      return exactInteger(parameter.int64_param, where);
    case 'uint64_param':
      return exactInteger(parameter.uint64_param, where);
  }
}

function exactInteger(value: string | number | undefined, where: () => string): number | string {
  if (value === undefined) return 0;
  if (typeof value === 'number') return value;
  let big: bigint;
  try {
    big = BigInt(value);
  } catch {
    throw invalid(`${where()} is ${quote(value)}, not an integer`);
  }
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(big)
    : big.toString();
}
