import { describe, expect, it } from 'vitest';
import { TRICKY_VALID } from '../tensor/bytes-samples.test-support.js';
import { decodeTensors, encodeTensors } from './tensor-blob.js';

describe('the prediction log stores BYTES exactly', () => {
  it('round-trips valid strings, a BOM and a model-produced NUL through a tensor blob', () => {
    const strings = [...TRICKY_VALID.map((b) => b.toString('utf8')), 'out\u0000put'];
    const blob = encodeTensors([{ name: 'color_out', datatype: 'BYTES', shape: [strings.length], data: strings }]);
    const [back] = decodeTensors(blob);
    expect(back!.data).toEqual(strings);
    expect((back!.data as string[]).map((s) => Buffer.from(s, 'utf8'))).toEqual(
      strings.map((s) => Buffer.from(s, 'utf8')),
    );
  });
});
