/**
 * Triton's binary tensor data extension over HTTP: a JSON header
 * of `Inference-Header-Content-Length` bytes, then the raw bytes of every tensor whose `parameters`
 * carry `binary_data_size`, in the order the tensors appear in the JSON. Raw layout: tensor/raw-bytes.ts.
 * Pure functions; v2-routes.ts parses infer bodies as bytes and calls these when the header is present
 * (the header decides, not the content type: curl --data-binary sends a form type, tritonclient may
 * send none). The README shows a curl session.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { invalid } from '../../core/errors.js';
import { DATATYPES, DATATYPE_SIZE, isDatatype } from '../../tensor/datatypes.js';
import type { Tensor, TensorSpec } from '../../tensor/datatypes.js';
import { formatSpec, formatSpecs, isArray, isPlainObject, preview, quote } from '../../tensor/format.js';
import { decodeBytesElement } from '../../tensor/bytes-text.js';
import { decodeRequestInput, encodeResponseOutput } from '../../tensor/json-codec.js';
import type { ResponseOutput } from '../../tensor/json-codec.js';
import { tensorFromBytes, tensorToBytes } from '../../tensor/raw-bytes.js';
import { decodeInferBody } from './v2-body.js';
import type { DecodedInferBody } from './v2-body.js';

/** The request/response header giving the JSON part's length in bytes. */
export const INFERENCE_HEADER = 'inference-header-content-length';

/**
 * The JSON header's length from `Inference-Header-Content-Length`, or undefined when the header is
 * absent (a plain JSON request).
 *
 * @throws INVALID_ARGUMENT when the value is not a non-negative decimal integer
 */
export function inferenceHeaderLength(headers: IncomingHttpHeaders): number | undefined {
  const value = headers[INFERENCE_HEADER];
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(', ') : value;
  const length = /^\s*\d{1,15}\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(length)) {
    throw invalid(
      `Inference-Header-Content-Length must be a non-negative integer (the JSON length in bytes), got ${quote(text)}`,
    );
  }
  return length;
}

/**
 * Decode a binary-extension request body: `body[0, headerLength)` is the JSON `$inference_request`;
 * inputs with `parameters.binary_data_size` carry no `data` and take that many bytes, in input
 * order, from the rest of the body. Other inputs use JSON `data` as usual (mixing is allowed).
 *
 * `headerLength` 0 means the whole body is the raw bytes of the model's only input (Triton's rule);
 * `rawInput` names that input (see `onlyInput`) and is called only then:
 * - non-BYTES: at most one variable (-1) dimension, filled in from the byte count, so an FP32
 *   `[-1,30]` input with 120 bytes is `[1,30]` (with 240 bytes, `[2,30]`: the count decides, as in
 *   Triton's core; the batch is 1 for a one-row body). A fully fixed shape must match the byte count.
 * - BYTES: shape `[1]` (or `[-1]`, read as `[1]`); the whole body is that one element, without a
 *   length prefix (Triton prepends the length itself), decoded as strict UTF-8 (tensor/bytes-text.ts).
 * All outputs of a raw request are returned as binary (`binaryDataOutput: true`).
 *
 * @throws INVALID_ARGUMENT naming the input: header longer than the body, header not JSON, a bad
 *   `binary_data_size`, `data` and `binary_data_size` together, sizes that do not add up to the bytes
 *   after the header, bytes that do not fit the input's datatype and shape.
 */
export function decodeBinaryInferRequest(
  body: Buffer,
  headerLength: number,
  rawInput?: () => TensorSpec,
): DecodedInferBody {
  if (!Number.isSafeInteger(headerLength) || headerLength < 0) {
    throw invalid(`Inference-Header-Content-Length must be a non-negative integer, got ${headerLength}`);
  }
  if (headerLength > body.byteLength) {
    throw invalid(
      `Inference-Header-Content-Length is ${headerLength} but the request body has only ${body.byteLength} bytes`,
    );
  }
  if (headerLength === 0) return decodeRawBody(body, rawInput);
  const header = parseHeader(body.subarray(0, headerLength));
  if (!isPlainObject(header) || !isArray(header.inputs)) return decodeInferBody(header); // throws the JSON body's own error
  const blobs = sliceBinaryInputs(header.inputs, body.subarray(headerLength), headerLength);
  return decodeInferBody(header, (raw, position) => {
    const blob = blobs.get(position);
    return blob === undefined ? decodeRequestInput(raw, position) : decodeBinaryInput(raw, position, blob);
  });
}

