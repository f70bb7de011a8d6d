import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectedOutputs } from '../src/testing/fixtures.js';
import {
  cancerPayload,
  distIsBuilt,
  getFresh,
  isAlive,
  postFresh,
  printed,
  pushCancer,
  spawnServe,
  waitFor,
  workerPids,
  type ServeProcess,
} from './serve-harness.js';

/** The sum of `slipway_requests_total` samples with `outcome="success"` in a Prometheus text body. */
function successTotal(exposition: string): number {
  let total = 0;
  for (const line of exposition.split('\n')) {
    const match = /^slipway_requests_total\{([^}]*)\} (\S+)$/.exec(line);
    if (match && match[1]!.includes('outcome="success"')) total += Number(match[2]);
  }
  return total;
}

/** Which worker runs background work, from its announcement (the latest one wins). */
function backgroundRunners(server: ServeProcess): number[] {
  return [...server.output().matchAll(/background work \(.*\) runs in worker (\d+)/g)].map((m) => Number(m[1]));
}

/**
 * Issue 13 item 10, `--workers N`: a scrape must see the whole process group (it saw whichever
 * worker got it: 125 or 126 of 251), and background work (jobs, alerts, drift, rollouts) must move
 * to another worker when its worker dies (it ran in worker id 1 only, and a replacement is id 3).
 */
describe('slipway serve --workers 2: one view of the process group', () => {
  let home: string;
  const running: ServeProcess[] = [];
  const serve = async () => {
    // The job's files are in the test's home: a data root for API submissions (core/data-roots.ts).
    const server = spawnServe(['--port', '0', '--grpc-port', '0', '--workers', '2'], {
      SLIPWAY_HOME: home,
      SLIPWAY_DATA_ROOTS: home,
    });
    running.push(server);
    const url = await printed(server, /serving on (http:\/\/[0-9.:]+)/);
    await waitFor('2 workers serving', () => workerPids(server).length === 2);
    return { server, url };
  };
  beforeAll(async () => {
    expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cluster-'));
    await pushCancer(home);
  });
  afterEach(() => {
    for (const server of running.splice(0)) server.cleanup();
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('/metrics and /api/v1/stats count every request, whichever worker answers', { timeout: 90_000 }, async () => {
    const { url } = await serve();
    const N = 41;
    const body = cancerPayload();
    // A fresh connection each: the primary hands connections to the workers in turn.
    for (let i = 0; i < N; i++) expect((await postFresh(`${url}/v2/models/cancer/infer`, body)).status).toBe(200);

    const totals: number[] = [];
    const stats: number[] = [];
    for (let i = 0; i < 6; i++) {
      const metrics = await getFresh(`${url}/metrics`);
      expect(metrics.status).toBe(200);
      totals.push(successTotal(metrics.body));
      const live = await getFresh(`${url}/api/v1/stats?model=cancer`);
      expect(live.status).toBe(200);
      const report = JSON.parse(live.body) as {
        total: { requests: number; outcomes: { success: number }; p50Ms: number | null };
      };
      stats.push(report.total.requests);
      expect(report.total.outcomes.success).toBe(report.total.requests);
      expect(report.total.p50Ms).toBeGreaterThan(0);
    }
    expect(totals).toEqual(Array(6).fill(N));
    expect(stats).toEqual(Array(6).fill(N));
  });

  it('a replacement runs background work within seconds after its worker is killed', { timeout: 120_000 }, async () => {
    const { server, url } = await serve();
    const first = await waitFor('a background runner', () => backgroundRunners(server)[0]);
    expect(workerPids(server)).toContain(first);

    process.kill(first, 'SIGKILL');
    const killedAt = Date.now();
    const second = await waitFor(
      'another background runner',
      () => backgroundRunners(server).find((pid) => pid !== first),
      15_000,
    );
    console.log(`background work moved from worker ${first} to ${second} in ${Date.now() - killedAt} ms`);
    expect(isAlive(second)).toBe(true);

    // Observable work: a job submitted now is claimed and run.
    const input = path.join(home, 'rows.csv');
    const rows = expectedOutputs('breast_cancer').inputs[0]!.data;
    const header = Array.from({ length: 30 }, (_, i) => `f${i}`);
    const lines = [header.join(',')];
    for (let r = 0; r < 4; r++) lines.push(rows.slice(r * 30, r * 30 + 30).join(','));
    await writeFile(input, lines.join('\n') + '\n');
    const submitted = await postFresh(
      `${url}/api/v1/jobs`,
      JSON.stringify({ model: 'cancer', input, output: path.join(home, 'scores.csv') }),
    );
    expect(submitted.status, submitted.body).toBe(201);
    const { id } = JSON.parse(submitted.body) as { id: string };
    const status = await waitFor(
      `job ${id} to leave the queue`,
      async () => {
        const { status: code, body } = await getFresh(`${url}/api/v1/jobs/${id}`);
        expect(code).toBe(200);
        const job = JSON.parse(body) as { status: string };
        return job.status === 'queued' ? undefined : job.status;
      },
      20_000,
      200,
    );
    expect(['running', 'succeeded', 'failed']).toContain(status);
  });
});
