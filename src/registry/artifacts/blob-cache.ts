import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { SlipwayError } from '../../core/errors.js';
import { assertDigest, isDigest, sha256Of } from './blob-store.js';
import type { BlobStore } from './blob-store.js';

export interface BlobCacheOptions {
  /** Where blobs come from on a miss (a shared PostgreSQL or S3 store). */
  readonly store: BlobStore;
  /** A folder on this node, used only by this cache: `<root>/<digest>` plus `.tmp-*` files of fetches in flight. */
  readonly root: string;
  /** Evict least-recently-used blobs once the cached bytes exceed this; must be positive. */
  readonly maxBytes: number;
}

/** A cached blob held open against eviction until `release` is called. */
export interface BlobLease {
  /** The local file, for ONNX Runtime to open. */
  readonly path: string;
  readonly sizeBytes: number;
  release(): void;
}

interface Entry {
  sizeBytes: number;
  lastUsed: number;
  pins: number;
}

/**
 * A node-local, content-addressed cache in front of a shared BlobStore, so ONNX Runtime opens a local file whatever
 * the store. A miss downloads to a temporary file, checks that the bytes hash to the digest (a store that answers
 * other bytes is refused, nothing cached), fsyncs and renames into place; beyond `maxBytes` the least recently used
 * blobs that no lease holds are removed. A blob larger than `maxBytes` on its own is still served (the cache then
 * holds just it). Concurrent requests for one digest share one download. Files found in `root` at start (a restart)
 * are reused, ordered by their modification time.
 */
export class BlobCache {
  readonly #store: BlobStore;
  readonly #root: string;
  readonly #maxBytes: number;
  readonly #entries = new Map<string, Entry>();
  readonly #fetching = new Map<string, Promise<Entry>>();
  #loaded: Promise<void> | undefined;
  #clock = 0;

  constructor(options: BlobCacheOptions) {
    if (!Number.isFinite(options.maxBytes) || options.maxBytes <= 0) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `blob cache maxBytes must be a positive number, got ${options.maxBytes}`,
      );
    }
    this.#store = options.store;
    this.#root = options.root;
    this.#maxBytes = options.maxBytes;
  }

  /** The blob's local file, fetched from the store on a miss, held against eviction until released. */
  async acquire(sha256: string): Promise<BlobLease> {
    assertDigest(sha256, 'blob cache');
    await this.#load();
    const hit = this.#entries.get(sha256);
    // A hit refreshes the file's modification time: the order a restarted cache evicts in.
    if (hit !== undefined) await utimes(this.#file(sha256), new Date(), new Date()).catch(() => undefined);
    const entry = hit ?? (await this.#fetch(sha256));
    entry.pins++;
    entry.lastUsed = this.#tick();
    let released = false;
    return {
      path: this.#file(sha256),
      sizeBytes: entry.sizeBytes,
      release: () => {
        if (released) return;
        released = true;
        entry.pins--;
      },
    };
  }

  /** The blob's local file without a lease: for a caller that opens it at once (eviction may remove it later). */
  async path(sha256: string): Promise<string> {
    const lease = await this.acquire(sha256);
    lease.release();
    return lease.path;
  }

  /** What the cache holds now. */
  async usage(): Promise<{ blobs: number; bytes: number }> {
    await this.#load();
    let bytes = 0;
    for (const entry of this.#entries.values()) bytes += entry.sizeBytes;
    return { blobs: this.#entries.size, bytes };
  }

  /** Digests cached now, least recently used first. */
  async cached(): Promise<string[]> {
    await this.#load();
    return [...this.#entries].sort((a, b) => a[1].lastUsed - b[1].lastUsed).map(([digest]) => digest);
  }

  #fetch(sha256: string): Promise<Entry> {
    let pending = this.#fetching.get(sha256);
    if (pending === undefined) {
      pending = this.#download(sha256).finally(() => this.#fetching.delete(sha256));
      this.#fetching.set(sha256, pending);
    }
    return pending;
  }

  async #download(sha256: string): Promise<Entry> {
    const bytes = await this.#store.get(sha256);
    const actual = sha256Of(bytes);
    if (actual !== sha256) {
      throw new SlipwayError(
        'INTERNAL',
        `blob cache: the ${this.#store.kind} blob store answered bytes hashing to ${actual} for blob ${sha256}; not cached`,
      );
    }
    const temp = path.join(this.#root, `.tmp-${sha256.slice(0, 12)}-${randomBytes(6).toString('hex')}`);
    try {
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.#file(sha256));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    const entry: Entry = { sizeBytes: bytes.byteLength, lastUsed: this.#tick(), pins: 1 };
    this.#entries.set(sha256, entry);
    try {
      await this.#evict();
    } finally {
      entry.pins--;
    }
    return entry;
  }

  /** Remove least-recently-used, unleased blobs until the cache fits `maxBytes` (or only leased ones are left). */
  async #evict(): Promise<void> {
    let total = 0;
    for (const entry of this.#entries.values()) total += entry.sizeBytes;
    const candidates = [...this.#entries]
      .filter(([, entry]) => entry.pins === 0)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [digest, entry] of candidates) {
      if (total <= this.#maxBytes) break;
      this.#entries.delete(digest);
      total -= entry.sizeBytes;
      await rm(this.#file(digest), { force: true });
    }
  }

  #load(): Promise<void> {
    this.#loaded ??= (async () => {
      await mkdir(this.#root, { recursive: true });
      const found: { digest: string; sizeBytes: number; mtimeMs: number }[] = [];
      for (const name of await readdir(this.#root)) {
        const full = path.join(this.#root, name);
        // A temporary file here is a download a previous process never finished.
        if (name.startsWith('.tmp-')) await rm(full, { force: true });
        else if (isDigest(name)) {
          const info = await stat(full);
          if (info.isFile()) found.push({ digest: name, sizeBytes: info.size, mtimeMs: info.mtimeMs });
        }
      }
      found.sort((a, b) => a.mtimeMs - b.mtimeMs);
      for (const file of found) {
        this.#entries.set(file.digest, { sizeBytes: file.sizeBytes, lastUsed: this.#tick(), pins: 0 });
      }
      await this.#evict();
    })();
    return this.#loaded;
  }

  #file(sha256: string): string {
    return path.join(this.#root, sha256);
  }

  /** A logical clock: strictly increasing, so two uses in one millisecond still order. */
  #tick(): number {
    return ++this.#clock;
  }
}
