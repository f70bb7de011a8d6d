import type { Datatype, TensorData } from './datatypes.js';

/** One tensor's data per datatype, with the edge values (extremes, -0, NaN, multi-byte UTF-8, a BOM) codecs get wrong. */
export const DATATYPE_SAMPLES: ReadonlyArray<readonly [Datatype, TensorData]> = [
  ['BOOL', new Uint8Array([1, 0, 1, 1])],
  ['UINT8', new Uint8Array([0, 1, 254, 255])],
  ['UINT16', new Uint16Array([0, 1, 65534, 65535])],
  ['UINT32', new Uint32Array([0, 1, 4294967294, 4294967295])],
  ['UINT64', new BigUint64Array([0n, 1n, 2n ** 64n - 2n, 2n ** 64n - 1n])],
  ['INT8', new Int8Array([-128, -1, 0, 127])],
  ['INT16', new Int16Array([-32768, -1, 0, 32767])],
  ['INT32', new Int32Array([-2147483648, -1, 0, 2147483647])],
  ['INT64', new BigInt64Array([-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n])],
  ['FP16', new Uint16Array([0x3c00, 0x8000, 0x7bff, 0x7e00])],
  ['FP32', new Float32Array([1.5, -0, 3.4028234663852886e38, Number.NaN])],
  ['FP64', new Float64Array([Math.PI, -1e-308, Number.POSITIVE_INFINITY, 0])],
  // A leading BOM (a default TextDecoder drops it); no NUL, which model inputs refuse (bytes-text.ts).
  ['BYTES', ['', 'narrow', 'é😀', '\ufeffa']],
];
