import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { DEFAULT_WEBHOOK_ALLOW, parseWebhookAllow, type WebhookAllow } from '../../core/exposure-config.js';
import { buildApp } from '../../server/app.js';
import { openDatabase } from '../../store/database.js';
import { openTestPlatform } from '../../testing/fixtures.js';
import { AlertService } from './alert-service.js';
import { SqlAlertStore } from './sql-alert-store.js';
import { WebhookNotifier } from './webhook-notifier.js';
import { addressKind, checkWebhookTarget } from './webhook-policy.js';

/** An internal endpoint an attacker wants the server to call: it records every request it gets. */
async function internalAdmin(cleanups: (() => Promise<void>)[]): Promise<{ port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = http.createServer((request, response) => {
    seen.push(`${request.method ?? ''} ${request.url ?? ''}`);
    request.resume();
    response.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, seen };
}

/** DNS as an attacker controls it: a public-looking name that answers with a loopback address. */
function rebinding(
  hostname: string,
  _options: unknown,
  callback: (error: Error | null, addresses: { address: string; family: number }[]) => void,
): void {
  expect(hostname).toBe('hooks.attacker.test');
  callback(null, [{ address: '127.0.0.1', family: 4 }]);
}

describe('alert webhooks cannot be aimed at the server’s own network (issue 15 §3)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('refuses a rule aimed at http://127.0.0.1:…/internal/admin when it is created: 400 naming why, nothing stored', async () => {
    const target = await internalAdmin(cleanups);
    const platform = await openTestPlatform();
    cleanups.push(() => platform.dispose());
    const app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      alerts: platform.alerts,
    });
    cleanups.push(() => app.close());
    const create = (webhook: string) =>
      app.inject({ method: 'POST', url: '/api/v1/alerts/rules', payload: { name: 'r', expr: 'p99_ms > 1', webhook } });

    const loopback = await create(`http://127.0.0.1:${target.port}/internal/admin`);
    expect(loopback.statusCode).toBe(400);
    expect(loopback.json()).toEqual({
      code: 'INVALID_ARGUMENT',
      error: `webhook "http://127.0.0.1:${target.port}/internal/admin" refused: 127.0.0.1 is a loopback address (add "loopback" to SLIPWAY_WEBHOOK_ALLOW to allow it)`,
    });
    for (const [webhook, why] of [
      [`http://localhost:${target.port}/x`, '127.0.0.1 is a loopback address'],
      ['http://[::1]/x', '::1 is a loopback address'],
      ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is a link-local address'],
      ['http://10.1.2.3/hook', '10.1.2.3 is a private address'],
      ['http://[::ffff:127.0.0.1]/x', '::ffff:7f00:1 is a loopback address'],
      ['http://user:pw@hooks.example.com/x', 'credentials in the URL are not accepted'],
    ] as const) {
      const refused = await create(webhook);
      expect([webhook, refused.statusCode, refused.json<{ error: string }>().error]).toEqual([
        webhook,
        400,
        expect.stringContaining(why),
      ]);
    }
    expect(await platform.alerts.listRules()).toEqual([]);
    // A public name is accepted (it is checked again, resolved, when the rule fires).
    expect((await create('https://hooks.example.com/slipway')).statusCode).toBe(201);
    expect(target.seen).toEqual([]);
  });

  it('does not POST to a name that resolves to loopback when the rule fires; allowing loopback does', async () => {
    const target = await internalAdmin(cleanups);
    const folder = await mkdtemp(path.join(os.tmpdir(), 'slipway-ssrf-'));
    cleanups.push(() => rm(folder, { recursive: true, force: true }));

    const fire = async (allow: WebhookAllow, file: string) => {
      const database = await openDatabase({ sqlitePath: path.join(folder, file) });
      cleanups.push(() => database.close());
      const alerts = new AlertService({
        store: new SqlAlertStore(database),
        knownMetrics: ['error_rate'],
        readMetric: () => Promise.resolve(1),
        notifiers: [
          new WebhookNotifier({
            allow,
            resolve: rebinding as unknown as LookupFunction,
            attempts: 3,
            initialBackoffMs: 1,
          }),
        ],
        log: () => undefined,
        webhookAllow: allow,
      });
      cleanups.push(() => alerts.close());
      await alerts.addRule({
        name: 'errors',
        expr: 'error_rate > 0.01',
        webhook: `http://hooks.attacker.test:${target.port}/internal/admin`,
      });
      await alerts.evaluate();
      await alerts.drain();
      return (await alerts.history())[0]!.delivery;
    };

    expect(await fire(DEFAULT_WEBHOOK_ALLOW, 'refused.db')).toEqual({
      status: 'failed',
      delivered: false,
      attempts: 1,
      lastError:
        'webhook host hooks.attacker.test resolves to 127.0.0.1 is a loopback address (add "loopback" to SLIPWAY_WEBHOOK_ALLOW to allow it)',
      targets: [
        {
          notifier: 'webhook',
          target: `http://hooks.attacker.test:${target.port}`,
          delivered: false,
          attempts: 1,
          lastError:
            'webhook host hooks.attacker.test resolves to 127.0.0.1 is a loopback address (add "loopback" to SLIPWAY_WEBHOOK_ALLOW to allow it)',
        },
      ],
    });
    expect(target.seen).toEqual([]);

    // The same rule with loopback allowed reaches it: the refusal above is the policy, not the test.
    const allowed = await fire({ ...DEFAULT_WEBHOOK_ALLOW, loopback: true }, 'allowed.db');
    expect(allowed).toMatchObject({ status: 'delivered', delivered: true, attempts: 1 });
    expect(target.seen).toEqual(['POST /internal/admin']);
  });

  it('SLIPWAY_WEBHOOK_ALLOW: schemes and host patterns, opt-ins, unknown entries refused by name', () => {
    const allow = loadConfig({ SLIPWAY_WEBHOOK_ALLOW: 'https://*.example.com, hooks.internal, private' }).webhookAllow;
    expect(allow).toEqual({
      targets: [
        { schemes: ['https'], host: '*.example.com' },
        { schemes: ['http', 'https'], host: 'hooks.internal' },
      ],
      private: true,
      loopback: false,
    });
    expect(checkWebhookTarget('https://a.example.com/x', allow).host).toBe('a.example.com');
    expect(checkWebhookTarget('http://10.0.0.5/x', { ...allow, targets: [] }).host).toBe('10.0.0.5');
    expect(() => checkWebhookTarget('http://a.example.com/x', allow)).toThrow(
      'webhook "http://a.example.com/x": http://a.example.com is not in SLIPWAY_WEBHOOK_ALLOW',
    );
    expect(() => checkWebhookTarget('https://example.com.evil.io/x', allow)).toThrow('is not in SLIPWAY_WEBHOOK_ALLOW');
    expect(() => checkWebhookTarget('https://example.com/x', allow)).toThrow('is not in SLIPWAY_WEBHOOK_ALLOW');
    expect(() => loadConfig({ SLIPWAY_WEBHOOK_ALLOW: 'private,ftp://files.example.com,lan' })).toThrow(
      'SLIPWAY_WEBHOOK_ALLOW: "ftp://files.example.com" is not private, loopback or [http(s)://]host',
    );
    const problems: string[] = [];
    expect(parseWebhookAllow('', problems)).toBe(DEFAULT_WEBHOOK_ALLOW);
    expect(problems).toEqual([]);
  });

  it('classifies addresses', () => {
    expect(
      [
        '8.8.8.8',
        '127.0.0.53',
        '10.0.0.1',
        '172.16.0.1',
        '172.32.0.1',
        '192.168.1.1',
        '100.64.0.1',
        '169.254.169.254',
        '224.0.0.1',
        '0.0.0.0',
        '::1',
        '::',
        'fd00::1',
        'fe80::1',
        'ff02::1',
        '2001:4860:4860::8888',
        '::ffff:10.0.0.1',
        '::ffff:a9fe:a9fe',
      ].map(addressKind),
    ).toEqual([
      'public',
      'loopback',
      'private',
      'private',
      'public',
      'private',
      'private',
      'link-local',
      'multicast',
      'unspecified',
      'loopback',
      'unspecified',
      'private',
      'link-local',
      'multicast',
      'public',
      'private',
      'link-local',
    ]);
  });
});
