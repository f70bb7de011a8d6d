import { describe, expect, it } from 'vitest';
import { expectClose, loadReference } from './reference.test-support.js';
import { regressionMetrics } from './regression.js';

interface Reference {
  regression: { name: string; actual: number[]; predicted: number[]; mae: number; rmse: number; r2: number | null }[];
}

const reference = loadReference<Reference>();

describe('regressionMetrics equals scikit-learn', () => {
  it.each(reference.regression)('$name', ({ actual, predicted, mae, rmse, r2 }) => {
    const result = regressionMetrics({ actual, predicted });
    expect(result.count).toBe(actual.length);
    expectClose(result.mae, mae, 1e-13);
    expectClose(result.rmse, rmse, 1e-13);
    expectClose(result.r2, r2, 1e-12);
  });

  it('gives R² = 0 for imperfect predictions of constant actuals that numpy cannot average exactly', () => {
    expect(regressionMetrics({ actual: [0.1, 0.1, 0.1], predicted: [0.1, 0.2, 0.1] }).r2).toBe(0);
    expect(regressionMetrics({ actual: [0.1, 0.1, 0.1], predicted: [0.1, 0.1, 0.1] }).r2).toBe(1);
  });

  it('rejects non-finite values', () => {
    expect(() => regressionMetrics({ actual: [1, Number.NaN], predicted: [1, 2] })).toThrow(/finite/);
  });
});
