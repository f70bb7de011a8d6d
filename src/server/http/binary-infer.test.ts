import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import type { Datatype, Tensor, TensorSpec } from '../../tensor/datatypes.js';
import { decodeRequestInput, encodeResponseOutput } from '../../tensor/json-codec.js';
import { decodeBinaryInferRequest, encodeInferResponse, inferenceHeaderLength, onlyInput } from './binary-infer.js';
import { decodeInferBody, wantsBinaryOutput } from './v2-body.js';

/** Little-endian elements of `size` bytes, written by hand (independent of tensor/raw-bytes.ts). */
function pack<T>(size: number, values: readonly T[], write: (b: Buffer, value: T, offset: number) => unknown): Buffer {
  const b = Buffer.alloc(size * values.length);
  values.forEach((v, i) => write(b, v, i * size));
  return b;
}
const strings = (values: string[]): Buffer =>
  Buffer.concat(
    values.flatMap((s) => [
      pack(4, [Buffer.byteLength(s)], (b, n, o) => b.writeUInt32LE(n, o)),
      Buffer.from(s, 'utf8'),
    ]),
  );

interface Case {
  datatype: Datatype;
  shape: number[];
  json: unknown[];
  raw: Buffer;
}
const CASES: Case[] = [
  { datatype: 'BOOL', shape: [3], json: [true, false, true], raw: Buffer.from([1, 0, 1]) },
  { datatype: 'UINT8', shape: [1, 3], json: [0, 255, 7], raw: Buffer.from([0, 255, 7]) },
  {
    datatype: 'UINT16',
    shape: [3],
    json: [0, 65535, 258],
    raw: pack(2, [0, 65535, 258], (b, v, o) => b.writeUInt16LE(v, o)),
  },
  {
    datatype: 'UINT32',
    shape: [3],
    json: [0, 4294967295, 16909060],
    raw: pack(4, [0, 4294967295, 16909060], (b, v, o) => b.writeUInt32LE(v, o)),
  },
  {
    datatype: 'UINT64',
    shape: [3],
    json: ['18446744073709551615', 0, '9007199254740993'],
    raw: pack(8, [2n ** 64n - 1n, 0n, 9007199254740993n], (b, v, o) => b.writeBigUInt64LE(v, o)),
  },
  {
    datatype: 'INT8',
    shape: [3],
    json: [-128, 127, -1],
    raw: pack(1, [-128, 127, -1], (b, v, o) => b.writeInt8(v, o)),
  },
  {
    datatype: 'INT16',
    shape: [3],
    json: [-32768, 32767, -2],
    raw: pack(2, [-32768, 32767, -2], (b, v, o) => b.writeInt16LE(v, o)),
  },
  {
    datatype: 'INT32',
    shape: [3, 1],
    json: [-2147483648, 2147483647, -3],
    raw: pack(4, [-2147483648, 2147483647, -3], (b, v, o) => b.writeInt32LE(v, o)),
  },
  {
    datatype: 'INT64',
    shape: [3],
    json: ['-9223372036854775808', '9223372036854775807', -4],
    raw: pack(8, [-(2n ** 63n), 2n ** 63n - 1n, -4n], (b, v, o) => b.writeBigInt64LE(v, o)),
  },
  // FP16 travels as half bits: 1, -2.5, 65504 (max), 2^-24 (smallest subnormal).
  {
    datatype: 'FP16',
    shape: [2, 2],
    json: [1, -2.5, 65504, 2 ** -24],
    raw: pack(2, [0x3c00, 0xc100, 0x7bff, 0x0001], (b, v, o) => b.writeUInt16LE(v, o)),
  },
  {
    datatype: 'FP32',
    shape: [3],
    json: [1.5, -0.1, 3.4028234663852886e38],
    raw: pack(4, [1.5, -0.1, 3.4028234663852886e38], (b, v, o) => b.writeFloatLE(v, o)),
  },
  {
    datatype: 'FP64',
    shape: [3],
    json: [Math.PI, -0, 5e-324],
    raw: pack(8, [Math.PI, -0, 5e-324], (b, v, o) => b.writeDoubleLE(v, o)),
  },
  { datatype: 'BYTES', shape: [3], json: ['', 'héllo', '日本'], raw: strings(['', 'héllo', '日本']) },
];

