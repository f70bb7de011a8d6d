import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import type { Tensor } from '../../tensor/datatypes.js';
import { decodeInferRequest, encodeInferResponse } from './infer-codec.js';
import type { ModelInferRequestMessage, ModelInferResponseMessage } from './messages.js';
import { decodeParameters } from './parameters.js';
import { inferenceServiceDefinition } from './proto.js';

/** Through the real protobuf encoding, both ways, as the server sees requests and clients see responses. */
const method = inferenceServiceDefinition().ModelInfer!;
const overWire = (request: ModelInferRequestMessage) =>
  method.requestDeserialize(method.requestSerialize(request)) as ModelInferRequestMessage;
const responseOverWire = (response: ModelInferResponseMessage) =>
  method.responseDeserialize(method.responseSerialize(response)) as ModelInferResponseMessage;

const result = (outputs: Tensor[]) => ({ modelName: 'm', modelVersion: '2.1.0', id: 'abc', outputs });

function invalidMessage(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SlipwayError);
    expect((error as SlipwayError).code).toBe('INVALID_ARGUMENT');
    return (error as SlipwayError).message;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('gRPC infer codec', () => {
  it('keeps INT64 and UINT64 exact both ways', () => {
    const { request } = decodeInferRequest(
      overWire({
        model_name: 'm',
        inputs: [
          {
            name: 'a',
            datatype: 'INT64',
            shape: [3],
            contents: { int64_contents: ['9223372036854775807', '-9223372036854775808', '9007199254740993'] },
          },
          { name: 'b', datatype: 'UINT64', shape: [1], contents: { uint64_contents: ['18446744073709551615'] } },
        ],
      }),
    );
    expect(Array.from(request.inputs[0]!.data as BigInt64Array)).toEqual([
      2n ** 63n - 1n,
      -(2n ** 63n),
      2n ** 53n + 1n,
    ]);
    expect(Array.from(request.inputs[1]!.data as BigUint64Array)).toEqual([2n ** 64n - 1n]);

    // Typed contents in, raw contents out (as Triton answers).
    const response = responseOverWire(encodeInferResponse(result(request.inputs)));
    expect(response.outputs.map((o) => o.contents)).toEqual([null, null]);
    const [a, b] = response.raw_output_contents.map((bytes) => Buffer.from(bytes));
    expect([0, 8, 16].map((offset) => a!.readBigInt64LE(offset))).toEqual([
      2n ** 63n - 1n,
      -(2n ** 63n),
      2n ** 53n + 1n,
    ]);
    expect(a!.byteLength).toBe(24);
    expect([...b!]).toEqual([255, 255, 255, 255, 255, 255, 255, 255]);
    expect(response).toMatchObject({ model_name: 'm', model_version: '2.1.0', id: 'abc' });
  });

  it('decodes BOOL, small integers and BYTES, and range-checks INT8', () => {
    const { request, raw } = decodeInferRequest(
      overWire({
        model_name: 'm',
        model_version: 'champion',
        inputs: [
          { name: 'flag', datatype: 'BOOL', shape: [2], contents: { bool_contents: [true, false] } },
          { name: 'small', datatype: 'INT8', shape: [2], contents: { int_contents: [-128, 127] } },
          { name: 'byte', datatype: 'UINT8', shape: [1], contents: { uint_contents: [255] } },
          { name: 'text', datatype: 'BYTES', shape: [1, 1], contents: { bytes_contents: [Buffer.from('héllo')] } },
        ],
        outputs: [{ name: 'y' }],
      }),
    );
    expect(raw).toBe(false);
    expect(request).toMatchObject({ model: 'm', version: 'champion', outputs: [{ name: 'y' }] });
    expect(request.id).toBeUndefined();
    expect(request.inputs.map((t) => Array.from(t.data as ArrayLike<unknown>))).toEqual([
      [1, 0],
      [-128, 127],
      [255],
      ['héllo'],
    ]);
    expect(
      invalidMessage(() =>
        decodeInferRequest(
          overWire({
            model_name: 'm',
            inputs: [{ name: 'small', datatype: 'INT8', shape: [1], contents: { int_contents: [200] } }],
          }),
        ),
      ),
    ).toBe('input "small": element 0 is 200, out of range for INT8 (-128..127)');
  });

  it('takes FP16 raw and answers raw', () => {
    const half = new Uint16Array([0x3c00, 0xc000]); // 1, -2
    const decoded = decodeInferRequest(
      overWire({
        model_name: 'm',
        inputs: [{ name: 'h', datatype: 'FP16', shape: [2] }],
        raw_input_contents: [new Uint8Array(half.buffer)],
      }),
    );
    expect(decoded.raw).toBe(true);
    expect(Array.from(decoded.request.inputs[0]!.data as Uint16Array)).toEqual([0x3c00, 0xc000]);

    const outputs: Tensor[] = [
      decoded.request.inputs[0]!,
      { name: 'f', datatype: 'FP32', shape: [1], data: new Float32Array([0.5]) },
    ];
    const response = responseOverWire(encodeInferResponse(result(outputs)));
    expect(response.outputs.map((o) => o.contents)).toEqual([null, null]);
    expect(response.raw_output_contents.map((b) => Array.from(b))).toEqual([
      [0x00, 0x3c, 0x00, 0xc0],
      [0, 0, 0, 0x3f],
    ]);
  });

  it('answers BYTES raw: each element a 4-byte little-endian length, then its bytes', () => {
    const text: Tensor = { name: 't', datatype: 'BYTES', shape: [3], data: ['héllo', '', 'ab'] };
    const bool: Tensor = { name: 'b', datatype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) };
    const response = responseOverWire(encodeInferResponse(result([text, bool])));
    expect(response.outputs).toEqual([
      { name: 't', datatype: 'BYTES', shape: ['3'], parameters: {}, contents: null },
      { name: 'b', datatype: 'BOOL', shape: ['2'], parameters: {}, contents: null },
    ]);
    expect(response.raw_output_contents.map((bytes) => [...bytes])).toEqual([
      [6, 0, 0, 0, 0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f, 0, 0, 0, 0, 2, 0, 0, 0, 0x61, 0x62],
      [1, 0],
    ]);
  });

  it('refuses inputs and outputs placed in shared memory, naming the tensor and the extension', () => {
    const sharedMemory =
      "Slipway does not support Triton's system shared memory extension (system_shared_memory); send tensors in the request body (JSON or binary_tensor_data) or in raw_input_contents over gRPC";
    expect(
      invalidMessage(() =>
        decodeInferRequest(
          overWire({
            model_name: 'm',
            inputs: [
              {
                name: 'x',
                datatype: 'FP32',
                shape: [1],
                parameters: {
                  shared_memory_region: { string_param: 'r0' },
                  shared_memory_byte_size: { int64_param: 4 },
                },
              },
            ],
          }),
        ),
      ),
    ).toBe(`input "x": parameters.shared_memory_region: ${sharedMemory}`);
    expect(
      invalidMessage(() =>
        decodeInferRequest(
          overWire({
            model_name: 'm',
            inputs: [{ name: 'x', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }],
            outputs: [{ name: 'y', parameters: { shared_memory_byte_size: { int64_param: 4 } } }],
          }),
        ),
      ),
    ).toBe(`output "y": parameters.shared_memory_byte_size: ${sharedMemory}`);
  });

  it('needs one raw entry per input', () => {
    expect(
      invalidMessage(() =>
        decodeInferRequest({
          model_name: 'm',
          inputs: [
            { name: 'a', datatype: 'FP32', shape: [1] },
            { name: 'b', datatype: 'FP32', shape: [1] },
          ],
          raw_input_contents: [new Uint8Array(4)],
        }),
      ),
    ).toMatch(/raw_input_contents has 1 entries but the request has 2 inputs/);
  });

  it('rejects a negative or fractional shape naming the input', () => {
    expect(
      invalidMessage(() =>
        decodeInferRequest(overWire({ model_name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }] })),
      ),
    ).toBe('input "x": shape must be non-negative integers, got [-1,2]');
  });

  it('decodes parameters as their JSON equivalents, exact beyond 2^53', () => {
    const { request } = decodeInferRequest(
      overWire({
        model_name: 'm',
        parameters: {
          priority: { int64_param: 1 },
          big: { uint64_param: '18446744073709551615' },
          flag: { bool_param: true },
          ratio: { double_param: 0.25 },
          tag: { string_param: 'x' },
        },
        inputs: [],
      }),
    );
    expect(request.parameters).toEqual({ priority: 1, big: '18446744073709551615', flag: true, ratio: 0.25, tag: 'x' });
    expect(decodeParameters({}, 'request')).toBeUndefined();
  });
});
