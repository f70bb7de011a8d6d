import { expect, it } from 'vitest';
import { describeEachDialect } from '../testing/databases.js';
import { rejection } from '../testing/rejection.js';
import { SqlDeploymentStore } from './deployment-store.js';
import type { Revision } from './deployment-store.js';
import type { DeploymentSpec } from './spec.js';

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);

/** A spec with every field set, so a lossy read back shows. */
const spec = (routes: Record<string, number>, extra: Partial<DeploymentSpec> = {}): DeploymentSpec => ({
  model: 'fraud',
  routes: Object.entries(routes).map(([version, weight]) => ({ version, weight })),
  shadows: [],
  sticky: null,
  notes: null,
  ...extra,
});

const canary = spec(
  { '1.2.0': 87.5, '1.3.0': 12.5 },
  {
    shadows: [{ version: '1.4.0-rc.1', percent: 2.5 }],
    sticky: { kind: 'header', name: 'x-user-id' },
    notes: 'canary "1.3.0" — ünïcode',
  },
);

describeEachDialect('DeploymentStore', (fixture) => {
  const openStore = async (): Promise<SqlDeploymentStore> => new SqlDeploymentStore(await fixture.open());
  /**
   * A store on its own Database, standing in for another server process. Two SQLite connections
   * in one thread cannot wait for each other (the waiting one blocks the event loop the holder
   * needs, database.ts), so the loser fails at once with SQLITE_BUSY and the store's retry runs.
   */
  const openRacer = async (): Promise<SqlDeploymentStore> => {
    const database = await fixture.open();
    database.sqlite?.pragma('busy_timeout = 0');
    return new SqlDeploymentStore(database);
  };

  it('creates the deployment at revision 1 with its first commit', async () => {
    const store = await openStore();
    const first = await store.commit('fraud-api', canary, {
      source: 'user',
      why: 'first deploy',
      actor: 'alice',
      now: T0,
    });
    expect(first).toEqual({
      deployment: 'fraud-api',
      revision: 1,
      spec: canary,
      why: 'first deploy',
      source: 'user',
      intermediate: false,
      createdMs: T0,
      actor: 'alice',
    });
    const iso = new Date(T0).toISOString();
    expect(await store.get('fraud-api')).toEqual({
      name: 'fraud-api',
      model: 'fraud',
      activeRevision: 1,
      createdAt: iso,
      updatedAt: iso,
    });
    expect(await store.list()).toEqual([
      { name: 'fraud-api', model: 'fraud', activeRevision: 1, createdAt: iso, updatedAt: iso },
    ]);
    expect(await store.revision('fraud-api', 1)).toEqual(first);
    expect(await store.active('fraud-api')).toEqual(first);
    expect(await store.get('missing')).toBeUndefined();
  });

  it('appends revision n+1 on each later commit and moves the active one, keeping the creation time', async () => {
    const store = await openStore();
    await store.commit('fraud-api', spec({ '1.2.0': 100 }), { source: 'user', now: T0 });
    const second = await store.commit('fraud-api', canary, {
      source: 'rollout',
      why: 'step 1',
      intermediate: true,
      now: T0 + 1000,
    });
    const third = await store.commit('fraud-api', spec({ '1.3.0': 100 }), {
      source: 'rollout',
      why: null,
      now: T0 + 2000,
    });
    expect(second.revision).toBe(2);
    expect(second.intermediate).toBe(true);
    expect((await store.revision('fraud-api', 2)).intermediate).toBe(true);
    expect(third).toEqual({
      deployment: 'fraud-api',
      revision: 3,
      spec: spec({ '1.3.0': 100 }),
      why: null,
      source: 'rollout',
      intermediate: false,
      createdMs: T0 + 2000,
      actor: null,
    });
    expect(await store.get('fraud-api')).toEqual({
      name: 'fraud-api',
      model: 'fraud',
      activeRevision: 3,
      createdAt: new Date(T0).toISOString(),
      updatedAt: new Date(T0 + 2000).toISOString(),
    });
    expect(await store.active('fraud-api')).toEqual(third);
    expect(await store.revision('fraud-api', 2)).toEqual(second);
  });

  it('reports NOT_FOUND for an unknown deployment or revision', async () => {
    const store = await openStore();
    await store.commit('fraud-api', canary, { source: 'user', now: T0 });
    expect((await rejection(store.active('nope'), 'NOT_FOUND')).message).toBe('deployment "nope" does not exist');
    expect((await rejection(store.revision('fraud-api', 2), 'NOT_FOUND')).message).toBe(
      'deployment "fraud-api" has no revision 2',
    );
    expect((await rejection(store.revision('nope', 1), 'NOT_FOUND')).message).toBe(
      'deployment "nope" has no revision 1',
    );
    expect(await store.history('nope')).toEqual([]);
  });

  it('reads the history back oldest first, every field equal', async () => {
    const store = await openStore();
    const commits: Array<[DeploymentSpec, RevisionInput]> = [
      [spec({ '1.2.0': 100 }), { source: 'user', why: 'initial', now: T0 }],
      [canary, { source: 'rollout', why: 'canary 12.5%', now: T0 + 60_000 }],
      [spec({ '1.2.0': 100 }), { source: 'rollback', why: 'p99 gate failed', now: T0 + 120_000 }],
      [
        spec({ '1.2.0': 50, '1.3.0': 50 }, { sticky: { kind: 'input', name: 'customer_id' } }),
        { source: 'experiment', now: T0 + 180_000 },
      ],
    ];
    const written: Revision[] = [];
    for (const [s, options] of commits) written.push(await store.commit('fraud-api', s, options));
    const history = await store.history('fraud-api');
    expect(history).toEqual(written);
    expect(history.map((r) => [r.revision, r.source, r.why, r.createdMs])).toEqual([
      [1, 'user', 'initial', T0],
      [2, 'rollout', 'canary 12.5%', T0 + 60_000],
      [3, 'rollback', 'p99 gate failed', T0 + 120_000],
      [4, 'experiment', null, T0 + 180_000],
    ]);
    expect(history[1]?.spec).toEqual(canary);
  });

  it('lists every deployment with its active revision number', async () => {
    const store = await openStore();
    expect(await store.activeRevisions()).toEqual(new Map());
    await store.commit('a', spec({ '1.0.0': 100 }), { source: 'user', now: T0 });
    await store.commit('b', spec({ '1.0.0': 100 }), { source: 'user', now: T0 });
    await store.commit('b', spec({ '1.1.0': 100 }), { source: 'user', now: T0 + 1 });
    await store.commit('b', spec({ '1.2.0': 100 }), { source: 'user', now: T0 + 2 });
    expect(await store.activeRevisions()).toEqual(
      new Map([
        ['a', 1],
        ['b', 3],
      ]),
    );
    expect((await store.list()).map((d) => [d.name, d.activeRevision])).toEqual([
      ['a', 1],
      ['b', 3],
    ]);
  });

  it('gives the history of a model over its deployments only, ordered by time', async () => {
    const store = await openStore();
    const fraudA1 = await store.commit('fraud-a', spec({ '1.0.0': 100 }), { source: 'user', now: T0 + 10 });
    const fraudB1 = await store.commit('fraud-b', spec({ '2.0.0': 100 }), { source: 'user', now: T0 + 5 });
    await store.commit('churn', spec({ '1.0.0': 100 }, { model: 'churn' }), { source: 'user', now: T0 + 7 });
    const fraudA2 = await store.commit('fraud-a', spec({ '1.1.0': 100 }), { source: 'rollout', now: T0 + 30 });
    const fraudB2 = await store.commit('fraud-b', spec({ '2.1.0': 100 }), { source: 'user', now: T0 + 20 });
    expect(await store.historyOfModel('fraud')).toEqual([fraudB1, fraudA1, fraudB2, fraudA2]);
    expect((await store.historyOfModel('churn')).map((r) => r.deployment)).toEqual(['churn']);
    expect(await store.historyOfModel('unknown')).toEqual([]);
  });

  it('refuses a commit whose expected active revision is stale, writing nothing', async () => {
    const store = await openStore();
    await store.commit('fraud-api', spec({ '1.2.0': 100 }), { source: 'user', now: T0 });
    await store.commit('fraud-api', canary, { source: 'user', now: T0 + 1, expectActive: 1 });
    const before = { record: await store.get('fraud-api'), history: await store.history('fraud-api') };
    const error = await rejection(
      store.commit('fraud-api', spec({ '1.3.0': 100 }), { source: 'rollout', now: T0 + 2, expectActive: 1 }),
      'CONFLICT',
    );
    expect(error.message).toBe('deployment "fraud-api" changed meanwhile (revision 2, expected 1); read it again');
    await rejection(
      store.commit('fraud-api', spec({ '1.3.0': 100 }), { source: 'rollout', now: T0 + 2, expectActive: 3 }),
      'CONFLICT',
    );
    expect({ record: await store.get('fraud-api'), history: await store.history('fraud-api') }).toEqual(before);
    expect(before.history).toHaveLength(2);
    expect(
      (await store.commit('fraud-api', spec({ '1.3.0': 100 }), { source: 'rollout', now: T0 + 3, expectActive: 2 }))
        .revision,
    ).toBe(3);
  });

  it('creates with expectActive 0 only while the deployment does not exist', async () => {
    const store = await openStore();
    const error = await rejection(
      store.commit('fraud-api', canary, { source: 'user', now: T0, expectActive: 1 }),
      'CONFLICT',
    );
    expect(error.message).toBe('deployment "fraud-api" changed meanwhile (revision 0, expected 1); read it again');
    expect(await store.get('fraud-api')).toBeUndefined();
    expect(await store.history('fraud-api')).toEqual([]);

    expect((await store.commit('fraud-api', canary, { source: 'user', now: T0, expectActive: 0 })).revision).toBe(1);
    await rejection(store.commit('fraud-api', canary, { source: 'user', now: T0 + 1, expectActive: 0 }), 'CONFLICT');
    expect(await store.history('fraud-api')).toHaveLength(1);
  });

  it('refuses to change the model an existing deployment serves', async () => {
    const store = await openStore();
    await store.commit('fraud-api', canary, { source: 'user', now: T0 });
    const error = await rejection(
      store.commit('fraud-api', spec({ '1.0.0': 100 }, { model: 'churn' }), { source: 'user', now: T0 + 1 }),
      'CONFLICT',
    );
    expect(error.message).toBe('deployment "fraud-api" serves model "fraud", not "churn"; create another deployment');
    expect(await store.get('fraud-api')).toMatchObject({ model: 'fraud', activeRevision: 1 });
    expect(await store.history('fraud-api')).toHaveLength(1);
    expect(await store.historyOfModel('churn')).toEqual([]);
  });

  it('numbers 10 parallel commits from two instances 1..10 without gaps or duplicates', async () => {
    const first = await openRacer();
    const second = await openRacer();
    const commits = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 === 0 ? first : second).commit('fraud-api', spec({ [`1.${i}.0`]: 100 }), {
          source: 'user',
          why: `commit ${i}`,
          now: T0 + i,
        }),
      ),
    );
    expect(commits.map((r) => r.revision).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const history = await second.history('fraud-api');
    expect(history.map((r) => r.revision)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Each commit's returned revision is the one stored under its number.
    expect([...history].sort((a, b) => a.createdMs - b.createdMs)).toEqual(commits);
    const record = await first.get('fraud-api');
    expect(record?.activeRevision).toBe(10);
    expect((await first.active('fraud-api')).why).toBe(history[9]?.why);
  });

  it('lets exactly one of several commits expecting the same active revision win', async () => {
    const first = await openRacer();
    const second = await openRacer();
    await first.commit('fraud-api', spec({ '1.0.0': 100 }), { source: 'user', now: T0 });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        (i % 2 === 0 ? first : second).commit('fraud-api', spec({ [`2.${i}.0`]: 100 }), {
          source: 'rollout',
          now: T0 + 1 + i,
          expectActive: 1,
        }),
      ),
    );
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'CONFLICT' });
    expect((await second.history('fraud-api')).map((r) => r.revision)).toEqual([1, 2]);
  });

  it('deletes a deployment with its revisions, statistics, shadow results, rollouts and experiments', async () => {
    const database = await fixture.open();
    const store = new SqlDeploymentStore(database);
    for (const name of ['doomed', 'kept']) {
      await store.commit(name, canary, { source: 'user', now: T0 });
      await store.commit(name, spec({ '1.2.0': 100 }), { source: 'rollback', now: T0 + 1 });
      await database.db
        .insertInto('deployment_stats')
        .values({
          deployment: name,
          version: '1.2.0',
          slot_ms: T0,
          source: 'host/1/a',
          requests: 3,
          errors: 0,
          invalid: 0,
          rejected: 0,
          latency: new Uint8Array([1, 2, 3]),
        })
        .execute();
      await database.db
        .insertInto('shadow_results')
        .values({
          deployment: name,
          request_id: 'r1',
          time_ms: T0,
          primary_version: '1.2.0',
          shadow_version: '1.4.0-rc.1',
          primary_ms: 2,
          shadow_ms: 3,
          agree: 1,
          abs_diff_mean: null,
          abs_diff_max: null,
          error: null,
          primary_outputs: null,
          shadow_outputs: null,
        })
        .execute();
      await database.db
        .insertInto('shadow_drops')
        .values({ deployment: name, shadow_version: '1.4.0-rc.1', source: 'host/1/a', dropped: 4, updated_ms: T0 })
        .execute();
      for (const table of ['rollouts', 'experiments'] as const) {
        await database.db
          .insertInto(table)
          .values({
            deployment: name,
            status: 'running',
            spec: '{}',
            state: '{}',
            reason: null,
            seq: 1,
            started_ms: T0,
            updated_ms: T0,
            finished_ms: null,
          })
          .execute();
      }
    }
    const counts = async (name: string): Promise<number[]> => {
      const out: number[] = [];
      for (const table of [
        'deployments',
        'deployment_revisions',
        'deployment_stats',
        'shadow_results',
        'shadow_drops',
        'rollouts',
        'experiments',
      ] as const) {
        const column = table === 'deployments' ? 'name' : 'deployment';
        const row = await database.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .where(column, '=', name)
          .executeTakeFirstOrThrow();
        out.push(Number(row.n));
      }
      return out;
    };
    expect(await counts('doomed')).toEqual([1, 2, 1, 1, 1, 1, 1]);

    expect(await store.delete('doomed')).toBe(true);
    expect(await counts('doomed')).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(await counts('kept')).toEqual([1, 2, 1, 1, 1, 1, 1]);
    expect(await store.get('doomed')).toBeUndefined();
    expect(await store.activeRevisions()).toEqual(new Map([['kept', 2]]));
    expect(await store.delete('doomed')).toBe(false);
    expect(await store.delete('never-existed')).toBe(false);

    // The name is free again: a new deployment starts over at revision 1.
    expect(
      (await store.commit('doomed', spec({ '1.0.0': 100 }, { model: 'churn' }), { source: 'user', now: T0 + 5 }))
        .revision,
    ).toBe(1);
  });
});

type RevisionInput = Parameters<SqlDeploymentStore['commit']>[2];
