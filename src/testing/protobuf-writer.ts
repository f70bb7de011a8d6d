/**
 * Protocol Buffers wire-format writers for building small ONNX models in tests, field by field
 * (field numbers from proto/onnx-ml.proto): varints, length-delimited messages and strings, fixed32
 * floats. Shared by runtime/onnx/tiny-onnx.test-support.ts and batch/string-model.test-support.ts.
 */

export function varint(value: number): number[] {
  const out: number[] = [];
  let v = BigInt(value);
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return out;
}

/** A varint field. */
export function int(field: number, value: number): Uint8Array {
  return Uint8Array.from([...varint(field << 3), ...varint(value)]);
}

/** A fixed32 float field. */
export function float(field: number, value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setFloat32(0, value, true);
  return concat(Uint8Array.from(varint((field << 3) | 5)), bytes);
}

/** A length-delimited field holding `payload` (an embedded message or bytes). */
export function message(field: number, payload: Uint8Array): Uint8Array {
  return concat(Uint8Array.from([...varint((field << 3) | 2), ...varint(payload.length)]), payload);
}

/** A string field (UTF-8). */
export function text(field: number, value: string): Uint8Array {
  return message(field, new TextEncoder().encode(value));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
