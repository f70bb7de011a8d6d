import { describe, expect, it } from 'vitest';
import { loadExperimentReference } from './experiment-reference.test-support.js';
import { logBeta, regularizedBeta } from './incomplete-beta.js';
import { expectClose } from './reference.test-support.js';
import { normalQuantile, studentTCdf, studentTPdf, studentTQuantile, studentTSf } from './student-t.js';

interface Reference {
  versions: Record<string, string>;
  distributions: {
    normalQuantile: { p: number; x: number }[];
    studentT: { df: number; t: number; cdf: number; sf: number; pdf: number; pdfExact: number }[];
    studentTQuantile: { df: number; p: number; ppf: number; refined: number }[];
    betaln: { a: number; b: number; scipy: number; exact: number }[];
    betainc: { a: number; b: number; x: number; scipy: number; exact: number }[];
  };
}

const reference = loadExperimentReference<Reference>();
const { distributions } = reference;

describe('the experiment reference fixture', () => {
  it('was computed with scipy 1.10', () => {
    expect(reference.versions['scipy']).toMatch(/^1\.10\./);
  });
});

describe('normal quantile equals scipy.stats.norm.ppf', () => {
  it.each(distributions.normalQuantile)('at p = $p', ({ p, x }) => {
    expectClose(normalQuantile(p), x, 1e-14, 1e-300);
  });

  it('handles the ends and bad input', () => {
    expect(normalQuantile(0)).toBe(Number.NEGATIVE_INFINITY);
    expect(normalQuantile(1)).toBe(Number.POSITIVE_INFINITY);
    expect(normalQuantile(0.5)).toBe(0);
    expect(normalQuantile(1.5)).toBeNaN();
  });
});

describe('Student t equals scipy.stats.t', () => {
  it.each(distributions.studentT)('cdf, sf and pdf at t = $t, df = $df', ({ df, t, cdf, sf, pdf, pdfExact }) => {
    expectClose(studentTCdf(t, df), cdf, 1e-12, 1e-300);
    expectClose(studentTSf(t, df), sf, 1e-12, 1e-300);
    // scipy's t.pdf differences two gammaln values and drifts to ~1e-10 at df 1e5; mpmath is exact.
    expectClose(studentTPdf(t, df), pdfExact, 1e-12, 1e-300);
    expectClose(studentTPdf(t, df), pdf, 1e-9, 1e-300);
  });

  it.each(distributions.studentTQuantile)('quantile at p = $p, df = $df', ({ df, p, ppf, refined }) => {
    const value = studentTQuantile(p, df);
    // The polished root of scipy's CDF, to full precision; scipy's own ppf stops near 1e-10.
    expectClose(value, refined, 1e-13, 1e-300);
    expectClose(value, ppf, 1e-8, 1e-15);
  });

  it('is the normal distribution at infinite df and refuses df <= 0', () => {
    expectClose(studentTCdf(1.5, Number.POSITIVE_INFINITY), 0.9331927987311419, 1e-14);
    expectClose(studentTQuantile(0.975, Number.POSITIVE_INFINITY), 1.959963984540054, 1e-14);
    expect(() => studentTCdf(1, 0)).toThrow(RangeError);
    expect(studentTCdf(Number.POSITIVE_INFINITY, 3)).toBe(1);
    expect(studentTQuantile(0, 3)).toBe(Number.NEGATIVE_INFINITY);
  });
});

describe('beta functions equal scipy.special (and 40-digit mpmath where scipy is loose)', () => {
  it.each(distributions.betaln)('betaln($a, $b)', ({ a, b, scipy, exact }) => {
    expectClose(logBeta(a, b), exact, 1e-13, 1e-14);
    // scipy's betaln is off by 2e-10 at (0.5, 5e5).
    expectClose(logBeta(a, b), scipy, 1e-9, 1e-14);
  });

  it.each(distributions.betainc)('betainc($a, $b, $x)', ({ a, b, x, scipy, exact }) => {
    expectClose(regularizedBeta(x, a, b), exact, 1e-12, 1e-300);
    expectClose(regularizedBeta(x, a, b), scipy, 1e-9, 1e-300);
  });
});
