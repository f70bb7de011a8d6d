import { describe, expect, it } from 'vitest';
import { FP16_MAX, decodeFp16, encodeFp16, fromHalfBits, toHalfBits } from './fp16.js';

describe('toHalfBits', () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
    [2 ** -14, 0x0400], // smallest normal (6.103515625e-5)
    [6.1e-5, 0x03ff], // just below it: largest subnormal after rounding
    [2 ** -24, 0x0001], // smallest subnormal
    [0, 0x0000],
    [-0, 0x8000],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ])('%s -> %s', (value, bits) => {
    expect(toHalfBits(value)).toBe(bits);
  });

  it('turns NaN into a quiet NaN', () => {
    expect(toHalfBits(NaN)).toBe(0x7e00);
  });

  it('rounds to nearest, ties to even', () => {
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie between 0x3c00 and 0x3c01: even wins
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie between 0x3c01 and 0x3c02
    expect(toHalfBits(1 + 2 ** -11 + 2 ** -30)).toBe(0x3c01); // just above the tie
    expect(toHalfBits(1 + 2 ** -12)).toBe(0x3c00);
    expect(toHalfBits(2 - 2 ** -12)).toBe(0x4000); // mantissa carries into the exponent
    expect(toHalfBits(2 ** -25)).toBe(0x0000); // subnormal tie to even (zero)
    expect(toHalfBits(3 * 2 ** -25)).toBe(0x0002); // subnormal tie to even (2)
    expect(toHalfBits(2 ** -25 * 1.0001)).toBe(0x0001);
    expect(toHalfBits(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up from subnormal into the smallest normal
  });

  it('overflows to infinity from 65520, the midpoint past the largest half', () => {
    expect(toHalfBits(65519.99)).toBe(0x7bff);
    expect(toHalfBits(65520)).toBe(0x7c00);
    expect(toHalfBits(-65520)).toBe(0xfc00);
  });

  it('is exact next to powers of two where log2 may be off', () => {
    for (let e = -14; e <= 15; e++) {
      expect(toHalfBits(2 ** e)).toBe((e + 15) << 10);
      expect(fromHalfBits(toHalfBits(2 ** e * (1 - 2 ** -12)))).toBe(2 ** e); // rounds up to the power
    }
  });
});

describe('fromHalfBits', () => {
  it.each([
    [0x3c00, 1],
    [0x7bff, 65504],
    [0x0400, 2 ** -14],
    [0x03ff, 6.097555160522461e-5],
    [0x0001, 2 ** -24],
    [0xc000, -2],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ])('%s -> %s', (bits, value) => {
    expect(fromHalfBits(bits)).toBe(value);
  });

  it('keeps the sign of zero and decodes NaN', () => {
    expect(Object.is(fromHalfBits(0x8000), -0)).toBe(true);
    expect(fromHalfBits(0x7e00)).toBeNaN();
    expect(fromHalfBits(0x7c01)).toBeNaN();
  });

  it('round-trips every finite half exactly', () => {
    const mismatches: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = fromHalfBits(bits);
      if (!Number.isNaN(value) && toHalfBits(value) !== bits) mismatches.push(bits);
    }
    expect(mismatches).toEqual([]);
  });
});

describe('encodeFp16 / decodeFp16', () => {
  it('converts whole arrays', () => {
    const bits = encodeFp16([1, -2, FP16_MAX, 0.1]);
    expect([...bits]).toEqual([0x3c00, 0xc000, 0x7bff, 0x2e66]);
    expect([...decodeFp16(bits)]).toEqual([1, -2, 65504, 0.0999755859375]);
  });
});
