/**
 * Tokens end to end (issue 15 §1): every role against one representative route per group, on HTTP
 * and gRPC; model-pattern limits; 401 without or with a bad token; open paths; rate limits; auth
 * turned on by the first token; no secret in any answer but the one that creates it.
 */
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator } from '../auth/authenticator.js';
import { ROLES, roleAtLeast, type Role } from '../auth/principal.js';
import { parseRateLimits, RateLimiter } from '../auth/rate-limiter.js';
import { expectedOutputs, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';
import { InferenceTestClient } from './grpc/grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from './grpc/grpc-server.js';

const cancer = expectedOutputs('breast_cancer');
const inferBody = {
  inputs: cancer.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: t.data })),
};

interface RouteCase {
  readonly group: string;
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly url: string;
  readonly role: Role;
  readonly payload?: unknown;
  readonly headers?: Record<string, string>;
}

/** One representative route per group, weakest role first; each allowed call answers 2xx. */
const ROUTES: readonly RouteCase[] = [
  { group: 'inference', method: 'POST', url: '/v2/models/fraud/infer', role: 'infer', payload: inferBody },
  { group: 'metadata', method: 'GET', url: '/v2/models/fraud', role: 'infer' },
  { group: 'registry read', method: 'GET', url: '/api/v1/models/fraud', role: 'read' },
  { group: 'deployments read', method: 'GET', url: '/api/v1/deployments', role: 'read' },
  { group: 'stats', method: 'GET', url: '/v2/models/fraud/stats', role: 'read' },
  { group: 'predictions', method: 'GET', url: '/api/v1/predictions?model=fraud', role: 'read' },
  { group: 'features get', method: 'GET', url: '/api/v1/features/definitions', role: 'read' },
  { group: 'jobs list', method: 'GET', url: '/api/v1/jobs', role: 'read' },
  { group: 'metrics', method: 'GET', url: '/metrics', role: 'read' },
  {
    group: 'alias',
    method: 'PUT',
    url: '/api/v1/models/fraud/aliases/champion',
    role: 'deploy',
    payload: { version: '1.0.0' },
  },
  {
    group: 'deploy',
    method: 'PUT',
    url: '/api/v1/deployments/fraud-prod',
    role: 'deploy',
    payload: { model: 'fraud', routes: { '1.0.0': 100 } },
  },
  { group: 'load', method: 'POST', url: '/v2/repository/models/fraud/load', role: 'deploy', payload: {} },
  {
    group: 'registry push',
    method: 'POST',
    url: '/api/v1/models/fraud/versions?allow_duplicate=true',
    role: 'admin',
    payload: fixtureBytes('breast_cancer.onnx'),
    headers: { 'content-type': 'application/octet-stream' },
  },
  { group: 'serving config', method: 'PUT', url: '/api/v1/models/fraud/serving', role: 'admin', payload: {} },
  { group: 'alerts', method: 'GET', url: '/api/v1/alerts/rules', role: 'admin' },
  { group: 'tokens', method: 'GET', url: '/api/v1/tokens', role: 'admin' },
];

