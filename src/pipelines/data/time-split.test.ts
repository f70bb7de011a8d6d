import { describe, expect, it } from 'vitest';
import { timeSplit } from './time-split.js';

const SHARES = { train: 0.7, validation: 0.15, test: 0.15 };

describe('timeSplit', () => {
  it('puts the oldest share in train, then validation, the newest in test, whatever the input order', () => {
    const rows = Array.from({ length: 100 }, (_, i) => ({ id: i, t: ((i * 37) % 100) * 1000 }));
    const split = timeSplit(rows, (r) => r.t, SHARES);
    expect([split.train.length, split.validation.length, split.test.length]).toEqual([70, 15, 15]);
    expect(split.train.map((r) => r.t)).toEqual(Array.from({ length: 70 }, (_, i) => i * 1000));
    expect(split.validation[0]!.t).toBe(70_000);
    expect(split.test.map((r) => r.t)).toEqual(Array.from({ length: 15 }, (_, i) => (85 + i) * 1000));
  });

  it('sends rows sharing a boundary time to the earlier split (no test row at or before a train row time)', () => {
    // Times 0..10, ten rows each (three at time 10).
    const rows = Array.from({ length: 103 }, (_, i) => ({ t: Math.floor(i / 10) }));
    const split = timeSplit(rows, (r) => r.t, SHARES);
    // round(103 * 0.7) = 72 lands among time 7's rows (70..79): all of them go to train.
    expect(split.train).toHaveLength(80);
    expect(Math.max(...split.train.map((r) => r.t))).toBeLessThan(Math.min(...split.validation.map((r) => r.t)));
    // round(103 * 0.85) = 88 lands among time 8's rows (80..89): validation takes them all.
    expect(split.validation).toHaveLength(10);
    expect(split.test).toHaveLength(13);
    expect(Math.max(...split.validation.map((r) => r.t))).toBeLessThan(Math.min(...split.test.map((r) => r.t)));
  });

  it('keeps input order among equal times and can leave a split empty when every row shares one time', () => {
    const rows = Array.from({ length: 40 }, (_, i) => ({ id: i, t: 5 }));
    const split = timeSplit(rows, (r) => r.t, SHARES);
    expect(split.train.map((r) => r.id)).toEqual(rows.map((r) => r.id));
    expect([split.validation.length, split.test.length]).toEqual([0, 0]);
  });

  it('refuses shares that do not add up to 1 and rows without a time, naming them', () => {
    expect(() => timeSplit([{ t: 1 }], (r) => r.t, { train: 0.7, validation: 0.2, test: 0.2 })).toThrow(
      /add up to 1, got 0.7 \+ 0.2 \+ 0.2/,
    );
    expect(() => timeSplit([{ t: 1 }], (r) => r.t, { train: 1.2, validation: -0.2, test: 0 })).toThrow(
      /data.split.validation must be a share/,
    );
    expect(() => timeSplit([{ t: 1 }, { t: NaN }], (r) => r.t, SHARES)).toThrow(/row 2 has no valid event time/);
  });
});
