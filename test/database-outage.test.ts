import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { SqlPredictionStore } from '../src/monitor/sql-prediction-store.js';
import { openDatabase } from '../src/store/database.js';
import { DIALECTS, TEST_POSTGRES_URL } from '../src/testing/databases.js';
import { FIXTURES, expectedOutputs, firstMismatch } from '../src/testing/fixtures.js';
import { TcpProxy } from '../src/testing/tcp-proxy.js';
import { distIsBuilt, printed, root, spawnServe, waitFor, type ServeProcess } from './serve-harness.js';

/**
 * Issue 13 items 3-5 with the real `slipway serve` (dist/) on PostgreSQL through a TCP proxy the
 * test starts: connections cut under mixed load, the database refusing for a while, and a peer
 * that never answers at start-up.
 */
const postgres = DIALECTS.find((d) => d.name === 'postgres')!;
const expected = expectedOutputs('breast_cancer');
const row = expected.inputs[0]!.data.slice(0, 30);
const wanted = expected.outputs.map((o) => ({
  name: o.name,
  data: o.data.slice(0, o.data.length / expected.inputs[0]!.shape[0]!),
}));
const payload = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] });

interface InferBody {
  id?: string;
  model_version?: string;
  outputs?: { name: string; data: unknown[] }[];
}

async function postgresQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

function withSchema(url: string, schema: string, port?: number): string {
  const parsed = new URL(url);
  if (port !== undefined) parsed.host = `127.0.0.1:${port}`;
  parsed.searchParams.set('options', `-c search_path=${schema}`);
  return parsed.toString();
}

