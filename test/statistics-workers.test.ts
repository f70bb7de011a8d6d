import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InferenceTestClient } from '../src/server/grpc/grpc-client.test-support.js';
import {
  cancerPayload,
  distIsBuilt,
  getFresh,
  postFresh,
  printed,
  pushCancer,
  spawnServe,
  waitFor,
  workerPids,
  type ServeProcess,
} from './serve-harness.js';

interface StatRow {
  name: string;
  version: string;
  inference_count: number;
  execution_count: number;
}

/**
 * Triton's statistics under `--workers 2`: whichever worker answers `GET /v2/models/stats` or gRPC
 * `ModelStatistics`, it counts every request the group served (one worker saw only about half).
 */
describe('slipway serve --workers 2: statistics of the whole group', () => {
  let home: string;
  const running: ServeProcess[] = [];
  beforeAll(async () => {
    expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-stats-workers-'));
    await pushCancer(home);
  });
  afterEach(() => {
    for (const server of running.splice(0)) server.cleanup();
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('HTTP and gRPC statistics count every request, whichever worker answers', { timeout: 90_000 }, async () => {
    const server = spawnServe(['--port', '0', '--grpc-port', '0', '--workers', '2'], { SLIPWAY_HOME: home });
    running.push(server);
    const url = await printed(server, /serving on (http:\/\/[0-9.:]+)/);
    const grpcAddress = await printed(server, /gRPC on ([0-9.]+:\d+)/);
    await waitFor('2 workers serving', () => workerPids(server).length === 2);
    const N = 23;
    const body = cancerPayload();
    // A fresh connection each: the primary hands connections to the workers in turn.
    for (let i = 0; i < N; i++) expect((await postFresh(`${url}/v2/models/cancer/infer`, body)).status).toBe(200);

    const http: number[][] = [];
    const grpc: string[] = [];
    for (let i = 0; i < 6; i++) {
      const every = await getFresh(`${url}/v2/models/stats`);
      expect(every.status).toBe(200);
      const rows = (JSON.parse(every.body) as { model_stats: StatRow[] }).model_stats;
      expect(rows.map((row) => [row.name, row.version])).toEqual([['cancer', '1.0.0']]);
      const one = await getFresh(`${url}/v2/models/cancer/versions/1.0.0/stats`);
      http.push([
        rows[0]!.inference_count,
        rows[0]!.execution_count,
        (JSON.parse(one.body) as { model_stats: StatRow[] }).model_stats[0]!.inference_count,
      ]);
      // A new client is a new connection, so the calls reach both workers.
      const client = new InferenceTestClient(grpcAddress);
      try {
        const answer = await client.call('ModelStatistics', { name: 'cancer', version: '' });
        grpc.push(answer.model_stats.map((row) => String(row.inference_count)).join(','));
      } finally {
        client.close();
      }
    }
    // Single-row requests, each its own batcher run: N executions too.
    expect(http).toEqual(Array(6).fill([N, N, N]));
    expect(grpc).toEqual(Array(6).fill(String(N)));
  });
});
