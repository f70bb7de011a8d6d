/**
 * Check a request against a model's signature before anything runs, so a client's mistake is a clear
 * INVALID_ARGUMENT rather than an engine failure.
 */
import { invalid } from '../core/errors.js';
import type { Signature, Tensor, TensorSpec } from './datatypes.js';
import { formatShape, formatSpecs, quote } from './format.js';
import { canWiden, convertTensor } from './widening.js';

/**
 * Symbolic dimension names (ONNX `dim_param`) per input name, one entry per dimension; `''` for a
 * dimension without a name. Signatures keep `-1` only, so the backend that read the model passes these.
 */
export type DimNames = ReadonlyMap<string, readonly string[]>;

/**
 * Match decoded inputs to the signature's inputs and return them in signature order (optional inputs
 * that were not sent are left out). Inputs sent with a narrower datatype that widens losslessly
 * (`canWiden`) are converted; `-1` dimensions take any size. With `dimNames`, inputs whose dimensions
 * share a symbolic name (e.g. both batch dimensions are `N`) must agree on its size within the request;
 * without them (or for unnamed dimensions) sizes are not compared across inputs.
 *
 * @throws INVALID_ARGUMENT e.g. `unknown input "foo"; the model takes "input" (FP32[-1,30])`,
 *   `input "input": expected shape [-1,30], got [1,29] (dimension 1 must be 30)`,
 *   `input "b": dimension 0 ("N") is 3, but input "a" has 2 there; inputs sharing "N" must agree`
 */
export function validateInputs(tensors: readonly Tensor[], signature: Signature, dimNames?: DimNames): Tensor[] {
  const sent = new Map<string, Tensor>();
  for (const t of tensors) {
    if (sent.has(t.name)) throw invalid(`input ${quote(t.name)} was sent more than once`);
    if (!signature.inputs.some((s) => s.name === t.name)) {
      throw invalid(`unknown input ${quote(t.name)}; the model takes ${formatSpecs(signature.inputs)}`);
    }
    sent.set(t.name, t);
  }
  const missing = signature.inputs.filter((s) => s.optional !== true && !sent.has(s.name));
  if (missing.length > 0) throw invalid(`missing input${missing.length > 1 ? 's' : ''} ${formatSpecs(missing)}`);

  const out: Tensor[] = [];
  for (const spec of signature.inputs) {
    const t = sent.get(spec.name);
    if (t !== undefined) out.push(checkInput(t, spec));
  }
  if (dimNames !== undefined && out.length > 1) checkSharedDims(out, dimNames);
  return out;
}

/** Inputs whose dimensions carry the same symbolic name must have the same size there. */
function checkSharedDims(tensors: readonly Tensor[], dimNames: DimNames): void {
  const seen = new Map<string, { input: string; size: number }>();
  for (const t of tensors) {
    const names = dimNames.get(t.name);
    if (names === undefined) continue;
    for (let i = 0; i < names.length && i < t.shape.length; i++) {
      const symbol = names[i] as string;
      if (symbol === '') continue;
      const size = t.shape[i] as number;
      const first = seen.get(symbol);
      if (first === undefined) seen.set(symbol, { input: t.name, size });
      else if (first.size !== size) {
        throw invalid(
          `input ${quote(t.name)}: dimension ${i} (${quote(symbol)}) is ${size}, but input ${quote(first.input)} has ${first.size} there; ` +
            `inputs sharing ${quote(symbol)} must agree`,
        );
      }
    }
  }
}

function checkInput(t: Tensor, spec: TensorSpec): Tensor {
  // Messages are built only on failure: this runs for every input of every request.
  const label = () => `input ${quote(spec.name)}`;
  if (t.datatype !== spec.datatype && !canWiden(t.datatype, spec.datatype)) {
    throw invalid(`${label()}: expected datatype ${spec.datatype}, got ${t.datatype}`);
  }
  const shapes = () => `expected shape ${formatShape(spec.shape)}, got ${formatShape(t.shape)}`;
  if (t.shape.length !== spec.shape.length)
    throw invalid(`${label()}: ${shapes()} (rank must be ${spec.shape.length})`);
  for (let i = 0; i < spec.shape.length; i++) {
    const d = spec.shape[i] as number;
    if (d >= 0 && t.shape[i] !== d) throw invalid(`${label()}: ${shapes()} (dimension ${i} must be ${d})`);
  }
  return convertTensor(t, spec.datatype);
}

/**
 * The outputs to compute: all of them in signature order when `requested` is undefined or empty,
 * else the requested names in the order given.
 *
 * @throws INVALID_ARGUMENT `unknown output "foo"; the model gives "label" (INT64[-1]), ...` or
 *   `output "label" was requested more than once; ...`
 */
export function selectOutputs(requested: readonly string[] | undefined, signature: Signature): string[] {
  if (requested === undefined || requested.length === 0) return signature.outputs.map((s) => s.name);
  const seen = new Set<string>();
  for (const name of requested) {
    const gives = `the model gives ${formatSpecs(signature.outputs)}`;
    if (!signature.outputs.some((s) => s.name === name)) throw invalid(`unknown output ${quote(name)}; ${gives}`);
    if (seen.has(name)) throw invalid(`output ${quote(name)} was requested more than once; ${gives}`);
    seen.add(name);
  }
  return [...requested];
}
