import { describe, expect, it } from 'vitest';
import { notFound } from '../core/errors.js';
import type { InferenceEvent, RequestOutcome } from './events.js';
import { ModelStatistics, mergeModelStats, queryStatistics, type StatisticsModels } from './model-statistics.js';
import { Monitor } from './monitor.js';

function event(
  model: string,
  version: string,
  outcome: RequestOutcome,
  rows: number,
  seconds: { duration: number; queue?: number; compute?: number },
  timeMs = 1_700_000_000_000,
): InferenceEvent {
  return {
    requestId: 'r',
    timeMs,
    deployment: undefined,
    model,
    version,
    protocol: 'http',
    outcome,
    errorCode: outcome === 'success' ? undefined : 'INVALID_ARGUMENT',
    durationSeconds: seconds.duration,
    queueSeconds: seconds.queue ?? 0,
    computeSeconds: seconds.compute ?? 0,
    inputs:
      outcome === 'success'
        ? [{ name: 'x', datatype: 'FP32', shape: [rows, 3], data: new Float32Array(rows * 3) }]
        : undefined,
    outputs: undefined,
  };
}

const zero = { count: 0, ns: 0 };

describe('ModelStatistics', () => {
  it('counts requests, rows and, without a batcher, one execution per successful request', () => {
    const stats = new ModelStatistics();
    stats.observe(event('m', '1.0.0', 'success', 1, { duration: 0.002, queue: 0, compute: 0.001 }, 1000));
    stats.observe(event('m', '1.0.0', 'success', 3, { duration: 0.004, queue: 0, compute: 0.003 }, 2000));
    stats.observe(event('m', '1.0.0', 'invalid', 0, { duration: 0.0005 }, 3000));
    expect(stats.ofModel('m')).toEqual([
      {
        name: 'm',
        version: '1.0.0',
        last_inference: 3001,
        inference_count: 4,
        execution_count: 2,
        inference_stats: {
          success: { count: 2, ns: 6_000_000 },
          fail: { count: 1, ns: 500_000 },
          queue: { count: 2, ns: 0 },
          compute_input: { count: 2, ns: 0 },
          compute_infer: { count: 2, ns: 4_000_000 },
          compute_output: { count: 2, ns: 0 },
          cache_hit: zero,
          cache_miss: zero,
        },
        batch_stats: [
          {
            batch_size: 1,
            compute_input: { count: 1, ns: 0 },
            compute_infer: { count: 1, ns: 1_000_000 },
            compute_output: { count: 1, ns: 0 },
          },
          {
            batch_size: 3,
            compute_input: { count: 1, ns: 0 },
            compute_infer: { count: 1, ns: 3_000_000 },
            compute_output: { count: 1, ns: 0 },
          },
        ],
      },
    ]);
  });

  it('takes executions from the batcher once it reported one, and ignores requests no version answered', () => {
    const stats = new ModelStatistics();
    // Two requests of one row each shared one run of 2 rows, reported before they resolved.
    stats.observeExecution('m', '2.0.0', 2, 1.5);
    stats.observe(event('m', '2.0.0', 'success', 1, { duration: 0.003, queue: 0.001, compute: 0.0015 }));
    stats.observe(event('m', '2.0.0', 'success', 1, { duration: 0.003, queue: 0.0005, compute: 0.0015 }));
    stats.observe(event('', '', 'invalid', 0, { duration: 0.001 }));
    stats.observe(event('m', '', 'invalid', 0, { duration: 0.001 }));
    const [row] = stats.ofModel('m');
    expect(row?.inference_count).toBe(2);
    expect(row?.execution_count).toBe(1);
    expect(row?.inference_stats.queue).toEqual({ count: 2, ns: 1_500_000 });
    expect(row?.inference_stats.fail).toEqual(zero);
    expect(row?.batch_stats).toEqual([
      {
        batch_size: 2,
        compute_input: { count: 1, ns: 0 },
        compute_infer: { count: 1, ns: 1_500_000 },
        compute_output: { count: 1, ns: 0 },
      },
    ]);
    expect(stats.all().map((r) => `${r.name}@${r.version}`)).toEqual(['m@2.0.0']);
  });

  it('orders versions naturally and answers zeros for a version that has not served', () => {
    const stats = new ModelStatistics();
    for (const v of ['1.10.0', '1.9.0', '1.2.0']) stats.observe(event('m', v, 'success', 1, { duration: 0.001 }));
    stats.observe(event('a', '1.0.0', 'success', 1, { duration: 0.001 }));
    expect(stats.all().map((r) => `${r.name}@${r.version}`)).toEqual(['a@1.0.0', 'm@1.2.0', 'm@1.9.0', 'm@1.10.0']);
    const unused = stats.ofVersion('m', '3.0.0');
    expect([
      unused.last_inference,
      unused.inference_count,
      unused.execution_count,
      unused.batch_stats,
      unused.inference_stats.success,
    ]).toEqual([0, 0, 0, [], zero]);
  });
});