/** tritonclient's layout: the JSON header, then each binary tensor's bytes in input order. */
function binaryRequest(header: object, ...blobs: Buffer[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return { body: Buffer.concat([json, ...blobs]), headerLength: json.byteLength };
}
const binaryInput = (name: string, c: Case) => ({
  name,
  datatype: c.datatype,
  shape: c.shape,
  parameters: { binary_data_size: c.raw.byteLength },
});
const jsonTensor = (name: string, c: Case): Tensor =>
  decodeRequestInput({ name, datatype: c.datatype, shape: c.shape, data: c.json }, 0);

/** Raw bytes back to JSON values, by hand. */
function readRaw(datatype: Datatype, b: Buffer): unknown[] {
  const each = <T>(size: number, read: (o: number) => T) =>
    Array.from({ length: b.length / size }, (_, i) => read(i * size));
  switch (datatype) {
    case 'BOOL':
      return [...b].map((v) => v !== 0);
    case 'UINT8':
      return [...b];
    case 'INT8':
      return each(1, (o) => b.readInt8(o));
    case 'UINT16':
      return each(2, (o) => b.readUInt16LE(o));
    case 'INT16':
      return each(2, (o) => b.readInt16LE(o));
    case 'UINT32':
      return each(4, (o) => b.readUInt32LE(o));
    case 'INT32':
      return each(4, (o) => b.readInt32LE(o));
    case 'UINT64':
      return each(8, (o) => Number(b.readBigUInt64LE(o)));
    case 'INT64':
      return each(8, (o) => Number(b.readBigInt64LE(o)));
    case 'FP16':
      return each(2, (o) => half(b.readUInt16LE(o)));
    case 'FP32':
      return each(4, (o) => b.readFloatLE(o));
    case 'FP64':
      return each(8, (o) => b.readDoubleLE(o));
    case 'BYTES': {
      const out: string[] = [];
      for (let o = 0; o < b.length; o += 4 + b.readUInt32LE(o))
        out.push(b.toString('utf8', o + 4, o + 4 + b.readUInt32LE(o)));
      return out;
    }
  }
}
function half(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function invalidMessage(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SlipwayError);
    expect((error as SlipwayError).code).toBe('INVALID_ARGUMENT');
    return (error as SlipwayError).message;
  }
  throw new Error('expected an INVALID_ARGUMENT error');
}
const decodeRaw = (body: Buffer, spec: TensorSpec) => decodeBinaryInferRequest(body, 0, () => spec);