async function infer(url: string, model: string): Promise<{ status: number; body: InferBody }> {
  const response = await fetch(`${url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: payload,
  });
  return { status: response.status, body: (await response.json()) as InferBody };
}

/** The answer is the model's: same outputs as scikit-learn's for the row. */
function outputsMismatch(body: InferBody): string | undefined {
  for (const want of wanted) {
    const got = body.outputs?.find((o) => o.name === want.name);
    if (got === undefined) return `no output ${want.name}`;
    const problem = firstMismatch(got.data, want.data, expected.tolerance);
    if (problem !== undefined) return `${want.name}: ${problem}`;
  }
  return undefined;
}

describe.skipIf(postgres.skipReason !== undefined)(
  'slipway serve on PostgreSQL through a faulty network (real processes)',
  () => {
    const schema = `slipway_outage_${randomBytes(6).toString('hex')}`;
    let home: string;
    let proxy: TcpProxy;
    const servers: ServeProcess[] = [];

    beforeAll(async () => {
      expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
      await postgresQuery(`create schema "${schema}"`);
      home = await mkdtemp(path.join(os.tmpdir(), 'slipway-outage-'));
      const io = {
        stdout: () => undefined,
        stderr: () => undefined,
        env: { SLIPWAY_HOME: home, SLIPWAY_DATABASE_URL: withSchema(TEST_POSTGRES_URL, schema) },
        cwd: root,
      };
      expect(await runCli(['push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', 'cancer'], io)).toBe(0);
      expect(
        await runCli(
          ['deploy', 'cancer-live', '--model', 'cancer', '--route', '1.0.0=100', '--why', 'outage test'],
          io,
        ),
      ).toBe(0);
      const target = new URL(TEST_POSTGRES_URL);
      proxy = await TcpProxy.start({ target: { host: target.hostname, port: Number(target.port || 5432) } });
    });
    afterEach(async () => {
      for (const server of servers.splice(0)) server.cleanup();
      await proxy.resume();
    });
    afterAll(async () => {
      await proxy?.close();
      await postgresQuery(`drop schema if exists "${schema}" cascade`);
      await rm(home, { recursive: true, force: true });
    });

    async function serve(env: Record<string, string> = {}): Promise<{ server: ServeProcess; url: string }> {
      const server = spawnServe(['--port', '0', '--no-grpc'], {
        SLIPWAY_HOME: home,
        SLIPWAY_DATABASE_URL: withSchema(TEST_POSTGRES_URL, schema, proxy.port),
        SLIPWAY_LOG_LEVEL: 'warn',
        ...env,
      });
      servers.push(server);
      const url = await printed(server, /serving on (http:\/\/[0-9.:]+)/);
      await waitFor('ready', async () => (await fetch(`${url}/v2/health/ready`)).status === 200);
      return { server, url };
    }

    it('item 3: connections cut again and again under inference, management and feedback traffic: the server stays up and answers afterwards', async () => {
      const { server, url } = await serve();
      let exited = false;
      void server.exited.then(() => (exited = true));
      const statuses = new Map<string, number[]>();
      const note = (kind: string, status: number) => statuses.set(kind, [...(statuses.get(kind) ?? []), status]);
      let stop = false;
      const loop = async (kind: string, call: () => Promise<number>) => {
        while (!stop && !exited) {
          try {
            note(kind, await call());
          } catch {
            note(kind, 0);
          }
        }
      };
      const load = Promise.all([
        loop('infer', async () => (await infer(url, 'cancer')).status),
        loop('infer', async () => (await infer(url, 'cancer')).status),
        loop('models', async () => (await fetch(`${url}/api/v1/models`)).status),
        loop('versions', async () => (await fetch(`${url}/api/v1/models/cancer/versions`)).status),
        loop('feedback', async () => {
          const answer = await infer(url, 'cancer');
          if (answer.body.id === undefined) return answer.status;
          const response = await fetch(`${url}/api/v1/feedback`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ request_id: answer.body.id, label: 1 }),
          });
          return response.status;
        }),
      ]);
      let cuts = 0;
      for (let i = 0; i < 12 && !exited; i++) {
        // Cut only with connections open, i.e. while queries hold them.
        await waitFor('database connections through the proxy', () => proxy.open > 0, 10_000, 5);
        cuts += proxy.cutAll();
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      stop = true;
      await load;
      expect(exited, server.output()).toBe(false);
      expect(cuts).toBeGreaterThan(0);
      // A cut fails the calls that were using the connection (503, never 500); then everything answers.
      for (const [kind, list] of statuses)
        expect(
          list.filter((s) => s !== 200 && s !== 503 && !(kind === 'feedback' && s === 404)),
          kind,
        ).toEqual([]);
      await waitFor(
        'management calls to answer again',
        async () => (await fetch(`${url}/api/v1/models`)).status === 200,
        15_000,
      );
      const after = await infer(url, 'cancer');
      expect(after.status).toBe(200);
      expect(outputsMismatch(after.body)).toBeUndefined();
      expect(server.output()).not.toMatch(/Unhandled 'error' event/);
    }, 90_000);

    it('item 4: database refusing: pinned versions and deployments keep answering, management fails fast with 503, readiness says degraded, logs stay short, and the log catches up', async () => {
      const lenient = await serve();
      const strict = await serve({ SLIPWAY_READY_REQUIRES_DATABASE: 'true' });
      const first = await infer(lenient.url, 'cancer/versions/1.0.0');
      expect(first.status).toBe(200);
      await waitFor(
        'the deployment to be followed',
        async () => (await infer(lenient.url, 'cancer-live')).status === 200,
      );
      expect(await infer(strict.url, 'cancer/versions/1.0.0')).toMatchObject({ status: 200 });

      await proxy.pause();
      const outputBefore = lenient.server.output().length;
      const pausedAt = Date.now();
      // Long enough for the resolve cache (1 s) to expire many times over.
      const ids: string[] = [];
      const failures: string[] = [];
      let throughDeployment = 0;
      // Pinned versions, and a deployment (its active revision is held in memory by the sync).
      for (let i = 0; Date.now() - pausedAt < 4000 || ids.length < 50; i++) {
        const answer = await infer(lenient.url, i % 2 === 0 ? 'cancer/versions/1.0.0' : 'cancer-live');
        const problem =
          answer.status === 200
            ? outputsMismatch(answer.body)
            : `status ${answer.status}: ${JSON.stringify(answer.body)}`;
        if (problem !== undefined) failures.push(problem);
        else if (answer.body.id !== undefined) ids.push(answer.body.id);
        if (answer.status === 200 && i % 2 === 1) throughDeployment++;
      }
      expect(failures.slice(0, 3)).toEqual([]);

      const started = Date.now();
      const management = await fetch(`${lenient.url}/api/v1/models`);
      const waitedMs = Date.now() - started;
      expect(management.status).toBe(503);
      expect(management.headers.get('retry-after')).toMatch(/^[0-9]+$/);
      expect(((await management.json()) as { code: string }).code).toBe('UNAVAILABLE');
      // Fails fast: no wait for a connect timeout (5 s by default) per call.
      expect(waitedMs).toBeLessThan(2000);

      const ready = await fetch(`${lenient.url}/v2/health/ready`);
      expect(ready.status).toBe(200);
      const readyBody = (await ready.json()) as {
        ready: boolean;
        status: string;
        reasons: string[];
        database: { up: boolean };
      };
      expect(readyBody).toMatchObject({ ready: true, status: 'degraded', database: { up: false } });
      expect(readyBody.reasons.join('\n')).toMatch(/database unreachable since \d{4}-\d\d-\d\dT/);
      const health = (await (await fetch(`${lenient.url}/api/v1/health`)).json()) as { status: string };
      expect(health.status).toBe('degraded');
      expect(await (await fetch(`${lenient.url}/metrics`)).text()).toMatch(/^slipway_database_up 0$/m);
      expect((await fetch(`${strict.url}/v2/health/ready`)).status).toBe(503);
      expect((await infer(strict.url, 'cancer/versions/1.0.0')).status).toBe(200);

      // Every background loop (deployment sync twice a second, the log's retries...) and every failed
      // call kept failing for 4+ s; identical lines are written once.
      const outageLines = lenient.server
        .output()
        .slice(outputBefore)
        .split('\n')
        .filter((line) => line.trim() !== '');
      expect(outageLines.length, outageLines.slice(0, 40).join('\n')).toBeLessThan(15);

      await proxy.resume();
      await waitFor(
        'readiness to say ok again',
        async () =>
          ((await (await fetch(`${lenient.url}/api/v1/health`)).json()) as { status: string }).status === 'ok',
        15_000,
      );
      expect((await fetch(`${lenient.url}/api/v1/models`)).status).toBe(200);
      await waitFor(
        'the strict server to be ready again',
        async () => (await fetch(`${strict.url}/v2/health/ready`)).status === 200,
        15_000,
      );

      // The prediction log waited for the database: every request answered during the outage is stored.
      const database = await openDatabase({ postgresUrl: TEST_POSTGRES_URL, postgresSchema: schema });
      const store = new SqlPredictionStore(database);
      try {
        // The deployment's traffic counters of the outage seconds were kept and written too.
        const counted = async () =>
          Number(
            (
              await database.db
                .selectFrom('deployment_stats')
                .select((eb) => eb.fn.sum<number | string>('requests').as('n'))
                .where('deployment', '=', 'cancer-live')
                .where('slot_ms', '>=', Math.floor(pausedAt / 1000) * 1000)
                .executeTakeFirst()
            )?.n ?? 0,
          );
        await waitFor(
          'the outage traffic counters in deployment_stats',
          async () => (await counted()) >= throughDeployment,
          20_000,
          250,
        );
        const missing = async () => {
          const left: string[] = [];
          for (const id of ids) if ((await store.query({ requestId: id, limit: 1 })).length !== 1) left.push(id);
          return left;
        };
        await waitFor(
          'the outage requests in the prediction log',
          async () => (await missing()).length === 0,
          20_000,
          250,
        );
      } finally {
        await store.close();
      }
      const metrics = await (await fetch(`${lenient.url}/metrics`)).text();
      expect(metrics).toMatch(/^slipway_database_up 1$/m);
      expect(metrics).toMatch(/^slipway_dropped_writes_total\{kind="prediction_log"\} 0$/m);
    }, 120_000);

    it('item 5: start-up against a peer that never answers exits non-zero after the connect timeout, naming host, port and timeout', async () => {
      await proxy.blackhole();
      const started = Date.now();
      const server = spawnServe(['--port', '0', '--no-grpc'], {
        SLIPWAY_HOME: home,
        SLIPWAY_DATABASE_URL: withSchema(TEST_POSTGRES_URL, schema, proxy.port),
        SLIPWAY_DATABASE_CONNECT_TIMEOUT_MS: '1500',
      });
      servers.push(server);
      const exit = await Promise.race([
        server.exited,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 20_000)),
      ]);
      expect(exit, `still running after 20 s: ${server.output()}`).toBeDefined();
      expect(exit!.code).not.toBe(0);
      expect(exit!.atMs - started).toBeGreaterThanOrEqual(1500);
      expect(server.output()).toContain(`cannot reach PostgreSQL at 127.0.0.1:${proxy.port}`);
      expect(server.output()).toContain('1500 ms');
    });
  },
);
