import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { LocalArtifactStore } from '../artifact-store.js';
import { blobStoreContract, testBytes } from './blob-store-contract.test-support.js';
import { sha256Of } from './blob-store.js';
import { LocalBlobStore } from './local-blob-store.js';

blobStoreContract('local', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'slipway-local-blobs-'));
  return { store: new LocalBlobStore(root), dispose: () => rm(root, { recursive: true, force: true }) };
});

it('reads and writes the layout LocalArtifactStore already uses', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'slipway-local-blobs-'));
  try {
    const old = testBytes(700, 'existing registry');
    const { sha256 } = await new LocalArtifactStore(root).put(old);
    const store = new LocalBlobStore(root);
    expect(await store.list()).toEqual([sha256]);
    expect(sha256Of(await store.get(sha256))).toBe(sha256);
    const fresh = testBytes(900, 'fresh');
    await store.put(sha256Of(fresh), fresh);
    const file = path.join(root, 'sha256', sha256Of(fresh).slice(0, 2), sha256Of(fresh));
    expect(store.localPath(sha256Of(fresh))).toBe(file);
    expect(sha256Of(await readFile(file))).toBe(sha256Of(fresh));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
