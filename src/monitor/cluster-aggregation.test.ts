import { describe, expect, it } from 'vitest';
import type { InferenceEvent } from './events.js';
import { LiveStats, type StatsQuery } from './live-stats.js';
import { ServingMetrics } from './metrics.js';

/**
 * `--workers N` (issue 13 item 10): what two workers report together equals what one process that
 * saw every request reports. The transport (cluster IPC) is exercised by test/serve-cluster.test.ts;
 * here the parts go through JSON as they do over IPC.
 */
describe('aggregating workers', () => {
  const viaIpc = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

  it('live stats: counts add up and the merged sketches give the quantiles of all requests', async () => {
    const now = 1_700_000_000_000;
    const a = new LiveStats(() => now);
    const b = new LiveStats(() => now);
    const all = new LiveStats(() => now);
    for (let i = 0; i < 300; i++) {
      const worker = i % 3 === 0 ? b : a;
      const outcome = i % 50 === 0 ? 'error' : 'success';
      // Different latency ranges per worker, so a worker's own quantiles differ from the group's.
      const latency = worker === a ? 1 + i / 10 : 100 + i;
      for (const stats of [worker, all])
        stats.window(undefined, 'cancer', '1.0.0').record(now - 1000, outcome, latency);
    }
    all.window('dep', 'cancer', '1.0.1').record(now - 500, 'invalid', 0);
    a.window('dep', 'cancer', '1.0.1').record(now - 500, 'invalid', 0);

    a.aggregateWith((query: StatsQuery) =>
      Promise.resolve({ results: [viaIpc(a.part(query)), viaIpc(b.part(query))], missing: 0 }),
    );
    const merged = await a.queryAll({ model: 'cancer' });
    const single = all.query({ model: 'cancer' });
    expect(merged.workers).toEqual({ answered: 2, missing: 0 });
    expect({ ...merged, workers: undefined }).toEqual({ ...single, workers: undefined });
    expect(merged.total.requests).toBe(301);
    expect(merged.total.p99Ms).not.toBe(a.query({ model: 'cancer' }).total.p99Ms);
  });

  it('metrics: request counters and histograms add up; loaded models is the fewest any worker has', async () => {
    const source = (loaded: number) => ({
      queues: () => [{ key: { model: 'cancer', version: '1.0.0' }, queued: 2, inFlight: 1 }],
      loadedModels: () => loaded,
    });
    const a = new ServingMetrics(source(3), { processMetrics: false });
    const b = new ServingMetrics(source(2), { processMetrics: false });
    const event: InferenceEvent = {
      requestId: 'r',
      timeMs: 0,
      deployment: undefined,
      model: 'cancer',
      version: '1.0.0',
      protocol: 'http',
      outcome: 'success',
      errorCode: undefined,
      durationSeconds: 0.002,
      queueSeconds: 0.001,
      computeSeconds: 0.001,
      inputs: undefined,
      outputs: undefined,
    };
    for (let i = 0; i < 5; i++) a.observe(event);
    for (let i = 0; i < 7; i++) b.observe(event);
    a.aggregateWith(async () => ({ results: [viaIpc(await a.local()), viaIpc(await b.local())], missing: 0 }));
    const { body } = await a.scrape();
    expect(body).toMatch(
      /^slipway_requests_total\{deployment="",model="cancer",version="1.0.0",protocol="http",outcome="success"\} 12$/m,
    );
    expect(body).toMatch(
      /^slipway_request_duration_seconds_count\{deployment="",model="cancer",version="1.0.0",protocol="http"\} 12$/m,
    );
    expect(body).toMatch(
      /^slipway_request_duration_seconds_bucket\{deployment="",model="cancer",version="1.0.0",protocol="http",le="\+Inf"\} 12$/m,
    );
    expect(body).toMatch(/^slipway_queue_depth\{model="cancer",version="1.0.0"\} 4$/m);
    expect(body).toMatch(/^slipway_loaded_models 2$/m);

    // A worker that does not answer in time is left out, and the scrape says so.
    a.aggregateWith(async () => ({ results: [viaIpc(await a.local())], missing: 1 }));
    const partial = await a.scrape();
    expect(partial.body).toMatch(/^# slipway: 1 worker\(s\) did not answer in time/);
    expect(partial.body).toMatch(/outcome="success"\} 5$/m);
  });
});
