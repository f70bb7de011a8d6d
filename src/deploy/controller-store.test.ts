import { expect, it } from 'vitest';
import { describeEachDialect } from '../testing/databases.js';
import { rejection } from '../testing/rejection.js';
import { ACTIVE_STATUSES, SqlControllerStore } from './controller-store.js';

interface Spec {
  readonly candidate: string;
  readonly steps: readonly number[];
}

interface State {
  readonly step: number;
  readonly checks: readonly string[];
}

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
const spec: Spec = { candidate: '1.3.0', steps: [5, 25, 50, 100] };
const start: State = { step: 0, checks: [] };

for (const table of ['rollouts', 'experiments'] as const) {
  describeEachDialect(`ControllerStore(${table})`, (fixture) => {
    const openStore = async (): Promise<SqlControllerStore<Spec, State>> =>
      new SqlControllerStore<Spec, State>(await fixture.open(), table);

    it('inserts a running record at seq 1 and reads it back equal', async () => {
      const store = await openStore();
      const inserted = await store.insert('fraud-api', spec, start, T0);
      expect(inserted).toEqual({
        id: inserted.id,
        deployment: 'fraud-api',
        status: 'running',
        spec,
        state: start,
        reason: null,
        seq: 1,
        startedMs: T0,
        updatedMs: T0,
        finishedMs: null,
      });
      expect(Number.isInteger(inserted.id)).toBe(true);
      expect(await store.get(inserted.id)).toEqual(inserted);
      expect(await store.get(inserted.id + 1000)).toBeUndefined();
      const second = await store.insert('fraud-api', spec, start, T0);
      expect(second.id).toBeGreaterThan(inserted.id);
    });

    it('applies an update at the current seq, bumps seq and changes only what the patch names', async () => {
      const store = await openStore();
      const record = await store.insert('fraud-api', spec, start, T0);
      const stepped = await store.update(record, { state: { step: 1, checks: ['p99 ok'] } }, T0 + 1000);
      expect(stepped).toEqual({ ...record, state: { step: 1, checks: ['p99 ok'] }, seq: 2, updatedMs: T0 + 1000 });
      const paused = await store.update(stepped!, { status: 'paused', reason: 'paused by alice' }, T0 + 2000);
      expect(paused).toEqual({
        ...record,
        status: 'paused',
        state: { step: 1, checks: ['p99 ok'] },
        reason: 'paused by alice',
        seq: 3,
        updatedMs: T0 + 2000,
      });
      const resumed = await store.update(paused!, { status: 'running', reason: null }, T0 + 3000);
      expect(resumed).toMatchObject({
        status: 'running',
        reason: null,
        seq: 4,
        startedMs: T0,
        updatedMs: T0 + 3000,
        finishedMs: null,
      });
      expect(await store.get(record.id)).toEqual(resumed);
    });

    it('refuses an update at a stale seq and changes nothing', async () => {
      const store = await openStore();
      const record = await store.insert('fraud-api', spec, start, T0);
      const current = await store.update(record, { state: { step: 1, checks: [] } }, T0 + 1000);
      expect(
        await store.update(
          record,
          { status: 'failed', state: { step: 9, checks: ['late'] }, reason: 'stale', finished: true },
          T0 + 2000,
        ),
      ).toBeUndefined();
      expect(await store.get(record.id)).toEqual(current);
      expect(current?.seq).toBe(2);
    });

    it('throws CONFLICT from updateOrThrow at a stale seq, and returns the record otherwise', async () => {
      const store = await openStore();
      const record = await store.insert('fraud-api', spec, start);
      const updated = await store.updateOrThrow(record, { status: 'paused' });
      expect(updated).toMatchObject({ id: record.id, status: 'paused', seq: 2 });
      const error = await rejection(store.updateOrThrow(record, { status: 'running' }), 'CONFLICT');
      expect(error.message).toBe(`the ${table.slice(0, -1)} of "fraud-api" changed meanwhile; try again`);
      expect(await store.get(record.id)).toEqual(updated);
    });

    it('sets finishedMs when a patch finishes the record', async () => {
      const store = await openStore();
      const record = await store.insert('fraud-api', spec, start, T0);
      const done = await store.update(
        record,
        { status: 'succeeded', reason: 'promoted 1.3.0', finished: true },
        T0 + 5000,
      );
      expect(done).toEqual({
        ...record,
        status: 'succeeded',
        reason: 'promoted 1.3.0',
        seq: 2,
        updatedMs: T0 + 5000,
        finishedMs: T0 + 5000,
      });
      // finished: false (or absent) leaves finishedMs alone.
      const later = await store.update(done!, { state: { step: 4, checks: [] }, finished: false }, T0 + 9000);
      expect(later?.finishedMs).toBe(T0 + 5000);
    });

    it('finds the active record (running or paused) of a deployment only', async () => {
      const store = await openStore();
      expect(ACTIVE_STATUSES).toEqual(['running', 'paused']);
      expect(await store.active('fraud-api')).toBeUndefined();
      const old = await store.insert('fraud-api', spec, start, T0);
      await store.update(old, { status: 'failed', finished: true }, T0 + 1);
      expect(await store.active('fraud-api')).toBeUndefined();

      const current = await store.insert('fraud-api', spec, start, T0 + 2);
      const other = await store.insert('churn-api', spec, start, T0 + 3);
      expect((await store.active('fraud-api'))?.id).toBe(current.id);
      const paused = await store.update(current, { status: 'paused' });
      expect(await store.active('fraud-api')).toEqual(paused);
      const aborted = await store.update(paused!, { status: 'aborted', finished: true });
      expect(aborted?.status).toBe('aborted');
      expect(await store.active('fraud-api')).toBeUndefined();
      expect((await store.active('churn-api'))?.id).toBe(other.id);
    });

    it('lists every running record in id order, leaving paused and finished ones out', async () => {
      const store = await openStore();
      const a = await store.insert('a', spec, start);
      const b = await store.insert('b', spec, start);
      const c = await store.insert('c', spec, start);
      const d = await store.insert('a', spec, start);
      await store.update(b, { status: 'paused' });
      await store.update(c, { status: 'succeeded', finished: true });
      expect((await store.running()).map((r) => r.id)).toEqual([a.id, d.id]);
      expect((await store.running()).map((r) => r.deployment)).toEqual(['a', 'a']);
    });

    it('gives the latest record of a deployment whatever its status, and lists newest first', async () => {
      const store = await openStore();
      expect(await store.latest('fraud-api')).toBeUndefined();
      expect(await store.list('fraud-api')).toEqual([]);
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await store.insert('fraud-api', { ...spec, candidate: `1.${i}.0` }, start, T0 + i);
        ids.push(r.id);
        await store.update(r, { status: 'failed', finished: true }, T0 + i);
        await store.insert('churn-api', spec, start, T0 + i);
      }
      const latest = await store.latest('fraud-api');
      expect(latest).toMatchObject({ id: ids[4], status: 'failed', spec: { candidate: '1.4.0' }, seq: 2 });
      expect((await store.list('fraud-api')).map((r) => r.id)).toEqual([...ids].reverse());
      expect((await store.list('fraud-api', 2)).map((r) => r.id)).toEqual([ids[4], ids[3]]);
      expect((await store.list('churn-api')).every((r) => r.deployment === 'churn-api' && r.status === 'running')).toBe(
        true,
      );
    });

    it('keeps rollouts and experiments apart', async () => {
      const database = await fixture.open();
      const mine = new SqlControllerStore<Spec, State>(database, table);
      const theirs = new SqlControllerStore<Spec, State>(database, table === 'rollouts' ? 'experiments' : 'rollouts');
      await mine.insert('fraud-api', spec, start);
      expect(await theirs.latest('fraud-api')).toBeUndefined();
      expect(await theirs.running()).toEqual([]);
    });

    it('lets exactly one of two instances racing to update the same record win', async () => {
      const first = await openStore();
      const second = await openStore();
      const record = await first.insert('fraud-api', spec, start, T0);
      const seen = [await first.get(record.id), await second.get(record.id)];
      const outcomes = await Promise.all([
        first.update(seen[0]!, { status: 'succeeded', state: { step: 4, checks: ['first'] }, finished: true }, T0 + 1),
        second.update(
          seen[1]!,
          { status: 'failed', state: { step: 1, checks: ['second'] }, reason: 'gate', finished: true },
          T0 + 2,
        ),
        first.update(seen[0]!, { status: 'paused', state: { step: 2, checks: ['third'] } }, T0 + 3),
        second.update(seen[1]!, { status: 'aborted', state: { step: 3, checks: ['fourth'] } }, T0 + 4),
      ]);
      const winners = outcomes.filter((r) => r !== undefined);
      expect(winners).toHaveLength(1);
      const stored = await second.get(record.id);
      expect(stored).toEqual(winners[0]);
      expect(stored?.seq).toBe(2);
    });
  });
}
