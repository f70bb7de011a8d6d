import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../server/serve.js';
import { openTestPlatform } from '../testing/fixtures.js';
import {
  ROWS,
  api,
  eventually,
  loadUntil,
  startCancerServer,
  type LoadResult,
  type TestPlatform,
} from './deploy.test-support.js';
import type { RolloutRecord } from './rollout-service.js';

describe('canary rollouts', () => {
  let platform: TestPlatform | undefined;
  let server: RunningServer | undefined;

  afterEach(async () => {
    await server?.stop(5000);
    await platform?.dispose();
    platform = undefined;
    server = undefined;
  });

  const statusOf = async (url: string): Promise<RolloutRecord> =>
    (await api(url, 'GET', '/api/v1/deployments/cancer-live/rollout')).body as RolloutRecord;

  /** Keep `connections` loops of traffic on cancer-live until its rollout is no longer running. */
  async function untilRolloutEnds(
    url: string,
    connections: number,
    timeoutMs: number,
    rows: readonly number[][] = ROWS,
  ): Promise<{ finished: RolloutRecord; result: LoadResult }> {
    let stop!: () => void;
    const load = loadUntil(url, 'cancer-live', connections, new Promise<void>((resolve) => (stop = resolve)), rows);
    try {
      const finished = await eventually(
        async () => {
          const r = await statusOf(url);
          return r.status === 'running' ? undefined : r;
        },
        timeoutMs,
        'the rollout to end',
      );
      return { finished, result: await (stop(), load) };
    } finally {
      stop();
    }
  }

  /**
   * Wait until this server's router serves the deployment's active revision: it follows the store
   * every 500 ms (src/deploy/sync.ts), later on a loaded machine, so no fixed sleep.
   */
  async function untilRouterFollows(url: string): Promise<void> {
    const active = (
      (await api(url, 'GET', '/api/v1/deployments/cancer-live')).body as { revision: { revision: number } }
    ).revision.revision;
    await eventually(
      () => Promise.resolve(platform!.deployments.router.get('cancer-live')?.revision === active ? true : undefined),
      10_000,
      `the router to serve revision ${active}`,
    );
  }

  const infer14 = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: Array(30).fill(14) }] };

  it('rolls back by itself when the candidate errors, recording the failed gate', async () => {
    ({ platform, server } = await startCancerServer());
    const { url } = server;
    expect(
      (await api(url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=100'] })).status,
    ).toBe(201);
    const started = await api(url, 'POST', '/api/v1/deployments/cancer-live/rollout', {
      candidate: '1.2.0',
      steps: [50, 100],
      interval: '1s',
      gates: ['error_rate<0.01', 'p99_ms<2000'],
      minRequests: 10,
    });
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({
      status: 'running',
      spec: { candidate: '1.2.0', baseline: '1.0.0', steps: [50, 100] },
      state: { stepIndex: 0 },
    });
    // Only rows with a mean radius of 10 or more, which index past the faulty model's table: every
    // one fails on 1.2.0. With the two held-out rows under 10 mixed in, the gate's verdict came from
    // however many of them the random 50% split had put on the candidate in the window it judged
    // (minRequests 10: often 10-20 requests on a loaded machine), so its error rate was sometimes 1,
    // sometimes under 0.8, and the expected figure was chance.
    const failing = ROWS.filter((row) => (row[0] as number) >= 10);
    expect(failing.length).toBe(ROWS.length - 2);
    const { finished, result } = await untilRolloutEnds(url, 2, 15_000, failing);
    expect(finished.status).toBe('rolled_back');
    expect(finished.reason).toMatch(
      /^gate failed at step 1 \(50%\): candidate error_rate 1 \(baseline 0\) breaks error_rate<0.01/,
    );
    const check = finished.state.checks.find((c) => c.gate === 'error_rate<0.01');
    expect(check).toMatchObject({ verdict: 'fail', candidate: 1, baseline: 0 });
    // The candidate's requests failed (500) while it had traffic; all traffic is back on the baseline.
    expect(result.statuses.get(500)).toBeGreaterThanOrEqual(10);
    const view = await api(url, 'GET', '/api/v1/deployments/cancer-live');
    expect(view.body.revision.spec.routes).toEqual([{ version: '1.0.0', weight: 100 }]);
    const history = (await api(url, 'GET', '/api/v1/deployments/cancer-live/history')).body.revisions as Array<{
      source: string;
      why: string;
    }>;
    expect(history.map((r) => r.source)).toEqual(['user', 'rollout', 'rollout']);
    expect(history[2]!.why).toContain('rolled back: gate failed');
    await untilRouterFollows(url);
    for (let i = 0; i < 10; i++)
      expect((await api(url, 'POST', '/v2/models/cancer-live/infer', infer14)).status).toBe(200);
  });

  it('promotes to 100% when every step passes its gates, and refuses overlapping rollouts and experiments', async () => {
    ({ platform, server } = await startCancerServer());
    const { url } = server;
    await api(url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=100'] });
    expect(
      (
        await api(url, 'POST', '/api/v1/deployments/cancer-live/rollout', {
          candidate: '1.1.0',
          steps: [30, 60, 100],
          interval: '800ms',
          gates: ['error_rate<0.01', 'p99_ms<5000'],
          minRequests: 5,
        })
      ).status,
    ).toBe(201);
    const overlap = await api(url, 'POST', '/api/v1/deployments/cancer-live/experiment', { arms: ['1.0.0', '1.1.0'] });
    expect(overlap.status).toBe(409);
    expect(overlap.body.error).toContain('a rollout is running on "cancer-live"');
    expect((await api(url, 'POST', '/api/v1/deployments/cancer-live/rollout', { candidate: '1.1.0' })).status).toBe(
      409,
    );
    const manual = await api(url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=100'] });
    expect(manual.status).toBe(409);
    const { finished, result } = await untilRolloutEnds(url, 2, 20_000);
    expect(finished.reason).toBe('every step passed its gates; 1.1.0 serves 100%');
    expect(finished.status).toBe('promoted');
    expect(finished.state.events.map((e) => e.what.split(':')[0])).toEqual([
      'started',
      'step 2/3',
      'step 3/3',
      'promoted',
    ]);
    expect([...result.statuses.keys()]).toEqual([200]);
    const view = await api(url, 'GET', '/api/v1/deployments/cancer-live');
    expect(view.body.revision.spec.routes).toEqual([{ version: '1.1.0', weight: 100 }]);
    await untilRouterFollows(url);
    expect((await api(url, 'POST', '/v2/models/cancer-live/infer', infer14)).body.model_version).toBe('1.1.0');
  });

  it('resumes a rollout after a restart, from the step it was at', async () => {
    ({ platform, server } = await startCancerServer());
    const home = platform.home;
    await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=100'] });
    await api(server.url, 'POST', '/api/v1/deployments/cancer-live/rollout', {
      candidate: '1.1.0',
      steps: [20, 100],
      interval: '1500ms',
      minRequests: 5,
    });
    await server.stop(5000);
    server = undefined;
    // A new process on the same home: the rollout is still at step 1 and carries on.
    const first = platform;
    platform = Object.assign(await openTestPlatform({ home }), { home, dispose: () => first.dispose() });
    const before = await platform.deployments.rollouts.status('cancer-live');
    expect(before).toMatchObject({ status: 'running', state: { stepIndex: 0 } });
    ({ server } = await startCancerServer({}, platform));
    const { finished } = await untilRolloutEnds(server.url, 1, 15_000);
    expect(finished.status).toBe('promoted');
    expect(finished.id).toBe(before.id);
  });
});
