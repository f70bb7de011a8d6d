import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import { decodeInferBody, wantsBinaryOutput } from './v2-body.js';

const x = { name: 'x', datatype: 'FP32', shape: [1, 2], data: [[1, 2]] };

function invalidMessage(body: unknown): string {
  try {
    decodeInferBody(body);
  } catch (error) {
    expect(error).toBeInstanceOf(SlipwayError);
    expect((error as SlipwayError).code).toBe('INVALID_ARGUMENT');
    return (error as SlipwayError).message;
  }
  throw new Error('expected decodeInferBody to throw');
}

describe('decodeInferBody', () => {
  it('decodes a plain JSON request as before, with JSON outputs by default', () => {
    const body = decodeInferBody({ id: '42', inputs: [x], outputs: [{ name: 'y' }], parameters: { priority: 1 } });
    expect(body.id).toBe('42');
    expect(body.inputs).toStrictEqual([{ name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array([1, 2]) }]);
    expect(body.outputs).toStrictEqual(['y']);
    expect(body.parameters).toStrictEqual({ priority: 1 });
    expect(body.binaryDataOutput).toBe(false);
    expect([...body.binaryData]).toStrictEqual([]);
    expect(wantsBinaryOutput(body, 'y')).toBe(false);
  });

  it('leaves outputs undefined when the request lists none', () => {
    const body = decodeInferBody({ inputs: [x] });
    expect(body.outputs).toBeUndefined();
    expect(body.id).toBeUndefined();
    expect(body.parameters).toBeUndefined();
  });

  it('applies binary_data_output to every output', () => {
    const body = decodeInferBody({ inputs: [x], parameters: { binary_data_output: true } });
    expect(body.binaryDataOutput).toBe(true);
    expect(wantsBinaryOutput(body, 'y')).toBe(true);
    expect(wantsBinaryOutput(body, 'anything')).toBe(true);
  });

  it('lets a per-output binary_data override binary_data_output, both ways', () => {
    const on = decodeInferBody({
      inputs: [x],
      parameters: { binary_data_output: true },
      outputs: [{ name: 'a', parameters: { binary_data: false } }, { name: 'b' }, { name: 'c', parameters: {} }],
    });
    expect([...on.binaryData]).toStrictEqual([['a', false]]);
    expect(['a', 'b', 'c'].map((n) => wantsBinaryOutput(on, n))).toStrictEqual([false, true, true]);

    const off = decodeInferBody({
      inputs: [x],
      outputs: [{ name: 'a', parameters: { binary_data: true } }, { name: 'b', parameters: { binary_data: false } }, { name: 'c' }],
    });
    expect(off.outputs).toStrictEqual(['a', 'b', 'c']);
    expect(['a', 'b', 'c'].map((n) => wantsBinaryOutput(off, n))).toStrictEqual([true, false, false]);
  });

  it('refuses non-boolean binary preferences', () => {
    expect(invalidMessage({ inputs: [x], parameters: { binary_data_output: 'yes' } })).toBe(
      '"parameters.binary_data_output" must be a boolean, got "yes"',
    );
    expect(invalidMessage({ inputs: [x], outputs: [{ name: 'y', parameters: { binary_data: 1 } }] })).toBe(
      'outputs[0] ("y"): "parameters.binary_data" must be a boolean, got 1',
    );
    expect(invalidMessage({ inputs: [x], outputs: [{ name: 'y', parameters: [true] }] })).toBe(
      'outputs[0] ("y"): "parameters" must be an object, got [true]',
    );
  });

  it('keeps its existing errors', () => {
    expect(invalidMessage([])).toBe('request body must be a JSON object with an "inputs" array');
    expect(invalidMessage({ inputs: [x], id: 7 })).toBe('"id" must be a string, got number');
    expect(invalidMessage({ inputs: {} })).toBe('request body needs an "inputs" array');
    expect(invalidMessage({ inputs: [x], parameters: 3 })).toBe('"parameters" must be an object');
    expect(invalidMessage({ inputs: [x], outputs: 'y' })).toBe('"outputs" must be an array of {"name": ...}');
    expect(invalidMessage({ inputs: [x], outputs: [{}] })).toBe('outputs[0] must be an object with a string "name"');
  });

  it('explains binary_data_size in a request that carries no binary data', () => {
    const input = { name: 'x', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } };
    expect(invalidMessage({ inputs: [input] })).toBe(
      'input "x" has "binary_data_size" but the request carries no binary data: ' +
        'send the JSON length in the Inference-Header-Content-Length header, followed by the tensor bytes',
    );
  });

  it('uses the decoder it is given for each input, in order', () => {
    const seen: number[] = [];
    const body = decodeInferBody({ inputs: ['a', 'b'] }, (_raw, position) => {
      seen.push(position);
      return { name: `t${position}`, datatype: 'INT8', shape: [1], data: new Int8Array([position]) };
    });
    expect(seen).toStrictEqual([0, 1]);
    expect(body.inputs.map((t) => t.name)).toStrictEqual(['t0', 't1']);
  });
});
