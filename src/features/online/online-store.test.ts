import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import { encodeEntityKey } from './online-store.js';
import type { EntityKey, OnlineRow, OnlineStore } from './online-store.js';
import { openRedisOnlineStore } from './redis/redis-online-store.js';
import { openSqliteOnlineStore } from './sqlite/sqlite-online-store.js';

/** One contract suite, every backend. Redis is skipped only when unreachable and CI is not 'true'. */
const REDIS_URL = process.env.SLIPWAY_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

interface Backend {
  readonly name: string;
  readonly skipReason: string | undefined;
  /** A fresh, empty store plus a disposer that removes its storage. */
  create(): Promise<{ store: OnlineStore; dispose: () => Promise<void> }>;
}

const redisProblem = await probeRedis(REDIS_URL);

const BACKENDS: readonly Backend[] = [
  {
    name: 'sqlite',
    skipReason: undefined,
    async create() {
      const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-online-'));
      const store = openSqliteOnlineStore({ path: path.join(folder, 'online.db') });
      return { store, dispose: () => fs.rm(folder, { recursive: true, force: true }) };
    },
  },
  {
    name: 'redis',
    skipReason:
      redisProblem === undefined || process.env.CI === 'true'
        ? undefined
        : `Redis unreachable at ${REDIS_URL}: ${redisProblem}`,
    async create() {
      const keyPrefix = `slipway-test:${randomBytes(6).toString('hex')}:`;
      const store = await openRedisOnlineStore({ url: REDIS_URL, keyPrefix });
      return { store, dispose: () => deleteRedisPrefix(REDIS_URL, keyPrefix) };
    },
  },
];

const T0 = 1_700_000_000_000;

