import { invalid } from '../../core/errors.js';
import { isPlainObject } from '../../tensor/format.js';
import type { Tensor } from '../../tensor/datatypes.js';
import { preview, quote } from '../../tensor/format.js';
import { decodeRequestInput } from '../../tensor/json-codec.js';
import { refuseSharedMemoryTensors } from '../unsupported-extensions.js';
import type { RequestedOutput } from '../../serving/index.js';

/** An Open Inference Protocol JSON request body, decoded but not yet checked against a signature. */
export interface DecodedInferBody {
  readonly id: string | undefined;
  readonly inputs: Tensor[];
  /** The requested outputs with their parameters (`classification`); undefined when the request lists none (then all are returned). */
  readonly outputs: RequestedOutput[] | undefined;
  readonly parameters: Record<string, unknown> | undefined;
  /**
   * Request `parameters.binary_data_output` (Triton's binary tensor data extension): return
   * every output as binary data unless its own `binary_data` says otherwise. False when absent.
   */
  readonly binaryDataOutput: boolean;
  /** Each requested output's `parameters.binary_data`, by output name, where given; overrides `binaryDataOutput`. */
  readonly binaryData: ReadonlyMap<string, boolean>;
  /**
   * Inference by entity: a request with no `inputs` and `parameters.entities` (plus optional
   * `parameters.features`); `inputs` is then empty until the caller builds them from the feature store.
   */
  readonly entities?: { readonly entities: unknown; readonly features: unknown };
}

/** Decodes `inputs[position]` of a request into a tensor. */
export type InputDecoder = (raw: unknown, position: number) => Tensor;

/**
 * Decode `$inference_request` (KServe v2 REST request shape), with the binary data
 * extension's output preferences (Triton's binary data extension). `decodeInput` decodes each input; the default reads JSON
 * `data` (binary-infer.ts passes one that also takes bytes after a JSON header).
 *
 * @example decodeInferBody({ inputs: [...], outputs: [{ name: 'y', parameters: { binary_data: true } }] })
 *   // { ..., outputs: [{ name: 'y', parameters: { binary_data: true } }], binaryDataOutput: false, binaryData: Map { 'y' => true } }
 * @throws INVALID_ARGUMENT naming the offending field, e.g. `outputs[0] ("y"): "parameters.binary_data" must be a boolean, got "yes"`
 */
export function decodeInferBody(body: unknown, decodeInput: InputDecoder = decodeJsonInput): DecodedInferBody {
  if (!isPlainObject(body)) throw invalid('request body must be a JSON object with an "inputs" array');
  const { id, inputs, outputs, parameters } = body;
  if (id !== undefined && typeof id !== 'string') throw invalid(`"id" must be a string, got ${typeof id}`);
  if (parameters !== undefined && !isPlainObject(parameters)) throw invalid('"parameters" must be an object');
  // Inference by entity: no inputs, the server builds them from `parameters.entities`.
  const entities = parameters?.entities;
  if (!Array.isArray(inputs) && (inputs !== undefined || entities === undefined))
    throw invalid('request body needs an "inputs" array');
  if (inputs !== undefined && entities !== undefined)
    throw invalid('send "inputs" or "parameters.entities" (a model bound to a feature service), not both');
  // Triton's shared-memory parameters are refused by name rather than ignored.
  refuseSharedMemoryTensors(inputs, outputs);
  const binaryDataOutput = parameters?.binary_data_output ?? false;
  if (typeof binaryDataOutput !== 'boolean') {
    throw invalid(`"parameters.binary_data_output" must be a boolean, got ${preview(binaryDataOutput)}`);
  }
  const binaryData = new Map<string, boolean>();
  let outputNames: RequestedOutput[] | undefined;
  if (outputs !== undefined) {
    if (!Array.isArray(outputs)) throw invalid('"outputs" must be an array of {"name": ...}');
    outputNames = outputs.map((o: unknown, i) => {
      if (!isPlainObject(o) || typeof o.name !== 'string')
        throw invalid(`outputs[${i}] must be an object with a string "name"`);
      const binary = outputBinaryData(o, `outputs[${i}] (${quote(o.name)})`);
      if (binary !== undefined) binaryData.set(o.name, binary);
      return isPlainObject(o.parameters) ? { name: o.name, parameters: o.parameters } : { name: o.name };
    });
  }
  return {
    id,
    inputs: Array.isArray(inputs) ? inputs.map((raw: unknown, i) => decodeInput(raw, i)) : [],
    outputs: outputNames,
    parameters,
    binaryDataOutput,
    binaryData,
    entities: inputs === undefined ? { entities, features: parameters?.features } : undefined,
  };
}

/**
 * Whether output `name` goes back as binary data: its own `binary_data` if the request gave one,
 * else the request's `binary_data_output`.
 *
 * @example encodeInferResponse(response, (name) => wantsBinaryOutput(body, name))
 */
export function wantsBinaryOutput(
  body: Pick<DecodedInferBody, 'binaryDataOutput' | 'binaryData'>,
  name: string,
): boolean {
  return body.binaryData.get(name) ?? body.binaryDataOutput;
}

function outputBinaryData(output: Record<string, unknown>, at: string): boolean | undefined {
  const { parameters } = output;
  if (parameters === undefined) return undefined;
  if (!isPlainObject(parameters)) throw invalid(`${at}: "parameters" must be an object, got ${preview(parameters)}`);
  const { binary_data: binary } = parameters;
  if (binary !== undefined && typeof binary !== 'boolean') {
    throw invalid(`${at}: "parameters.binary_data" must be a boolean, got ${preview(binary)}`);
  }
  return binary;
}

/** JSON `data` only; an input that announces binary data here gets a message saying what is missing. */
function decodeJsonInput(raw: unknown, position: number): Tensor {
  if (
    isPlainObject(raw) &&
    raw.data === undefined &&
    isPlainObject(raw.parameters) &&
    raw.parameters.binary_data_size !== undefined
  ) {
    const label = typeof raw.name === 'string' ? `input ${quote(raw.name)}` : `inputs[${position}]`;
    throw invalid(
      `${label} has "binary_data_size" but the request carries no binary data: ` +
        'send the JSON length in the Inference-Header-Content-Length header, followed by the tensor bytes',
    );
  }
  return decodeRequestInput(raw, position);
}
