import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../server/serve.js';
import { api, infer, ROWS, sleep, startCancerServer, type TestPlatform } from './deploy.test-support.js';
import type { ShadowVersionReport } from './shadow-store.js';

/** Median latencies of `n` requests to each deployment, alternating so machine load hits both alike, ms. */
async function pairedMedians(url: string, names: readonly [string, string], n: number): Promise<[number, number]> {
  const times: [number[], number[]] = [[], []];
  for (let i = 0; i < n; i++) {
    for (const k of [0, 1] as const) {
      const started = performance.now();
      const answer = await infer(url, names[k], ROWS[i % ROWS.length]!);
      times[k].push(performance.now() - started);
      expect(answer.status).toBe(200);
    }
  }
  const median = (list: number[]) => list.sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
  return [median(times[0]), median(times[1])];
}

describe('shadow traffic', () => {
  let platform: TestPlatform;
  let server: RunningServer;

  afterEach(async () => {
    await server.stop(5000);
    await platform.dispose();
  });

  it('mirrors answered requests to the shadow, keeps both outputs by request id, and reports agreement and differences', async () => {
    ({ platform, server } = await startCancerServer());
    const { url } = server;
    await api(url, 'PUT', '/api/v1/deployments/cancer-live', {
      model: 'cancer',
      routes: ['1.0.0=100'],
      shadows: ['1.1.0=100'],
    });
    const rows = Array.from({ length: 60 }, (_, i) => ROWS[i % ROWS.length]!);
    let agree = 0;
    let diffSum = 0;
    let diffMax = 0;
    for (const [i, row] of rows.entries()) {
      const answer = await infer(url, 'cancer-live', row, {}, `req-${i}`);
      // The primary answers exactly as the version does without a deployment.
      const direct = await infer(url, 'cancer/versions/1.0.0', row);
      const retrained = await infer(url, 'cancer/versions/1.1.0', row);
      expect(answer.version).toBe('1.0.0');
      expect(answer.body.outputs).toEqual(direct.body.outputs);
      const label = (a: typeof answer) => a.body.outputs!.find((o) => o.name === 'label')!.data[0];
      const probabilities = (a: typeof answer) => a.body.outputs!.find((o) => o.name === 'probabilities')!.data;
      if (label(answer) === label(retrained)) agree++;
      for (let j = 0; j < 2; j++) {
        const d = Math.abs(probabilities(retrained)[j]! - probabilities(answer)[j]!);
        diffSum += d;
        diffMax = Math.max(diffMax, d);
      }
    }
    await platform.deployments.shadows.idle();
    await platform.deployments.shadows.flush();
    const report = await api(url, 'GET', '/api/v1/deployments/cancer-live/shadow?results=2&request_id=req-7');
    expect(report.status).toBe(200);
    const [version] = report.body.versions as ShadowVersionReport[];
    expect(version).toMatchObject({ shadowVersion: '1.1.0', compared: 60, errors: 0, dropped: 0 });
    expect(version!.agreementRate).toBeCloseTo(agree / 60, 12);
    // Float32 outputs compared in float64: the mean of per-request means equals the overall mean (2 elements each).
    expect(version!.meanAbsDiff).toBeCloseTo(diffSum / 120, 6);
    expect(version!.maxAbsDiff).toBeCloseTo(diffMax, 6);
    expect(version!.primaryLatency.p50Ms).toBeGreaterThan(0);
    expect(version!.shadowLatency.p50Ms).toBeGreaterThan(0);
    const [kept] = report.body.results as Array<{ requestId: string; primaryOutputs: string; shadowOutputs: string }>;
    expect(kept!.requestId).toBe('req-7');
    expect(JSON.parse(kept!.primaryOutputs).label).toHaveLength(1);
    expect(Object.keys(JSON.parse(kept!.shadowOutputs) as object)).toEqual(['label', 'probabilities']);
  });

  it('never slows or fails the primary under a slow shadow: a full queue drops copies and counts them', async () => {
    ({ platform, server } = await startCancerServer({ shadowQueueSize: 5 }));
    const { url } = server;
    await api(url, 'PUT', '/api/v1/deployments/cancer-plain', { model: 'cancer', routes: ['1.0.0=100'] });
    await api(url, 'PUT', '/api/v1/deployments/cancer-live', {
      model: 'cancer',
      routes: ['1.0.0=100'],
      shadows: ['1.1.0=100'],
    });
    // A shadow that takes 100 ms a copy (and fails every third one).
    const { pipeline } = platform.serving;
    const run = pipeline.runShadow.bind(pipeline);
    let calls = 0;
    pipeline.runShadow = async (model, version, inputs) => {
      await sleep(100);
      if (++calls % 3 === 0) throw new Error('shadow exploded');
      return run(model, version, inputs);
    };
    await pairedMedians(url, ['cancer-plain', 'cancer-live'], 10);
    const [without, withShadow] = await pairedMedians(url, ['cancer-plain', 'cancer-live'], 190);
    // About the same as the deployment without a shadow (the shadow's own run takes 100 ms).
    expect(withShadow - without).toBeLessThan(Math.max(2, without / 2));
    await platform.deployments.shadows.idle();
    await platform.deployments.shadows.flush();
    const [version] = (await api(url, 'GET', '/api/v1/deployments/cancer-live/shadow')).body
      .versions as ShadowVersionReport[];
    expect(version!.compared + version!.errors + version!.dropped).toBe(200);
    expect(version!.compared).toBeGreaterThan(0);
    expect(version!.dropped).toBeGreaterThan(150);
    expect(version!.errors).toBeGreaterThan(0);
    expect(version!.shadowLatency.p50Ms).toBeGreaterThanOrEqual(100);
  });
});
