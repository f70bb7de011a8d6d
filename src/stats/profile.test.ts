import { describe, expect, it } from 'vitest';
import { mergeProfiles, OVERFLOW_CATEGORY, profileColumn, ProfileBuilder } from './profile.js';
import { mulberry32 } from './random.js';

describe('ProfileBuilder', () => {
  it('keeps a 1,000,000-value stream at maxSample values, uniformly sampled', () => {
    const builder = new ProfileBuilder('x', { seed: 11 });
    const random = mulberry32(5);
    for (let i = 0; i < 1_000_000; i++) builder.add(i < 500_000 ? random() : 10 + random());
    const profile = builder.build();
    expect(profile.count).toBe(1_000_000);
    expect(profile.sample).toHaveLength(10_000);
    // Half the stream is in [0, 1), half in [10, 11): a uniform sample splits about evenly.
    const late = profile.sample.filter((value) => value >= 10).length;
    expect(late).toBeGreaterThan(4_800);
    expect(late).toBeLessThan(5_200);
    expect(profile.distinctExact).toBe(false);
    expect(profile.distinct).toBe(1001);
    expect(Object.keys(profile.categories)).toHaveLength(1001);
    expect(profile.categories[OVERFLOW_CATEGORY]).toBe(1_000_000 - 1000);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const values = Array.from({ length: 5000 }, (_, i) => i);
    const first = profileColumn('x', values, { maxSample: 100, seed: 3 });
    const again = profileColumn('x', values, { maxSample: 100, seed: 3 });
    const other = profileColumn('x', values, { maxSample: 100, seed: 4 });
    expect(again.sample).toEqual(first.sample);
    expect(other.sample).not.toEqual(first.sample);
  });

  it('counts null, undefined, NaN and infinities as nulls', () => {
    const profile = profileColumn('x', [1, null, undefined, Number.NaN, Number.POSITIVE_INFINITY, 2, 2]);
    expect(profile).toMatchObject({
      kind: 'numeric',
      count: 3,
      nulls: 4,
      sample: [1, 2, 2],
      categories: { '2': 2, '1': 1 },
      distinct: 2,
      distinctExact: true,
    });
  });

  it('turns categorical at the first string and keeps exact counts', () => {
    const profile = profileColumn('country', [1, 'fr', 'de', null, 'fr', 1]);
    expect(profile.kind).toBe('categorical');
    expect(profile.sample).toEqual([]);
    expect(profile.categories).toEqual({ '1': 2, fr: 2, de: 1 });
    expect(profile.count).toBe(5);
  });

  it('parses numeric strings when forced numeric and counts the rest as nulls', () => {
    const profile = profileColumn('x', ['1.5', ' 2 ', 'abc', ''], { kind: 'numeric' });
    expect(profile).toMatchObject({ kind: 'numeric', count: 2, nulls: 2, sample: [1.5, 2] });
  });

  it('stores numbers as categories when forced categorical', () => {
    const profile = profileColumn('code', [200, 404, 200], { kind: 'categorical' });
    expect(profile).toMatchObject({ kind: 'categorical', categories: { '200': 2, '404': 1 }, sample: [] });
  });

  it('survives a JSON round trip, including a "__proto__" category', () => {
    const profile = profileColumn('k', ['__proto__', 'a', '__proto__']);
    expect(profile.categories['__proto__']).toBe(2);
    expect(JSON.parse(JSON.stringify(profile))).toEqual(profile);
  });

  it('rejects a non-positive maxSample', () => {
    expect(() => new ProfileBuilder('x', { maxSample: 0 })).toThrow(/maxSample/);
  });
});

describe('mergeProfiles', () => {
  it('adds counts and draws the sample in proportion to the windows', () => {
    const a = profileColumn(
      'x',
      Array.from({ length: 3000 }, () => 0),
      { maxSample: 1000 },
    );
    const b = profileColumn(
      'x',
      Array.from({ length: 1000 }, () => 1),
      { maxSample: 1000 },
    );
    const merged = mergeProfiles(a, b, { maxSample: 1000 });
    expect(merged.count).toBe(4000);
    expect(merged.sample).toHaveLength(1000);
    expect(merged.sample.filter((value) => value === 0)).toHaveLength(750);
    expect(merged.categories).toEqual({ '0': 3000, '1': 1000 });
  });

  it('is categorical when either side is, and keeps the overflow bucket', () => {
    const a = profileColumn('c', ['a', 'b', 'c'], { maxCategories: 2 });
    const b = profileColumn('c', ['a', 'd'], { maxCategories: 2 });
    const merged = mergeProfiles(a, b, { maxCategories: 2 });
    expect(merged.kind).toBe('categorical');
    expect(merged.categories).toEqual({ a: 2, b: 1, [OVERFLOW_CATEGORY]: 2 });
    expect(merged.distinctExact).toBe(false);
  });

  it('refuses to merge different columns', () => {
    expect(() => mergeProfiles(profileColumn('a', [1]), profileColumn('b', [1]))).toThrow(/cannot merge/);
  });
});
