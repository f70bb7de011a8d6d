/**
 * Regression quality metrics equal to scikit-learn 1.2's mean_absolute_error,
 * mean_squared_error(squared=False) and r2_score.
 */
import { invalid } from '../core/errors.js';
import { assertSameLength, mean, sum } from './numeric.js';

export interface RegressionMetrics {
  readonly count: number;
  readonly mae: number;
  readonly rmse: number;
  /**
   * Coefficient of determination 1 − SS_res / SS_tot. Constant actuals (SS_tot = 0) give 1 for
   * perfect predictions and 0 otherwise (sklearn's force_finite); null for fewer than two rows
   * (sklearn returns NaN).
   */
  readonly r2: number | null;
}

/**
 * Regression metrics from actual and predicted values (finite numbers, same length).
 *
 * Constant actuals are detected exactly (every value equal), so SS_tot is 0 even where numpy's
 * rounded mean would leave a residue of ~1e-33 (e.g. all 0.1) and sklearn would return a huge
 * negative R².
 *
 * @example
 * regressionMetrics({ actual: [3, -0.5, 2, 7], predicted: [2.5, 0, 2, 8] }); // { mae: 0.5, rmse: 0.612…, r2: 0.9486… }
 */
export function regressionMetrics(input: {
  readonly actual: ArrayLike<number>;
  readonly predicted: ArrayLike<number>;
}): RegressionMetrics {
  const { actual, predicted } = input;
  assertSameLength(actual, predicted, 'regressionMetrics');
  const n = actual.length;
  const absolute = new Float64Array(n);
  const squared = new Float64Array(n);
  let constant = true;
  for (let i = 0; i < n; i++) {
    const y = actual[i]!;
    const yHat = predicted[i]!;
    if (!Number.isFinite(y) || !Number.isFinite(yHat))
      throw invalid(`regressionMetrics: values must be finite (index ${i})`);
    absolute[i] = Math.abs(y - yHat);
    squared[i] = (y - yHat) ** 2;
    if (y !== actual[0]) constant = false;
  }
  const residual = sum(squared);
  let r2: number | null = null;
  if (n >= 2) {
    const center = mean(actual);
    const deviations = new Float64Array(n);
    for (let i = 0; i < n; i++) deviations[i] = (actual[i]! - center) ** 2;
    const total = constant ? 0 : sum(deviations);
    if (residual === 0) r2 = 1;
    else if (total === 0) r2 = 0;
    else r2 = 1 - residual / total;
  }
  return { count: n, mae: sum(absolute) / n, rmse: Math.sqrt(residual / n), r2 };
}
