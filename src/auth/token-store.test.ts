import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { describeEachDialect } from '../testing/databases.js';
import { rejection } from '../testing/rejection.js';
import { SqlTokenStore, type TokenRow } from './token-store.js';
import { TokenService } from './token-service.js';
import { fingerprint, hashSecret, newSecret, secretMatches, tokenIdOf } from './token-secret.js';

/** The error `promise` rejects with, or undefined when it resolves. */
const failure = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

function row(overrides: Partial<TokenRow> = {}): TokenRow {
  return {
    id: 'a1b2c3d4e5f60718',
    name: 'ci',
    role: 'deploy',
    models: ['fraud', 'risk*'],
    salt: 'salt',
    hash: 'hash',
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    ...overrides,
  };
}

describe('token secrets', () => {
  it('have the slw_<id>_<random> form, name their id, and only the right secret matches the stored hash', async () => {
    const { id, secret } = newSecret();
    expect(secret).toMatch(/^slw_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(tokenIdOf(secret)).toBe(id);
    const stored = await hashSecret(secret);
    expect(stored.hash).not.toContain(secret);
    expect(await secretMatches(secret, stored)).toBe(true);
    expect(await secretMatches(`${secret.slice(0, -1)}x`, stored)).toBe(false);
    // The same secret under another salt hashes differently.
    expect((await hashSecret(secret)).hash).not.toBe(stored.hash);
    expect(tokenIdOf('short')).toBeUndefined();
    expect(tokenIdOf('an-operator-chosen-bootstrap-secret')).toBe('bootstrap');
    expect(fingerprint(secret)).toHaveLength(43);
  });
});

describe('TokenService under a burst', () => {
  it('checks a new secret once for every request carrying it, and caps checks of distinct secrets', async () => {
    let stored: TokenRow | undefined;
    const store = {
      insert: (row: TokenRow) => {
        stored = row;
        return Promise.resolve();
      },
      findById: (id: string) => Promise.resolve(stored?.id === id ? stored : undefined),
      touch: () => Promise.resolve(),
    } as unknown as SqlTokenStore;
    const service = new TokenService(store);
    const { secret } = await service.create({ name: 'ci', role: 'infer' });
    const burst = await Promise.all(Array.from({ length: 32 }, () => failure(service.verify(secret).then(() => 'ok'))));
    expect(burst.every((r) => r === undefined)).toBe(true);
    // Wrong secrets naming the real token: two scrypt checks at once, the rest told to retry.
    const wrong = await Promise.all([1, 2, 3, 4].map((n) => failure(service.verify(`${secret.slice(0, -1)}${n}`))));
    expect(wrong.map((e) => (e as SlipwayError).code)).toEqual([
      'UNAUTHENTICATED',
      'UNAUTHENTICATED',
      'UNAVAILABLE',
      'UNAVAILABLE',
    ]);
  });
});

describe('TokenService with the database down', () => {
  it('keeps a token it has seen (its last known row), and answers UNAVAILABLE for one it has not', async () => {
    let now = 1_000_000;
    let down = false;
    let stored: TokenRow | undefined;
    const store = {
      insert: (row: TokenRow) => {
        stored = row;
        return Promise.resolve();
      },
      findById: (id: string) =>
        down
          ? Promise.reject(new Error('connection refused'))
          : Promise.resolve(stored?.id === id ? stored : undefined),
      touch: () => Promise.reject(new Error('connection refused')),
    } as unknown as SqlTokenStore;
    const service = new TokenService(store, { now: () => now });
    const { secret } = await service.create({ name: 'ci', role: 'infer', expires: '10s' });
    expect(await service.verify(secret)).toMatchObject({ name: 'ci' });
    down = true;
    now += 5_000;
    expect(await service.verify(secret)).toMatchObject({ name: 'ci' });
    // Its expiry still counts.
    now += 6_000;
    expect(((await failure(service.verify(secret))) as SlipwayError).message).toBe('token "ci" has expired');
    const unseen = await failure(service.verify('slw_0123456789abcdef_never-seen-before-secret'));
    expect((unseen as SlipwayError).code).toBe('UNAVAILABLE');
  });
});

describeEachDialect('SqlTokenStore', (fixture) => {
  it('inserts, finds, lists, revokes; a name is unique among tokens not revoked', async () => {
    const store = new SqlTokenStore(await fixture.open());
    await store.insert(row());
    expect(await store.findById('a1b2c3d4e5f60718')).toEqual(row());
    const duplicate = await rejection(store.insert(row({ id: 'ffffffffffffffff' })));
    expect(duplicate).toBeInstanceOf(SlipwayError);
    expect(duplicate.code).toBe('ALREADY_EXISTS');
    expect(await store.revokeByName('ci', '2026-01-02T00:00:00.000Z')).toBe(true);
    expect(await store.revokeByName('ci', '2026-01-02T00:00:00.000Z')).toBe(false);
    // Revoked: the name is free again.
    await store.insert(row({ id: 'ffffffffffffffff', models: undefined }));
    const listed = await store.list();
    expect(listed.map((t) => [t.id, t.revokedAt, t.models])).toEqual([
      ['a1b2c3d4e5f60718', '2026-01-02T00:00:00.000Z', ['fraud', 'risk*']],
      ['ffffffffffffffff', null, undefined],
    ]);
  });

  it('counts usable tokens: neither revoked nor expired', async () => {
    const store = new SqlTokenStore(await fixture.open());
    expect(await store.countUsable('2026-06-01T00:00:00.000Z')).toBe(0);
    await store.insert(row({ id: '1111111111111111', name: 'a' }));
    await store.insert(row({ id: '2222222222222222', name: 'b', expiresAt: '2026-05-01T00:00:00.000Z' }));
    await store.insert(row({ id: '3333333333333333', name: 'c', expiresAt: '2026-07-01T00:00:00.000Z' }));
    await store.insert(row({ id: '4444444444444444', name: 'd', revokedAt: '2026-01-01T00:00:00.000Z' }));
    expect(await store.countUsable('2026-06-01T00:00:00.000Z')).toBe(2);
  });

  it('TokenService: a revocation or expiry written through one connection is refused by another within a second', async () => {
    // Two independent connections (two pools on PostgreSQL), as two servers sharing one database.
    const serverA = new TokenService(new SqlTokenStore(await fixture.open()));
    const admin = new TokenService(new SqlTokenStore(await fixture.open()));
    const { secret } = await admin.create({ name: 'ci', role: 'deploy', models: ['fraud'] });
    expect(await serverA.verify(secret)).toMatchObject({ name: 'ci', role: 'deploy', models: ['fraud'] });
    // Cached: answered without a promise.
    expect(serverA.verifyCached(secret)).toMatchObject({ name: 'ci' });
    await admin.revoke('ci');
    const revokedAt = Date.now();
    let refused: unknown;
    while (refused === undefined && Date.now() - revokedAt < 2000) {
      refused = await failure(serverA.verify(secret));
      if (refused === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(Date.now() - revokedAt).toBeLessThan(1100);
    expect((refused as SlipwayError).code).toBe('UNAUTHENTICATED');
    expect((refused as SlipwayError).message).toBe('token "ci" was revoked');

    const short = await admin.create({ name: 'short', role: 'read', expires: '300ms' });
    expect(await serverA.verify(short.secret)).toMatchObject({ name: 'short' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const expiredAt = Date.now();
    let expired: unknown;
    while (expired === undefined && Date.now() - expiredAt < 2000) {
      expired = await failure(serverA.verify(short.secret));
      if (expired === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(Date.now() - expiredAt).toBeLessThan(1100);
    expect((expired as SlipwayError).message).toBe('token "short" has expired');
    expect((await admin.list()).map((t) => [t.name, t.status])).toEqual([
      ['ci', 'revoked'],
      ['short', 'expired'],
    ]);
  });

  it('TokenService: wrong secrets, unknown ids and bad input are refused by name; list never shows a secret', async () => {
    const service = new TokenService(new SqlTokenStore(await fixture.open()));
    const { secret } = await service.create({ name: 'ops', role: 'admin' });
    const wrong = `${secret.slice(0, -2)}zz`;
    expect((await rejection(service.verify(wrong))).message).toBe('invalid token');
    expect((await rejection(service.verify('slw_0000000000000000_nope-nope-nope'))).code).toBe('UNAUTHENTICATED');
    expect((await rejection(service.create({ name: 'x', role: 'root' }))).message).toBe(
      'role "root": expected one of infer, read, deploy, admin',
    );
    expect((await rejection(service.create({ name: 'x', role: 'read', models: ['fr?ud'] }))).message).toContain(
      '--models pattern "fr?ud"',
    );
    expect((await rejection(service.create({ name: 'ops', role: 'read' }))).code).toBe('ALREADY_EXISTS');
    // A use is recorded (at most once a minute per token), without holding the request up.
    await service.verify(secret);
    for (let i = 0; i < 50 && (await service.list())[0]?.lastUsedAt === null; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await service.list())[0]?.lastUsedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const listed = JSON.stringify(await service.list());
    expect(listed).not.toContain(secret);
    expect(listed).not.toContain('hash');
    expect(listed).not.toContain('salt');
  });

  it('TokenService: the bootstrap secret becomes an admin token, replaced when it changes, never revived once revoked', async () => {
    const service = new TokenService(new SqlTokenStore(await fixture.open()));
    const first = 'bootstrap-secret-of-at-least-24-chars';
    expect(await service.ensureBootstrap(first)).toBe('created');
    expect(await service.ensureBootstrap(first)).toBe('unchanged');
    expect(await service.verify(first)).toMatchObject({ name: 'bootstrap', role: 'admin' });
    const second = 'another-bootstrap-secret-0123456789';
    expect(await service.ensureBootstrap(second)).toBe('updated');
    expect(await service.verify(second)).toMatchObject({ name: 'bootstrap' });
    await service.revoke('bootstrap');
    expect(await service.ensureBootstrap(second)).toBe('revoked');
    expect((await rejection(service.ensureBootstrap('too-short'))).code).toBe('INVALID_ARGUMENT');
  });
});