/**
 * The input a raw body (`Inference-Header-Content-Length: 0`) feeds: the model's only input.
 *
 * @throws INVALID_ARGUMENT when the model has no input or more than one
 */
export function onlyInput(inputs: readonly TensorSpec[], model: string): TensorSpec {
  const [only] = inputs;
  if (only === undefined || inputs.length !== 1) {
    throw invalid(
      `model ${quote(model)} has ${inputs.length} inputs (${formatSpecs(inputs)}): a request without a JSON header ` +
        '(Inference-Header-Content-Length: 0) is only for models with exactly one input',
    );
  }
  return only;
}

/** What `encodeInferResponse` encodes: `$inference_response` with decoded output tensors. */
export interface InferResponseTensors {
  readonly model_name: string;
  readonly model_version: string;
  readonly id?: string | undefined;
  readonly outputs: readonly Tensor[];
}

/** The body to send and, when it holds binary data, the JSON length for `Inference-Header-Content-Length`. */
export interface EncodedInferResponse {
  readonly body: Buffer | string;
  readonly headerLength: number | undefined;
}

/**
 * Encode `$inference_response`. Outputs for which `binary(name)` is true get
 * `parameters: { binary_data_size }` and no `data`, their raw bytes appended after the JSON in output
 * order; the others are JSON (`encodeResponseOutput`). With any binary output the result is a Buffer
 * and the JSON's length in bytes (send as application/octet-stream with
 * `Inference-Header-Content-Length`); otherwise the JSON string and undefined.
 *
 * @example encodeInferResponse(response, (name) => wantsBinaryOutput(body, name))
 */
export function encodeInferResponse(
  response: InferResponseTensors,
  binary: (outputName: string) => boolean,
): EncodedInferResponse {
  const blobs: Uint8Array[] = [];
  const outputs = response.outputs.map((tensor): ResponseOutput | BinaryResponseOutput => {
    if (!binary(tensor.name)) return encodeResponseOutput(tensor);
    const bytes = tensorToBytes(tensor);
    blobs.push(bytes);
    return {
      name: tensor.name,
      datatype: tensor.datatype,
      shape: [...tensor.shape],
      parameters: { binary_data_size: bytes.byteLength },
    };
  });
  const json = JSON.stringify({
    model_name: response.model_name,
    model_version: response.model_version,
    ...(response.id === undefined ? {} : { id: response.id }),
    outputs,
  });
  if (blobs.length === 0) return { body: json, headerLength: undefined };
  const header = Buffer.from(json, 'utf8');
  return { body: Buffer.concat([header, ...blobs]), headerLength: header.byteLength };
}

type BinaryResponseOutput = Omit<ResponseOutput, 'data'> & { parameters: { binary_data_size: number } };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** JSON.parse, refusing `__proto__` and `constructor.prototype` keys like the app's JSON parser does. */
function parseHeader(bytes: Buffer): unknown {
  let text: string;
  try {
    // Fatal: BYTES values in the header's JSON data must not have invalid UTF-8 silently replaced (tensor/bytes-text.ts).
    text = strictUtf8.decode(bytes);
  } catch {
    throw invalid(`the ${bytes.byteLength}-byte JSON header (Inference-Header-Content-Length) is not valid UTF-8`);
  }
  const suspicious = /__proto__|constructor|\\u/.test(text);
  try {
    return JSON.parse(text, suspicious ? rejectPoison : undefined) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw invalid(
      `the ${bytes.byteLength}-byte JSON header (Inference-Header-Content-Length) is not valid JSON: ${reason}`,
    );
  }
}

function rejectPoison(key: string, value: unknown): unknown {
  if (key === '__proto__' || (key === 'constructor' && isPlainObject(value) && 'prototype' in value)) {
    throw new SyntaxError(`forbidden key ${quote(key)}`);
  }
  return value;
}