describe('tokens and roles', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  let grpc: GrpcServer;
  let client: InferenceTestClient;
  const secrets: Record<string, string> = {};
  const answers: string[] = [];

  const send = async (method: string, url: string, secret?: string, payload?: unknown, headers = {}) => {
    const response: LightMyRequestResponse = await app.inject({
      method: method as 'GET',
      url,
      headers: { ...headers, ...(secret === undefined ? {} : { authorization: `Bearer ${secret}` }) },
      ...(payload === undefined ? {} : { payload: payload as string }),
    });
    answers.push(JSON.stringify(response.headers) + response.body);
    return response;
  };

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'fraud', bytes: fixtureBytes('breast_cancer.onnx') });
    await platform.registry.push({ name: 'risk', bytes: fixtureBytes('breast_cancer.onnx') });
    for (const role of ROLES) secrets[role] = (await platform.tokens.create({ name: `t-${role}`, role })).secret;
    secrets.limited = (await platform.tokens.create({ name: 'fraud-team', role: 'admin', models: ['fraud*'] })).secret;
    const auth = new Authenticator(platform.tokens, {
      enabled: true,
      openPaths: ['/v2/health/live', '/v2/health/ready'],
      deploymentModel: (name) => platform.deployments.router.get(name)?.model,
    });
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
      tokens: platform.tokens,
      auth,
    });
    grpc = createGrpcServer({
      serving: platform.serving,
      modelConfig: { lifecycle: platform.serving.lifecycle, registry: platform.registry },
      statistics: { statistics: platform.monitor.statistics, models: platform.registry },
      repository: { registry: platform.registry },
      auth,
    });
    client = new InferenceTestClient(`127.0.0.1:${await grpc.listen('127.0.0.1', 0)}`);
  });
  afterAll(async () => {
    client.close();
    await grpc.close(0);
    await app.close();
    await platform.dispose();
  });

  it('HTTP: each role × route group is 2xx when the role suffices, 403 naming the role when not, 401 without a token', async () => {
    const matrix: string[] = [];
    for (const route of ROUTES) {
      const anonymous = await send(route.method, route.url, undefined, route.payload, route.headers);
      expect(anonymous.statusCode, `${route.group} without a token`).toBe(401);
      expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="slipway"');
      expect(anonymous.json()).toEqual({
        error: 'this server needs a token: send "Authorization: Bearer <token>"',
        code: 'UNAUTHENTICATED',
      });
      for (const role of ROLES) {
        const response = await send(route.method, route.url, secrets[role], route.payload, route.headers);
        const allowed = roleAtLeast(role, route.role);
        matrix.push(`${route.group} ${role} ${response.statusCode}`);
        if (allowed) {
          expect(response.statusCode, `${route.group} as ${role}: ${response.body}`).toBeGreaterThanOrEqual(200);
          expect(response.statusCode, `${route.group} as ${role}: ${response.body}`).toBeLessThan(300);
        } else {
          expect(response.statusCode, `${route.group} as ${role}`).toBe(403);
          expect(response.json()).toEqual({
            error: `token "t-${role}" has role ${role}; this needs role ${route.role}`,
            code: 'PERMISSION_DENIED',
          });
        }
      }
    }
    expect(matrix).toHaveLength(ROUTES.length * ROLES.length);
  });

  it('HTTP: a bad, unknown or malformed token is 401; open paths need none', async () => {
    const wrong = `${secrets.admin!.slice(0, -3)}abc`;
    expect((await send('GET', '/v2/models/fraud', wrong)).json()).toEqual({
      error: 'invalid token',
      code: 'UNAUTHENTICATED',
    });
    expect((await send('GET', '/v2/models/fraud', 'slw_0123456789abcdef_unknown-token-secret')).statusCode).toBe(401);
    const basic = await app.inject({
      method: 'GET',
      url: '/v2/models/fraud',
      headers: { authorization: 'Basic YTpi' },
    });
    expect(basic.statusCode).toBe(401);
    expect(basic.json().error).toBe('expected "Authorization: Bearer <token>"');
    expect((await send('GET', '/v2/health/live')).statusCode).toBe(200);
    expect((await send('GET', '/metrics')).statusCode).toBe(401);
    // No route, nothing to check against: 404 either way.
    expect((await send('GET', '/no/such/route')).statusCode).toBe(404);
    // HEAD follows GET's entry.
    expect((await send('HEAD', '/api/v1/models/fraud', secrets.infer)).statusCode).toBe(403);
    expect((await send('HEAD', '/api/v1/models/fraud', secrets.read)).statusCode).toBe(200);
  });

  it('HTTP: a token limited to model patterns reaches its models (and their deployments) only', async () => {
    const limited = secrets.limited;
    expect((await send('GET', '/api/v1/models/fraud', limited)).statusCode).toBe(200);
    const other = await send('GET', '/api/v1/models/risk', limited);
    expect(other.statusCode).toBe(403);
    expect(other.json().error).toBe('token "fraud-team" is limited to models fraud*; not "risk"');
    expect((await send('POST', '/v2/models/fraud/infer', limited, inferBody)).statusCode).toBe(200);
    expect((await send('POST', '/v2/models/risk/infer', limited, inferBody)).statusCode).toBe(403);
    // A model that does not exist is 403 too, not 404: nothing about other models leaks.
    expect((await send('GET', '/v2/models/riskless', limited)).statusCode).toBe(403);
    const rows = { instances: [cancer.inputs[0]!.data.slice(0, 30)] };
    expect((await send('POST', '/v1/models/risk@latest:predict', limited, rows)).statusCode).toBe(403);
    expect((await send('POST', '/v1/models/fraud@latest:predict', limited, rows)).statusCode).toBe(200);
    // fraud-prod routes to model fraud (the deploy group above created it).
    await platform.deployments.sync.refresh();
    expect((await send('GET', '/api/v1/deployments/fraud-prod', limited)).statusCode).toBe(200);
    // About every model at once: refused to a limited token.
    const list = await send('GET', '/api/v1/models', limited);
    expect(list.statusCode).toBe(403);
    expect(list.json().error).toBe('token "fraud-team" is limited to models fraud*; this request is about every model');
    expect((await send('GET', '/api/v1/predictions', limited)).statusCode).toBe(403);
    expect((await send('GET', '/api/v1/predictions?model=fraud', limited)).statusCode).toBe(200);
    expect((await send('GET', '/api/v1/predictions?model=risk', limited)).statusCode).toBe(403);
  });

  it('gRPC: each role × RPC is allowed or PERMISSION_DENIED (7), UNAUTHENTICATED (16) without a token', async () => {
    const rpcs = [
      { method: 'ServerLive', request: {}, role: 'infer' },
      { method: 'ModelMetadata', request: { name: 'fraud' }, role: 'infer' },
      { method: 'ModelInfer', request: typedInfer('fraud'), role: 'infer' },
      { method: 'ModelConfig', request: { name: 'fraud' }, role: 'read' },
      { method: 'ModelStatistics', request: { name: 'fraud' }, role: 'read' },
      { method: 'RepositoryIndex', request: {}, role: 'read' },
      { method: 'RepositoryModelLoad', request: { model_name: 'fraud' }, role: 'deploy' },
      // Unsupported (UNIMPLEMENTED, 12) for whoever may call it: admin only.
      { method: 'SystemSharedMemoryStatus', request: {}, role: 'admin' },
    ] as const;
    const statusOf = async (method: string, request: unknown, secret?: string): Promise<number> => {
      const metadata = new Metadata();
      if (secret !== undefined) metadata.set('authorization', `Bearer ${secret}`);
      try {
        await client.call(method as 'ServerLive', request as Record<string, never>, metadata);
        return 0;
      } catch (error) {
        return (error as ServiceError).code;
      }
    };
    for (const rpc of rpcs) {
      expect(await statusOf(rpc.method, rpc.request), `${rpc.method} without a token`).toBe(16);
      for (const role of ROLES) {
        const allowed = roleAtLeast(role, rpc.role);
        const expected = !allowed ? 7 : rpc.method === 'SystemSharedMemoryStatus' ? 12 : 0;
        expect(await statusOf(rpc.method, rpc.request, secrets[role]), `${rpc.method} as ${role}`).toBe(expected);
      }
    }
    expect(await statusOf('ModelMetadata', { name: 'risk' }, secrets.limited)).toBe(7);
    expect(await statusOf('ModelInfer', typedInfer('fraud'), secrets.limited)).toBe(0);
    expect(await statusOf('ModelInfer', typedInfer('risk'), secrets.limited)).toBe(7);
    expect(await statusOf('RepositoryIndex', {}, secrets.limited)).toBe(7);
    expect(await statusOf('ModelMetadata', { name: 'fraud' }, 'slw_0123456789abcdef_unknown-token-secret')).toBe(16);
  });

  it('gRPC ModelStreamInfer: checked when the stream opens; a model-limited token is told to use ModelInfer', async () => {
    const stream = async (secret?: string): Promise<{ status: number; answers: number }> => {
      const metadata = new Metadata();
      if (secret !== undefined) metadata.set('authorization', `Bearer ${secret}`);
      const call = client.openStream(metadata);
      let answers = 0;
      call.on('data', () => answers++);
      const status = new Promise<number>((resolve) => {
        call.on('error', (error: ServiceError) => resolve(error.code));
        call.on('end', () => resolve(0));
      });
      call.write(typedInfer('fraud'));
      call.end();
      return { status: await status, answers };
    };
    expect(await stream()).toEqual({ status: 16, answers: 0 });
    expect(await stream(secrets.infer)).toEqual({ status: 0, answers: 1 });
    expect(await stream(secrets.limited)).toEqual({ status: 7, answers: 0 });
  });

  it('secrets appear in no answer but the one that creates a token', async () => {
    const created = await send('POST', '/api/v1/tokens', secrets.admin, { name: 'via-http', role: 'read' });
    expect(created.statusCode).toBe(201);
    const { secret } = created.json<{ secret: string }>();
    expect(secret).toMatch(/^slw_/);
    answers.splice(answers.indexOf(JSON.stringify(created.headers) + created.body), 1);
    expect((await send('GET', '/api/v1/models/fraud', secret)).statusCode).toBe(200);
    const listed = await send('GET', '/api/v1/tokens', secrets.admin);
    expect(listed.json<{ tokens: { name: string }[] }>().tokens.map((t) => t.name)).toContain('via-http');
    expect((await send('DELETE', '/api/v1/tokens/via-http', secrets.admin)).statusCode).toBe(200);
    expect(
      (await send('POST', '/api/v1/tokens', secrets.admin, { name: 'x', role: 'read', scope: 'all' })).json(),
    ).toEqual({ error: 'unknown field "scope"', code: 'INVALID_ARGUMENT' });
    const everything = answers.join('\n');
    for (const value of [...Object.values(secrets), secret]) expect(everything).not.toContain(value);
  });
});

