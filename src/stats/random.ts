/**
 * Seeded pseudo-random numbers, so reservoir samples (and the tests' generated data) are
 * reproducible. mulberry32: a 32-bit state, period 2^32, good enough for sampling, not for crypto.
 * `fixtures/stats/make_reference.py` implements the same generator bit for bit.
 */

/**
 * A generator of uniform floats in [0, 1), each a multiple of 2^-32.
 *
 * @example
 * const random = mulberry32(42);
 * random(); // 0.6011037519201636
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
