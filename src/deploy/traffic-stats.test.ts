import { expect, it } from 'vitest';
import type { InferenceEvent, RequestOutcome } from '../monitor/events.js';
import { describeEachDialect } from '../testing/databases.js';
import { SqlTrafficStatsStore, TrafficRecorder, noTraffic } from './traffic-stats.js';
import type { VersionTraffic } from './traffic-stats.js';

/**
 * Whole seconds an hour ahead: a recorder forgets written slots more than 5 s older than its
 * clock, and these must stay in memory for the whole test.
 */
const BASE = Math.ceil(Date.now() / 1000) * 1000 + 3_600_000;

function event(
  deployment: string | undefined,
  version: string,
  timeMs: number,
  outcome: RequestOutcome,
  durationSeconds: number,
): InferenceEvent {
  return {
    requestId: `r-${timeMs}-${Math.random()}`,
    timeMs,
    deployment,
    model: 'fraud',
    version,
    protocol: 'http',
    outcome,
    errorCode:
      outcome === 'success'
        ? undefined
        : outcome === 'error'
          ? 'INTERNAL'
          : outcome === 'invalid'
            ? 'INVALID_ARGUMENT'
            : 'UNAVAILABLE',
    durationSeconds,
    queueSeconds: 0,
    computeSeconds: durationSeconds,
    inputs: undefined,
    outputs: undefined,
  };
}

/** A deterministic stream of numbers in [0, 1) (a 32-bit LCG), so a failure reproduces. */
function uniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** numpy's 'lower' percentile: the element at floor(q (n-1)) of the sorted values. */
function nearestRankLower(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))] as number;
}

/** What the test fed one version, to compare with the window. */
class Expected {
  requests = 0;
  errors = 0;
  invalid = 0;
  rejected = 0;
  readonly latenciesMs: number[] = [];

  add(outcome: RequestOutcome, seconds: number): void {
    this.requests++;
    if (outcome === 'success') this.latenciesMs.push(seconds * 1000);
    else if (outcome === 'error') this.errors++;
    else if (outcome === 'invalid') this.invalid++;
    else this.rejected++;
  }
}

function expectTraffic(actual: VersionTraffic | undefined, expected: Expected): void {
  expect(actual).toBeDefined();
  const { p50Ms, p99Ms, ...counts } = actual as VersionTraffic;
  expect(counts).toEqual({
    version: counts.version,
    requests: expected.requests,
    success: expected.latenciesMs.length,
    errors: expected.errors,
    invalid: expected.invalid,
    rejected: expected.rejected,
    errorRate: expected.errors / expected.requests,
  });
  for (const [q, estimate] of [
    [0.5, p50Ms],
    [0.99, p99Ms],
  ] as const) {
    const exact = nearestRankLower(expected.latenciesMs, q);
    expect(estimate).not.toBeNull();
    // DDSketch's guarantee: within 1% of the value at the same rank.
    expect(Math.abs((estimate as number) - exact)).toBeLessThanOrEqual(0.01 * exact * (1 + 1e-9));
  }
}

