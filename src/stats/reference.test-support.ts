/**
 * Test support: the committed scipy/scikit-learn reference values (fixtures/stats/reference.json,
 * written by fixtures/stats/make_reference.py) and the deterministic data generators they name.
 * The generators mirror the Python ones bit for bit: mulberry32 and only + − × ÷ and floor.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { mulberry32 } from './random.js';

export type DataSpec =
  | number[]
  | { gen: 'uniform'; seed: number; n: number; low?: number; high?: number }
  | { gen: 'normal'; seed: number; n: number; loc?: number; scale?: number }
  | { gen: 'integers'; seed: number; n: number; k: number }
  | { gen: 'rounded'; seed: number; n: number; steps: number };

export interface CategorySpec {
  gen: 'categories';
  seed: number;
  n: number;
  names: string[];
  weights: number[];
}

const FIXTURE = fileURLToPath(new URL('../../fixtures/stats/reference.json', import.meta.url));

/** The parsed reference file; each test file declares the shape of the parts it reads. */
export function loadReference<T>(): T {
  return JSON.parse(readFileSync(FIXTURE, 'utf8')) as T;
}

/** Irwin–Hall(12) − 6: sums of 12 uniforms, exact in doubles, approximately N(0, 1). */
function irwinHall(random: () => number): number {
  let total = 0;
  for (let i = 0; i < 12; i++) total += random();
  return total - 6;
}

/** The numbers a spec describes (explicit arrays are returned as they are). */
export function generate(spec: DataSpec): number[] {
  if (Array.isArray(spec)) return spec;
  const random = mulberry32(spec.seed);
  const out: number[] = [];
  for (let i = 0; i < spec.n; i++) {
    switch (spec.gen) {
      case 'uniform': {
        const low = spec.low ?? 0;
        const high = spec.high ?? 1;
        out.push(low + (high - low) * random());
        break;
      }
      case 'normal':
        out.push((spec.loc ?? 0) + (spec.scale ?? 1) * irwinHall(random));
        break;
      case 'integers':
        out.push(Math.floor(random() * spec.k));
        break;
      case 'rounded':
        out.push(Math.floor(random() * spec.steps) / spec.steps);
        break;
    }
  }
  return out;
}

/** Category names drawn with the given weights. */
export function generateCategories(spec: Omit<CategorySpec, 'gen'>): string[] {
  const random = mulberry32(spec.seed);
  const total = spec.weights.reduce((acc, weight) => acc + weight, 0);
  const out: string[] = [];
  for (let i = 0; i < spec.n; i++) {
    const u = random() * total;
    let acc = 0;
    let chosen = spec.names[spec.names.length - 1]!;
    for (let k = 0; k < spec.names.length; k++) {
      acc += spec.weights[k]!;
      if (u < acc) {
        chosen = spec.names[k]!;
        break;
      }
    }
    out.push(chosen);
  }
  return out;
}

/** Normal-ish sample (Irwin–Hall) with the given seed, size, mean and scale. */
export function normalSample(seed: number, n: number, loc = 0, scale = 1): number[] {
  return generate({ gen: 'normal', seed, n, loc, scale });
}

/**
 * Assert |actual − expected| <= max(relative · |expected|, absolute). Fails on NaN, on a missing
 * value, and when the expected value is null but the actual is not (or the reverse).
 */
export function expectClose(
  actual: number | null | undefined,
  expected: number | null,
  relative = 1e-9,
  absolute = 1e-300,
): void {
  if (expected === null) {
    expect(actual).toBeNull();
    return;
  }
  expect(typeof actual).toBe('number');
  const value = actual as number;
  expect(Number.isNaN(value)).toBe(false);
  const tolerance = Math.max(relative * Math.abs(expected), absolute);
  if (!(Math.abs(value - expected) <= tolerance)) {
    expect.fail(
      `expected ${value} to be within ${tolerance} of ${expected} (difference ${Math.abs(value - expected)})`,
    );
  }
}
