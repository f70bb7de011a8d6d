import type { Signature, TensorSpec } from '../tensor/datatypes.js';
import type { FeatureScalar } from './online/online-store.js';
import { parseFeatureRef } from './definitions/types.js';

/**
 * How a feature service's ordered values become a model's input, one of two layouts:
 * - `columns`: the model has one required input of shape [-1, N] (N = the number of service
 *   features, or -1): value i fills column i, so the service order is the model's column order.
 * - `named`: every required input is named after a service entry (the feature name, or the request
 *   value's name) and holds one value per example (shape [-1] or [-1, 1]).
 */
export type ModelBinding =
  | { readonly layout: 'columns'; readonly input: string }
  | { readonly layout: 'named'; readonly inputs: readonly string[] };

/** The name a service entry goes by in a `named` layout: `view:f` → `f`, `request:x` → `x`. */
export function entryName(ref: string): string {
  const parsed = parseFeatureRef(ref);
  return parsed.kind === 'request' ? parsed.name : parsed.feature;
}

/** The layout for `features` on `signature`, or the reasons none fits. */
export function bindModel(
  features: readonly string[],
  signature: Signature,
): { binding: ModelBinding } | { problems: string[] } {
  const required = signature.inputs.filter((spec) => spec.optional !== true);
  const [only] = required;
  if (required.length === 1 && only !== undefined && only.shape.length === 2) {
    const width = only.shape[1];
    if (width === -1 || width === features.length) return { binding: { layout: 'columns', input: only.name } };
    return {
      problems: [
        `the model's input "${only.name}" has ${width} columns but the service lists ${features.length} features`,
      ],
    };
  }
  const names = features.map(entryName);
  const problems: string[] = [];
  for (const spec of required) {
    if (!names.includes(spec.name))
      problems.push(`the model's input "${spec.name}" is not a service feature (the service has ${names.join(', ')})`);
    else if (!isOneValuePerRow(spec))
      problems.push(
        `the model's input "${spec.name}" has shape [${spec.shape.join(', ')}]; a feature fills [-1] or [-1, 1]`,
      );
  }
  for (const name of names)
    if (!signature.inputs.some((spec) => spec.name === name))
      problems.push(`service feature "${name}" is not an input of the model`);
  if (problems.length > 0) return { problems };
  return { binding: { layout: 'named', inputs: names } };
}

function isOneValuePerRow(spec: TensorSpec): boolean {
  return spec.shape.length === 1 || (spec.shape.length === 2 && (spec.shape[1] === 1 || spec.shape[1] === -1));
}

/**
 * One `:predict` instance from one example's values (in service order). Inference by entity builds
 * instances and then takes the same decoding path as a client's `{"instances": [...]}`, so both
 * give the same tensors. Booleans become 1/0 for numeric inputs.
 */
export function toInstance(binding: ModelBinding, values: readonly FeatureScalar[]): Record<string, unknown> {
  const plain = values.map((value) => (typeof value === 'boolean' ? (value ? 1 : 0) : value));
  if (binding.layout === 'columns') return { [binding.input]: plain };
  const instance: Record<string, unknown> = {};
  binding.inputs.forEach((name, i) => {
    instance[name] = plain[i];
  });
  return instance;
}