describe('decodeBinaryInferRequest', () => {
  it.each(CASES)('decodes binary $datatype exactly as its JSON equivalent', (c) => {
    const { body, headerLength } = binaryRequest({ inputs: [binaryInput('x', c)] }, c.raw);
    const decoded = decodeBinaryInferRequest(body, headerLength);
    const expected = jsonTensor('x', c);
    expect(decoded.inputs).toStrictEqual([expected]);
    expect(decoded.inputs[0]!.data.constructor).toBe(expected.data.constructor);
  });

  it('mixes JSON and binary inputs, taking the blobs in input order', () => {
    const [bool, int32, bytes] = [CASES[0]!, CASES[7]!, CASES[12]!];
    const header = {
      id: 'r1',
      inputs: [
        binaryInput('a', int32),
        { name: 'b', datatype: 'BOOL', shape: [3], data: bool.json },
        binaryInput('c', bytes),
      ],
    };
    const { body, headerLength } = binaryRequest(header, int32.raw, bytes.raw);
    const decoded = decodeBinaryInferRequest(body, headerLength);
    expect(decoded.id).toBe('r1');
    expect(decoded.inputs).toStrictEqual([jsonTensor('a', int32), jsonTensor('b', bool), jsonTensor('c', bytes)]);
    expect(decoded.binaryDataOutput).toBe(false);
  });

  it('reads the output preferences from the header and never asks for the raw input', () => {
    const c = CASES[10]!;
    const header = {
      inputs: [binaryInput('x', c)],
      parameters: { binary_data_output: true },
      outputs: [{ name: 'y', parameters: { binary_data: false } }, { name: 'z' }],
    };
    const { body, headerLength } = binaryRequest(header, c.raw);
    const decoded = decodeBinaryInferRequest(body, headerLength, () => {
      throw new Error('not a raw request');
    });
    expect(decoded.outputs).toStrictEqual([{ name: 'y', parameters: { binary_data: false } }, { name: 'z' }]);
    expect([wantsBinaryOutput(decoded, 'y'), wantsBinaryOutput(decoded, 'z')]).toStrictEqual([false, true]);
  });

  it('refuses malformed bodies, naming the input', () => {
    const fp32 = { name: 'x', datatype: 'FP32', shape: [2, 2] };
    const bin =
      (header: object, ...blobs: Buffer[]) =>
      () => {
        const r = binaryRequest(header, ...blobs);
        return decodeBinaryInferRequest(r.body, r.headerLength);
      };
    expect(invalidMessage(() => decodeBinaryInferRequest(Buffer.from('{}'), 5))).toBe(
      'Inference-Header-Content-Length is 5 but the request body has only 2 bytes',
    );
    expect(invalidMessage(() => decodeBinaryInferRequest(Buffer.from('{}'), -1))).toBe(
      'Inference-Header-Content-Length must be a non-negative integer, got -1',
    );
    expect(invalidMessage(() => decodeBinaryInferRequest(Buffer.from('{"inputs": [1]}xyz'), 12))).toMatch(
      /^the 12-byte JSON header \(Inference-Header-Content-Length\) is not valid JSON: ./,
    );
    expect(
      invalidMessage(() => decodeBinaryInferRequest(Buffer.from('{"inputs":[],"__proto__":{"x":1}}'), 33)),
    ).toMatch(/is not valid JSON: forbidden key "__proto__"$/);
    for (const [size, shown] of [
      [-1, '-1'],
      [2.5, '2.5'],
      ['16', '"16"'],
      [null, 'null'],
    ] as const) {
      expect(invalidMessage(bin({ inputs: [{ ...fp32, parameters: { binary_data_size: size } }] }))).toBe(
        `input "x": "binary_data_size" must be a non-negative integer, got ${shown}`,
      );
    }
    const sized = (name: string, n: number) => ({ ...fp32, name, parameters: { binary_data_size: n } });
    expect(invalidMessage(bin({ inputs: [sized('a', 16), sized('b', 16)] }, Buffer.alloc(20)))).toMatch(
      /^expected 32 bytes of binary tensor data after the \d+-byte JSON header \(input "a": 16, input "b": 16\), got 20$/,
    );
    expect(invalidMessage(bin({ inputs: [sized('a', 16)] }, Buffer.alloc(17)))).toMatch(
      /^expected 16 bytes .* \(input "a": 16\), got 17$/,
    );
    expect(invalidMessage(bin({ inputs: [{ ...fp32, data: [1, 2, 3, 4] }] }, Buffer.alloc(3)))).toMatch(
      /^expected 0 bytes .* \(no input has "binary_data_size"\), got 3$/,
    );
    expect(invalidMessage(bin({ inputs: [{ ...sized('x', 16), data: [1, 2, 3, 4] }] }, Buffer.alloc(16)))).toBe(
      'input "x" has both "data" and "binary_data_size": send its values one way, not both',
    );
    expect(invalidMessage(bin({ inputs: [sized('x', 12)] }, Buffer.alloc(12)))).toBe(
      'input "x": 12 bytes of raw data, but FP32 shape [2,2] needs 16',
    );
    expect(invalidMessage(bin({ inputs: [{ ...sized('x', 4), datatype: 'FP33' }] }, Buffer.alloc(4)))).toMatch(
      /^inputs\[0\]: "datatype" must be one of BOOL, .*got "FP33"$/,
    );
    expect(
      invalidMessage(bin({ inputs: [{ ...sized('s', 4), datatype: 'BYTES', shape: [1] }] }, Buffer.from([9, 0, 0, 0]))),
    ).toBe('input "s": raw BYTES element 0 says 9 bytes but only 0 remain');
    expect(invalidMessage(bin({ inputs: 'x' }))).toBe('request body needs an "inputs" array');
  });
});

