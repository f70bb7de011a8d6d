import { describe, expect, it } from 'vitest';
import { compareColumn, datasetDrift, type ColumnDrift, type DriftTestName } from './drift.js';
import { profileColumn, type ColumnProfile } from './profile.js';
import {
  expectClose,
  generate,
  generateCategories,
  loadReference,
  normalSample,
  type DataSpec,
} from './reference.test-support.js';

interface Reference {
  ks: { name: string; a: DataSpec; b: DataSpec; statistic: number; pValue: number }[];
}

const reference = loadReference<Reference>();
const FOUR = ['a', 'b', 'c', 'd'];

function numeric(seed: number, n: number, loc = 0, scale = 1): ColumnProfile {
  return profileColumn('x', normalSample(seed, n, loc, scale));
}

function categorical(seed: number, n: number, weights: number[], names = FOUR): ColumnProfile {
  return profileColumn('c', generateCategories({ seed, n, names, weights }));
}

/** Every number in a result is finite and the result survives JSON unchanged. */
function expectJsonSafe(result: ColumnDrift): void {
  const numbers = [
    result.statistic,
    result.pValue,
    result.threshold,
    result.psi?.value,
    ...result.reference,
    ...result.current,
  ];
  if (result.histogram.kind === 'bins') numbers.push(...result.histogram.edges);
  for (const value of numbers) if (value !== null && value !== undefined) expect(Number.isFinite(value)).toBe(true);
  expect(JSON.parse(JSON.stringify(result))).toEqual(result);
}

interface DecisionCase {
  family: DriftTestName;
  reference: () => ColumnProfile;
  same: () => ColumnProfile;
  shifted: () => ColumnProfile;
}

const CASES: DecisionCase[] = [
  { family: 'ks', reference: () => numeric(1, 800), same: () => numeric(2, 600), shifted: () => numeric(3, 600, 0.4) },
  {
    family: 'wasserstein',
    reference: () => numeric(4, 5000),
    same: () => numeric(5, 3000),
    shifted: () => numeric(6, 3000, 0.3),
  },
  {
    family: 'chisquare',
    reference: () => categorical(7, 900, [4, 3, 2, 1]),
    same: () => categorical(8, 500, [4, 3, 2, 1]),
    shifted: () => categorical(9, 500, [2, 3, 2, 3]),
  },
  {
    family: 'z',
    reference: () => categorical(10, 900, [6, 4], ['yes', 'no']),
    same: () => categorical(11, 500, [6, 4], ['yes', 'no']),
    shifted: () => categorical(12, 500, [4, 6], ['yes', 'no']),
  },
  {
    family: 'jensenshannon',
    reference: () => categorical(13, 5000, [4, 3, 2, 1]),
    same: () => categorical(14, 2000, [4, 3, 2, 1]),
    shifted: () => categorical(15, 2000, [1, 2, 3, 4]),
  },
];

