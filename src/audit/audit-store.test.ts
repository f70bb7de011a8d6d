import { expect, it } from 'vitest';
import { describeEachDialect } from '../testing/databases.js';
import { AuditLog } from './audit-log.js';
import { parseAuditQuery } from './audit-query.js';
import { SqlAuditStore, type AuditEventInput } from './audit-store.js';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');

const event = (
  minute: number,
  actor: string,
  action: string,
  extra: Partial<AuditEventInput> = {},
): AuditEventInput => ({
  timeMs: T0 + minute * 60_000,
  actor,
  action,
  outcome: 'ok',
  ...extra,
});

describeEachDialect('AuditStore', (fixture) => {
  it('stores every field and reads it back equal, newest first', async () => {
    const store = new SqlAuditStore(await fixture.open());
    await store.insert([
      event(0, 'ci', 'model.push', {
        actorRole: 'admin',
        address: '10.0.0.7',
        target: 'fraud@1.0.0',
        details: { reason: 'first', nested: { n: 1 } },
        requestId: 'req-1',
      }),
      event(1, 'anonymous', 'alias.set', { outcome: 'NOT_FOUND' }),
    ]);
    const page = await store.list();
    expect(page).toEqual({
      events: [
        {
          id: 2,
          time: '2026-12-01T10:01:00.000Z',
          actor: 'anonymous',
          actorRole: null,
          address: null,
          action: 'alias.set',
          target: null,
          details: null,
          outcome: 'NOT_FOUND',
          requestId: null,
        },
        {
          id: 1,
          time: '2026-12-01T10:00:00.000Z',
          actor: 'ci',
          actorRole: 'admin',
          address: '10.0.0.7',
          action: 'model.push',
          target: 'fraud@1.0.0',
          details: { reason: 'first', nested: { n: 1 } },
          outcome: 'ok',
          requestId: 'req-1',
        },
      ],
    });
  });

  it('filters by time, actor and action prefix, and pages by id without gaps or repeats', async () => {
    const store = new SqlAuditStore(await fixture.open());
    await store.insert([
      event(0, 'ci', 'model.push'),
      event(1, 'ops', 'rollout.start'),
      event(2, 'ci', 'rollout.pause'),
      event(3, 'ci', 'rollouts_x.odd'),
      event(4, 'ops', 'deployment.rollback'),
      event(5, 'ci', 'model%push'),
    ]);
    const actions = async (text: Parameters<typeof parseAuditQuery>[0]) =>
      (await store.list(parseAuditQuery(text, T0 + 10 * 60_000))).events.map((e) => `${e.actor}:${e.action}`);
    expect(await actions({ actor: 'ci' })).toEqual([
      'ci:model%push',
      'ci:rollouts_x.odd',
      'ci:rollout.pause',
      'ci:model.push',
    ]);
    expect(await actions({ action: 'rollout.' })).toEqual(['ci:rollout.pause', 'ops:rollout.start']);
    expect(await actions({ action: 'rollout' })).toEqual([
      'ci:rollouts_x.odd',
      'ci:rollout.pause',
      'ops:rollout.start',
    ]);
    // A prefix means itself: % is not a wildcard.
    expect(await actions({ action: 'model%' })).toEqual(['ci:model%push']);
    expect(await actions({ since: '7m' })).toEqual(['ci:model%push', 'ops:deployment.rollback', 'ci:rollouts_x.odd']);
    expect(await actions({ since: '2026-12-01T10:04:00Z', actor: 'ops' })).toEqual(['ops:deployment.rollback']);
    expect(await actions({ since: String(T0 + 5 * 60_000) })).toEqual(['ci:model%push']);

    const first = await store.list({ limit: 4 });
    expect(first.events.map((e) => e.id)).toEqual([6, 5, 4, 3]);
    expect(first.next).toBe(3);
    const second = await store.list({ limit: 4, beforeId: first.next });
    expect(second.events.map((e) => e.id)).toEqual([2, 1]);
    expect(second.next).toBeUndefined();
    const exact = await store.list({ limit: 2, beforeId: 3 });
    expect(exact.events.map((e) => e.id)).toEqual([2, 1]);
    expect(exact.next).toBeUndefined();
  });

  it('the audit log writes what it records, and keeps what a closed database refused for a retry', async () => {
    const database = await fixture.open();
    const lines: string[] = [];
    const log = new AuditLog(new SqlAuditStore(database), (line) => lines.push(line));
    log.record(
      { principal: { name: 'ci', role: 'deploy' }, address: '::1', requestId: 'r1' },
      { action: 'alias.set', target: 'fraud:champion', outcome: 'ok' },
    );
    await log.flush();
    const [written] = (await log.list({})).events;
    expect(written).toMatchObject({
      actor: 'ci',
      actorRole: 'deploy',
      address: '::1',
      action: 'alias.set',
      target: 'fraud:champion',
      outcome: 'ok',
      requestId: 'r1',
    });
    expect(Math.abs(Date.parse(written!.time) - Date.now())).toBeLessThan(5_000);

    const big = { blob: 'x'.repeat(5000) };
    log.record({ principal: { name: 'ci' } }, { action: 'config.set', details: big, outcome: 'ok' });
    await log.flush();
    expect((await log.list({ limit: 1 })).events[0]!.details).toEqual({ truncated: true, chars: 5011 });

    // A second store on a database that is closed: record never throws, the failure is logged once.
    const closed = await fixture.open();
    await closed.close();
    const failing = new AuditLog(new SqlAuditStore(closed), (line) => lines.push(line));
    expect(() => failing.record({ principal: { name: 'x' } }, { action: 'model.push', outcome: 'ok' })).not.toThrow();
    await failing.flush();
    expect(
      lines.some(
        (line) => line.startsWith('audit trail: could not record a change') && line.includes('1 kept for a retry'),
      ),
    ).toBe(true);
  });
});

it('refuses bad filters by name', () => {
  expect(() => parseAuditQuery({ since: 'yesterday' })).toThrow(/since "yesterday"/);
  expect(() => parseAuditQuery({ limit: '0' })).toThrow(/limit "0" must be an integer from 1 to 1000/);
  expect(() => parseAuditQuery({ limit: '1001' })).toThrow(/limit "1001"/);
  expect(() => parseAuditQuery({ before: '-1' })).toThrow(/before "-1"/);
  expect(() => parseAuditQuery({ actor: '' })).toThrow(/actor must not be empty/);
  expect(parseAuditQuery({ since: '1h' }, 10_000_000)).toEqual({ sinceMs: 10_000_000 - 3_600_000, limit: 100 });
});
