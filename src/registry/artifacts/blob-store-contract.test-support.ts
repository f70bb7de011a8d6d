/**
 * The one contract suite every BlobStore adapter runs (local, postgres, s3). Named *.test-support.ts, the repository's
 * convention for test helpers, so the production build (tsconfig.build.json) leaves it and its vitest import out.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import { sha256Of } from './blob-store.js';
import type { BlobStore } from './blob-store.js';

/** A fresh, empty store for one test, and how to tear it down. */
export interface BlobStoreUnderTest {
  readonly store: BlobStore;
  dispose(): Promise<void>;
}

/** Deterministic pseudo-random bytes (sha256 in counter mode), so a failure reproduces. */
export function testBytes(size: number, seed: string): Uint8Array {
  const out = new Uint8Array(size);
  for (let offset = 0, block = 0; offset < size; block++) {
    const chunk = createHash('sha256').update(`${seed}:${block}`).digest();
    out.set(chunk.subarray(0, Math.min(chunk.length, size - offset)), offset);
    offset += chunk.length;
  }
  return out;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return error instanceof SlipwayError ? error.code : `not a SlipwayError: ${String(error)}`;
  }
}

/**
 * The one behaviour every BlobStore adapter must have (blob-store.ts). Each adapter's test file calls this with a
 * factory for a fresh store; `skipReason` skips the whole suite (an unreachable server outside CI only).
 */
export function blobStoreContract(
  name: string,
  open: () => Promise<BlobStoreUnderTest>,
  skipReason: string | undefined = undefined,
): void {
  if (skipReason !== undefined) console.warn(`skipping ${name} blob store contract: ${skipReason}`);
  describe.skipIf(skipReason !== undefined)(`BlobStore contract [${name}]`, () => {
    let subject: BlobStoreUnderTest;
    let store: BlobStore;
    let scratch: string;
    beforeEach(async () => {
      subject = await open();
      store = subject.store;
      scratch = await mkdtemp(path.join(os.tmpdir(), 'slipway-blob-contract-'));
    });
    afterEach(async () => {
      await subject.dispose();
      await rm(scratch, { recursive: true, force: true });
    });

    it('round-trips bytes and files to equal bytes', async () => {
      const bytes = testBytes(1000, 'round-trip');
      const digest = sha256Of(bytes);
      expect(await store.has(digest)).toBe(false);
      expect(await store.put(digest, bytes)).toEqual({ created: true, sizeBytes: 1000 });
      expect(await store.has(digest)).toBe(true);
      expect(Buffer.from(await store.get(digest)).equals(Buffer.from(bytes))).toBe(true);

      const fromFile = testBytes(3000, 'from-file');
      const file = path.join(scratch, 'model.onnx');
      await writeFile(file, fromFile);
      expect(await store.put(sha256Of(fromFile), { file })).toEqual({ created: true, sizeBytes: 3000 });
      expect(sha256Of(await store.get(sha256Of(fromFile)))).toBe(sha256Of(fromFile));
    });

    it('refuses bytes that do not hash to the digest and stores nothing', async () => {
      const bytes = testBytes(500, 'wrong-hash');
      const claimed = sha256Of(testBytes(500, 'other'));
      expect(await codeOf(store.put(claimed, bytes))).toBe('INVALID_ARGUMENT');
      expect(await store.has(claimed)).toBe(false);
      expect(await store.has(sha256Of(bytes))).toBe(false);
      expect(await store.list()).toEqual([]);
      expect(await codeOf(store.put('not-a-digest', bytes))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(store.get('ABC'))).toBe('INVALID_ARGUMENT');
    });

    it('deletes: has is false, get is NOT_FOUND, deleting again is fine', async () => {
      const bytes = testBytes(200, 'delete');
      const digest = sha256Of(bytes);
      await store.put(digest, bytes);
      await store.delete(digest);
      expect(await store.has(digest)).toBe(false);
      expect(await codeOf(store.get(digest))).toBe('NOT_FOUND');
      expect(await store.list()).toEqual([]);
      await store.delete(digest);
      expect(await store.list()).toEqual([]);
    });

    it('is idempotent: a second put answers created=false and keeps one blob', async () => {
      const bytes = testBytes(300, 'twice');
      const digest = sha256Of(bytes);
      expect((await store.put(digest, bytes)).created).toBe(true);
      expect(await store.put(digest, bytes)).toEqual({ created: false, sizeBytes: 300 });
      expect(await store.list()).toEqual([digest]);
      expect(sha256Of(await store.get(digest))).toBe(digest);
    });

    it('stores a 10 MB blob byte for byte', async () => {
      const bytes = testBytes(10 * 1024 * 1024, 'ten-megabytes');
      const digest = sha256Of(bytes);
      expect(await store.put(digest, bytes)).toEqual({ created: true, sizeBytes: 10 * 1024 * 1024 });
      const back = await store.get(digest);
      expect(back.byteLength).toBe(10 * 1024 * 1024);
      expect(sha256Of(back)).toBe(digest);
    });

    it('takes concurrent puts of one blob: all succeed, one blob with the right bytes', async () => {
      const bytes = testBytes(256 * 1024, 'concurrent');
      const digest = sha256Of(bytes);
      const results = await Promise.all(Array.from({ length: 6 }, () => store.put(digest, bytes)));
      expect(results.every((result) => result.sizeBytes === bytes.byteLength)).toBe(true);
      expect(results.some((result) => result.created)).toBe(true);
      expect(await store.list()).toEqual([digest]);
      expect(sha256Of(await store.get(digest))).toBe(digest);
    });

    it('lists exactly the stored digests', async () => {
      const digests: string[] = [];
      for (let i = 0; i < 4; i++) {
        const bytes = testBytes(100 + i, `list-${i}`);
        digests.push(sha256Of(bytes));
        await store.put(sha256Of(bytes), bytes);
      }
      await store.delete(digests[1]!);
      expect((await store.list()).sort()).toEqual([digests[0], digests[2], digests[3]].sort());
    });
  });
}