describeEachDialect('TrafficStats', (fixture) => {
  const openStore = async (): Promise<SqlTrafficStatsStore> => new SqlTrafficStatsStore(await fixture.open());

  it('merges the slots two processes wrote: exact counts per version, quantiles within 1%', async () => {
    const failures: unknown[] = [];
    const processA = new TrafficRecorder(await openStore(), 'host-a/101/aaaa', (error) => failures.push(error));
    const processB = new TrafficRecorder(await openStore(), 'host-b/202/bbbb', (error) => failures.push(error));
    const random = uniform(7);
    const expected = new Map([
      ['1.2.0', new Expected()],
      ['1.3.0', new Expected()],
    ]);
    const outcomeAt = (u: number): RequestOutcome =>
      u < 0.85 ? 'success' : u < 0.92 ? 'error' : u < 0.96 ? 'invalid' : 'rejected';
    for (let i = 0; i < 2000; i++) {
      const version = i % 4 === 0 ? '1.3.0' : '1.2.0';
      const outcome = outcomeAt(random());
      // Latencies spread over three decades (1 ms to 1 s); failures take long, and must not count.
      const seconds = outcome === 'success' ? 0.001 * 1000 ** random() : 30;
      const timeMs = BASE + Math.floor(random() * 3000);
      (i % 3 === 0 ? processB : processA).observe(event('fraud-api', version, timeMs, outcome, seconds));
      expected.get(version)?.add(outcome, seconds);
    }
    // Another deployment's traffic stays out of this one's window.
    processA.observe(event('churn-api', '1.2.0', BASE, 'error', 0.5));
    // One after the other: two SQLite connections in one thread cannot wait for each other's lock
    // (database.ts); separate processes can.
    await processA.flush();
    await processB.flush();
    expect(failures).toEqual([]);

    const reader = await openStore();
    const window = await reader.window('fraud-api', BASE, BASE + 3000);
    expect([...window.keys()].sort()).toEqual(['1.2.0', '1.3.0']);
    expectTraffic(window.get('1.2.0'), expected.get('1.2.0') as Expected);
    expectTraffic(window.get('1.3.0'), expected.get('1.3.0') as Expected);
    expect(window.get('1.2.0')?.requests).toBe(1500);
    expect(window.get('1.3.0')?.requests).toBe(500);

    const churn = await reader.window('churn-api', BASE);
    expect(churn.get('1.2.0')).toEqual({ ...noTraffic('1.2.0'), requests: 1, errors: 1, errorRate: 1 });
  });

  it('bounds a window by whole slots: [floor(since), until)', async () => {
    const store = await openStore();
    const recorder = new TrafficRecorder(store, 'host-a/1/a');
    const seconds = [-1, 0, 1, 2];
    for (const s of seconds) {
      // slot s gets s + 2 requests, all successes of (s + 2) * 10 ms
      for (let i = 0; i < s + 2; i++)
        recorder.observe(event('fraud-api', '1.2.0', BASE + s * 1000 + i * 100, 'success', (s + 2) / 100));
    }
    await recorder.flush();
    const requests = async (since: number, until?: number): Promise<number | undefined> =>
      (await store.window('fraud-api', since, until)).get('1.2.0')?.requests;
    expect(await requests(BASE)).toBe(2 + 3 + 4);
    expect(await requests(BASE, BASE + 2000)).toBe(2 + 3);
    expect(await requests(BASE + 999, BASE + 2000)).toBe(2 + 3);
    expect(await requests(BASE + 1000, BASE + 2000)).toBe(3);
    expect(await requests(BASE - 1000, BASE + 1000)).toBe(1 + 2);
    expect(await requests(BASE + 3000)).toBeUndefined();
    const only = (await store.window('fraud-api', BASE + 1000, BASE + 2000)).get('1.2.0');
    // One slot of three equal latencies: both quantiles are 30 ms, to 1%.
    expect(Math.abs((only?.p50Ms ?? 0) - 30)).toBeLessThanOrEqual(0.3);
    expect(Math.abs((only?.p99Ms ?? 0) - 30)).toBeLessThanOrEqual(0.3);
  });

  it('reports no latency and an error rate of 1 for a version that only failed', async () => {
    const store = await openStore();
    const recorder = new TrafficRecorder(store, 'host-a/1/a');
    recorder.observe(event('fraud-api', '1.3.0', BASE, 'error', 0.2));
    recorder.observe(event('fraud-api', '1.3.0', BASE + 10, 'error', 0.2));
    recorder.observe(event('fraud-api', '1.3.0', BASE + 20, 'rejected', 0.2));
    await recorder.flush();
    expect((await store.window('fraud-api', BASE)).get('1.3.0')).toEqual({
      version: '1.3.0',
      requests: 3,
      success: 0,
      errors: 2,
      invalid: 0,
      rejected: 1,
      errorRate: 2 / 3,
      p50Ms: null,
      p99Ms: null,
    });
  });

  it('replaces a slot written again after more events instead of counting it twice', async () => {
    const database = await fixture.open();
    const store = new SqlTrafficStatsStore(database);
    const recorder = new TrafficRecorder(store, 'host-a/1/a');
    for (let i = 0; i < 10; i++)
      recorder.observe(event('fraud-api', '1.2.0', BASE + i, i < 8 ? 'success' : 'error', 0.01));
    await recorder.flush();
    expect((await store.window('fraud-api', BASE))?.get('1.2.0')).toMatchObject({
      requests: 10,
      success: 8,
      errors: 2,
    });

    for (let i = 0; i < 5; i++)
      recorder.observe(event('fraud-api', '1.2.0', BASE + 500 + i, i < 4 ? 'success' : 'invalid', 0.02));
    await recorder.flush();
    // A flush with nothing new writes nothing and changes nothing.
    await recorder.flush();
    const traffic = (await store.window('fraud-api', BASE)).get('1.2.0');
    expect(traffic).toMatchObject({ requests: 15, success: 12, errors: 2, invalid: 1, rejected: 0, errorRate: 2 / 15 });
    // 8 latencies of 10 ms and 4 of 20 ms: the lower median is the 6th smallest, 10 ms.
    expect(Math.abs((traffic?.p50Ms ?? 0) - 10)).toBeLessThanOrEqual(0.1);
    expect(Math.abs((traffic?.p99Ms ?? 0) - 20)).toBeLessThanOrEqual(0.2);
    const rows = await database.db.selectFrom('deployment_stats').select(['slot_ms', 'source', 'requests']).execute();
    expect(rows.map((r) => ({ ...r, slot_ms: Number(r.slot_ms) }))).toEqual([
      { slot_ms: BASE, source: 'host-a/1/a', requests: 15 },
    ]);
  });

  it('adds a late event to a slot already written and forgotten instead of overwriting it', async () => {
    // A request is counted in the second it arrived but observed when it ends: a slow one (a
    // 30 s deadline) lands in a slot the recorder wrote and dropped from memory long ago.
    // Regression: the late event's fresh slot replaced the stored row, so the second's 20
    // earlier requests vanished and the window showed 1 request.
    const store = await openStore();
    const recorder = new TrafficRecorder(store, 'host-a/1/a');
    const arrived = Math.floor(Date.now() / 1000) * 1000 - 30_000;
    for (let i = 0; i < 20; i++) recorder.observe(event('fraud-api', '1.2.0', arrived + i, 'success', 0.01));
    await recorder.flush();
    recorder.observe(event('fraud-api', '1.2.0', arrived + 500, 'rejected', 30));
    recorder.observe(event('fraud-api', '1.2.0', arrived + 600, 'success', 0.04));
    await recorder.flush();
    const traffic = (await store.window('fraud-api', arrived, arrived + 1000)).get('1.2.0');
    expect(traffic).toMatchObject({ requests: 22, success: 21, rejected: 1 });
    // The 20 fast latencies are still in the sketch: the median is 10 ms, not 40 ms.
    expect(Math.abs((traffic?.p50Ms ?? 0) - 10)).toBeLessThanOrEqual(0.1);
    expect(Math.abs((traffic?.p99Ms ?? 0) - 10)).toBeLessThanOrEqual(0.1);
    // Once merged, the slot is whole again: another late event adds to it once.
    recorder.observe(event('fraud-api', '1.2.0', arrived + 700, 'error', 31));
    await recorder.flush();
    await recorder.flush();
    expect((await store.window('fraud-api', arrived, arrived + 1000)).get('1.2.0')).toMatchObject({
      requests: 23,
      success: 21,
      errors: 1,
      rejected: 1,
    });
  });

  it('prunes slots before a time, in every deployment', async () => {
    const store = await openStore();
    const recorder = new TrafficRecorder(store, 'host-a/1/a');
    for (const [deployment, offset] of [
      ['fraud-api', -2000],
      ['fraud-api', 0],
      ['fraud-api', 1000],
      ['churn-api', -1000],
      ['churn-api', 0],
    ] as const) {
      recorder.observe(event(deployment, '1.2.0', BASE + offset, 'success', 0.01));
    }
    await recorder.flush();
    expect((await store.window('fraud-api', 0)).get('1.2.0')?.requests).toBe(3);
    await store.prune(BASE);
    expect((await store.window('fraud-api', 0)).get('1.2.0')?.requests).toBe(2);
    expect((await store.window('churn-api', 0)).get('1.2.0')?.requests).toBe(1);
    await store.prune(BASE + 2000);
    expect((await store.window('fraud-api', 0)).size).toBe(0);
    expect((await store.window('churn-api', 0)).size).toBe(0);
  });

  it('ignores events without a deployment or a resolved version', async () => {
    const database = await fixture.open();
    const store = new SqlTrafficStatsStore(database);
    const recorder = new TrafficRecorder(store, 'host-a/1/a');
    recorder.observe(event(undefined, '1.2.0', BASE, 'success', 0.01));
    recorder.observe(event('fraud-api', '', BASE, 'invalid', 0.01));
    await recorder.flush();
    expect(await database.db.selectFrom('deployment_stats').selectAll().execute()).toEqual([]);
    expect((await store.window('fraud-api', 0)).size).toBe(0);
  });

  it('flushes on its timer once started, and writes what is left when stopped', async () => {
    const store = await openStore();
    const recorder = new TrafficRecorder(store, 'host-a/1/a');
    recorder.start(10);
    recorder.observe(event('fraud-api', '1.2.0', BASE, 'success', 0.01));
    const deadline = Date.now() + 5000;
    while ((await store.window('fraud-api', BASE)).size === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await store.window('fraud-api', BASE)).get('1.2.0')?.requests).toBe(1);
    recorder.observe(event('fraud-api', '1.2.0', BASE, 'invalid', 0.01));
    await recorder.stop();
    expect((await store.window('fraud-api', BASE)).get('1.2.0')).toMatchObject({ requests: 2, invalid: 1 });
  });

  it('reports a failed write to onError and keeps the slot for the next flush', async () => {
    const database = await fixture.open();
    const errors: unknown[] = [];
    const recorder = new TrafficRecorder(new SqlTrafficStatsStore(database), 'host-a/1/a', (error) =>
      errors.push(error),
    );
    recorder.observe(event('fraud-api', '1.2.0', BASE, 'success', 0.01));
    await database.close();
    await expect(recorder.flush()).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
    await recorder.flush();
    // Still dirty, so the next flush tried (and failed) again.
    expect(errors).toHaveLength(2);
  });

  it('folds whole minutes of per-second rows into one row per minute, with the same counts and quantiles', async () => {
    const store = await openStore();
    const processA = new TrafficRecorder(store, 'host-a/1/a');
    const processB = new TrafficRecorder(store, 'host-b/2/b');
    const random = uniform(11);
    const minute = Math.ceil(BASE / 60_000) * 60_000;
    const expected = new Expected();
    // 150 seconds of traffic from two processes: two whole minutes and half of a third.
    for (let i = 0; i < 3000; i++) {
      const outcome: RequestOutcome = random() < 0.9 ? 'success' : 'error';
      const seconds = 0.001 * 100 ** random();
      const timeMs = minute + Math.floor(random() * 150_000);
      (i % 2 === 0 ? processA : processB).observe(event('fraud-api', '1.2.0', timeMs, outcome, seconds));
      expected.add(outcome, seconds);
    }
    await processA.flush();
    await processB.flush();
    const before = await store.window('fraud-api', minute, minute + 150_000);
    const count = async () =>
      Number(
        (
          await (
            await fixture.open()
          ).db
            .selectFrom('deployment_stats')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const perSecond = await count();
    expect(perSecond).toBeGreaterThan(250);
    // Everything before minute + 150 s: the third minute is not whole, so it stays per second.
    const folded = await store.compact(minute + 150_000, 100);
    const perSecondInThird = (await store.window('fraud-api', minute + 120_000)).get('1.2.0');
    expect(folded).toBe(perSecond - (await count()) + 2);
    const after = await store.window('fraud-api', minute, minute + 150_000);
    expect(after).toEqual(before);
    expectTraffic(after.get('1.2.0'), expected);
    expect(perSecondInThird?.requests).toBeGreaterThan(0);
    // A second fold adds to the minute rows already there.
    expect(await store.compact(minute + 150_000)).toBe(0);
    expect(await store.window('fraud-api', minute, minute + 150_000)).toEqual(before);
  });
});