describe('raw body (Inference-Header-Content-Length: 0)', () => {
  const floats = (n: number) =>
    pack(
      4,
      Array.from({ length: n }, (_, i) => i / 4),
      (b, v, o) => b.writeFloatLE(v, o),
    );

  it('fills the one variable dimension of the only input from the byte count', () => {
    const spec: TensorSpec = { name: 'x', datatype: 'FP32', shape: [-1, 30] };
    const decoded = decodeRaw(floats(30), spec);
    expect(decoded.inputs).toStrictEqual([
      {
        name: 'x',
        datatype: 'FP32',
        shape: [1, 30],
        data: new Float32Array(Array.from({ length: 30 }, (_, i) => i / 4)),
      },
    ]);
    expect([decoded.id, decoded.outputs, decoded.parameters, decoded.binaryDataOutput]).toStrictEqual([
      undefined,
      undefined,
      undefined,
      true,
    ]);
    expect(wantsBinaryOutput(decoded, 'any')).toBe(true);
    expect(decodeRaw(floats(60), spec).inputs[0]!.shape).toStrictEqual([2, 30]);
    expect(decodeRaw(floats(6), { name: 'x', datatype: 'FP32', shape: [2, 3] }).inputs[0]!.shape).toStrictEqual([2, 3]);
  });

  it('takes the whole body as the one element of a BYTES [1] input', () => {
    const body = Buffer.from('hello wörld', 'utf8');
    expect(decodeRaw(body, { name: 's', datatype: 'BYTES', shape: [1] }).inputs).toStrictEqual([
      { name: 's', datatype: 'BYTES', shape: [1], data: ['hello wörld'] },
    ]);
    expect(decodeRaw(body, { name: 's', datatype: 'BYTES', shape: [-1] }).inputs[0]!.shape).toStrictEqual([1]);
  });

  it('refuses models and bodies it cannot map', () => {
    const a: TensorSpec = { name: 'a', datatype: 'FP32', shape: [-1, 2] };
    const b: TensorSpec = { name: 'b', datatype: 'INT64', shape: [-1] };
    expect(invalidMessage(() => decodeBinaryInferRequest(floats(2), 0, () => onlyInput([a, b], 'twin')))).toBe(
      'model "twin" has 2 inputs ("a" (FP32[-1,2]), "b" (INT64[-1])): a request without a JSON header (Inference-Header-Content-Length: 0) is only for models with exactly one input',
    );
    expect(invalidMessage(() => onlyInput([], 'none'))).toMatch(/^model "none" has 0 inputs \(nothing\)/);
    expect(onlyInput([a], 'one')).toBe(a);
    expect(invalidMessage(() => decodeBinaryInferRequest(floats(2), 0))).toBe(
      'a request without a JSON header (Inference-Header-Content-Length: 0) is not supported here',
    );
    expect(invalidMessage(() => decodeRaw(Buffer.alloc(0), a))).toBe(
      'the request body is empty: with Inference-Header-Content-Length: 0 it must hold the raw bytes of input "a" (FP32[-1,2])',
    );
    expect(invalidMessage(() => decodeRaw(floats(3), a))).toBe(
      'input "a" (FP32[-1,2]): 12 bytes of raw data are not a whole number of 8-byte slices (2 FP32 elements), so dimension 0 cannot be inferred',
    );
    expect(invalidMessage(() => decodeRaw(floats(4), { name: 'v', datatype: 'FP32', shape: [-1, -1] }))).toBe(
      'input "v" (FP32[-1,-1]) has 2 variable dimensions: a raw body (Inference-Header-Content-Length: 0) can fill in only one',
    );
    expect(invalidMessage(() => decodeRaw(floats(5), { name: 'f', datatype: 'FP32', shape: [2, 3] }))).toBe(
      'input "f": 20 bytes of raw data, but FP32 shape [2,3] needs 24',
    );
    expect(invalidMessage(() => decodeRaw(Buffer.from('hi'), { name: 's', datatype: 'BYTES', shape: [2] }))).toBe(
      'input "s" (BYTES[2]): a raw body (Inference-Header-Content-Length: 0) is a single BYTES element, so the input\'s shape must be [1]',
    );
  });
});

