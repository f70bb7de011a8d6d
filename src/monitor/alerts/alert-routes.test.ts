import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerAlertRoutes } from '../../server/http/alert-routes.js';
import { installErrorHandling } from '../../server/http/errors.js';
import { openDatabase } from '../../store/database.js';
import { AlertService } from './alert-service.js';
import type { AlertEvent, StoredAlertRule } from './alert-store.js';
import { parseRuleFile } from './rule-file.js';
import { SqlAlertStore } from './sql-alert-store.js';

describe('alert routes /api/v1/alerts', () => {
  let folder: string;
  let alerts: AlertService;
  let app: FastifyInstance;
  let value: number | undefined;

  beforeEach(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'slipway-alert-routes-'));
    alerts = new AlertService({
      store: new SqlAlertStore(await openDatabase({ sqlitePath: path.join(folder, 'slipway.db') })),
      knownMetrics: ['p99_ms', 'error_rate'],
      readMetric: () => Promise.resolve(value),
      log: () => undefined,
    });
    app = Fastify({ ajv: { customOptions: { coerceTypes: true, removeAdditional: false } } });
    installErrorHandling(app, 1024 * 1024);
    registerAlertRoutes(app, alerts);
    await app.ready();
  });
  afterEach(async () => {
    await app.close();
    await alerts.close();
    await rm(folder, { recursive: true, force: true });
  });

  const post = (payload: unknown) =>
    app.inject({ method: 'POST', url: '/api/v1/alerts/rules', payload: payload as Record<string, unknown> });

  it('adds a rule (201), lists it with its state, and deletes it', async () => {
    const created = await post({
      name: 'fraud-p99',
      expr: 'p99_ms > 50 for 5m',
      scope: { model: 'fraud' },
      severity: 'critical',
      webhook: 'https://hooks.example.com/x',
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({
      name: 'fraud-p99',
      metric: 'p99_ms',
      op: '>',
      threshold: 50,
      for: 300_000,
      source: 'api',
      enabled: true,
      status: { state: 'ok' },
    });

    const listed = await app.inject({ method: 'GET', url: '/api/v1/alerts/rules' });
    expect(listed.statusCode).toBe(200);
    expect(listed.json<{ rules: StoredAlertRule[] }>().rules.map((rule) => [rule.name, rule.status.state])).toEqual([
      ['fraud-p99', 'ok'],
    ]);
    expect((await app.inject({ method: 'GET', url: '/api/v1/alerts/rules/fraud-p99' })).json()).toMatchObject({
      name: 'fraud-p99',
    });

    const deleted = await app.inject({ method: 'DELETE', url: '/api/v1/alerts/rules/fraud-p99' });
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toMatchObject({ name: 'fraud-p99' });
    expect((await app.inject({ method: 'GET', url: '/api/v1/alerts/rules' })).json()).toEqual({ rules: [] });
  });

  it('answers 409 ALREADY_EXISTS for a duplicate, 404 for an unknown rule, 409 for deleting a file rule', async () => {
    await alerts.setFileRules(parseRuleFile('- name: from-file\n  expr: error_rate > 0.01\n', 'alerts.yaml'));
    expect((await post({ name: 'a', expr: 'p99_ms > 50' })).statusCode).toBe(201);
    const duplicate = await post({ name: 'a', expr: 'p99_ms > 60' });
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json()).toEqual({ error: 'alert rule "a" already exists', code: 'ALREADY_EXISTS' });

    const unknown = await app.inject({ method: 'DELETE', url: '/api/v1/alerts/rules/nope' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: 'alert rule "nope" does not exist', code: 'NOT_FOUND' });
    expect((await app.inject({ method: 'GET', url: '/api/v1/alerts/rules/nope' })).statusCode).toBe(404);

    const fileRule = await app.inject({ method: 'DELETE', url: '/api/v1/alerts/rules/from-file' });
    expect(fileRule.statusCode).toBe(409);
    expect(fileRule.json()).toMatchObject({ code: 'FAILED_PRECONDITION' });
  });

  it('answers 400 naming the problem in a bad rule', async () => {
    const badMetric = await post({ name: 'a', expr: 'latency > 5' });
    expect(badMetric.statusCode).toBe(400);
    expect(badMetric.json()).toMatchObject({
      code: 'INVALID_ARGUMENT',
      error: 'unknown metric "latency" in "latency > 5"; valid metrics: error_rate, p99_ms',
    });
    const badExpr = await post({ name: 'a', expr: 'p99_ms > 5 for ever' });
    expect(badExpr.statusCode).toBe(400);
    expect(badExpr.json<{ error: string }>().error).toBe(
      'expr "p99_ms > 5 for ever": expected a duration like 30s, 5m or 1h after "for", found "ever"',
    );
    expect((await post({ expr: 'p99_ms > 5' })).statusCode).toBe(400);
    expect((await post({ name: 'a', expr: 'p99_ms > 5', severity: 'page' })).statusCode).toBe(400);
    const notJson = await app.inject({
      method: 'POST',
      url: '/api/v1/alerts/rules',
      headers: { 'content-type': 'application/json' },
      payload: '{',
    });
    expect(notJson.statusCode).toBe(400);
  });

  it('serves the history newest first, filtered by rule, state, since and limit', async () => {
    await post({ name: 'errors', expr: 'error_rate > 0.01' });
    await post({ name: 'slow', expr: 'p99_ms > 50' });
    value = 100;
    await alerts.evaluate();
    value = 0;
    await alerts.evaluate();

    const all = await app.inject({ method: 'GET', url: '/api/v1/alerts' });
    expect(all.statusCode).toBe(200);
    const events = all.json<{ events: AlertEvent[] }>().events;
    expect(events.map((e) => [e.rule, e.state])).toEqual([
      ['slow', 'resolved'],
      ['errors', 'resolved'],
      ['slow', 'firing'],
      ['errors', 'firing'],
    ]);
    const filtered = await app.inject({ method: 'GET', url: '/api/v1/alerts?rule=errors&state=firing' });
    expect(filtered.json<{ events: AlertEvent[] }>().events.map((e) => [e.rule, e.state])).toEqual([
      ['errors', 'firing'],
    ]);
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/alerts?limit=1' })).json<{ events: AlertEvent[] }>().events,
    ).toHaveLength(1);
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/alerts?since=1h' })).json<{ events: AlertEvent[] }>().events,
    ).toHaveLength(4);
    expect((await app.inject({ method: 'GET', url: '/api/v1/alerts?since=2999-01-01T00:00:00Z' })).json()).toEqual({
      events: [],
    });

    expect((await app.inject({ method: 'GET', url: '/api/v1/alerts?limit=0' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/api/v1/alerts?state=open' })).statusCode).toBe(400);
    const badSince = await app.inject({ method: 'GET', url: '/api/v1/alerts?since=soon' });
    expect(badSince.statusCode).toBe(400);
    expect(badSince.json<{ error: string }>().error).toMatch(/^since "soon": expected an ISO timestamp/);
  });
});