describe('rate limits and the first token', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'fraud', bytes: fixtureBytes('breast_cancer.onnx') });
  });
  afterAll(async () => {
    await platform.dispose();
  });

  it("a token over its role's rate answers 429 with Retry-After on HTTP and RESOURCE_EXHAUSTED on gRPC", async () => {
    const { secret } = await platform.tokens.create({ name: 'slow', role: 'infer' });
    const admin = await platform.tokens.create({ name: 'ops', role: 'admin' });
    const auth = new Authenticator(platform.tokens, {
      enabled: true,
      limiter: new RateLimiter(parseRateLimits('infer=0.5:2')),
    });
    const app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      auth,
    });
    const grpc = createGrpcServer({ serving: platform.serving, auth });
    const client = new InferenceTestClient(`127.0.0.1:${await grpc.listen('127.0.0.1', 0)}`);
    try {
      const get = (token: string) =>
        app.inject({ method: 'GET', url: '/v2/models/fraud', headers: { authorization: `Bearer ${token}` } });
      expect((await get(secret)).statusCode).toBe(200);
      expect((await get(secret)).statusCode).toBe(200);
      const limited = await get(secret);
      expect(limited.statusCode).toBe(429);
      expect(limited.headers['retry-after']).toBe('2');
      expect(limited.json()).toEqual({
        error: 'token "slow" is over its rate limit (0.5/s, burst 2 for role infer)',
        code: 'RATE_LIMITED',
      });
      // Another role has no limit configured.
      for (let i = 0; i < 5; i++) expect((await get(admin.secret)).statusCode).toBe(200);
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${secret}`);
      const error = (await client.call('ServerLive', {}, metadata).catch((e: unknown) => e)) as ServiceError;
      expect(error.code).toBe(8);
      expect(error.metadata.get('retry-after')).toEqual(['2']);
    } finally {
      client.close();
      await grpc.close(0);
      await app.close();
    }
  });

  it('auto mode on loopback: open until the first token exists, then every request needs one', async () => {
    const fresh = await openTestPlatform();
    try {
      const auth = new Authenticator(fresh.tokens, { enabled: false });
      const stop = auth.watchForTokens(50);
      const app = await buildApp({ config: fresh.config, registry: fresh.registry, serving: fresh.serving, auth });
      try {
        expect((await app.inject({ method: 'GET', url: '/v2' })).statusCode).toBe(200);
        const { secret } = await fresh.tokens.create({ name: 'first', role: 'admin' });
        const created = Date.now();
        while (auth.enabled === false && Date.now() - created < 2000) await new Promise((r) => setTimeout(r, 20));
        expect(Date.now() - created).toBeLessThan(1000);
        expect((await app.inject({ method: 'GET', url: '/v2' })).statusCode).toBe(401);
        const ok = await app.inject({ method: 'GET', url: '/v2', headers: { authorization: `Bearer ${secret}` } });
        expect(ok.statusCode).toBe(200);
      } finally {
        stop();
        await app.close();
      }
    } finally {
      await fresh.dispose();
    }
  });
});

function typedInfer(model: string) {
  return {
    model_name: model,
    inputs: cancer.inputs.map((t) => ({
      name: t.name,
      datatype: t.datatype,
      shape: t.shape,
      contents: { fp32_contents: t.data as number[] },
    })),
  };
}