describe('encodeInferResponse', () => {
  const response = (outputs: Tensor[], id?: string) => ({ model_name: 'm', model_version: '1.2.0', id, outputs });

  it('appends every binary output after the JSON header, in output order, for every datatype', () => {
    const tensors = CASES.map((c) => jsonTensor(c.datatype.toLowerCase(), c));
    const { body, headerLength } = encodeInferResponse(response(tensors, 'r9'), () => true);
    if (!Buffer.isBuffer(body) || headerLength === undefined) throw new Error('expected a binary response');
    const header = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as {
      outputs: { parameters: { binary_data_size: number } }[];
    };
    expect(Object.keys(header)).toStrictEqual(['model_name', 'model_version', 'id', 'outputs']);
    let offset = headerLength;
    header.outputs.forEach((output, i) => {
      const c = CASES[i]!;
      expect(output).toStrictEqual({
        name: c.datatype.toLowerCase(),
        datatype: c.datatype,
        shape: c.shape,
        parameters: { binary_data_size: c.raw.byteLength },
      });
      const blob = body.subarray(offset, offset + output.parameters.binary_data_size);
      expect([...blob]).toStrictEqual([...c.raw]);
      expect(readRaw(c.datatype, blob)).toStrictEqual(encodeResponseOutput(tensors[i]!).data);
      offset += output.parameters.binary_data_size;
    });
    expect(offset).toBe(body.byteLength);
  });

  it('honours per-output overrides and counts the header in bytes, not characters', () => {
    const decoded = decodeInferBody({
      inputs: [],
      parameters: { binary_data_output: true },
      outputs: [{ name: 'words', parameters: { binary_data: false } }, { name: 'score' }],
    });
    const words = jsonTensor('words', CASES[12]!);
    const score = jsonTensor('score', CASES[10]!);
    const { body, headerLength } = encodeInferResponse(response([words, score]), (name) =>
      wantsBinaryOutput(decoded, name),
    );
    const json = JSON.stringify({
      model_name: 'm',
      model_version: '1.2.0',
      outputs: [
        { name: 'words', datatype: 'BYTES', shape: [3], data: ['', 'héllo', '日本'] },
        { name: 'score', datatype: 'FP32', shape: [3], parameters: { binary_data_size: 12 } },
      ],
    });
    expect(headerLength).toBe(Buffer.byteLength(json));
    expect(headerLength).toBeGreaterThan(json.length);
    expect(body).toStrictEqual(Buffer.concat([Buffer.from(json), CASES[10]!.raw]));
  });

  it('returns plain JSON when no output is binary', () => {
    const t = jsonTensor('y', CASES[6]!);
    expect(encodeInferResponse(response([t], 'r1'), () => false)).toStrictEqual({
      body: '{"model_name":"m","model_version":"1.2.0","id":"r1","outputs":[{"name":"y","datatype":"INT16","shape":[3],"data":[-32768,32767,-2]}]}',
      headerLength: undefined,
    });
  });
});

describe('inferenceHeaderLength', () => {
  it('reads the header, or undefined without it', () => {
    expect(inferenceHeaderLength({})).toBeUndefined();
    expect(inferenceHeaderLength({ 'inference-header-content-length': '123' })).toBe(123);
    expect(inferenceHeaderLength({ 'inference-header-content-length': '0' })).toBe(0);
    for (const bad of ['abc', '-1', '1.5', '', '1e3']) {
      expect(invalidMessage(() => inferenceHeaderLength({ 'inference-header-content-length': bad }))).toBe(
        `Inference-Header-Content-Length must be a non-negative integer (the JSON length in bytes), got ${JSON.stringify(bad)}`,
      );
    }
  });
});
