import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import { blobStoreContract, testBytes } from './blob-store-contract.test-support.js';
import { sha256Of } from './blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';

// The S3 server is s3rver (npm, dev dependency): a fake S3 written in Node that runs in this process on a free port
// with a temp folder, so the suite needs no Docker, no binary download and no network, and runs under CI=true
// exactly as locally. It speaks the S3 REST API the AWS SDK v3 uses (path-style, SigV4 accepted).
const BUCKET = 'slipway-blobs';
let server: S3rver;
let folder: string;
let endpoint: string;

beforeAll(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'slipway-s3rver-'));
  server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: folder,
    configureBuckets: [{ name: BUCKET, configs: [] }],
  });
  const address: AddressInfo = await server.run();
  endpoint = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  await server.close();
  await rm(folder, { recursive: true, force: true });
});

const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

blobStoreContract('s3', () => {
  // A fresh prefix per test: an empty store in the shared bucket.
  const store = new S3BlobStore({
    bucket: BUCKET,
    prefix: `test-${randomBytes(6).toString('hex')}/`,
    endpoint,
    region: 'us-east-1',
    credentials: CREDENTIALS,
  });
  return Promise.resolve({
    store,
    async dispose() {
      for (const digest of await store.list()) await store.delete(digest);
      store.close();
    },
  });
});

describe('S3BlobStore', () => {
  it('keeps prefixes apart and names objects <prefix>sha256/<two hex>/<digest>', async () => {
    const a = new S3BlobStore({ bucket: BUCKET, prefix: 'a/', endpoint, credentials: CREDENTIALS });
    const b = new S3BlobStore({ bucket: BUCKET, prefix: 'b/', endpoint, credentials: CREDENTIALS });
    const bytes = testBytes(100, 'prefix');
    const digest = sha256Of(bytes);
    await a.put(digest, bytes);
    expect(await a.list()).toEqual([digest]);
    expect(await b.has(digest)).toBe(false);
    expect(await b.list()).toEqual([]);
    const objectFile = path.join(folder, BUCKET, 'a', 'sha256', digest.slice(0, 2), `${digest}._S3rver_object`);
    expect((await stat(objectFile)).size).toBe(100);
    await a.delete(digest);
    a.close();
    b.close();
  });

  it('answers UNAVAILABLE for an endpoint that does not answer', async () => {
    const store = new S3BlobStore({
      bucket: BUCKET,
      endpoint: 'http://127.0.0.1:9',
      credentials: CREDENTIALS,
      maxAttempts: 1,
    });
    const error = await store.has(sha256Of(testBytes(1, 'x'))).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SlipwayError);
    expect((error as SlipwayError).code).toBe('UNAVAILABLE');
    expect((error as SlipwayError).message).toMatch(/s3 blob store has \(bucket slipway-blobs\): S3 cannot be reached/);
    store.close();
  });

  it('refuses a prefix without a trailing slash and an empty bucket by name', () => {
    expect(() => new S3BlobStore({ bucket: BUCKET, prefix: 'models' })).toThrow(/prefix "models" must end with "\/"/);
    expect(() => new S3BlobStore({ bucket: ' ' })).toThrow(/bucket is empty/);
  });
});