/** Which inputs (by position) take which slice of the bytes after the header. */
function sliceBinaryInputs(inputs: readonly unknown[], binary: Buffer, headerLength: number): Map<number, Buffer> {
  const sized: { position: number; label: string; size: number }[] = [];
  inputs.forEach((raw, position) => {
    if (!isPlainObject(raw) || !isPlainObject(raw.parameters)) return;
    const size = raw.parameters.binary_data_size;
    if (size === undefined) return;
    const label = typeof raw.name === 'string' ? `input ${quote(raw.name)}` : `inputs[${position}]`;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw invalid(`${label}: "binary_data_size" must be a non-negative integer, got ${preview(size)}`);
    }
    if (raw.data !== undefined)
      throw invalid(`${label} has both "data" and "binary_data_size": send its values one way, not both`);
    sized.push({ position, label, size });
  });
  const expected = sized.reduce((n, s) => n + s.size, 0);
  if (expected !== binary.byteLength) {
    const parts =
      sized.length === 0 ? 'no input has "binary_data_size"' : sized.map((s) => `${s.label}: ${s.size}`).join(', ');
    throw invalid(
      `expected ${expected} bytes of binary tensor data after the ${headerLength}-byte JSON header (${parts}), got ${binary.byteLength}`,
    );
  }
  const blobs = new Map<number, Buffer>();
  let offset = 0;
  for (const { position, size } of sized) {
    blobs.set(position, binary.subarray(offset, offset + size));
    offset += size;
  }
  return blobs;
}

/** `$request_input` without `data`: name, datatype and shape checked as json-codec does, values from `blob`. */
function decodeBinaryInput(raw: unknown, position: number, blob: Buffer): Tensor {
  const at = `inputs[${position}]`;
  const { name, datatype, shape } = isPlainObject(raw) ? raw : {};
  if (typeof name !== 'string' || name === '')
    throw invalid(`${at}: "name" must be a non-empty string, got ${preview(name)}`);
  if (!isDatatype(datatype))
    throw invalid(`${at}: "datatype" must be one of ${DATATYPES.join(', ')}, got ${preview(datatype)}`);
  const label = `input ${quote(name)}`;
  if (!isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw invalid(`${label}: shape must be an array of non-negative integers, got ${preview(shape)}`);
  }
  const dims = shape as readonly number[];
  return { name, datatype, shape: [...dims], data: tensorFromBytes(label, datatype, dims, blob) };
}

function decodeRawBody(body: Buffer, rawInput: (() => TensorSpec) | undefined): DecodedInferBody {
  if (rawInput === undefined)
    throw invalid('a request without a JSON header (Inference-Header-Content-Length: 0) is not supported here');
  const spec = rawInput();
  if (body.byteLength === 0) {
    throw invalid(
      `the request body is empty: with Inference-Header-Content-Length: 0 it must hold the raw bytes of input ${formatSpec(spec)}`,
    );
  }
  const label = `input ${quote(spec.name)}`;
  const shape = rawShape(spec, body.byteLength);
  const data =
    spec.datatype === 'BYTES'
      ? [decodeBytesElement(body, 0, body.byteLength, label, 0)]
      : tensorFromBytes(label, spec.datatype, shape, body);
  return {
    id: undefined,
    inputs: [{ name: spec.name, datatype: spec.datatype, shape, data }],
    outputs: undefined,
    parameters: undefined,
    binaryDataOutput: true,
    binaryData: new Map(),
  };
}

/** The shape of a raw body's tensor: the spec's, with its one variable dimension inferred from the byte count. */
function rawShape(spec: TensorSpec, byteLength: number): number[] {
  const label = `input ${formatSpec(spec)}`;
  if (spec.datatype === 'BYTES') {
    if (spec.shape.length === 1 && (spec.shape[0] === 1 || spec.shape[0] === -1)) return [1];
    throw invalid(
      `${label}: a raw body (Inference-Header-Content-Length: 0) is a single BYTES element, so the input's shape must be [1]`,
    );
  }
  const variable = spec.shape.flatMap((d, axis) => (d < 0 ? [axis] : []));
  if (variable.length > 1) {
    throw invalid(
      `${label} has ${variable.length} variable dimensions: a raw body (Inference-Header-Content-Length: 0) can fill in only one`,
    );
  }
  const [axis] = variable;
  if (axis === undefined) return [...spec.shape]; // tensorFromBytes checks the byte count
  const fixed = spec.shape.reduce((n, d) => (d < 0 ? n : n * d), 1);
  const rowBytes = fixed * DATATYPE_SIZE[spec.datatype];
  if (rowBytes === 0 || byteLength % rowBytes !== 0) {
    throw invalid(
      `${label}: ${byteLength} bytes of raw data are not a whole number of ${rowBytes}-byte slices ` +
        `(${fixed} ${spec.datatype} elements), so dimension ${axis} cannot be inferred`,
    );
  }
  return spec.shape.map((d, i) => (i === axis ? byteLength / rowBytes : d));
}
