import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PredictionEntry } from '../../monitor/prediction-store.js';
import type { ServedFeatures } from '../served-features.js';
import {
  BASE,
  generate,
  openFeaturePlatform,
  prediction,
  servedRow,
  type TestPlatform,
} from './feature-data.test-support.js';
import { referencePointInTimeJoin, type Row } from './point-in-time.test-support.js';
import { featureSkew } from './skew.js';

describe('featureSkew', () => {
  const data = generate(13, 120);
  let platform: TestPlatform;
  let expectedRows: Row[];

  beforeAll(async () => {
    platform = await openFeaturePlatform(data);
    expectedRows = referencePointInTimeJoin(data.entities, 'ts', data.views).slice(0, 100);
    const entries: PredictionEntry[] = expectedRows.map((row, i) => {
      const served = servedRow(row, (ref, value) => {
        // a:a_val differs on every 4th row that has an offline value; b:b_val within 1e-9 relative (equal).
        if (ref === 'a:a_val' && value !== null && i % 4 === 0) return (value as number) + 1;
        if (ref === 'b:b_val' && typeof value === 'number') return value * (1 + 1e-9);
        return value;
      });
      const features: ServedFeatures = { service: 'svc', serviceVersion: 1, rows: [served] };
      return prediction(`p${i}`, row.ts as number, features);
    });
    // Predictions without served features, or of another service, are ignored.
    entries.push(
      prediction('plain', BASE, undefined),
      prediction('other', BASE, { service: 'other', serviceVersion: 1, rows: [] }),
    );
    await platform.predictions.append(entries);
  });
  afterAll(async () => {
    await platform.dispose();
  });

  it('counts mismatches per feature exactly, defaults apart', async () => {
    const report = await featureSkew(platform.features, platform.predictions, {
      service: 'svc',
      since: BASE - 1,
      until: BASE + 3_600_000,
    });
    expect(report).toMatchObject({ service: 'svc', predictions: 100, rows: 100 });
    expect(report.features.map((f) => f.feature)).toEqual(['b:b_val', 'a:a_val', 'a:a_str']);
    const byRef = new Map(report.features.map((f) => [f.feature, f]));
    const aNull = expectedRows.filter((r) => r.a__a_val === null).length;
    const aTampered = expectedRows.filter((r, i) => r.a__a_val !== null && i % 4 === 0).length;
    const bNull = expectedRows.filter((r) => r.b__b_val === null).length;
    expect(aNull).toBeGreaterThan(0);
    expect(aTampered).toBeGreaterThan(5);
    // a:a_val has no default: a missing value was served as null (PRESENT), which agrees with offline null.
    expect(byRef.get('a:a_val')).toEqual({
      feature: 'a:a_val',
      compared: 100,
      mismatches: aTampered,
      mismatchRate: aTampered / 100,
      defaulted: 0,
      offlineMissing: aNull,
    });
    expect(byRef.get('a:a_str')).toEqual({
      feature: 'a:a_str',
      compared: 100 - aNull,
      mismatches: 0,
      mismatchRate: 0,
      defaulted: aNull,
      offlineMissing: 0,
    });
    expect(byRef.get('b:b_val')).toEqual({
      feature: 'b:b_val',
      compared: 100 - bNull,
      mismatches: 0,
      mismatchRate: 0,
      defaulted: bNull,
      offlineMissing: 0,
    });
  });

  it('honours the time window and maxRows', async () => {
    const none = await featureSkew(platform.features, platform.predictions, {
      service: 'svc',
      since: BASE + 3_600_000,
    });
    expect(none).toMatchObject({ predictions: 0, rows: 0 });
    expect(none.features.every((f) => f.compared === 0 && f.mismatchRate === 0)).toBe(true);
    const some = await featureSkew(platform.features, platform.predictions, {
      service: 'svc',
      since: BASE - 1,
      until: BASE + 3_600_000,
      maxRows: 10,
    });
    expect(some.rows).toBeLessThanOrEqual(10);
    expect(some.features[0]!.compared + some.features[0]!.defaulted).toBe(some.rows);
  });
});
