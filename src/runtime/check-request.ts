/**
 * The request checks every backend needs before handing tensors to its engine, so that a client's
 * mistake is INVALID_ARGUMENT rather than an engine failure reported as INTERNAL.
 */
import { SlipwayError } from '../core/errors.js';
import type { Signature, Tensor } from '../tensor/datatypes.js';

/**
 * Check inputs and requested outputs against a signature: known names, no duplicates, every
 * required input present, matching datatypes, ranks and fixed dimensions. Throws INVALID_ARGUMENT.
 */
export function checkRunRequest(signature: Signature, inputs: readonly Tensor[], outputNames: readonly string[]): void {
  const specs = new Map(signature.inputs.map((s) => [s.name, s]));
  const seen = new Set<string>();
  for (const input of inputs) {
    const spec = specs.get(input.name);
    if (spec === undefined) {
      throw invalid(`unknown input "${input.name}"; the model takes ${names(signature.inputs)}`);
    }
    if (seen.has(input.name)) throw invalid(`input "${input.name}" is given twice`);
    seen.add(input.name);
    if (input.datatype !== spec.datatype) {
      throw invalid(`input "${input.name}" must be ${spec.datatype}, got ${input.datatype}`);
    }
    const fits =
      input.shape.length === spec.shape.length && spec.shape.every((d, i) => d === -1 || d === input.shape[i]);
    if (!fits) {
      throw invalid(`input "${input.name}" must have shape ${dims(spec.shape)}, got ${dims(input.shape)}`);
    }
  }
  const missing = signature.inputs.filter((s) => s.optional !== true && !seen.has(s.name));
  if (missing.length > 0) throw invalid(`missing input ${names(missing)}`);
  const outputs = new Set(signature.outputs.map((s) => s.name));
  for (const name of outputNames) {
    if (!outputs.has(name)) throw invalid(`unknown output "${name}"; the model gives ${names(signature.outputs)}`);
  }
}

function invalid(message: string): SlipwayError {
  return new SlipwayError('INVALID_ARGUMENT', message);
}

function names(specs: readonly { name: string }[]): string {
  return specs.map((s) => `"${s.name}"`).join(', ');
}

function dims(shape: readonly number[]): string {
  return `[${shape.map((d) => (d === -1 ? '-1' : String(d))).join(', ')}]`;
}
