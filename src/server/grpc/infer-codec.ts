/**
 * ModelInferRequest -> decoded tensors and InferResult -> ModelInferResponse. Only the wire format is
 * checked here; the inference service checks inputs against the model's signature.
 */
import { invalid } from '../../core/errors.js';
import { DATATYPES, isDatatype, type Tensor } from '../../tensor/datatypes.js';
import { preview, quote } from '../../tensor/format.js';
import { tensorFromBytes, tensorToBytes } from '../../tensor/raw-bytes.js';
import type { InferResult, RequestedOutput } from '../../serving/index.js';
import type {
  InferInputTensorMessage,
  Int64Value,
  ModelInferRequestMessage,
  ModelInferResponseMessage,
} from './messages.js';
import { decodeParameters } from './parameters.js';
import { refuseSharedMemoryTensors } from '../unsupported-extensions.js';
import { decodeContents, hasContents } from './tensor-contents.js';

/** A decoded ModelInfer call: the service request (without its signal) and how to answer. */
export interface DecodedInfer {
  readonly request: {
    readonly model: string;
    readonly version?: string;
    readonly id?: string;
    readonly inputs: Tensor[];
    readonly outputs?: RequestedOutput[];
    readonly parameters?: Record<string, unknown>;
  };
  /** The inputs came as `raw_input_contents` (responses are raw whatever the request used). */
  readonly raw: boolean;
}

/**
 * Decode a ModelInferRequest. Inputs come either all typed (`contents`) or all raw
 * (`raw_input_contents`, one entry per input in order), never mixed, as in Triton.
 * Empty `model_version` and `id` mean absent.
 *
 * @throws INVALID_ARGUMENT naming the input, e.g. `input "x": contents.fp32_contents has 29 elements but shape [1,30] needs 30`
 */
export function decodeInferRequest(message: ModelInferRequestMessage): DecodedInfer {
  const model = requireModelName(message.model_name, 'model_name');
  const inputs = message.inputs ?? [];
  // Triton's shared-memory parameters are refused by name rather than ignored.
  refuseSharedMemoryTensors(inputs, message.outputs);
  const rawContents = message.raw_input_contents ?? [];
  const raw = rawContents.length > 0;
  if (raw && rawContents.length !== inputs.length) {
    throw invalid(
      `raw_input_contents has ${rawContents.length} entries but the request has ${inputs.length} inputs; send one per input, in order`,
    );
  }
  const tensors = inputs.map((input, position): Tensor => {
    const { name, datatype, shape, label } = decodeInputHeader(input, position);
    if (!raw) return { name, datatype, shape, data: decodeContents(label, datatype, shape, input.contents) };
    if (hasContents(input.contents)) {
      throw invalid(
        `${label} has typed contents but the request also has raw_input_contents; use one form for all inputs`,
      );
    }
    return {
      name,
      datatype,
      shape,
      data: tensorFromBytes(label, datatype, shape, rawContents[position] ?? new Uint8Array(0)),
    };
  });
  const outputs = (message.outputs ?? []).map((output, i): RequestedOutput => {
    if (!output.name) throw invalid(`outputs[${i}]: "name" is required`);
    const parameters = decodeParameters(output.parameters, `outputs[${i}] (${quote(output.name)})`);
    return parameters === undefined ? { name: output.name } : { name: output.name, parameters };
  });
  const parameters = decodeParameters(message.parameters, 'request');
  return {
    request: {
      model,
      ...(message.model_version ? { version: message.model_version } : {}),
      ...(message.id ? { id: message.id } : {}),
      inputs: tensors,
      ...(outputs.length > 0 ? { outputs } : {}),
      ...(parameters ? { parameters } : {}),
    },
    raw,
  };
}

/**
 * Encode a result. Outputs always go as `raw_output_contents` (BYTES elements each as a 4-byte
 * little-endian length then the bytes), whatever form the request used, as Triton answers: typed
 * `contents` are never filled. `model_version` is the version that served.
 */
export function encodeInferResponse(result: InferResult): ModelInferResponseMessage {
  return {
    model_name: result.modelName,
    model_version: result.modelVersion,
    id: result.id ?? '',
    outputs: result.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape] })),
    raw_output_contents: result.outputs.map(tensorToBytes),
  };
}

/** A model name from a request field, which proto3 cannot mark as required. */
export function requireModelName(name: string | undefined, field: string): string {
  if (!name) throw invalid(`"${field}" is required`);
  return name;
}

function decodeInputHeader(input: InferInputTensorMessage, position: number) {
  if (!input.name) throw invalid(`inputs[${position}]: "name" is required`);
  const label = `input ${quote(input.name)}`;
  const datatype = input.datatype ?? '';
  if (!isDatatype(datatype))
    throw invalid(`${label}: "datatype" must be one of ${DATATYPES.join(', ')}, got ${preview(datatype)}`);
  return { name: input.name, datatype, shape: decodeShape(input.shape ?? [], label), label };
}

function decodeShape(shape: readonly Int64Value[], label: string): number[] {
  return shape.map((d) => {
    const n = Number(d);
    if (!Number.isSafeInteger(n) || n < 0)
      throw invalid(`${label}: shape must be non-negative integers, got [${shape.join(',')}]`);
    return n;
  });
}