describe('compareColumn picks Evidently’s default test and decides', () => {
  it.each(CASES)(
    '$family: same distribution → no drift, shifted → drift',
    ({ family, reference: ref, same, shifted }) => {
      const baseline = ref();
      const stable = compareColumn(baseline, same());
      expect(stable).toMatchObject({ test: family, status: 'ok', drifted: false });
      expect(stable.psi?.level).toBe('none');
      const moved = compareColumn(baseline, shifted());
      expect(moved).toMatchObject({ test: family, status: 'ok', drifted: true });
      expect(moved.psi!.value).toBeGreaterThan(stable.psi!.value);
      expectJsonSafe(stable);
      expectJsonSafe(moved);
    },
  );

  it('treats a numeric column with <= 5 distinct values as categorical (chi-square, z, Jensen–Shannon)', () => {
    const ints = (seed: number, n: number, k: number): ColumnProfile =>
      profileColumn('n', generate({ gen: 'integers', seed, n, k }));
    expect(compareColumn(ints(20, 500, 4), ints(21, 400, 4))).toMatchObject({
      kind: 'numeric',
      test: 'chisquare',
      drifted: false,
      histogram: { kind: 'categories' },
    });
    expect(compareColumn(ints(22, 500, 2), ints(23, 400, 2))).toMatchObject({ test: 'z', drifted: false });
    expect(compareColumn(ints(24, 5000, 5), ints(25, 400, 5))).toMatchObject({ test: 'jensenshannon', drifted: false });
    expect(compareColumn(ints(26, 500, 3), ints(27, 400, 6))).toMatchObject({ test: 'ks' });
  });

  it('counts reference rows from the full count, not the sample', () => {
    const big = profileColumn('x', normalSample(30, 5000), { maxSample: 500 });
    expect(big.sample).toHaveLength(500);
    const result = compareColumn(big, numeric(31, 800));
    expect(result).toMatchObject({ test: 'wasserstein', referenceRows: 5000, currentRows: 800 });
  });

  it('reproduces scipy’s KS statistic and p-value through profiles', () => {
    const shifted = reference.ks.find((c) => c.name === 'shifted 500/400')!;
    const result = compareColumn(profileColumn('x', generate(shifted.a)), profileColumn('x', generate(shifted.b)));
    expect(result.test).toBe('ks');
    expectClose(result.statistic, shifted.statistic, 1e-12);
    expectClose(result.pValue, shifted.pValue, 1e-9);
    expect(result.drifted).toBe(shifted.pValue < 0.05);
  });

  it('reports bins from reference quantiles for numeric columns', () => {
    const result = compareColumn(numeric(40, 800), numeric(41, 600));
    expect(result.histogram.kind).toBe('bins');
    const edges = result.histogram.kind === 'bins' ? result.histogram.edges : [];
    expect(edges).toHaveLength(11);
    expect(result.reference).toHaveLength(10);
    result.reference.forEach((share) => expect(share).toBeCloseTo(0.1, 10));
    expect(result.current.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });
});

describe('compareColumn edge cases', () => {
  it('gives not_enough_data and no verdict for a tiny current window', () => {
    const result = compareColumn(numeric(50, 800), numeric(51, 12, 3));
    expect(result).toMatchObject({ status: 'not_enough_data', drifted: null, currentRows: 12 });
    expect(result.reason).toMatch(/fewer than minRows \(30\)/);
    expect(result.statistic).toBeGreaterThan(0);
    expect(compareColumn(numeric(50, 800), numeric(51, 12, 3), { minRows: 10 }).status).toBe('ok');
  });

  it('handles an empty current window', () => {
    const empty = profileColumn('x', [null, null]);
    const result = compareColumn(numeric(52, 800), empty);
    expect(result).toMatchObject({
      status: 'not_enough_data',
      statistic: null,
      pValue: null,
      drifted: null,
      psi: null,
      reference: [],
      current: [],
    });
    expectJsonSafe(result);
  });

  it('stays finite with categories unseen in the reference', () => {
    const ref = profileColumn('c', generateCategories({ seed: 53, n: 600, names: FOUR, weights: [1, 1, 1, 1] }));
    const cur = profileColumn('c', [
      ...generateCategories({ seed: 54, n: 300, names: FOUR, weights: [1, 1, 1, 1] }),
      ...new Array<string>(60).fill('brand-new'),
    ]);
    for (const test of ['chisquare', 'z', 'jensenshannon'] as const) {
      const result = compareColumn(ref, cur, { test });
      expectJsonSafe(result);
      expect(result.drifted).toBe(true);
      expect(result.histogram.kind === 'categories' ? [...result.histogram.categories].sort() : []).toEqual([
        'a',
        'b',
        'brand-new',
        'c',
        'd',
      ]);
    }
    const auto = compareColumn(ref, cur);
    expect(auto.test).toBe('chisquare');
    expect(auto.pValue).toBeLessThan(1e-10);
  });

  it('makes every threshold configurable', () => {
    const ref = numeric(60, 5000);
    const cur = numeric(61, 3000, 0.3);
    expect(compareColumn(ref, cur).drifted).toBe(true);
    expect(compareColumn(ref, cur, { wassersteinThreshold: 10 }).drifted).toBe(false);
    expect(compareColumn(ref, cur, { largeReferenceRows: 10_000 }).test).toBe('ks');
    expect(compareColumn(ref, cur, { psiModerate: 0.001, psiMajor: 0.002 }).psi?.level).toBe('major');
  });

  it('honours test overrides per call and per column', () => {
    const ref = numeric(62, 800);
    const cur = numeric(63, 600);
    expect(compareColumn(ref, cur, { test: 'wasserstein' }).test).toBe('wasserstein');
    expect(compareColumn(ref, cur, { test: 'ks', columnTests: { x: 'jensenshannon' } })).toMatchObject({
      test: 'jensenshannon',
      histogram: { kind: 'bins' },
    });
    expect(() =>
      compareColumn(categorical(64, 100, [1, 1, 1, 1]), categorical(65, 100, [1, 1, 1, 1]), { test: 'ks' }),
    ).toThrow(/categorical/);
  });

  it('reports every invalid option at once', () => {
    expect(() => compareColumn(numeric(66, 100), numeric(67, 100), { ksPValue: 2, psiBins: 0 })).toThrow(
      /ksPValue.*psiBins/,
    );
  });
});

describe('datasetDrift', () => {
  const column = (drifted: boolean | null, status: 'ok' | 'not_enough_data' = 'ok'): ColumnDrift =>
    ({ drifted, status }) as unknown as ColumnDrift;

  it('drifts when the share of drifted evaluated columns reaches driftShare', () => {
    expect(datasetDrift([column(true), column(false)])).toEqual({
      drifted: true,
      share: 0.5,
      driftedColumns: 1,
      evaluatedColumns: 2,
    });
    expect(datasetDrift([column(true), column(false), column(false)])).toMatchObject({ drifted: false, share: 1 / 3 });
    expect(datasetDrift([column(true), column(false), column(false)], 0.3).drifted).toBe(true);
  });

  it('leaves out columns without enough data', () => {
    expect(
      datasetDrift([column(true), column(null, 'not_enough_data'), column(null, 'not_enough_data')]),
    ).toMatchObject({ drifted: true, evaluatedColumns: 1 });
    expect(datasetDrift([column(null, 'not_enough_data')])).toEqual({
      drifted: null,
      share: 0,
      driftedColumns: 0,
      evaluatedColumns: 0,
    });
  });

  it('works end to end over real columns', () => {
    const columns = [
      compareColumn(numeric(70, 800), numeric(71, 500, 1)),
      compareColumn(categorical(72, 800, [1, 1, 1, 1]), categorical(73, 500, [1, 1, 1, 1])),
    ];
    expect(datasetDrift(columns)).toEqual({ drifted: true, share: 0.5, driftedColumns: 1, evaluatedColumns: 2 });
  });
});
