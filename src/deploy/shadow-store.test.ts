import { describe, expect, it } from 'vitest';
import type { Tensor } from '../tensor/datatypes.js';
import { encodeFp16 } from '../tensor/fp16.js';
import { describeEachDialect } from '../testing/databases.js';
import { compareOutputs, outputsJson } from './shadow-compare.js';
import { SqlShadowStore } from './shadow-store.js';
import type { ShadowResult, ShadowVersionReport } from './shadow-store.js';

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);

type Drops = Map<string, { deployment: string; shadowVersion: string; dropped: number }>;

const drops = (...entries: Array<[deployment: string, shadowVersion: string, dropped: number]>): Drops =>
  new Map(
    entries.map(([deployment, shadowVersion, dropped]) => [
      `${deployment}/${shadowVersion}`,
      { deployment, shadowVersion, dropped },
    ]),
  );

/**
 * 40 mirrored requests to 1.3.0: every 7th failed in the shadow, every 5th has no label output,
 * every 4th no float output. Differences are multiples of 1/16 so every mean is exact in binary.
 */
function labelledResults(): ShadowResult[] {
  return Array.from({ length: 40 }, (_, i) => {
    const failed = i % 7 === 0;
    const hasFloats = !failed && i % 4 !== 0;
    return {
      deployment: 'fraud-api',
      requestId: `req-${i}`,
      timeMs: T0 + i * 1000,
      primaryVersion: '1.2.0',
      shadowVersion: '1.3.0',
      primaryMs: ((i * 37) % 41) + 0.5,
      shadowMs: failed ? null : ((i * 13) % 29) + 0.25,
      agree: failed || i % 5 === 0 ? null : i % 3 !== 0,
      absDiffMean: hasFloats ? (i % 8) / 8 : null,
      absDiffMax: hasFloats ? (i % 8) / 4 + i / 16 : null,
      error: failed ? `shadow 1.3.0 failed: timeout after ${i} ms` : null,
      primaryOutputs: failed ? null : JSON.stringify({ label: [i % 2], probabilities: [0.25, 0.75] }),
      shadowOutputs: failed
        ? null
        : JSON.stringify({ label: [i % 3 === 0 ? 1 - (i % 2) : i % 2], probabilities: [0.5, 0.5] }),
    };
  });
}

/** numpy's 'lower' percentile: the element at floor(q (n-1)) of the sorted values. */
function lower(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))] as number;
}

const mean = (values: readonly number[]): number | null =>
  values.length === 0 ? null : values.reduce((s, v) => s + v, 0) / values.length;

/** The report the test expects for `results` of one version, computed the slow, obvious way. */
function expectedReport(shadowVersion: string, results: readonly ShadowResult[], dropped: number): ShadowVersionReport {
  const answered = results.filter((r) => r.error === null);
  const labelled = results.filter((r) => r.agree !== null);
  const means = results.flatMap((r) => (r.absDiffMean === null ? [] : [r.absDiffMean]));
  const maxes = results.flatMap((r) => (r.absDiffMax === null ? [] : [r.absDiffMax]));
  const primary = results.map((r) => r.primaryMs);
  const shadow = results.flatMap((r) => (r.shadowMs === null ? [] : [r.shadowMs]));
  return {
    shadowVersion,
    compared: answered.length,
    errors: results.length - answered.length,
    dropped,
    agreementRate: labelled.length === 0 ? null : labelled.filter((r) => r.agree === true).length / labelled.length,
    meanAbsDiff: mean(means),
    maxAbsDiff: maxes.length === 0 ? null : Math.max(...maxes),
    primaryLatency: { p50Ms: lower(primary, 0.5), p99Ms: lower(primary, 0.99), meanMs: mean(primary) },
    shadowLatency: { p50Ms: lower(shadow, 0.5), p99Ms: lower(shadow, 0.99), meanMs: mean(shadow) },
  };
}

