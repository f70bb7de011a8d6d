import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../server/serve.js';
import { mulberry32 } from '../stats/index.js';
import { api, infer, ROWS, startCancerServer, type TestPlatform } from './deploy.test-support.js';
import type { ExperimentResults } from './experiment-service.js';

describe('champion/challenger experiments', () => {
  let platform: TestPlatform;
  let server: RunningServer;

  afterEach(async () => {
    await server.stop(5000);
    await platform.dispose();
  });

  /** Send `n` requests through the deployment and feedback whose conversion rate depends on the version served. */
  async function serveWithFeedback(
    n: number,
    rates: Record<string, number>,
    seed: number,
    offset = 0,
  ): Promise<Map<string, number>> {
    const random = mulberry32(seed);
    const served = new Map<string, number>();
    const feedback: Array<{ request_id: string; value: number }> = [];
    for (let i = 0; i < n; i++) {
      const id = `r${offset + i}`;
      const answer = await infer(server.url, 'cancer-live', ROWS[i % ROWS.length]!, {}, id);
      expect(answer.status).toBe(200);
      served.set(answer.version!, (served.get(answer.version!) ?? 0) + 1);
      feedback.push({ request_id: id, value: random() < rates[answer.version!]! ? 1 : 0 });
    }
    await platform.log.flush();
    expect((await api(server.url, 'POST', '/api/v1/feedback', feedback)).status).toBeLessThan(300);
    await platform.deployments.recorder.flush();
    return served;
  }

  it('compares arms on feedback, keeps looking with always-valid statistics, and promotes the better challenger when asked', async () => {
    ({ platform, server } = await startCancerServer());
    await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=100'] });
    const started = await api(server.url, 'POST', '/api/v1/deployments/cancer-live/experiment', {
      arms: ['1.0.0', '1.1.0'],
      split: [50, 50],
      metric: 'conversion',
      minSamples: 100,
      lookInterval: '1h',
      autoPromote: true,
    });
    expect(started.status).toBe(201);
    expect((await api(server.url, 'GET', '/api/v1/deployments/cancer-live')).body.revision.spec.routes).toEqual([
      { version: '1.0.0', weight: 50 },
      { version: '1.1.0', weight: 50 },
    ]);
    // A rollout cannot start while the experiment runs.
    expect(
      (await api(server.url, 'POST', '/api/v1/deployments/cancer-live/rollout', { candidate: '1.1.0' })).status,
    ).toBe(409);

    const served = await serveWithFeedback(300, { '1.0.0': 0.1, '1.1.0': 0.6 }, 7);
    const early = (await api(server.url, 'GET', '/api/v1/deployments/cancer-live/experiment'))
      .body as ExperimentResults;
    const [champion, challenger] = early.arms;
    expect(champion).toMatchObject({ version: '1.0.0', requests: served.get('1.0.0'), n: served.get('1.0.0') });
    expect(challenger).toMatchObject({ version: '1.1.0', requests: served.get('1.1.0'), n: served.get('1.1.0') });
    expect(early.srm!.mismatch).toBe(false);
    // The comparison is the stats module's on the same counts.
    expect(challenger!.comparison!.difference).toBeCloseTo(challenger!.mean! - champion!.mean!, 12);
    expect(challenger!.comparison!.fixed.test).toBe('two-proportion-z');
    expect(challenger!.comparison!.bayesian.chanceToWin).toBeGreaterThan(0.99);
    // The always-valid interval is wider than the fixed-horizon one.
    const fixedWidth = challenger!.comparison!.fixed.ci[1] - challenger!.comparison!.fixed.ci[0];
    expect(challenger!.sequential!.ci[1] - challenger!.sequential!.ci[0]).toBeGreaterThan(fixedWidth);

    // The controller's look: a clear win (0.6 vs 0.1 over ~150 each; the always-valid half-width is about 0.21, the difference's standard error 0.05) is promoted.
    await platform.deployments.experiments.look('cancer-live');
    const record = (
      (await api(server.url, 'GET', '/api/v1/deployments/cancer-live/experiment')).body as ExperimentResults
    ).experiment;
    expect(record.status).toBe('promoted');
    expect(record.reason).toMatch(/^1\.1\.0: /);
    const after = (await api(server.url, 'GET', '/api/v1/deployments/cancer-live')).body;
    expect(after.revision.spec.routes).toEqual([{ version: '1.1.0', weight: 100 }]);
    expect(after.revision.source).toBe('experiment');
  });

  it('does not promote an A/A pair, stops by hand, and refuses bad arms', async () => {
    ({ platform, server } = await startCancerServer());
    await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=100'] });
    const bad = await api(server.url, 'POST', '/api/v1/deployments/cancer-live/experiment', { arms: ['1.0.0'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain('at least two arms');
    expect(
      (
        await api(server.url, 'POST', '/api/v1/deployments/cancer-live/experiment', {
          arms: ['1.0.0', '1.1.0'],
          split: [60, 30],
        })
      ).body.error,
    ).toContain('summing to 100');
    expect(
      (
        await api(server.url, 'POST', '/api/v1/deployments/cancer-live/experiment', {
          arms: ['1.0.0', '1.1.0'],
          metric: 'clicks',
        })
      ).body.error,
    ).toContain('accuracy, conversion, mae');
    expect(
      (
        await api(server.url, 'POST', '/api/v1/deployments/cancer-live/experiment', {
          arms: ['1.0.0', '1.1.0'],
          metric: 'conversion',
          minSamples: 50,
          lookInterval: '1h',
          autoPromote: true,
        })
      ).status,
    ).toBe(201);
    await serveWithFeedback(200, { '1.0.0': 0.3, '1.1.0': 0.3 }, 11);
    await platform.deployments.experiments.look('cancer-live');
    const results = (await api(server.url, 'GET', '/api/v1/deployments/cancer-live/experiment'))
      .body as ExperimentResults;
    expect(results.experiment.status).toBe('running');
    expect(results.decision.action).toBe('continue');
    expect(results.experiment.state.looks).toBe(1);
    const stopped = await api(server.url, 'POST', '/api/v1/deployments/cancer-live/experiment/stop', {
      winner: '1.1.0',
    });
    expect(stopped.body).toMatchObject({ status: 'stopped', reason: 'stopped by hand; 1.1.0 serves 100%' });
    expect((await api(server.url, 'GET', '/api/v1/deployments/cancer-live')).body.revision.spec.routes).toEqual([
      { version: '1.1.0', weight: 100 },
    ]);
  });
});
