import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../tensor/datatypes.js';
import { fixturePath, readExpected } from '../fixtures.test-support.js';
import { createOrtBackend } from './ort-backend.js';

/**
 * Inputs decoded from a binary request body are typed-array views into the body at a non-zero
 * byteOffset (tensor/raw-bytes.ts). ONNX Runtime must read from that offset, not from the start of
 * the underlying buffer: the bytes around the view are garbage here, so ignoring the offset would
 * change the outputs.
 */
describe('ONNX Runtime reads a typed-array view from its byteOffset', () => {
  it.each(['breast_cancer', 'diabetes_ridge_fp64'])(
    '%s on an input viewed at a non-zero offset predicts the fixture outputs',
    async (name) => {
      const expected = await readExpected(name);
      const inputs = expected.inputs.map((t): Tensor => {
        const source = t.data as Float32Array | Float64Array;
        const Ctor = source.constructor as Float32ArrayConstructor | Float64ArrayConstructor;
        const offset = 3 * Ctor.BYTES_PER_ELEMENT * 8; // a few elements in, and not at the buffer's start
        const buffer = new ArrayBuffer(offset + source.byteLength + 64);
        new Uint8Array(buffer).fill(0xff); // NaN for floats: any read outside the view shows
        const view = new Ctor(buffer, offset, source.length);
        view.set(source);
        expect(view.byteOffset).toBe(offset);
        return { ...t, data: view };
      });
      const model = await createOrtBackend().load({ path: fixturePath(`${name}.onnx`) });
      try {
        const outputs = await model.run(
          inputs,
          expected.outputs.map((o) => o.name),
        );
        outputs.forEach((actual, i) => {
          const want = expected.outputs[i]!;
          expect(actual.shape).toEqual(want.shape);
          const got = Array.from(actual.data as ArrayLike<number | bigint>, Number);
          const bad = got.findIndex((a, j) => {
            const b = Number(want.data[j]);
            return !(Math.abs(a - b) <= expected.tolerance * Math.max(1, Math.abs(b)));
          });
          expect(bad, `${want.name}[${bad}] = ${got[bad]}, expected ${String(want.data[bad])}`).toBe(-1);
        });
        // The input is read, not written: the view still holds what was sent.
        inputs.forEach((t, i) =>
          expect(Array.from(t.data as Float32Array)).toEqual(Array.from(expected.inputs[i]!.data as Float32Array)),
        );
      } finally {
        await model.release();
      }
    },
  );
});
