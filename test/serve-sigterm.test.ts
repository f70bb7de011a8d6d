import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cancerPayload,
  distIsBuilt,
  getFresh,
  printed,
  pushCancer,
  spawnServe,
  waitFor,
  workerPids,
  type ServeProcess,
} from './serve-harness.js';

interface Outcome {
  /** When the request was sent, in ms after SIGTERM (negative: before it). */
  readonly sentMs: number;
  /** 200 with a whole body, another status, or the socket error (ECONNRESET, "socket hang up", ...). */
  readonly result: 'ok' | `status ${number}` | `error ${string}`;
}

/** One keep-alive POST on `agent`'s single socket. */
function infer(agent: http.Agent, url: string, body: string, signalAt: () => number | undefined): Promise<Outcome> {
  const at = signalAt();
  const sentMs = at === undefined ? -1 : Date.now() - at;
  return new Promise((resolve) => {
    const request = http.request(
      `${url}/v2/models/cancer/infer`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('error', (error: NodeJS.ErrnoException) =>
          resolve({ sentMs, result: `error ${error.code ?? error.message}` }),
        );
        response.on('end', () => {
          if (response.statusCode !== 200) return resolve({ sentMs, result: `status ${response.statusCode ?? 0}` });
          try {
            const parsed = JSON.parse(text) as { outputs?: unknown[] };
            resolve({
              sentMs,
              result: Array.isArray(parsed.outputs) ? 'ok' : `error no outputs in ${text.slice(0, 80)}`,
            });
          } catch {
            resolve({ sentMs, result: `error truncated body ${text.length} bytes` });
          }
        });
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ sentMs, result: `error ${error.code ?? error.message}` }),
    );
    request.end(body);
  });
}

/**
 * Issue 13 item 11: SIGTERM under load closed 5-11 connections per run with no response. The
 * Kubernetes way: readiness turns 503 at once, the server keeps serving for a short delay
 * (SLIPWAY_SHUTDOWN_DELAY_MS) so load balancers notice, answers with `Connection: close` from the
 * signal on, then stops accepting and lets every accepted request finish.
 */
describe('slipway serve: SIGTERM under keep-alive load', () => {
  const DELAY_MS = 2000;
  let home: string;
  const running: ServeProcess[] = [];
  beforeAll(async () => {
    expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-sigterm-'));
    await pushCancer(home);
  });
  afterEach(() => {
    for (const server of running.splice(0)) server.cleanup();
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it.each([1, 2])(
    'answers every request sent before the signal, readiness 503 first (workers: %i)',
    { timeout: 90_000 },
    async (workers) => {
      const server = spawnServe(['--port', '0', '--grpc-port', '0', '--workers', String(workers)], {
        SLIPWAY_HOME: home,
        SLIPWAY_SHUTDOWN_DELAY_MS: String(DELAY_MS),
      });
      running.push(server);
      const url = await printed(server, /serving on (http:\/\/[0-9.:]+)/);
      if (workers > 1) await waitFor(`${workers} workers serving`, () => workerPids(server).length === workers);
      await waitFor('readiness', async () => (await getFresh(`${url}/v2/health/ready`)).status === 200);

      const body = cancerPayload();
      const signal: { at?: number } = {};
      let exited = false;
      void server.exited.then(() => (exited = true));
      const outcomes: Outcome[] = [];
      const client = async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
          while (!exited) {
            const outcome = await infer(agent, url, body, () => signal.at);
            outcomes.push(outcome);
            // Refused: the server stopped accepting (only allowed after the signal).
            if (outcome.result === 'error ECONNREFUSED') break;
          }
        } finally {
          agent.destroy();
        }
      };
      const clients = Promise.all(Array.from({ length: 32 }, client));
      await waitFor('steady load', () => outcomes.filter((o) => o.result === 'ok').length >= 300);

      signal.at = Date.now();
      server.child.kill('SIGTERM');
      // Readiness turns 503 (as soon as the signal reaches the server, through bin/slipway.js and
      // with workers the primary) before any connection is refused.
      const readiness = await waitFor(
        'readiness to change',
        async () => {
          const result = await getFresh(`${url}/v2/health/ready`).then(
            (r) => `status ${r.status}`,
            (error: NodeJS.ErrnoException) => `error ${error.code ?? error.message}`,
          );
          return result === 'status 200' ? undefined : result;
        },
        10_000,
        10,
      );
      const { code } = await server.exited;
      await clients;

      // Sent before the signal, or while the server keeps serving so load balancers notice (the
      // first half of the delay: margin for a loaded machine).
      const before = outcomes.filter((o) => o.sentMs < DELAY_MS / 2);
      const failedBefore = before.filter((o) => o.result !== 'ok');
      const after = outcomes.filter((o) => o.sentMs >= DELAY_MS / 2);
      const tally = (list: Outcome[]) => {
        const counts = new Map<string, number>();
        for (const o of list) counts.set(o.result, (counts.get(o.result) ?? 0) + 1);
        return [...counts].map(([k, v]) => `${k}: ${v}`).join(', ');
      };
      console.log(
        `workers ${workers}: sent before SIGTERM + ${DELAY_MS / 2} ms ${before.length} (${tally(before)}); later ${after.length} (${tally(after)}); readiness ${readiness}`,
      );
      expect(code, server.output()).toBe(0);
      expect(readiness).toBe('status 503');
      expect(
        failedBefore.map((o) => `${o.result} (sent at ${o.sentMs} ms)`),
        `${failedBefore.length} of ${before.length} requests sent before SIGTERM + ${DELAY_MS / 2} ms got no answer`,
      ).toEqual([]);
      expect(before.filter((o) => o.sentMs >= 0).length, 'requests sent during the delay').toBeGreaterThan(0);
      // After the signal: answers (200, or 503 while closing) or a refused/closed connection.
      expect(after.filter((o) => o.result.startsWith('status') && o.result !== 'status 503')).toEqual([]);
    },
  );
});
