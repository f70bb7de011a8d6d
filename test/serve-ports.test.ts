import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  childPids,
  distIsBuilt,
  getFresh,
  isAlive,
  occupyPort,
  portIsFree,
  printed,
  pushCancer,
  spawnServe,
  waitFor,
  workerPids,
  type ServeProcess,
} from './serve-harness.js';

/**
 * Issue 13 item 8: a port in use must end `slipway serve` at once with a message that says what to
 * do (it printed EADDRINUSE and ran on for minutes), and no server process may outlive the one
 * that started it: kill -9 of `bin/slipway.js` (which re-executes serve with a V8 flag) or of a
 * cluster primary left the real server holding the ports.
 */
describe('slipway serve: ports and parent processes', () => {
  let home: string;
  const running: ServeProcess[] = [];
  const serve = (args: string[], env: Record<string, string> = {}) => {
    const server = spawnServe(args, { SLIPWAY_HOME: home, ...env });
    running.push(server);
    return server;
  };
  beforeAll(async () => {
    expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-ports-'));
    await pushCancer(home);
  });
  afterEach(() => {
    for (const server of running.splice(0)) server.cleanup();
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it.each([
    { workers: 1, which: 'HTTP' },
    { workers: 2, which: 'HTTP' },
    { workers: 1, which: 'gRPC' },
    { workers: 2, which: 'gRPC' },
  ])(
    'exits non-zero with a clear message when the $which port is in use (workers: $workers)',
    async ({ workers, which }) => {
      const taken = await occupyPort();
      try {
        const ports =
          which === 'HTTP'
            ? ['--port', String(taken.port), '--grpc-port', '0']
            : ['--port', '0', '--grpc-port', String(taken.port)];
        const server = serve([...ports, '--workers', String(workers)]);
        const startedAt = Date.now();
        // Start-up (loading modules, opening the store) takes a few seconds on a loaded machine;
        // before the fix the process never exited at all.
        const outcome = await Promise.race([
          server.exited,
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 25_000)),
        ]);
        expect(outcome, `still running after 25 s:\n${server.output()}`).toBeDefined();
        expect(outcome!.code, server.output()).not.toBe(0);
        const expected =
          which === 'HTTP'
            ? `port ${taken.port} on 127.0.0.1 is in use; choose another with --port or SLIPWAY_PORT`
            : `gRPC port ${taken.port} on 127.0.0.1 is in use; choose another with --grpc-port or SLIPWAY_GRPC_PORT`;
        expect(server.output()).toContain(expected);
        // With workers, the primary stops rather than forking replacements that fail the same way.
        expect(server.output()).not.toMatch(/starting another/);
        console.log(
          `${which} port in use, workers ${workers}: exited ${outcome!.code} after ${outcome!.atMs - startedAt} ms`,
        );
      } finally {
        await taken.close();
      }
    },
  );

  it('--workers 2: a worker that cannot start stops the server instead of being replaced forever', async () => {
    const rules = path.join(home, 'no-such-rules.yaml');
    const server = serve(['--port', '0', '--grpc-port', '0', '--workers', '2'], { SLIPWAY_ALERT_RULES: rules });
    const outcome = await Promise.race([
      server.exited,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 25_000)),
    ]);
    expect(outcome, `still running after 25 s:\n${server.output()}`).toBeDefined();
    expect(outcome!.code, server.output()).not.toBe(0);
    expect(server.output()).toContain(rules);
    expect(server.output()).not.toMatch(/starting another/);
  });

  it.each([1, 2])(
    'kill -9 of the bin/slipway.js wrapper stops the server it started and frees the port (workers: %i)',
    async (workers) => {
      const server = serve(['--port', '0', '--grpc-port', '0', '--workers', String(workers)]);
      const url = await printed(server, /serving on (http:\/\/[0-9.:]+)/);
      if (workers > 1) await waitFor(`${workers} workers serving`, () => workerPids(server).length === workers);
      const port = Number(new URL(url).port);
      const [real] = childPids(server.child.pid!);
      expect(real, 'the wrapper re-executes serve as its child').toBeDefined();
      const processes = [real!, ...workerPids(server)];
      expect((await getFresh(`${url}/v2/health/live`)).status).toBe(200);

      server.child.kill('SIGKILL');
      const killedAt = Date.now();
      await waitFor(
        `${processes.join(', ')} to exit after the wrapper was killed`,
        () => processes.every((pid) => !isAlive(pid)),
        15_000,
      );
      await waitFor(`port ${port} to be free`, () => portIsFree(port), 5_000);
      // A graceful stop, not a crash: the server drained (SIGTERM's path) on its own.
      expect(server.output()).toMatch(/SIGTERM: draining/);
      console.log(`wrapper killed, workers ${workers}: server gone and port free after ${Date.now() - killedAt} ms`);
    },
  );

  it('kill -9 of the cluster primary stops its workers', async () => {
    const server = serve(['--port', '0', '--grpc-port', '0', '--workers', '2']);
    await waitFor('2 workers serving', () => workerPids(server).length === 2);
    const url = /serving on (http:\/\/[0-9.:]+)/.exec(server.output())![1]!;
    const port = Number(new URL(url).port);
    const [primary] = childPids(server.child.pid!);
    const workers = workerPids(server);
    expect(workers.every(isAlive)).toBe(true);

    process.kill(primary!, 'SIGKILL');
    await waitFor(
      `workers ${workers.join(', ')} to exit after the primary was killed`,
      () => workers.every((pid) => !isAlive(pid)),
      15_000,
    );
    await waitFor(`port ${port} to be free`, () => portIsFree(port), 5_000);
    // They drained (in-flight requests answered, prediction log flushed) rather than being cut off.
    expect(server.output().match(/primary gone: draining/g), server.output()).toHaveLength(2);
    // The wrapper reports its child's death as a failure.
    const { code } = await server.exited;
    expect(code).not.toBe(0);
  });
});
