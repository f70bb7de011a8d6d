import { invalid } from '../../core/errors.js';
import type { Tensor } from '../../tensor/datatypes.js';
import { decodeRequestInput } from '../../tensor/json-codec.js';

/** An Open Inference Protocol JSON request body, decoded but not yet checked against a signature. */
export interface DecodedInferBody {
  readonly id: string | undefined;
  readonly inputs: Tensor[];
  readonly outputs: string[] | undefined;
  readonly parameters: Record<string, unknown> | undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Decode `$inference_request` (shapes in shared/reference/serving.md §1.3). */
export function decodeInferBody(body: unknown): DecodedInferBody {
  if (!isObject(body)) throw invalid('request body must be a JSON object with an "inputs" array');
  const { id, inputs, outputs, parameters } = body;
  if (id !== undefined && typeof id !== 'string') throw invalid(`"id" must be a string, got ${typeof id}`);
  if (!Array.isArray(inputs)) throw invalid('request body needs an "inputs" array');
  if (parameters !== undefined && !isObject(parameters)) throw invalid('"parameters" must be an object');
  let outputNames: string[] | undefined;
  if (outputs !== undefined) {
    if (!Array.isArray(outputs)) throw invalid('"outputs" must be an array of {"name": ...}');
    outputNames = outputs.map((o: unknown, i) => {
      if (!isObject(o) || typeof o.name !== 'string') throw invalid(`outputs[${i}] must be an object with a string "name"`);
      return o.name;
    });
  }
  return { id, inputs: inputs.map((raw: unknown, i) => decodeRequestInput(raw, i)), outputs: outputNames, parameters };
}
