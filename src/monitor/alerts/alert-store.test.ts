import { expect, it } from 'vitest';
import { describeEachDialect } from '../../testing/databases.js';
import { INITIAL_STATUS } from './alert-store.js';
import type { AlertDelivery, AlertEventDraft, StoredAlertRule } from './alert-store.js';
import { validateRule } from './rule.js';
import type { AlertRule } from './rule.js';
import { SqlAlertStore } from './sql-alert-store.js';
import { rejection } from '../../testing/rejection.js';

const rule = (name: string, expr = 'p99_ms > 50 for 5m', extra: Record<string, unknown> = {}): AlertRule =>
  validateRule({ name, expr, ...extra });

function draft(ruleName: string, overrides: Partial<AlertEventDraft> = {}): AlertEventDraft {
  return {
    rule: ruleName,
    state: 'firing',
    value: 63.25,
    threshold: 50,
    expr: 'p99_ms > 50 for 5m',
    scope: { model: 'fraud', version: '1.2.0' },
    severity: 'critical',
    description: 'p99 of fraud',
    startsAt: '2024-05-01T12:05:00.000Z',
    at: '2024-05-01T12:05:00.000Z',
    delivery: null,
    ...overrides,
  };
}

describeEachDialect('AlertStore', (fixture) => {
  const openStore = async (): Promise<SqlAlertStore> => new SqlAlertStore(await fixture.open());

  it('stores a rule with every field, reads it back equal, and refuses a taken name', async () => {
    const store = await openStore();
    const written = rule('fraud-p99', 'p99_ms > 50 for 5m', {
      scope: { model: 'fraud', version: '1.2.0', deployment: 'fraud-prod' },
      webhook: 'https://hooks.example.com/a',
      severity: 'critical',
      description: 'p99 of fraud',
      enabled: false,
    });
    const stored = await store.insertRule(written, 'api');
    expect(stored).toEqual({
      ...written,
      source: 'api',
      createdAt: stored.createdAt,
      updatedAt: stored.createdAt,
      status: { state: 'ok', since: null, value: null, evaluatedAt: null },
    });
    expect(new Date(stored.createdAt).toISOString()).toBe(stored.createdAt);
    expect(await store.getRule('fraud-p99')).toEqual(stored);
    expect(await store.insertRule(rule('a-first', 'error_rate > 0.01'), 'api')).toMatchObject({
      name: 'a-first',
      enabled: true,
      scope: {},
    });
    expect((await store.listRules()).map((r) => r.name)).toEqual(['a-first', 'fraud-p99']);

    const error = await rejection(store.insertRule(rule('fraud-p99'), 'api'), 'ALREADY_EXISTS');
    expect(error.message).toBe('alert rule "fraud-p99" already exists');
    expect(await store.getRule('nope')).toBeUndefined();
  });

  it('deletes a rule but keeps its history', async () => {
    const store = await openStore();
    const stored = await store.insertRule(rule('fraud-p99'), 'api');
    await store.saveEvaluation([
      {
        rule: 'fraud-p99',
        definedAt: stored.updatedAt,
        from: INITIAL_STATUS,
        status: { state: 'firing', since: 't', value: 1, evaluatedAt: 't' },
        event: draft('fraud-p99'),
      },
    ]);
    expect(await store.deleteRule('fraud-p99')).toBe(true);
    expect(await store.deleteRule('fraud-p99')).toBe(false);
    expect(await store.getRule('fraud-p99')).toBeUndefined();
    expect((await store.listEvents({ limit: 10 })).map((e) => e.rule)).toEqual(['fraud-p99']);
  });

  it('saves states and events together, skipping rules deleted or changed since they were read', async () => {
    const store = await openStore();
    const a = await store.insertRule(rule('a'), 'api');
    const b = await store.insertRule(rule('b'), 'api');
    const status = {
      state: 'firing' as const,
      since: '2024-05-01T12:05:00.000Z',
      value: 63.25,
      evaluatedAt: '2024-05-01T12:05:00.000Z',
    };
    const events = await store.saveEvaluation([
      { rule: 'a', definedAt: a.updatedAt, from: INITIAL_STATUS, status, event: draft('a') },
      { rule: 'b', definedAt: 'an older definition', from: INITIAL_STATUS, status, event: draft('b') },
      { rule: 'gone', definedAt: a.updatedAt, from: INITIAL_STATUS, status, event: draft('gone') },
      {
        rule: 'b',
        definedAt: b.updatedAt,
        from: INITIAL_STATUS,
        status: { state: 'pending', since: 'x', value: 1, evaluatedAt: 'x' },
      },
    ]);
    expect(events).toEqual([{ ...draft('a'), id: events[0]!.id, endsAt: null }]);
    expect((await store.getRule('a'))?.status).toEqual(status);
    expect((await store.getRule('b'))?.status).toEqual({ state: 'pending', since: 'x', value: 1, evaluatedAt: 'x' });
    expect(await store.saveEvaluation([])).toEqual([]);
  });

  it('records a transition once when two evaluators race from the same state', async () => {
    const store = await openStore();
    const stored = await store.insertRule(rule('a'), 'api');
    const firing = {
      state: 'firing' as const,
      since: '2024-05-01T12:05:00.000Z',
      value: 60,
      evaluatedAt: '2024-05-01T12:05:00.000Z',
    };
    const update = { rule: 'a', definedAt: stored.updatedAt, from: INITIAL_STATUS, status: firing, event: draft('a') };
    expect(await store.saveEvaluation([update])).toHaveLength(1);
    expect(await store.saveEvaluation([{ ...update, status: { ...firing, value: 61 } }])).toEqual([]);
    expect((await store.getRule('a'))?.status).toEqual(firing);
    const stillFiring = { ...firing, value: 62, evaluatedAt: '2024-05-01T12:06:00.000Z' };
    expect(
      await store.saveEvaluation([{ rule: 'a', definedAt: stored.updatedAt, from: firing, status: stillFiring }]),
    ).toEqual([]);
    expect((await store.getRule('a'))?.status).toEqual(stillFiring);
    expect(await store.listEvents({ limit: 10 })).toHaveLength(1);
  });

  it('lists events newest first, filtered by rule, state and since, and records deliveries', async () => {
    const store = await openStore();
    const stored = await store.insertRule(rule('a'), 'api');
    const status = { state: 'ok' as const, since: null, value: null, evaluatedAt: null };
    const at = (minute: number) => `2024-05-01T12:${String(minute).padStart(2, '0')}:00.000Z`;
    const pending: AlertDelivery = {
      status: 'pending',
      delivered: false,
      attempts: 0,
      targets: [{ notifier: 'webhook', target: 'https://h.example', delivered: false, attempts: 0 }],
    };
    for (const [minute, ruleName, state] of [
      [1, 'a', 'firing'],
      [2, 'a', 'resolved'],
      [3, 'b', 'firing'],
      [4, 'a', 'firing'],
    ] as const) {
      await store.saveEvaluation([
        {
          rule: 'a',
          definedAt: stored.updatedAt,
          from: status,
          status,
          event: draft(ruleName, { state, at: at(minute), delivery: pending }),
        },
      ]);
    }
    const all = await store.listEvents({ limit: 10 });
    expect(all.map((e) => [e.at, e.rule, e.state])).toEqual([
      [at(4), 'a', 'firing'],
      [at(3), 'b', 'firing'],
      [at(2), 'a', 'resolved'],
      [at(1), 'a', 'firing'],
    ]);
    expect(all[2]!.endsAt).toBe(at(2));
    expect((await store.listEvents({ limit: 2 })).map((e) => e.at)).toEqual([at(4), at(3)]);
    expect((await store.listEvents({ limit: 10, rule: 'a', state: 'firing' })).map((e) => e.at)).toEqual([
      at(4),
      at(1),
    ]);
    expect((await store.listEvents({ limit: 10, since: at(3) })).map((e) => e.at)).toEqual([at(4), at(3)]);

    const delivered: AlertDelivery = {
      status: 'delivered',
      delivered: true,
      attempts: 3,
      targets: [{ notifier: 'webhook', target: 'https://h.example', delivered: true, attempts: 3 }],
    };
    await store.setDelivery(all[0]!.id, delivered);
    expect((await store.listEvents({ limit: 1 }))[0]!.delivery).toEqual(delivered);
    expect((await store.listEvents({ limit: 1, rule: 'b' }))[0]!.delivery).toEqual(pending);
  });

  it('syncs file rules: inserts, updates in place keeping state, deletes the missing, leaves API rules alone', async () => {
    const store = await openStore();
    await store.insertRule(rule('api-rule'), 'api');
    await store.replaceFileRules([rule('f1'), rule('f2', 'error_rate > 0.01')]);
    const f1 = (await store.getRule('f1'))!;
    expect(f1.source).toBe('file');
    await store.saveEvaluation([
      {
        rule: 'f1',
        definedAt: f1.updatedAt,
        from: INITIAL_STATUS,
        status: { state: 'pending', since: 's', value: 60, evaluatedAt: 's' },
      },
    ]);

    await new Promise((resolve) => setTimeout(resolve, 5));
    await store.replaceFileRules([rule('f1', 'p99_ms > 40 for 5m'), rule('f3', 'accuracy < 0.9')]);
    const rules = await store.listRules();
    expect(rules.map((r): [string, string, string] => [r.name, r.source, r.expr])).toEqual([
      ['api-rule', 'api', 'p99_ms > 50 for 5m'],
      ['f1', 'file', 'p99_ms > 40 for 5m'],
      ['f3', 'file', 'accuracy < 0.9'],
    ]);
    const updated = rules.find((r) => r.name === 'f1') as StoredAlertRule;
    expect(updated.status).toEqual({ state: 'pending', since: 's', value: 60, evaluatedAt: 's' });
    expect(updated.createdAt).toBe(f1.createdAt);
    expect(updated.updatedAt > f1.updatedAt).toBe(true);

    const unchanged = (await store.getRule('f3'))!.updatedAt;
    await store.replaceFileRules([rule('f1', 'p99_ms > 40 for 5m'), rule('f3', 'accuracy < 0.9')]);
    expect((await store.getRule('f3'))!.updatedAt).toBe(unchanged);
  });

  it('refuses file rules named like API rules, naming them and changing nothing', async () => {
    const store = await openStore();
    await store.insertRule(rule('taken'), 'api');
    await store.replaceFileRules([rule('f1')]);
    const error = await rejection(store.replaceFileRules([rule('taken'), rule('f2')]), 'ALREADY_EXISTS');
    expect(error.message).toBe(
      'alert rule "taken" from the rule file also exists as an API rule; rename it in the file or delete the API rule (slipway alerts rm taken)',
    );
    expect((await store.listRules()).map((r) => [r.name, r.source])).toEqual([
      ['f1', 'file'],
      ['taken', 'api'],
    ]);
    await rejection(store.insertRule(rule('f1'), 'api'), 'ALREADY_EXISTS');
  });

  it('keeps rules, state and history across reopening', async () => {
    const first = await openStore();
    const stored = await first.insertRule(rule('a'), 'api');
    await first.saveEvaluation([
      {
        rule: 'a',
        definedAt: stored.updatedAt,
        from: INITIAL_STATUS,
        status: { state: 'firing', since: 's', value: 1.5, evaluatedAt: 's' },
        event: draft('a'),
      },
    ]);
    await first.close();
    const second = await openStore();
    expect((await second.getRule('a'))?.status).toEqual({ state: 'firing', since: 's', value: 1.5, evaluatedAt: 's' });
    expect(await second.listEvents({ limit: 5 })).toHaveLength(1);
  });

  it('refuses use after close', async () => {
    const store = await openStore();
    await store.close();
    await store.close();
    await rejection(store.listRules(), 'UNAVAILABLE');
  });
});
