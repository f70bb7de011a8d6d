import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../store/database.js';
import { AlertService } from './alert-service.js';
import type { AlertLogEvent } from './alert-service.js';
import type { AlertPayload } from './notifier.js';
import { SqlAlertStore } from './sql-alert-store.js';
import { WebhookNotifier } from './webhook-notifier.js';
import type { WebhookNotifierOptions } from './webhook-notifier.js';

interface Received {
  readonly at: number;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: AlertPayload;
}

/** A real webhook receiver on port 0 answering with the scripted statuses, then 200 (or `hang` = never). */
class Receiver {
  readonly received: Received[] = [];
  readonly #script: Array<number | 'hang'>;
  readonly #server: http.Server;

  constructor(script: Array<number | 'hang'>) {
    this.#script = [...script];
    this.#server = http.createServer((request, response) => {
      let text = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (text += chunk));
      request.on('end', () => {
        this.received.push({
          at: Date.now(),
          path: request.url ?? '',
          headers: request.headers,
          body: JSON.parse(text) as AlertPayload,
        });
        const status = this.#script.shift() ?? 200;
        if (status === 'hang') return;
        response.writeHead(status, status === 429 ? { 'retry-after': '0' } : {}).end(status >= 400 ? 'nope' : 'ok');
      });
    });
  }

  async listen(): Promise<string> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

// The receivers listen on 127.0.0.1, which webhooks may reach only when loopback is allowed (webhook-policy.ts).
const LOOPBACK = { targets: [], private: false, loopback: true };
const FAST: WebhookNotifierOptions = { initialBackoffMs: 20, maxBackoffMs: 1000, timeoutMs: 2000, allow: LOOPBACK };