describeEachDialect('ShadowStore', (fixture) => {
  const openStore = async (): Promise<SqlShadowStore> => new SqlShadowStore(await fixture.open());

  it('reports per shadow version over two processes: counts, drops, agreement, differences, latencies', async () => {
    const processA = await openStore();
    const processB = await openStore();
    const labelled = labelledResults();
    const failing: ShadowResult[] = [0, 1, 2].map((i) => ({
      ...(labelled[1] as ShadowResult),
      requestId: `bad-${i}`,
      shadowVersion: '1.4.0',
      primaryMs: 10 - i,
      shadowMs: null,
      agree: null,
      absDiffMean: null,
      absDiffMax: null,
      error: 'shadow 1.4.0 is not loaded',
      shadowOutputs: null,
    }));
    const elsewhere = { ...(labelled[1] as ShadowResult), deployment: 'churn-api', agree: false, absDiffMax: 99 };
    await processA.write(
      labelled.slice(0, 25),
      drops(['fraud-api', '1.3.0', 3], ['fraud-api', '1.5.0', 1]),
      'host-a/1/a',
    );
    await processB.write(
      [...labelled.slice(25), ...failing, elsewhere],
      drops(['fraud-api', '1.3.0', 5], ['churn-api', '1.3.0', 100]),
      'host-b/2/b',
    );
    // A process's later total replaces its earlier one: 3 -> 7 from host-a.
    await processA.write([], drops(['fraud-api', '1.3.0', 7]), 'host-a/1/a');

    const report = await processB.report('fraud-api');
    expect(report).toEqual([
      expectedReport('1.3.0', labelled, 7 + 5),
      expectedReport('1.4.0', failing, 0),
      expectedReport('1.5.0', [], 1),
    ]);
    // The same numbers, spelled out, so a wrong helper above cannot hide a wrong store.
    expect(report[0]).toMatchObject({
      compared: 34,
      errors: 6,
      dropped: 12,
      agreementRate: 18 / 28,
      maxAbsDiff: 7 / 4 + 39 / 16,
    });
    expect(report[1]).toMatchObject({
      compared: 0,
      errors: 3,
      agreementRate: null,
      meanAbsDiff: null,
      primaryLatency: { p50Ms: 9, p99Ms: 9, meanMs: 9 },
      shadowLatency: { p50Ms: null, p99Ms: null, meanMs: null },
    });
    expect(report[2]).toEqual({
      shadowVersion: '1.5.0',
      compared: 0,
      errors: 0,
      dropped: 1,
      agreementRate: null,
      meanAbsDiff: null,
      maxAbsDiff: null,
      primaryLatency: { p50Ms: null, p99Ms: null, meanMs: null },
      shadowLatency: { p50Ms: null, p99Ms: null, meanMs: null },
    });

    const churn = await processA.report('churn-api');
    expect(churn).toMatchObject([
      { shadowVersion: '1.3.0', compared: 1, dropped: 100, agreementRate: 0, maxAbsDiff: 99 },
    ]);
    expect(await processA.report('unknown')).toEqual([]);
  });

  it('reports only results since a time (drop totals are running totals and stay)', async () => {
    const store = await openStore();
    const labelled = labelledResults();
    await store.write(labelled, drops(['fraud-api', '1.3.0', 4]), 'host-a/1/a');
    const since = T0 + 17_000;
    const report = await store.report('fraud-api', since);
    expect(report).toEqual([
      expectedReport(
        '1.3.0',
        labelled.filter((r) => r.timeMs >= since),
        4,
      ),
    ]);
    expect(report[0]?.compared).toBe(20);
  });

  it('gives no agreement rate when no result has a label output', async () => {
    const store = await openStore();
    const regressions = labelledResults().map((r) => ({ ...r, agree: null }));
    await store.write(regressions, new Map(), 'host-a/1/a');
    const [report] = await store.report('fraud-api');
    expect(report?.agreementRate).toBeNull();
    expect(report?.meanAbsDiff).toBe(expectedReport('1.3.0', regressions, 0).meanAbsDiff);
  });

  it('reads results back newest first, every field equal, filtered by request id and time', async () => {
    const processA = await openStore();
    const processB = await openStore();
    const labelled = labelledResults();
    await processA.write(labelled.slice(0, 20), new Map(), 'host-a/1/a');
    await processB.write(labelled.slice(20), new Map(), 'host-b/2/b');
    await processB.write([{ ...(labelled[0] as ShadowResult), deployment: 'churn-api' }], new Map(), 'host-b/2/b');

    const newestFirst = [...labelled].reverse();
    expect(await processA.results('fraud-api', { limit: 1000 })).toEqual(newestFirst);
    expect(await processA.results('fraud-api')).toHaveLength(40);
    expect(await processA.results('fraud-api', { limit: 3 })).toEqual(newestFirst.slice(0, 3));
    expect(await processA.results('fraud-api', { requestId: 'req-7' })).toEqual([labelled[7]]);
    expect(await processA.results('fraud-api', { requestId: 'req-99' })).toEqual([]);
    expect(await processA.results('fraud-api', { sinceMs: T0 + 37_000 })).toEqual(newestFirst.slice(0, 3));
    expect(await processA.results('fraud-api', { sinceMs: T0 + 37_000, requestId: 'req-7' })).toEqual([]);
    expect(await processA.results('churn-api')).toEqual([{ ...labelled[0], deployment: 'churn-api' }]);
    expect(await processA.results('unknown')).toEqual([]);
  });

  it('writes more than one batch of 200 results in one call', async () => {
    const store = await openStore();
    const many = Array.from({ length: 450 }, (_, i) => ({
      ...(labelledResults()[1] as ShadowResult),
      requestId: `r${i}`,
      timeMs: T0 + i,
    }));
    await store.write(many, new Map(), 'host-a/1/a');
    expect((await store.report('fraud-api'))[0]?.compared).toBe(450);
    expect((await store.results('fraud-api', { limit: 1 }))[0]?.requestId).toBe('r449');
  });

  it('deletes results older than a time, over several chunks of a thousand', async () => {
    const store = await openStore();
    const many = Array.from({ length: 2500 }, (_, i) => ({
      ...(labelledResults()[1] as ShadowResult),
      requestId: `r${i}`,
      timeMs: T0 + i,
    }));
    await store.write(many, new Map(), 'host-a/1/a');
    expect(await store.deleteBefore(T0 + 2100)).toBe(2100);
    const left = await store.results('fraud-api', { limit: 1000 });
    expect(left.map((r) => r.requestId)).toEqual(Array.from({ length: 400 }, (_, i) => `r${2499 - i}`));
  });
});

