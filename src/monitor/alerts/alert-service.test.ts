import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import { openDatabase } from '../../store/database.js';
import type { Database } from '../../store/database.js';
import { AlertService } from './alert-service.js';
import type { AlertLogEvent, MetricReader } from './alert-service.js';
import type { AlertScope } from './rule.js';
import { openAlertService } from './open-alert-service.js';
import { parseRuleFile } from './rule-file.js';
import { SqlAlertStore } from './sql-alert-store.js';

const METRICS = ['p99_ms', 'error_rate', 'drift_share', 'accuracy'];
const T0 = Date.parse('2024-05-01T12:00:00.000Z');
const MINUTE = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** Metric values set by the test; a missing key is "no data". */
class Metrics {
  readonly values = new Map<string, number | Error>();
  readonly reads: Array<[string, AlertScope]> = [];
  set(metric: string, value: number | Error | undefined): void {
    if (value === undefined) this.values.delete(metric);
    else this.values.set(metric, value);
  }
  readonly read: MetricReader = (metric, scope) => {
    this.reads.push([metric, scope]);
    const value = this.values.get(metric);
    return value instanceof Error ? Promise.reject(value) : Promise.resolve(value);
  };
}

describe('AlertService', () => {
  let folder: string;
  let clock: number;
  let metrics: Metrics;
  let logs: AlertLogEvent[];
  const opened: Array<{ database: Database; service: AlertService }> = [];

  async function open(): Promise<AlertService> {
    const database = await openDatabase({ sqlitePath: path.join(folder, 'slipway.db') });
    const service = new AlertService({
      store: new SqlAlertStore(database),
      knownMetrics: METRICS,
      readMetric: metrics.read,
      now: () => clock,
      log: (event) => logs.push(event),
    });
    opened.push({ database, service });
    return service;
  }

  beforeEach(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'slipway-alerts-'));
    clock = T0;
    metrics = new Metrics();
    logs = [];
  });
  afterEach(async () => {
    for (const { service, database } of opened.splice(0)) {
      await service.close();
      await database.close();
    }
    await rm(folder, { recursive: true, force: true });
  });

  const at = (minutes: number) => (clock = T0 + minutes * MINUTE);
  const stateOf = async (service: AlertService, name: string) => (await service.getRule(name)).status;

  it('goes pending, fires only once the condition held for "for", stays firing, then resolves', async () => {
    const alerts = await open();
    await alerts.addRule({
      name: 'fraud-p99',
      expr: 'p99_ms > 50 for 5m',
      scope: { model: 'fraud' },
      severity: 'critical',
      description: 'p99 of fraud',
    });

    metrics.set('p99_ms', 60);
    expect(await alerts.evaluate()).toEqual([]);
    expect(await stateOf(alerts, 'fraud-p99')).toEqual({
      state: 'pending',
      since: iso(T0),
      value: 60,
      evaluatedAt: iso(T0),
    });
    at(4);
    metrics.set('p99_ms', 70);
    expect(await alerts.evaluate()).toEqual([]);
    expect((await stateOf(alerts, 'fraud-p99')).state).toBe('pending');

    at(5);
    metrics.set('p99_ms', 65);
    const [fired, ...more] = await alerts.evaluate();
    expect(more).toEqual([]);
    expect(fired).toEqual({
      id: fired!.id,
      rule: 'fraud-p99',
      state: 'firing',
      value: 65,
      threshold: 50,
      expr: 'p99_ms > 50 for 5m',
      scope: { model: 'fraud' },
      severity: 'critical',
      description: 'p99 of fraud',
      startsAt: iso(T0 + 5 * MINUTE),
      endsAt: null,
      at: iso(T0 + 5 * MINUTE),
      delivery: null,
    });
    at(6);
    expect(await alerts.evaluate()).toEqual([]);

    at(7);
    metrics.set('p99_ms', 41);
    const [resolved] = await alerts.evaluate();
    expect(resolved).toMatchObject({
      state: 'resolved',
      value: 41,
      startsAt: iso(T0 + 5 * MINUTE),
      endsAt: iso(T0 + 7 * MINUTE),
      at: iso(T0 + 7 * MINUTE),
    });
    expect(await stateOf(alerts, 'fraud-p99')).toEqual({
      state: 'ok',
      since: iso(T0 + 7 * MINUTE),
      value: 41,
      evaluatedAt: iso(T0 + 7 * MINUTE),
    });

    expect(logs.map((event) => [event.type, event.level, event.message])).toEqual([
      ['alert', 'warn', 'alert fraud-p99 firing: value 65 (p99_ms > 50 for 5m) scope model=fraud severity critical'],
      [
        'alert',
        'info',
        'alert fraud-p99 resolved after 2m: value 41 (p99_ms > 50 for 5m) scope model=fraud severity critical',
      ],
    ]);
    expect((await alerts.history()).map((event) => [event.state, event.at])).toEqual([
      ['resolved', iso(T0 + 7 * MINUTE)],
      ['firing', iso(T0 + 5 * MINUTE)],
    ]);
    expect(metrics.reads[0]).toEqual(['p99_ms', { model: 'fraud' }]);
  });

  it('fires at once without "for", and a pending rule that recovers goes back to ok silently', async () => {
    const alerts = await open();
    await alerts.addRule({ name: 'errors', expr: 'error_rate > 0.01' });
    await alerts.addRule({ name: 'slow', expr: 'p99_ms > 50 for 5m' });
    metrics.set('error_rate', 0.05);
    metrics.set('p99_ms', 80);
    expect((await alerts.evaluate()).map((event) => [event.rule, event.state])).toEqual([['errors', 'firing']]);

    at(3);
    metrics.set('p99_ms', 20);
    expect(await alerts.evaluate()).toEqual([]);
    expect(await stateOf(alerts, 'slow')).toMatchObject({ state: 'ok', since: iso(T0 + 3 * MINUTE) });

    at(10);
    metrics.set('p99_ms', 80);
    expect(await alerts.evaluate()).toEqual([]);
    expect(await stateOf(alerts, 'slow')).toMatchObject({ state: 'pending', since: iso(T0 + 10 * MINUTE) });
    expect(logs.filter((event) => event.type === 'alert')).toHaveLength(1);
  });

  it('keeps the state when there is no data: no event, no transition, pending keeps its start', async () => {
    const alerts = await open();
    await alerts.addRule({ name: 'errors', expr: 'error_rate > 0.01' });
    await alerts.addRule({ name: 'slow', expr: 'p99_ms > 50 for 5m' });
    metrics.set('error_rate', 0.05);
    metrics.set('p99_ms', 80);
    await alerts.evaluate();
    const firing = await stateOf(alerts, 'errors');

    at(2);
    metrics.set('error_rate', undefined);
    metrics.set('p99_ms', Number.NaN);
    expect(await alerts.evaluate()).toEqual([]);
    expect(await stateOf(alerts, 'errors')).toEqual(firing);
    expect(await stateOf(alerts, 'slow')).toMatchObject({ state: 'pending', since: iso(T0), value: 80 });

    at(6);
    metrics.set('p99_ms', 81);
    expect((await alerts.evaluate()).map((event) => [event.rule, event.state, event.startsAt])).toEqual([
      ['slow', 'firing', iso(T0 + 6 * MINUTE)],
    ]);
  });

  it('reports a failing metric read, treats it as no data, and still evaluates the other rules', async () => {
    const alerts = await open();
    await alerts.addRule({ name: 'drift', expr: 'drift_share >= 0.5' });
    await alerts.addRule({ name: 'errors', expr: 'error_rate > 0.01' });
    metrics.set('drift_share', new Error('duckdb is down'));
    metrics.set('error_rate', 1);
    expect((await alerts.evaluate()).map((event) => event.rule)).toEqual(['errors']);
    expect(logs[0]).toMatchObject({
      type: 'error',
      level: 'error',
      rule: 'drift',
      message: 'alert rule drift: reading drift_share failed: duckdb is down',
    });
    expect((await stateOf(alerts, 'drift')).state).toBe('ok');
  });

  it('keeps state across a restart: a rule pending before fires after "for" in the new process', async () => {
    const first = await open();
    await first.addRule({ name: 'slow', expr: 'p99_ms > 50 for 5m' });
    metrics.set('p99_ms', 80);
    await first.evaluate();
    await first.close();

    const second = await open();
    at(5);
    const events = await second.evaluate();
    expect(events.map((event) => [event.rule, event.state])).toEqual([['slow', 'firing']]);
    await second.close();

    const third = await open();
    at(6);
    expect(await third.evaluate()).toEqual([]);
    metrics.set('p99_ms', 10);
    expect((await third.evaluate()).map((event) => [event.state, event.startsAt])).toEqual([
      ['resolved', iso(T0 + 5 * MINUTE)],
    ]);
  });

  it('skips disabled rules and picks up rules another process added', async () => {
    const server = await open();
    const cli = await open();
    await cli.addRule({ name: 'off', expr: 'error_rate > 0', enabled: false });
    await cli.addRule({ name: 'on', expr: 'error_rate > 0' });
    metrics.set('error_rate', 1);
    expect((await server.evaluate()).map((event) => event.rule)).toEqual(['on']);
    expect((await server.getRule('off')).status.state).toBe('ok');
  });

  it('never overlaps evaluations', async () => {
    const alerts = await open();
    await alerts.addRule({ name: 'errors', expr: 'error_rate > 0' });
    let inFlight = 0;
    let most = 0;
    const slow = new AlertService({
      store: new SqlAlertStore(opened[0]!.database),
      knownMetrics: METRICS,
      readMetric: async () => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight--;
        return 1;
      },
      now: () => clock,
      log: () => undefined,
    });
    const results = await Promise.all([slow.evaluate(), slow.evaluate(), slow.evaluate()]);
    expect(most).toBe(1);
    expect(results.map((events) => events.length)).toEqual([1, 0, 0]);
  });

  it('runs a periodic loop that reports errors instead of throwing, and stops', async () => {
    const alerts = await open();
    await alerts.addRule({ name: 'errors', expr: 'error_rate > 0' });
    metrics.set('error_rate', 1);
    alerts.start(5);
    expect(() => alerts.start(5)).toThrow('the alert loop is already running');
    await waitFor(() => metrics.reads.length >= 3);
    expect((await alerts.history()).map((event) => event.state)).toEqual(['firing']);

    // Pull the database out from under the loop: every evaluation now fails, and is reported.
    await opened[0]!.database.close();
    await waitFor(() => logs.filter((event) => event.type === 'error').length >= 2);
    expect(logs.find((event) => event.type === 'error')?.message).toMatch(/^alert evaluation failed: /);
    await alerts.stop();
    const errors = logs.length;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(logs.length).toBe(errors);
    expect(() => alerts.start(0)).toThrow('alert interval 0: expected an integer of ms from 1 to 2147483647');
  });

  describe('rules', () => {
    it('adds, lists and removes API rules; refuses duplicates, unknown names and file rules', async () => {
      const alerts = await open();
      await alerts.setFileRules(parseRuleFile('- name: from-file\n  expr: accuracy < 0.9\n', 'alerts.yaml'));
      const added = await alerts.addRule({ name: 'api', expr: 'p99_ms > 50' });
      expect(added).toMatchObject({ name: 'api', source: 'api', severity: 'warning', status: { state: 'ok' } });
      expect((await alerts.listRules()).map((rule) => [rule.name, rule.source])).toEqual([
        ['api', 'api'],
        ['from-file', 'file'],
      ]);

      await expectCode(
        alerts.addRule({ name: 'api', expr: 'p99_ms > 60' }),
        'ALREADY_EXISTS',
        'alert rule "api" already exists',
      );
      await expectCode(
        alerts.addRule({ name: 'from-file', expr: 'p99_ms > 60' }),
        'ALREADY_EXISTS',
        'alert rule "from-file" already exists',
      );
      await expectCode(
        alerts.addRule({ name: 'x', expr: 'latency > 1' }),
        'INVALID_ARGUMENT',
        'unknown metric "latency" in "latency > 1"; valid metrics: accuracy, drift_share, error_rate, p99_ms',
      );
      await expectCode(
        alerts.removeRule('from-file'),
        'FAILED_PRECONDITION',
        'alert rule "from-file" comes from the rule file; remove it there and restart the server',
      );
      await expectCode(alerts.removeRule('nope'), 'NOT_FOUND', 'alert rule "nope" does not exist');
      expect((await alerts.removeRule('api')).name).toBe('api');
      expect((await alerts.listRules()).map((rule) => rule.name)).toEqual(['from-file']);
    });

    it('opens over a database with the rule file synced: added, changed, removed on the next open', async () => {
      const file = path.join(folder, 'alerts.yaml');
      const database = await openDatabase({ sqlitePath: path.join(folder, 'slipway.db') });
      const openWith = async (text: string) => {
        await writeFile(file, text);
        const service = await openAlertService(database, {
          readMetric: metrics.read,
          log: (event) => logs.push(event),
          ruleFile: file,
          now: () => clock,
        });
        opened.push({ database, service });
        return service;
      };
      const first = await openWith(
        '- name: p99\n  expr: p99_ms > 50 for 5m\n- name: drift\n  expr: drift_share >= 0.5\n',
      );
      metrics.set('p99_ms', 80);
      await first.evaluate();
      const second = await openWith('rules:\n  - name: p99\n    expr: p99_ms > 40 for 5m\n    severity: critical\n');
      expect(
        (await second.listRules()).map((rule) => [rule.name, rule.source, rule.expr, rule.severity, rule.status.state]),
      ).toEqual([['p99', 'file', 'p99_ms > 40 for 5m', 'critical', 'pending']]);
      await expect(openWith('- name: bad\n  expr: qps > 1\n')).rejects.toThrow(
        /^invalid alert rule file .*alerts\.yaml:\n {2}rule 1 \(bad\): unknown metric "qps"/,
      );
    });

    it('checks file rules against the known metrics, reporting all of them', async () => {
      const alerts = await open();
      const rules = parseRuleFile(
        '- name: a\n  expr: latency > 1\n- name: b\n  expr: qps < 1\n- name: c\n  expr: p99_ms > 1\n',
        'alerts.yaml',
      );
      await expectCode(
        alerts.setFileRules(rules),
        'INVALID_ARGUMENT',
        'invalid alert rules:\n' +
          '  rule "a": unknown metric "latency" in "latency > 1"; valid metrics: accuracy, drift_share, error_rate, p99_ms\n' +
          '  rule "b": unknown metric "qps" in "qps < 1"; valid metrics: accuracy, drift_share, error_rate, p99_ms',
      );
      expect(await alerts.listRules()).toEqual([]);
    });

    it('validates history queries', async () => {
      const alerts = await open();
      await expectCode(
        alerts.history({ state: 'open' }),
        'INVALID_ARGUMENT',
        'state "open": expected firing or resolved',
      );
      await expectCode(
        alerts.history({ limit: '0' }),
        'INVALID_ARGUMENT',
        'limit 0: expected an integer from 1 to 1000',
      );
      await expectCode(
        alerts.history({ limit: 1001 }),
        'INVALID_ARGUMENT',
        'limit 1001: expected an integer from 1 to 1000',
      );
      await expectCode(
        alerts.history({ since: 'yesterday' }),
        'INVALID_ARGUMENT',
        'since "yesterday": expected an ISO timestamp (2024-05-01T12:00:00Z) or a duration back from now (1h)',
      );
      await alerts.addRule({ name: 'errors', expr: 'error_rate > 0' });
      metrics.set('error_rate', 1);
      await alerts.evaluate();
      at(120);
      expect(await alerts.history({ since: '1h' })).toEqual([]);
      expect(await alerts.history({ since: '3h' })).toHaveLength(1);
      expect(
        await alerts.history({ since: '2024-05-01T12:00:00Z', rule: 'errors', state: 'firing', limit: '5' }),
      ).toHaveLength(1);
    });
  });
});

async function expectCode(promise: Promise<unknown>, code: string, message: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(SlipwayError);
  expect({ code: (error as SlipwayError).code, message: (error as SlipwayError).message }).toEqual({ code, message });
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
