/**
 * Two servers sharing one PostgreSQL database: a token created through one is accepted by the
 * other, and a revocation or an expiry is refused by the other within a second.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { openAuth } from '../auth/open-auth.js';
import { DIALECTS, TEST_POSTGRES_URL } from '../testing/databases.js';
import { openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';

const postgres = DIALECTS.find((d) => d.name === 'postgres')!;
const BOOTSTRAP = 'shared-database-bootstrap-secret-0123';

describe.skipIf(postgres.skipReason !== undefined)('tokens across servers sharing PostgreSQL', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let schema = '';
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  });

  const server = async (databaseUrl: string): Promise<FastifyInstance> => {
    const platform = await openTestPlatform({ databaseUrl });
    cleanup.push(() => platform.dispose());
    const auth = await openAuth({
      config: { host: '127.0.0.1', auth: 'required', bootstrapToken: BOOTSTRAP, authOpenPaths: [], rateLimits: '' },
      tokens: platform.tokens,
      log: () => undefined,
    });
    const app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      tokens: platform.tokens,
      ...(auth ? { auth } : {}),
    });
    cleanup.push(() => app.close());
    return app;
  };

  it('a token revoked or expired through server A is refused by server B within a second', async () => {
    schema = `slipway_test_${randomBytes(6).toString('hex')}`;
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    await client.query(`create schema "${schema}"`);
    await client.end();
    const databaseUrl = `${TEST_POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const a = await server(databaseUrl);
    const b = await server(databaseUrl);
    const call = (
      app: FastifyInstance,
      method: 'GET' | 'POST' | 'DELETE',
      url: string,
      secret: string,
      payload?: object,
    ) => app.inject({ method, url, headers: { authorization: `Bearer ${secret}` }, ...(payload ? { payload } : {}) });
    const create = async (payload: object): Promise<string> => {
      const created = await call(a, 'POST', '/api/v1/tokens', BOOTSTRAP, payload);
      expect(created.statusCode, created.body).toBe(201);
      return created.json<{ secret: string }>().secret;
    };
    const refusedWithin = async (secret: string, message: string): Promise<number> => {
      const since = Date.now();
      for (;;) {
        const answer = await call(b, 'GET', '/v2', secret);
        if (answer.statusCode === 401) {
          expect(answer.json()).toEqual({ error: message, code: 'UNAUTHENTICATED' });
          return Date.now() - since;
        }
        expect(answer.statusCode).toBe(200);
        if (Date.now() - since > 3000) throw new Error('never refused');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };

    const secret = await create({ name: 'ci', role: 'infer' });
    expect((await call(b, 'GET', '/v2', secret)).statusCode).toBe(200);
    expect((await call(a, 'DELETE', '/api/v1/tokens/ci', BOOTSTRAP)).statusCode).toBe(200);
    expect(await refusedWithin(secret, 'token "ci" was revoked')).toBeLessThan(1100);

    const brief = await create({ name: 'brief', role: 'infer', expires: '1s' });
    expect((await call(b, 'GET', '/v2', brief)).statusCode).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await refusedWithin(brief, 'token "brief" has expired')).toBeLessThan(1100);
  });
});