describe('webhook delivery', () => {
  let folder: string;
  let value: number | undefined;
  let logs: AlertLogEvent[];
  const cleanup: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'slipway-webhook-'));
    value = undefined;
    logs = [];
  });
  afterEach(async () => {
    for (const close of cleanup.splice(0).reverse()) await close();
    await rm(folder, { recursive: true, force: true });
  });

  async function receiver(script: Array<number | 'hang'>): Promise<{ receiver: Receiver; url: string }> {
    const r = new Receiver(script);
    const url = await r.listen();
    cleanup.push(() => r.close());
    return { receiver: r, url };
  }

  async function service(options: WebhookNotifierOptions = FAST): Promise<AlertService> {
    const database = await openDatabase({ sqlitePath: path.join(folder, 'slipway.db') });
    const alerts = new AlertService({
      store: new SqlAlertStore(database),
      knownMetrics: ['error_rate'],
      readMetric: () => Promise.resolve(value),
      notifiers: [new WebhookNotifier({ ...FAST, ...options })],
      log: (event) => logs.push(event),
      webhookAllow: LOOPBACK,
    });
    cleanup.push(() => alerts.close());
    return alerts;
  }

  it('retries 500s with doubling backoff, delivers on the third attempt, records it, then delivers the resolution', async () => {
    const { receiver: hook, url } = await receiver([500, 500]);
    const alerts = await service();
    await alerts.addRule({
      name: 'errors',
      expr: 'error_rate > 0.01',
      scope: { model: 'fraud' },
      webhook: `${url}/hooks/secret-token`,
      severity: 'critical',
    });

    value = 0.2;
    const [fired] = await alerts.evaluate();
    expect(fired!.delivery).toEqual({
      status: 'pending',
      delivered: false,
      attempts: 0,
      targets: [{ notifier: 'webhook', target: url, delivered: false, attempts: 0 }],
    });
    value = 0;
    await alerts.evaluate();
    await alerts.drain();

    // The resolution waited for the firing's retries: events of one rule arrive in order.
    expect(hook.received.map((r) => r.body.state)).toEqual(['firing', 'firing', 'firing', 'resolved']);
    const [first, second, third] = hook.received;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(18);
    expect(third!.at - second!.at).toBeGreaterThanOrEqual(38);
    expect(first!.path).toBe('/hooks/secret-token');
    expect(first!.headers['content-type']).toBe('application/json');
    expect(first!.body).toEqual({
      rule: 'errors',
      state: 'firing',
      value: 0.2,
      threshold: 0.01,
      expr: 'error_rate > 0.01',
      scope: { model: 'fraud' },
      severity: 'critical',
      startsAt: fired!.startsAt,
      at: fired!.at,
      description: null,
    });
    expect(hook.received[3]!.body).toMatchObject({
      state: 'resolved',
      value: 0,
      startsAt: fired!.startsAt,
      endsAt: hook.received[3]!.body.at,
    });

    const [resolvedEvent, firedEvent] = await alerts.history();
    expect(firedEvent!.delivery).toEqual({
      status: 'delivered',
      delivered: true,
      attempts: 3,
      targets: [{ notifier: 'webhook', target: url, delivered: true, attempts: 3 }],
    });
    expect(resolvedEvent!.delivery).toMatchObject({ status: 'delivered', delivered: true, attempts: 1 });
    expect(logs.filter((event) => event.type === 'delivery-failed')).toEqual([]);
  });

  it('does not retry a 4xx other than 408 and 429, and records the failure', async () => {
    const { receiver: hook, url } = await receiver([400]);
    const alerts = await service();
    await alerts.addRule({ name: 'errors', expr: 'error_rate > 0.01', webhook: url });
    value = 1;
    await alerts.evaluate();
    await alerts.drain();

    expect(hook.received).toHaveLength(1);
    const [event] = await alerts.history();
    expect(event!.delivery).toEqual({
      status: 'failed',
      delivered: false,
      attempts: 1,
      lastError: 'HTTP 400',
      targets: [{ notifier: 'webhook', target: url, delivered: false, attempts: 1, lastError: 'HTTP 400' }],
    });
    expect(logs.find((e) => e.type === 'delivery-failed')?.message).toBe(
      `alert errors firing: webhook delivery to ${url} failed after 1 attempt(s): HTTP 400`,
    );
  });

  it('retries 408 and 429, and gives up after the configured attempts', async () => {
    const { receiver: hook, url } = await receiver([408, 429, 503, 503]);
    const alerts = await service({ attempts: 3 });
    await alerts.addRule({ name: 'errors', expr: 'error_rate > 0.01', webhook: url });
    value = 1;
    await alerts.evaluate();
    await alerts.drain();
    expect(hook.received).toHaveLength(3);
    expect((await alerts.history())[0]!.delivery).toMatchObject({
      status: 'failed',
      delivered: false,
      attempts: 3,
      lastError: 'HTTP 503',
    });
  });

  it('times out a receiver that never answers, and reports an unreachable one', async () => {
    const { url } = await receiver(['hang', 'hang']);
    const closed = new Receiver([]);
    const refusedUrl = await closed.listen();
    await closed.close();
    const alerts = await service({ attempts: 2, timeoutMs: 50, initialBackoffMs: 1 });
    await alerts.addRule({ name: 'hangs', expr: 'error_rate > 0.01', webhook: url });
    await alerts.addRule({ name: 'refused', expr: 'error_rate > 0.01', webhook: `${refusedUrl}/x` });
    value = 1;
    await alerts.evaluate();
    await alerts.drain();
    const byRule = new Map((await alerts.history()).map((event) => [event.rule, event.delivery]));
    expect(byRule.get('hangs')).toMatchObject({ status: 'failed', attempts: 2, lastError: 'timed out after 50 ms' });
    expect(byRule.get('refused')).toMatchObject({
      status: 'failed',
      attempts: 2,
      lastError: expect.stringContaining('ECONNREFUSED') as string,
    });
    expect(byRule.get('refused')?.targets[0]?.target).toBe(refusedUrl);
  });

  it('never blocks evaluation, sends rules without a webhook to the default URL, and close() cuts retries short', async () => {
    const { receiver: hook, url } = await receiver([500, 500, 500]);
    const alerts = await service({ url: `${url}/default`, initialBackoffMs: 60_000 });
    await alerts.addRule({ name: 'errors', expr: 'error_rate > 0.01' });
    value = 1;
    const started = Date.now();
    await alerts.evaluate();
    expect(Date.now() - started).toBeLessThan(1000);
    await waitFor(() => hook.received.length === 1);
    expect(hook.received[0]!.path).toBe('/default');

    await alerts.close();
    expect(Date.now() - started).toBeLessThan(5000);
    const database = await openDatabase({ sqlitePath: path.join(folder, 'slipway.db') });
    const store = new SqlAlertStore(database);
    cleanup.push(() => store.close());
    expect((await store.listEvents({ limit: 1 }))[0]!.delivery).toMatchObject({
      status: 'failed',
      attempts: 1,
      // cancelled while waiting for the answer, or while backing off after it
      lastError: expect.stringMatching(/^cancelled(; last error: HTTP 500)?$/) as string,
    });
  });

  it('logs every transition even without notifiers', async () => {
    const alerts = await service();
    await alerts.addRule({ name: 'quiet', expr: 'error_rate > 0.01' });
    value = 1;
    const [event] = await alerts.evaluate();
    expect(event!.delivery).toBeNull();
    expect(logs.map((e) => e.type)).toEqual(['alert']);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
