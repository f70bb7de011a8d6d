import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntityKey } from '../online/online-store.js';
import { BASE, SECOND, generate, openFeaturePlatform, type TestPlatform } from './feature-data.test-support.js';
import { materialize, type MaterializeProgress } from './materialize.js';
import type { ReferenceView, Row } from './point-in-time.test-support.js';
import { pushFeatures } from './push.js';

/** Latest row per key with start <= event <= end, ties by created (nulls last) then input order: written from the rules, not the SQL. */
function latestPerKey(view: ReferenceView, start: number, end: number): Map<string, Row> {
  const best = new Map<string, Row>();
  for (const row of view.rows) {
    const event = row[view.eventTimestamp] as number;
    if (event < start || event > end) continue;
    const id = JSON.stringify(view.joinKeys.map((k) => row[k]));
    const current = best.get(id);
    if (current === undefined || later(row, current, view)) best.set(id, row);
  }
  return best;
}

function later(row: Row, current: Row, view: ReferenceView): boolean {
  const e = row[view.eventTimestamp] as number;
  const ce = current[view.eventTimestamp] as number;
  if (e !== ce) return e > ce;
  if (view.createdTimestamp === undefined) return true;
  const c = row[view.createdTimestamp] ?? null;
  const cc = current[view.createdTimestamp] ?? null;
  if (c === null) return cc === null;
  return cc === null || (c as number) >= (cc as number);
}

function allKeys(view: ReferenceView): EntityKey[] {
  const seen = new Map<string, EntityKey>();
  for (const row of view.rows) {
    const key = Object.fromEntries(view.joinKeys.map((k) => [k, row[k] as number]));
    seen.set(JSON.stringify(key), key);
  }
  return [...seen.values()];
}

describe('materialize', () => {
  const data = generate(3);
  const [viewA, viewB] = data.views as [ReferenceView, ReferenceView];
  let platform: TestPlatform;

  beforeAll(async () => {
    platform = await openFeaturePlatform(data);
  });
  afterAll(async () => {
    await platform.dispose();
  });

  it('writes the latest row per key in [start, end] online, with its event time', async () => {
    const start = BASE + 10 * SECOND;
    const end = BASE + 40 * SECOND;
    const progress: MaterializeProgress[] = [];
    const runs = await materialize(platform.features, {
      start,
      end,
      chunkRows: 7,
      onProgress: (p) => progress.push(p),
    });
    for (const [view, features] of [
      [viewA, ['a_val', 'a_str']],
      [viewB, ['b_val']],
    ] as const) {
      const latest = latestPerKey(view, start, end);
      const run = runs.find((r) => r.view === view.name)!;
      expect(run).toMatchObject({ rows: latest.size, written: latest.size, stale: 0, startMs: start, endMs: end });
      const keys = allKeys(view);
      const values = await platform.features.online.read(view.name, features, keys);
      keys.forEach((key, i) => {
        const row = latest.get(JSON.stringify(view.joinKeys.map((k) => key[k])));
        for (const [j, feature] of features.entries()) {
          const got = values[i]![j]!;
          if (row === undefined) expect(got.status, JSON.stringify(key)).toBe('NOT_FOUND');
          else
            expect(got, `${view.name} ${JSON.stringify(key)} ${feature}`).toEqual({
              status: 'PRESENT',
              value: row[feature] ?? null,
              eventTimeMs: row[view.eventTimestamp],
            });
        }
      });
    }
    const last = progress.filter((p) => p.view === 'a').at(-1)!;
    expect(last.rows).toBe(last.total);
    expect(progress.filter((p) => p.view === 'a').length).toBeGreaterThan(2);
    expect(await platform.features.store.watermark('a')).toBe(end);
  });

  it('does not roll back a newer pushed value when an older window is materialized again', async () => {
    const row = viewB.rows.find((r) => (r.event_ts as number) <= BASE + 40 * SECOND)!;
    const key = { k1: row.k1 as number };
    await pushFeatures(platform.features, {
      view: 'b',
      rows: [{ k1: key.k1, event_ts: BASE + 500 * SECOND, b_val: 4242.5 }],
      to: 'online',
    });
    const [run] = await materialize(platform.features, { views: ['b'], start: BASE, end: BASE + 59 * SECOND });
    expect(run!.stale).toBeGreaterThanOrEqual(1);
    const value = (await platform.features.online.read('b', ['b_val'], [key]))[0]![0];
    expect(value).toMatchObject({ value: 4242.5, eventTimeMs: BASE + 500 * SECOND });
  });

  it('continues from the watermark with --incremental (now - ttl on the first run)', async () => {
    const fresh = await openFeaturePlatform(data);
    try {
      const first = await materialize(fresh.features, { views: ['a'], incremental: true, now: BASE + 30 * SECOND });
      expect(first[0]).toMatchObject({
        startMs: BASE + 20 * SECOND,
        endMs: BASE + 30 * SECOND,
        rows: latestPerKey(viewA, BASE + 20 * SECOND, BASE + 30 * SECOND).size,
      });
      const second = await materialize(fresh.features, { views: ['a'], incremental: true, now: BASE + 60 * SECOND });
      expect(second[0]).toMatchObject({ startMs: BASE + 30 * SECOND, endMs: BASE + 60 * SECOND });
      const expectedRows = latestPerKey(viewA, BASE + 30 * SECOND, BASE + 60 * SECOND);
      expect(second[0]!.rows).toBe(expectedRows.size);
      // View b has no TTL: its first incremental run reaches back 52 weeks.
      const b = await materialize(fresh.features, { views: ['b'], incremental: true, now: BASE + 60 * SECOND });
      expect(b[0]).toMatchObject({
        startMs: BASE + 60 * SECOND - 52 * 7 * 86_400_000,
        rows: latestPerKey(viewB, 0, BASE + 60 * SECOND).size,
      });
      const runs = await fresh.features.store.materializations('a');
      expect(runs.map((r) => [r.startMs, r.endMs])).toEqual([
        [BASE + 30 * SECOND, BASE + 60 * SECOND],
        [BASE + 20 * SECOND, BASE + 30 * SECOND],
      ]);
      // Every key's final online value is the latest of the whole span.
      const union = latestPerKey(viewA, BASE + 20 * SECOND, BASE + 60 * SECOND);
      const keys = allKeys(viewA);
      const values = await fresh.features.online.read('a', ['a_val'], keys);
      keys.forEach((key, i) => {
        const row = union.get(JSON.stringify([key.k1, key.k2]));
        expect(values[i]![0]!.value).toBe(row === undefined ? null : row.a_val);
      });
    } finally {
      await fresh.dispose();
    }
  });

  it('refuses an unknown view', async () => {
    await expect(materialize(platform.features, { views: ['nope'] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
