import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator } from '../auth/authenticator.js';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';

/**
 * The audit trail with the real auth hook and real tokens: the actor is the token's name and role,
 * and a change refused for its token (401 without one, 403 for a role too low) is recorded too.
 */
describe('audit trail with tokens', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  let reader: string;
  let deployer: string;

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    reader = (await platform.tokens.create({ name: 'dashboards', role: 'read' })).secret;
    deployer = (await platform.tokens.create({ name: 'release-bot', role: 'deploy' })).secret;
    app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      auth: new Authenticator(platform.tokens, { enabled: true }),
      tokens: platform.tokens,
      audit: platform.audit,
    });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  const setAlias = (secret?: string) =>
    app.inject({
      method: 'PUT',
      url: '/api/v1/models/cancer/aliases/champion',
      remoteAddress: '192.0.2.10',
      headers: secret === undefined ? {} : { authorization: `Bearer ${secret}` },
      payload: { version: '1.0.0' },
    });

  it('records the token as the actor, and refusals with UNAUTHENTICATED / PERMISSION_DENIED', async () => {
    expect((await setAlias()).statusCode).toBe(401);
    expect((await setAlias(reader)).statusCode).toBe(403);
    const moved = await setAlias(deployer);
    expect(moved.statusCode, moved.body).toBe(200);
    expect(moved.json()).toMatchObject({ toVersion: '1.0.0', actor: 'release-bot' });
    await platform.audit.flush();
    const events = (await platform.audit.list({ actionPrefix: 'alias' })).events;
    expect(
      events.map(({ actor, actorRole, address, action, target, outcome }) => ({
        actor,
        actorRole,
        address,
        action,
        target,
        outcome,
      })),
    ).toEqual([
      {
        actor: 'release-bot',
        actorRole: 'deploy',
        address: '192.0.2.10',
        action: 'alias.set',
        target: 'cancer:champion',
        outcome: 'ok',
      },
      {
        actor: 'dashboards',
        actorRole: 'read',
        address: '192.0.2.10',
        action: 'alias.set',
        target: 'cancer:champion',
        outcome: 'PERMISSION_DENIED',
      },
      {
        actor: 'anonymous',
        actorRole: null,
        address: '192.0.2.10',
        action: 'alias.set',
        target: 'cancer:champion',
        outcome: 'UNAUTHENTICATED',
      },
    ]);
  });

  it('records token creation and revocation over HTTP, never the secret', async () => {
    const admin = (await platform.tokens.create({ name: 'root', role: 'admin' })).secret;
    const headers = { authorization: `Bearer ${admin}` };
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers,
      payload: { name: 'ci', role: 'deploy' },
    });
    expect(created.statusCode, created.body).toBe(201);
    const secret = created.json<{ secret: string }>().secret;
    expect((await app.inject({ method: 'DELETE', url: '/api/v1/tokens/ci', headers })).statusCode).toBe(200);
    await platform.audit.flush();
    const events = (await platform.audit.list({ actionPrefix: 'token.' })).events;
    expect(events.map((e) => [e.actor, e.action, e.target, e.outcome])).toEqual([
      ['root', 'token.revoke', 'ci', 'ok'],
      ['root', 'token.create', 'ci', 'ok'],
    ]);
    const audit = await app.inject({ method: 'GET', url: '/api/v1/audit?limit=1000', headers });
    expect(audit.statusCode).toBe(200);
    expect(audit.body).not.toContain(secret);
  });
});