describe('mergeModelStats', () => {
  it('adds up the rows of several workers per version and batch size', () => {
    const one = new ModelStatistics();
    const two = new ModelStatistics();
    one.observe(event('m', '1.0.0', 'success', 1, { duration: 0.002, compute: 0.001 }, 1000));
    two.observe(event('m', '1.0.0', 'success', 2, { duration: 0.004, compute: 0.003 }, 5000));
    two.observe(event('m', '1.0.0', 'success', 1, { duration: 0.002, compute: 0.002 }, 2000));
    two.observe(event('b', '1.0.0', 'invalid', 0, { duration: 0.001 }, 2000));
    const merged = mergeModelStats([one.all(), two.all()]);
    expect(merged.map((r) => `${r.name}@${r.version}`)).toEqual(['b@1.0.0', 'm@1.0.0']);
    const m = merged[1]!;
    expect([
      m.last_inference,
      m.inference_count,
      m.execution_count,
      m.inference_stats.success,
      m.inference_stats.compute_input,
    ]).toEqual([5004, 4, 3, { count: 3, ns: 8_000_000 }, { count: 3, ns: 0 }]);
    expect(m.batch_stats.map((b) => [b.batch_size, b.compute_infer])).toEqual([
      [1, { count: 2, ns: 3_000_000 }],
      [2, { count: 1, ns: 3_000_000 }],
    ]);
  });
});

describe('Monitor', () => {
  it("feeds its statistics from the observer and from the pool's batch runs (key model@version)", async () => {
    const monitor = new Monitor({ gauges: { queues: () => [], loadedModels: () => 0 }, processMetrics: false });
    monitor.observeBatch({ model: 'my-model', version: '1.2.0' }, 2, 1.25);
    monitor.observer(event('my-model', '1.2.0', 'success', 1, { duration: 0.002, compute: 0.00125 }));
    monitor.observer(event('my-model', '1.2.0', 'success', 1, { duration: 0.002, compute: 0.00125 }));
    const [row] = monitor.statistics.ofModel('my-model');
    expect([
      row?.inference_count,
      row?.execution_count,
      row?.batch_stats.map((b) => [b.batch_size, b.compute_infer]),
    ]).toEqual([2, 1, [[2, { count: 1, ns: 1_250_000 }]]]);
    expect(await monitor.metrics.scrape().then((s) => s.body)).toContain(
      'slipway_batch_size_count{model="my-model",version="1.2.0"} 1',
    );
  });
});

describe('queryStatistics', () => {
  const models: StatisticsModels = {
    getModel: (name) =>
      name === 'm' || name === 'quiet'
        ? Promise.resolve({})
        : Promise.reject(notFound(`model "${name}" does not exist`)),
    resolve: (model, selector) =>
      model === 'm' && (selector === '1' || selector === '1.0.0')
        ? Promise.resolve({ version: '1.0.0' })
        : Promise.reject(notFound(`model "${model}" has no version ${selector}`)),
  };
  const stats = new ModelStatistics();
  stats.observe(event('m', '1.0.0', 'success', 1, { duration: 0.001 }));
  stats.observe(event('m', '2.0.0', 'success', 1, { duration: 0.001 }));

  it('filters by model and resolves a version selector', async () => {
    expect((await queryStatistics(stats, models)).map((r) => r.version)).toEqual(['1.0.0', '2.0.0']);
    expect((await queryStatistics(stats, models, 'm')).map((r) => r.version)).toEqual(['1.0.0', '2.0.0']);
    expect(await queryStatistics(stats, models, 'quiet')).toEqual([]);
    expect((await queryStatistics(stats, models, 'm', '1')).map((r) => [r.version, r.inference_count])).toEqual([
      ['1.0.0', 1],
    ]);
  });

  it('refuses unknown models and versions, and a version without a model', async () => {
    await expect(queryStatistics(stats, models, 'nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(queryStatistics(stats, models, 'm', '9.0.0')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(queryStatistics(stats, models, undefined, '1.0.0')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('version "1.0.0" needs a model name'),
    });
  });
});