for (const backend of BACKENDS) {
  if (backend.skipReason !== undefined) console.warn(`skipping OnlineStore [${backend.name}]: ${backend.skipReason}`);
  describe.skipIf(backend.skipReason !== undefined)(`OnlineStore [${backend.name}]`, () => {
    let store: OnlineStore;
    let dispose: () => Promise<void>;
    beforeEach(async () => {
      ({ store, dispose } = await backend.create());
    });
    afterEach(async () => {
      await store.close();
      await dispose();
    });

    it('round-trips numbers, strings, booleans and null with their types', async () => {
      const values = {
        int: 42,
        float: -1.5,
        text: 'Oslo "north"',
        empty: '',
        yes: true,
        no: false,
        nothing: null,
        numeric: '7',
      };
      expect(await store.write('driver', [{ key: { driver_id: 1 }, values, eventTimeMs: T0 }])).toEqual({
        written: 1,
        stale: 0,
      });
      const [row] = await store.read('driver', Object.keys(values), [{ driver_id: 1 }], { now: T0 });
      expect(row?.map((v) => v.value)).toEqual(Object.values(values));
      expect(row?.every((v) => v.status === 'PRESENT' && v.eventTimeMs === T0)).toBe(true);
    });

    it('keeps composite keys apart and ignores key order', async () => {
      const keys: EntityKey[] = [
        { a: '1', b: '23' },
        { a: '12', b: '3' },
        { a: 1, b: 23 },
        { a: '1', c: '23' },
      ];
      await store.write(
        'v',
        keys.map((key, index) => ({ key, values: { i: index }, eventTimeMs: T0 })),
      );
      const rows = await store.read('v', ['i'], [...keys, { b: '23', a: '1' }], { now: T0 });
      expect(rows.map((row) => row[0]?.value)).toEqual([0, 1, 2, 3, 0]);
      expect(encodeEntityKey({ a: '1', b: '23' })).not.toBe(encodeEntityKey({ a: '12', b: '3' }));
    });

    it('keeps views apart and deleteView removes only one view', async () => {
      await store.write('a', [{ key: { id: 1 }, values: { x: 'a' }, eventTimeMs: T0 }]);
      await store.write('a:b', [{ key: { id: 1 }, values: { x: 'ab' }, eventTimeMs: T0 }]);
      expect((await store.read('a', ['x'], [{ id: 1 }], { now: T0 }))[0]?.[0]?.value).toBe('a');
      await store.deleteView('a');
      expect((await store.read('a', ['x'], [{ id: 1 }], { now: T0 }))[0]?.[0]?.status).toBe('NOT_FOUND');
      expect((await store.read('a:b', ['x'], [{ id: 1 }], { now: T0 }))[0]?.[0]?.value).toBe('ab');
    });

    it('deleteKeys removes only the given keys of one view, so a normal write is accepted again', async () => {
      // A value stamped far in the future shadows every real value until then (issue 13 item 2).
      const poison = Date.UTC(99_999, 0, 1);
      await store.write('v', [
        { key: { id: 1, region: 'eu' }, values: { x: 'poison' }, eventTimeMs: poison },
        { key: { id: 2, region: 'eu' }, values: { x: 'other' }, eventTimeMs: T0 },
      ]);
      await store.write('w', [{ key: { id: 1, region: 'eu' }, values: { x: 'other view' }, eventTimeMs: T0 }]);
      expect(
        await store.write('v', [{ key: { region: 'eu', id: 1 }, values: { x: 'real' }, eventTimeMs: T0 }]),
      ).toEqual({ written: 0, stale: 1 });
      // Key order does not matter; an absent key and a repeated key count once or not at all.
      expect(
        await store.deleteKeys('v', [
          { region: 'eu', id: 1 },
          { id: 1, region: 'eu' },
          { id: 3, region: 'eu' },
        ]),
      ).toBe(1);
      expect(await store.deleteKeys('v', [{ id: 1, region: 'eu' }])).toBe(0);
      expect(await store.deleteKeys('v', [])).toBe(0);
      expect((await store.read('v', ['x'], [{ id: 1, region: 'eu' }], { now: T0 }))[0]?.[0]).toEqual({
        status: 'NOT_FOUND',
        value: null,
        eventTimeMs: null,
      });
      expect(
        await store.write('v', [{ key: { id: 1, region: 'eu' }, values: { x: 'real' }, eventTimeMs: T0 }]),
      ).toEqual({ written: 1, stale: 0 });
      const rows = await store.read(
        'v',
        ['x'],
        [
          { id: 1, region: 'eu' },
          { id: 2, region: 'eu' },
        ],
        { now: T0 },
      );
      expect(rows.map((row) => row[0]?.value)).toEqual(['real', 'other']);
      expect((await store.read('w', ['x'], [{ id: 1, region: 'eu' }], { now: T0 }))[0]?.[0]?.value).toBe('other view');
      // 1 and "1" are different keys: deleting one leaves the other.
      await store.write('v', [{ key: { id: '2', region: 'eu' }, values: { x: 'text key' }, eventTimeMs: T0 }]);
      expect(await store.deleteKeys('v', [{ id: '2', region: 'eu' }])).toBe(1);
      expect((await store.read('v', ['x'], [{ id: 2, region: 'eu' }], { now: T0 }))[0]?.[0]?.value).toBe('other');
      await expect(store.deleteKeys('', [{ id: 1 }])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(store.deleteKeys('v', [{}])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('ignores and counts an older event; a newer one replaces the snapshot', async () => {
      const key = { id: 'k' };
      await store.write('v', [{ key, values: { x: 2, y: 'keep?' }, eventTimeMs: T0 + 10 }]);
      expect(await store.write('v', [{ key, values: { x: 1 }, eventTimeMs: T0 }])).toEqual({ written: 0, stale: 1 });
      expect((await store.read('v', ['x', 'y'], [key], { now: T0 + 10 }))[0]?.map((v) => v.value)).toEqual([
        2,
        'keep?',
      ]);
      expect(await store.write('v', [{ key, values: { x: 3 }, eventTimeMs: T0 + 20 }])).toEqual({
        written: 1,
        stale: 0,
      });
      const [row] = await store.read('v', ['x', 'y'], [key], { now: T0 + 20 });
      expect(row).toEqual([
        { status: 'PRESENT', value: 3, eventTimeMs: T0 + 20 },
        { status: 'NOT_FOUND', value: null, eventTimeMs: null },
      ]);
    });

    it('on equal event time the later createdTimeMs wins, a tie keeps the stored row', async () => {
      const key = { id: 1 };
      await store.write('v', [{ key, values: { x: 'first' }, eventTimeMs: T0, createdTimeMs: 5 }]);
      expect(
        await store.write('v', [{ key, values: { x: 'older-created' }, eventTimeMs: T0, createdTimeMs: 4 }]),
      ).toEqual({ written: 0, stale: 1 });
      expect(
        await store.write('v', [{ key, values: { x: 'same-created' }, eventTimeMs: T0, createdTimeMs: 5 }]),
      ).toEqual({ written: 0, stale: 1 });
      expect(await store.write('v', [{ key, values: { x: 'no-created' }, eventTimeMs: T0 }])).toEqual({
        written: 0,
        stale: 1,
      });
      expect(await store.write('v', [{ key, values: { x: 'later' }, eventTimeMs: T0, createdTimeMs: 6 }])).toEqual({
        written: 1,
        stale: 0,
      });
      expect((await store.read('v', ['x'], [key], { now: T0 }))[0]?.[0]?.value).toBe('later');
    });

    it('applies staleness within one batch, in order', async () => {
      const rows: OnlineRow[] = [
        { key: { id: 1 }, values: { x: 'b' }, eventTimeMs: T0 + 2 },
        { key: { id: 1 }, values: { x: 'a' }, eventTimeMs: T0 + 1 },
        { key: { id: 1 }, values: { x: 'c' }, eventTimeMs: T0 + 3 },
        { key: { id: 2 }, values: { x: 'z' }, eventTimeMs: T0 },
      ];
      expect(await store.write('v', rows)).toEqual({ written: 3, stale: 1 });
      expect((await store.read('v', ['x'], [{ id: 1 }, { id: 2 }], { now: T0 })).map((r) => r[0]?.value)).toEqual([
        'c',
        'z',
      ]);
    });

    it('reports PRESENT, EXPIRED and NOT_FOUND against an explicit clock', async () => {
      await store.write('v', [
        { key: { id: 'fresh' }, values: { x: 1 }, eventTimeMs: T0 - 1000 },
        { key: { id: 'old' }, values: { x: 2 }, eventTimeMs: T0 - 1001 },
      ]);
      const rows = await store.read('v', ['x', 'missing'], [{ id: 'fresh' }, { id: 'old' }, { id: 'absent' }], {
        now: T0,
        ttlMs: 1000,
      });
      expect(rows).toEqual([
        [
          { status: 'PRESENT', value: 1, eventTimeMs: T0 - 1000 },
          { status: 'NOT_FOUND', value: null, eventTimeMs: null },
        ],
        [
          { status: 'EXPIRED', value: null, eventTimeMs: T0 - 1001 },
          { status: 'NOT_FOUND', value: null, eventTimeMs: null },
        ],
        [
          { status: 'NOT_FOUND', value: null, eventTimeMs: null },
          { status: 'NOT_FOUND', value: null, eventTimeMs: null },
        ],
      ]);
      // Without a TTL nothing expires.
      expect((await store.read('v', ['x'], [{ id: 'old' }], { now: T0 + 1e9 }))[0]?.[0]?.status).toBe('PRESENT');
    });

    it('returns results in the order of keys and features, repeats included', async () => {
      await store.write('v', [
        { key: { id: 1 }, values: { a: 'a1', b: 'b1' }, eventTimeMs: T0 },
        { key: { id: 2 }, values: { a: 'a2', b: 'b2' }, eventTimeMs: T0 },
      ]);
      const rows = await store.read('v', ['b', 'a', 'b'], [{ id: 2 }, { id: 3 }, { id: 1 }, { id: 2 }], { now: T0 });
      expect(rows.map((row) => row.map((v) => v.value))).toEqual([
        ['b2', 'a2', 'b2'],
        [null, null, null],
        ['b1', 'a1', 'b1'],
        ['b2', 'a2', 'b2'],
      ]);
      expect(await store.read('v', ['a'], [], { now: T0 })).toEqual([]);
    });

    it('reads a batch of 1,000 keys', async () => {
      const rows = Array.from({ length: 1000 }, (_, i): OnlineRow => ({
        key: { user: i, region: `r${i % 7}` },
        values: { score: i * 0.5, label: `u${i}` },
        eventTimeMs: T0 + i,
      }));
      expect(await store.write('users', rows)).toEqual({ written: 1000, stale: 0 });
      const keys = rows.map((row) => row.key).reverse();
      const result = await store.read('users', ['label', 'score'], keys, { now: T0 + 1000, ttlMs: 500 });
      expect(result).toHaveLength(1000);
      result.forEach((row, index) => {
        const i = 999 - index;
        const expired = T0 + i < T0 + 500;
        expect(row).toEqual(
          expired
            ? [
                { status: 'EXPIRED', value: null, eventTimeMs: T0 + i },
                { status: 'EXPIRED', value: null, eventTimeMs: T0 + i },
              ]
            : [
                { status: 'PRESENT', value: `u${i}`, eventTimeMs: T0 + i },
                { status: 'PRESENT', value: i * 0.5, eventTimeMs: T0 + i },
              ],
        );
      });
    });

    it('rejects invalid input with INVALID_ARGUMENT', async () => {
      await expect(store.write('v', [{ key: {}, values: { x: 1 }, eventTimeMs: T0 }])).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(
        store.write('v', [{ key: { id: 1 }, values: { x: Number.NaN }, eventTimeMs: T0 }]),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(store.read('', ['x'], [{ id: 1 }], {})).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('closes idempotently and refuses use after close', async () => {
      await store.close();
      await store.close();
      const error: unknown = await store.read('v', ['x'], [{ id: 1 }], {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SlipwayError);
      expect((error as SlipwayError).code).toBe('FAILED_PRECONDITION');
      await expect(store.write('v', [])).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await expect(store.deleteKeys('v', [{ id: 1 }])).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    });
  });
}

/** undefined when Redis answers PING, else what went wrong. */
async function probeRedis(url: string): Promise<string | undefined> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message || error.name : String(error);
  } finally {
    redis.disconnect();
  }
}

async function deleteRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