const int64 = (name: string, values: number[]): Tensor => ({
  name,
  datatype: 'INT64',
  shape: [values.length],
  data: BigInt64Array.from(values.map(BigInt)),
});
const bytes = (name: string, values: string[]): Tensor => ({
  name,
  datatype: 'BYTES',
  shape: [values.length],
  data: values,
});
const fp32 = (name: string, values: number[], shape = [values.length]): Tensor => ({
  name,
  datatype: 'FP32',
  shape,
  data: Float32Array.from(values),
});

describe('compareOutputs', () => {
  it('finds INT64 labels agreeing or not, element for element', () => {
    expect(compareOutputs([int64('label', [0, 1, 1])], [int64('label', [0, 1, 1])])).toEqual({
      agree: true,
      absDiffMean: null,
      absDiffMax: null,
      mismatch: null,
    });
    expect(compareOutputs([int64('label', [0, 1, 1])], [int64('label', [0, 1, 0])])).toEqual({
      agree: false,
      absDiffMean: null,
      absDiffMax: null,
      mismatch: null,
    });
  });

  it('finds BYTES labels agreeing or not', () => {
    expect(
      compareOutputs([bytes('label', ['setosa', 'virginica'])], [bytes('label', ['setosa', 'virginica'])]).agree,
    ).toBe(true);
    expect(
      compareOutputs([bytes('label', ['setosa', 'virginica'])], [bytes('label', ['setosa', 'versicolor'])]).agree,
    ).toBe(false);
  });

  it('disagrees when any one of several label outputs differs', () => {
    const primary = [int64('label', [1]), bytes('name', ['fraud'])];
    expect(compareOutputs(primary, [int64('label', [1]), bytes('name', ['ok'])]).agree).toBe(false);
    expect(compareOutputs(primary, [bytes('name', ['fraud']), int64('label', [1])]).agree).toBe(true);
  });

  it('gives the exact mean and max absolute difference of float outputs', () => {
    const primary = [int64('label', [1, 0]), fp32('probabilities', [0.25, 0.75, 0.875, 0.125], [2, 2])];
    const shadow = [int64('label', [1, 0]), fp32('probabilities', [0.5, 0.5, 0.875, 0.125], [2, 2])];
    // |0.25|, |0.25|, 0, 0 -> mean 0.125, max 0.25
    expect(compareOutputs(primary, shadow)).toEqual({
      agree: true,
      absDiffMean: 0.125,
      absDiffMax: 0.25,
      mismatch: null,
    });
    // Over every element of every float output: 1.5 and 0.5 here, plus the four above.
    const more = compareOutputs([...primary, fp32('score', [-1, 2])], [...shadow, fp32('score', [0.5, 2.5])]);
    expect(more).toEqual({ agree: true, absDiffMean: (0.25 + 0.25 + 1.5 + 0.5) / 6, absDiffMax: 1.5, mismatch: null });
    expect(compareOutputs([fp32('y', [3.5])], [fp32('y', [3.5])])).toEqual({
      agree: null,
      absDiffMean: 0,
      absDiffMax: 0,
      mismatch: null,
    });
  });

  it('compares FP16 outputs by value, and FP16 with FP32', () => {
    const half: Tensor = { name: 'y', datatype: 'FP16', shape: [2], data: encodeFp16([1.5, -2]) };
    expect(compareOutputs([half], [fp32('y', [1, -2])])).toEqual({
      agree: null,
      absDiffMean: 0.25,
      absDiffMax: 0.5,
      mismatch: null,
    });
  });

  it('reports a shape mismatch and a missing output by name, comparing what it can', () => {
    const primary = [
      int64('label', [1, 0]),
      fp32('probabilities', [0.25, 0.75, 0.5, 0.5], [2, 2]),
      fp32('embedding', [1]),
    ];
    const shadow = [int64('label', [1, 1]), fp32('probabilities', [0.25, 0.75], [1, 2]), fp32('extra', [7])];
    expect(compareOutputs(primary, shadow)).toEqual({
      agree: false,
      absDiffMean: null,
      absDiffMax: null,
      mismatch:
        'output "probabilities" has shape [1,2] in the shadow, [2,2] in the primary; the shadow has no output "embedding"',
    });
    expect(compareOutputs([int64('label', [1])], [])).toEqual({
      agree: null,
      absDiffMean: null,
      absDiffMax: null,
      mismatch: 'the shadow has no output "label"',
    });
  });
});

describe('outputsJson', () => {
  it('stores outputs as {name: [values]} with BigInts as numbers, FP16 decoded and non-finite floats as text', () => {
    const outputs: Tensor[] = [
      int64('label', [1, 0]),
      bytes('name', ['setosa']),
      fp32('probabilities', [0.25, Number.NaN, Number.POSITIVE_INFINITY]),
      { name: 'half', datatype: 'FP16', shape: [1], data: encodeFp16([1.5]) },
    ];
    expect(JSON.parse(outputsJson(outputs))).toEqual({
      label: [1, 0],
      name: ['setosa'],
      probabilities: [0.25, 'NaN', 'Infinity'],
      half: [1.5],
    });
  });

  it('cuts each output to maxElements values', () => {
    expect(outputsJson([int64('label', [1, 2, 3, 4]), fp32('p', [0.5, 0.25, 0.125])], 2)).toBe(
      '{"label":[1,2],"p":[0.5,0.25]}',
    );
  });
});
