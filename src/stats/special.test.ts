import { describe, expect, it } from 'vitest';
import { kolmogorovSf, kstwoSf, smirnovSf } from './kolmogorov.js';
import { expectClose, loadReference } from './reference.test-support.js';
import {
  chiSquareSf,
  erf,
  erfc,
  logGamma,
  normalCdf,
  normalSf,
  regularizedGammaP,
  regularizedGammaQ,
} from './special.js';

interface Reference {
  special: {
    normal: { x: number; cdf: number; sf: number }[];
    erf: { x: number; erf: number; erfc: number }[];
    logGamma: { x: number; value: number }[];
    gammaincc: { a: number; x: number; q: number; p: number }[];
    chi2: { df: number; x: number; sf: number }[];
  };
  kolmogorov: {
    kolmogorov: { x: number; sf: number }[];
    smirnov: { n: number; x: number; sf: number }[];
    kstwo: { n: number; x: number; sf: number }[];
  };
}

const reference = loadReference<Reference>();

describe('special functions equal scipy.special', () => {
  it.each(reference.special.normal)('ndtr and norm.sf at $x', ({ x, cdf, sf }) => {
    expectClose(normalCdf(x), cdf, 1e-13, 1e-300);
    expectClose(normalSf(x), sf, 1e-13, 1e-300);
  });

  it.each(reference.special.erf)('erf and erfc at $x', ({ x, erf: expectedErf, erfc: expectedErfc }) => {
    expectClose(erf(x), expectedErf, 1e-14, 1e-16);
    expectClose(erfc(x), expectedErfc, 1e-13, 1e-300);
  });

  it.each(reference.special.logGamma)('gammaln($x)', ({ x, value }) => {
    expectClose(logGamma(x), value, 1e-13, 1e-14);
  });

  it.each(reference.special.gammaincc)('gammaincc($a, $x)', ({ a, x, q, p }) => {
    expectClose(regularizedGammaQ(a, x), q, 1e-11, 1e-300);
    expectClose(regularizedGammaP(a, x), p, 1e-11, 1e-300);
  });

  it.each(reference.special.chi2)('chi2.sf($x, df=$df)', ({ df, x, sf }) => {
    expectClose(chiSquareSf(x, df), sf, 1e-11, 1e-300);
  });

  it('has the textbook critical values', () => {
    expect(chiSquareSf(3.841458820694124, 1)).toBeCloseTo(0.05, 12);
    expect(normalSf(1.959963984540054)).toBeCloseTo(0.025, 13);
    expect(chiSquareSf(0, 3)).toBe(1);
  });
});

describe('Kolmogorov–Smirnov distributions equal scipy', () => {
  it.each(reference.kolmogorov.kolmogorov)('special.kolmogorov($x)', ({ x, sf }) => {
    expectClose(kolmogorovSf(x), sf, 1e-12, 1e-300);
  });

  it.each(reference.kolmogorov.smirnov)('special.smirnov($n, $x)', ({ n, x, sf }) => {
    expectClose(smirnovSf(n, x), sf, 1e-10, 1e-300);
  });

  it.each(reference.kolmogorov.kstwo)('stats.kstwo.sf($x, $n)', ({ n, x, sf }) => {
    expectClose(kstwoSf(n, x), sf, 1e-10, 1e-15);
  });
});
