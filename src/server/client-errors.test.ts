import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { DIALECTS, TEST_POSTGRES_URL } from '../testing/databases.js';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { TcpProxy } from '../testing/tcp-proxy.js';
import { buildApp } from './app.js';
import { clientErrorMessage, redactServerDetails } from './client-errors.js';
import { toStatus } from './grpc/unary-call.js';

type TestPlatform = Awaited<ReturnType<typeof openTestPlatform>>;
const postgres = DIALECTS.find((d) => d.name === 'postgres')!;

describe('error messages carry no server path or database address (issue 15 §3)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function appOn(platform: TestPlatform): Promise<FastifyInstance> {
    const app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      database: platform.database,
    });
    cleanups.push(() => app.close());
    return app;
  }

  it('an unexpected failure (a blob gone from disk) answers a generic 500 with the request id, on HTTP and gRPC', async () => {
    const platform = await openTestPlatform();
    cleanups.push(() => platform.dispose());
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    const blobs = path.join(platform.home, 'blobs', 'sha256');
    for (const folder of await readdir(blobs)) await rm(path.join(blobs, folder), { recursive: true });
    const app = await appOn(platform);

    const response = await app.inject({ method: 'POST', url: '/v2/repository/models/cancer/load' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({
      error: 'model cancer@1.0.0 failed to load: model file not found: <path>',
      code: 'UNAVAILABLE',
    });

    // The same failure thrown raw: Node's fs error names the path; the client reads none of it.
    const raw = Object.assign(new Error(`ENOENT: no such file or directory, open '${blobs}/ab/cd'`), {
      code: 'ENOENT',
      path: `${blobs}/ab/cd`,
    });
    const http = await appOn(platform);
    const logged: unknown[] = [];
    http.get('/boom', (request) => {
      request.log.error = (...args: unknown[]) => void logged.push(args[0]);
      throw raw;
    });
    const boom = await http.inject({ method: 'GET', url: '/boom' });
    expect(boom.statusCode).toBe(500);
    expect(boom.json()).toEqual({
      error: `internal error (request id ${boom.json<{ error: string }>().error.match(/request id (\S+)\)/)![1]}); the detail is in the server log`,
      code: 'INTERNAL',
    });
    expect(boom.body).not.toContain(blobs);
    expect(logged).toEqual([expect.objectContaining({ err: raw, url: '/boom' })]);

    const lines: string[] = [];
    const status = toStatus('ModelInfer', raw, (line) => lines.push(line));
    expect(status.code).toBe(13);
    expect(status.details).toMatch(/^internal error \(request id [0-9a-f-]{36}\); the detail is in the server log$/);
    const id = /request id ([0-9a-f-]{36})/.exec(status.details)![1]!;
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`request id ${id}`);
    expect(lines[0]).toContain(`${blobs}/ab/cd`);
  });

  it('a SlipwayError keeps its message with the paths and addresses its causes put in it replaced', () => {
    const fsError = Object.assign(new Error('EACCES: permission denied'), { path: '/srv/slipway/home/out.csv' });
    const wrapped = new SlipwayError('INTERNAL', 'cannot write "/srv/slipway/home/out.csv": permission denied', {
      cause: fsError,
    });
    expect(clientErrorMessage(wrapped, wrapped, 'req-7')).toBe('cannot write "<path>": permission denied');
    expect(
      redactServerDetails(
        'cannot reach PostgreSQL at db.internal:5432/slipway: connect ECONNREFUSED 10.0.0.5:5432 (postgres://u:pw@db.internal/slipway)',
      ),
    ).toBe('cannot reach PostgreSQL: connect ECONNREFUSED <address> (<database address>)');
    expect(redactServerDetails('Redis getaddrinfo ENOTFOUND redis.internal, see /var/lib/slipway/online.db')).toBe(
      'Redis getaddrinfo ENOTFOUND <address>, see <path>',
    );
    // API paths and the client's own words stay.
    expect(redactServerDetails('no route for POST /api/v1/nowhere; model "fraud" does not exist')).toBe(
      'no route for POST /api/v1/nowhere; model "fraud" does not exist',
    );
  });

  describe.skipIf(postgres.skipReason !== undefined)('with PostgreSQL down', () => {
    it('answers 503 naming the database by kind only, on HTTP and gRPC', async () => {
      const target = new URL(TEST_POSTGRES_URL);
      const proxy = await TcpProxy.start({ target: { host: target.hostname, port: Number(target.port || 5432) } });
      cleanups.push(() => proxy.close());
      const schema = `slipway_errors_${randomBytes(6).toString('hex')}`;
      const admin = async (statement: string) => {
        const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
        await client.connect();
        await client.query(statement).finally(() => client.end());
      };
      await admin(`create schema "${schema}"`);
      cleanups.push(() => admin(`drop schema if exists "${schema}" cascade`));
      const proxied = new URL(TEST_POSTGRES_URL);
      proxied.host = `127.0.0.1:${proxy.port}`;
      const databaseUrl = `${proxied.toString()}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
      const platform = await openTestPlatform({ databaseUrl });
      cleanups.push(async () => {
        await proxy.resume();
        await platform.dispose();
      });
      const app = await appOn(platform);
      expect((await app.inject({ method: 'GET', url: '/api/v1/models' })).statusCode).toBe(200);

      await proxy.pause();
      proxy.cutAll();
      const answers: string[] = [];
      for (let i = 0; i < 3; i++) {
        const response = await app.inject({ method: 'GET', url: '/api/v1/models' });
        expect(response.statusCode, response.body).toBe(503);
        expect(response.json<{ code: string }>().code).toBe('UNAVAILABLE');
        answers.push(response.json<{ error: string }>().error);
      }
      for (const error of answers) {
        expect(error).toMatch(/^PostgreSQL/);
        expect(error).not.toContain(String(proxy.port));
        expect(error).not.toContain('127.0.0.1');
        expect(error).not.toContain(schema);
        expect(error).not.toContain('/test');
      }
      // The health report says the database is down and why, without its address.
      const health = await app.inject({ method: 'GET', url: '/api/v1/health' });
      const report = health.json<{ database: { up: boolean; error: string }; reasons: string[] }>();
      expect(report.database.up).toBe(false);
      expect(report.database.error).toBe('connect ECONNREFUSED <address>');
      expect(health.body).not.toContain(String(proxy.port));
      expect(health.body).not.toContain('127.0.0.1');
      // What the server itself reports (the CLI's view) still names the address.
      const thrown = await platform.registry.listModels().catch((error: unknown) => error);
      expect((thrown as SlipwayError).message).toContain(`127.0.0.1:${proxy.port}`);
      const status = toStatus('ModelMetadata', thrown);
      expect(status.code).toBe(14);
      expect(status.details).not.toContain('127.0.0.1');
      expect(status.details).not.toContain(String(proxy.port));
    });
  });
});
