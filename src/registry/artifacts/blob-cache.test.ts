import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import { BlobCache } from './blob-cache.js';
import { testBytes } from './blob-store-contract.test-support.js';
import { sha256Of } from './blob-store.js';
import type { BlobSource, BlobStore } from './blob-store.js';
import { LocalBlobStore } from './local-blob-store.js';

/** A store that counts its reads and can be told to answer wrong bytes. */
class CountingStore implements BlobStore {
  readonly kind = 'local' as const;
  gets = 0;
  corrupt = false;
  constructor(private readonly inner: LocalBlobStore) {}
  put(sha256: string, source: BlobSource) {
    return this.inner.put(sha256, source);
  }
  has(sha256: string) {
    return this.inner.has(sha256);
  }
  async get(sha256: string) {
    this.gets++;
    const bytes = await this.inner.get(sha256);
    if (!this.corrupt) return bytes;
    const copy = Uint8Array.from(bytes);
    copy[0] = copy[0]! ^ 0xff;
    return copy;
  }
  delete(sha256: string) {
    return this.inner.delete(sha256);
  }
  list() {
    return this.inner.list();
  }
}

describe('BlobCache', () => {
  let scratch: string;
  let store: CountingStore;
  let cacheRoot: string;
  const blobs = [0, 1, 2, 3].map((i) => testBytes(100, `cache-${i}`));
  const digests = blobs.map(sha256Of);

  beforeEach(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'slipway-blob-cache-'));
    store = new CountingStore(new LocalBlobStore(path.join(scratch, 'store')));
    for (const [i, bytes] of blobs.entries()) await store.put(digests[i]!, bytes);
    cacheRoot = path.join(scratch, 'cache');
  });
  afterEach(() => rm(scratch, { recursive: true, force: true }));

  it('fetches a miss once into <root>/<digest> with the stored bytes, then serves hits locally', async () => {
    const cache = new BlobCache({ store, root: cacheRoot, maxBytes: 1000 });
    const file = await cache.path(digests[0]!);
    expect(file).toBe(path.join(cacheRoot, digests[0]!));
    expect(sha256Of(await readFile(file))).toBe(digests[0]);
    expect(await cache.path(digests[0]!)).toBe(file);
    expect(store.gets).toBe(1);
    expect(await cache.usage()).toEqual({ blobs: 1, bytes: 100 });
  });

  it('shares one download among concurrent requests for a blob', async () => {
    const cache = new BlobCache({ store, root: cacheRoot, maxBytes: 1000 });
    const files = await Promise.all(Array.from({ length: 5 }, () => cache.path(digests[1]!)));
    expect(new Set(files).size).toBe(1);
    expect(store.gets).toBe(1);
  });

  it('refuses bytes that do not hash to the digest and leaves nothing in the cache folder', async () => {
    store.corrupt = true;
    const cache = new BlobCache({ store, root: cacheRoot, maxBytes: 1000 });
    const error = await cache.path(digests[0]!).catch((caught: unknown) => caught);
    expect((error as SlipwayError).code).toBe('INTERNAL');
    expect((error as SlipwayError).message).toMatch(/answered bytes hashing to [0-9a-f]{64} for blob/);
    expect(await readdir(cacheRoot)).toEqual([]);
    expect(await cache.usage()).toEqual({ blobs: 0, bytes: 0 });
  });

  it('passes the store NOT_FOUND through', async () => {
    const cache = new BlobCache({ store, root: cacheRoot, maxBytes: 1000 });
    const error = await cache.path(sha256Of(testBytes(5, 'absent'))).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SlipwayError);
    expect((error as SlipwayError).code).toBe('NOT_FOUND');
  });

  it('evicts the least recently used blob beyond maxBytes', async () => {
    const cache = new BlobCache({ store, root: cacheRoot, maxBytes: 250 });
    await cache.path(digests[0]!);
    await cache.path(digests[1]!);
    await cache.path(digests[0]!); // 0 is now more recent than 1
    await cache.path(digests[2]!); // 300 bytes > 250: 1 goes
    expect(await cache.cached()).toEqual([digests[0], digests[2]]);
    expect((await readdir(cacheRoot)).sort()).toEqual([digests[0], digests[2]].sort());
    expect(await cache.usage()).toEqual({ blobs: 2, bytes: 200 });
    expect(store.gets).toBe(3);
  });

  it('never evicts a leased blob; once released, the next fetch evicts it and the rest beyond the cap', async () => {
    const cache = new BlobCache({ store, root: cacheRoot, maxBytes: 150 });
    const lease = await cache.acquire(digests[0]!);
    // 200 > 150, but 0 is leased and 1 is held until its caller has its path: both stay, over the cap.
    await cache.path(digests[1]!);
    expect(await cache.cached()).toEqual([digests[0], digests[1]]);
    expect(sha256Of(await readFile(lease.path))).toBe(digests[0]);
    lease.release();
    await cache.path(digests[2]!);
    expect(await cache.cached()).toEqual([digests[2]]);
    expect(await readdir(cacheRoot)).toEqual([digests[2]]);
  });

  it('reuses files a previous process left and removes its unfinished temporaries', async () => {
    const first = new BlobCache({ store, root: cacheRoot, maxBytes: 1000 });
    await first.path(digests[0]!);
    await first.path(digests[1]!);
    await writeFile(path.join(cacheRoot, '.tmp-abandoned'), 'partial');
    const second = new BlobCache({ store, root: cacheRoot, maxBytes: 1000 });
    expect(await second.usage()).toEqual({ blobs: 2, bytes: 200 });
    await second.path(digests[1]!);
    expect(store.gets).toBe(2);
    expect((await readdir(cacheRoot)).sort()).toEqual([digests[0], digests[1]].sort());
  });

  it('refuses a non-positive maxBytes and a malformed digest by name', async () => {
    expect(() => new BlobCache({ store, root: cacheRoot, maxBytes: 0 })).toThrow(/maxBytes must be a positive number/);
    const cache = new BlobCache({ store, root: cacheRoot, maxBytes: 10 });
    await expect(cache.path('xyz')).rejects.toThrow(/blob cache: "xyz" is not a sha256 digest/);
  });
});
