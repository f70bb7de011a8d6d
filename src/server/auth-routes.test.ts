/**
 * Every route the server registers has an entry in the permission table (auth/permissions.ts):
 * a route without one would be refused to every token, so adding a route means deciding its role.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';
import { registeredRoutes } from './http/auth-hook.js';

let platform: Awaited<ReturnType<typeof openTestPlatform>>;
let app: FastifyInstance;

beforeAll(async () => {
  platform = await openTestPlatform();
  // Every optional part on, as `serve` builds it (server/serve.ts).
  app = await buildApp({
    config: platform.config,
    registry: platform.registry,
    serving: platform.serving,
    monitor: platform.monitor,
    observability: platform,
    alerts: platform.alerts,
    features: platform.features,
    jobs: platform.jobs,
    deployments: platform.deployments,
    database: platform.database,
    audit: platform.audit,
    tokens: platform.tokens,
  });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await platform.dispose();
});

it('gives every registered route (but CORS preflights) a permission entry', () => {
  const routes = registeredRoutes(app);
  expect(routes.length).toBeGreaterThan(100);
  const missing = routes
    .filter((r) => r.method !== 'OPTIONS' && r.permission === undefined)
    .map((r) => `${r.method} ${r.url}`);
  expect(missing).toEqual([]);
  // Spot checks that the table, not a default, decided.
  const find = (method: string, url: string) => routes.find((r) => r.method === method && r.url === url)?.permission;
  expect(find('POST', '/v2/models/:model/infer')).toEqual({ role: 'infer', model: { param: 'model' } });
  expect(find('POST', '/api/v1/models/:name/versions')).toEqual({ role: 'admin', model: { param: 'name' } });
  expect(find('HEAD', '/api/v1/jobs')).toEqual({ role: 'read', model: 'any' });
});
