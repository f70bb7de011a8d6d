/**
 * IEEE 754 binary16 ("half", the FP16 datatype) conversions. Tensors keep FP16 as raw bits in a
 * Uint16Array; these functions turn JavaScript numbers into those bits and back.
 */

/** The largest finite half, 65504 (bits 0x7bff). */
export const FP16_MAX = 65504;

/** Numbers at or beyond this magnitude round to infinity (the midpoint between 65504 and 2^16). */
export const FP16_OVERFLOW = 65520;

const TWO_POW_24 = 2 ** 24;
const MIN_NORMAL = 2 ** -14;

/**
 * Round a number to the nearest half (ties to even) and return its 16 bits. Handles signed zero,
 * subnormals, overflow to infinity and NaN (returned as the quiet NaN 0x7e00, sign kept).
 *
 * @example toHalfBits(1) === 0x3c00; toHalfBits(65504) === 0x7bff; toHalfBits(-0) === 0x8000
 */
export function toHalfBits(value: number): number {
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  if (Number.isNaN(value)) return sign | 0x7e00;
  const magnitude = Math.abs(value);
  if (magnitude >= FP16_OVERFLOW) return sign | 0x7c00;
  // Work from the float64 directly: going through float32 first would round twice.
  if (magnitude < MIN_NORMAL) {
    // Subnormal: units of 2^-24. A result of 1024 is exactly the bits of the smallest normal.
    return sign | roundHalfEven(magnitude * TWO_POW_24);
  }
  let exponent = Math.floor(Math.log2(magnitude));
  // log2 can be off by one next to powers of two; fix it with exact power-of-two comparisons.
  if (2 ** exponent > magnitude) exponent -= 1;
  else if (2 ** (exponent + 1) <= magnitude) exponent += 1;
  const mantissa = roundHalfEven((magnitude / 2 ** exponent - 1) * 1024);
  // A mantissa that rounds up to 1024 carries into the exponent, which the addition does for us.
  return sign | (((exponent + 15) << 10) + mantissa);
}

/**
 * The number a half's 16 bits stand for.
 *
 * @example fromHalfBits(0x3c00) === 1; fromHalfBits(0x0001) === 2 ** -24; fromHalfBits(0x7c00) === Infinity
 */
export function fromHalfBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/** Encode numbers as half bits (see `toHalfBits`). */
export function encodeFp16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toHalfBits(values[i] ?? 0);
  return out;
}

/** Decode half bits to numbers (see `fromHalfBits`). */
export function decodeFp16(bits: Uint16Array): Float64Array {
  const out = new Float64Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = fromHalfBits(bits[i] ?? 0);
  return out;
}

/** Round a non-negative number to an integer, ties to even. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
