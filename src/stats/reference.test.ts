import { describe, expect, it } from 'vitest';
import { mulberry32 } from './random.js';
import {
  generate,
  generateCategories,
  loadReference,
  type CategorySpec,
  type DataSpec,
} from './reference.test-support.js';

type Check =
  | { spec: Exclude<DataSpec, number[]>; head: number[]; total: number }
  | { spec: CategorySpec; head: string[]; counts: Record<string, number> };

const reference = loadReference<{ versions: Record<string, string>; generators: Check[] }>();

describe('the reference fixture', () => {
  it('was computed with scipy 1.10 and scikit-learn 1.2', () => {
    expect(reference.versions['scipy']).toMatch(/^1\.10\./);
    expect(reference.versions['sklearn']).toMatch(/^1\.2\./);
  });

  it('uses mulberry32 as published', () => {
    const random = mulberry32(42);
    expect(random()).toBe(0.6011037519201636);
    expect(random()).toBe(0.44829055899754167);
  });

  it.each(reference.generators)('generates the same data as the Python generator: $spec.gen', (check) => {
    if ('counts' in check) {
      const values = generateCategories(check.spec);
      expect(values.slice(0, 5)).toEqual(check.head);
      const counts: Record<string, number> = {};
      for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
      expect(counts).toEqual(check.counts);
      return;
    }
    const values = generate(check.spec);
    expect(values.slice(0, 5)).toEqual(check.head);
    let total = 0;
    for (const value of values) total += value;
    expect(total).toBe(check.total);
  });
});
