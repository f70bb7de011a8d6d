import { expect, it } from 'vitest';
import type { Signature } from '../tensor/datatypes.js';
import { describeEachDialect } from '../testing/databases.js';
import { rejection } from '../testing/rejection.js';
import { SqlRegistryStore } from './sql-registry-store.js';
import type { VersionDraft, VersionPlanner } from './types.js';

const signature: Signature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
};
const digest = (c: string): string => c.repeat(64);

function draft(model: string, sha256: string): VersionDraft {
  return {
    model,
    description: '',
    signature,
    artifact: { sha256, sizeBytes: 10, format: 'onnx' },
    card: null,
    metrics: {},
    params: {},
    tags: {},
    lineage: {},
  };
}

const exactly =
  (version: string): VersionPlanner =>
  () => ({ version, schemaChange: { comparedTo: null, requiredBump: null, appliedBump: 'initial', differences: [] } });

/** The store's half of blob lifetime (registry/artifact-leases.ts), on both dialects. */
describeEachDialect('RegistryStore artifact leases', (fixture) => {
  const openStore = async (): Promise<SqlRegistryStore> => new SqlRegistryStore(await fixture.open());

  it('collects only digests no version (archived included) and no live lease names', async () => {
    const store = await openStore();
    await store.insertVersion(draft('fraud', digest('a')), exactly('1.0.0'));
    await store.insertVersion(draft('fraud', digest('b')), exactly('1.1.0'));
    await store.archiveVersion('fraud', '1.0.0');
    const lease = await store.leaseArtifact(digest('c'), 60_000);
    const removed: string[] = [];
    const collected = await store.collectArtifacts([digest('a'), digest('b'), digest('c'), digest('d')], (sha) =>
      Promise.resolve(void removed.push(sha)),
    );
    expect(collected).toEqual([digest('d')]);
    expect(removed).toEqual([digest('d')]);

    // Releasing the lease (a refused push) frees its digest; an expired lease protects nothing.
    expect(await store.collectArtifacts([digest('c')], () => Promise.resolve(), { release: lease })).toEqual([
      digest('c'),
    ]);
    await store.leaseArtifact(digest('e'), -1);
    expect(await store.collectArtifacts([digest('e')], () => Promise.resolve())).toEqual([digest('e')]);
  });

  it('hands a live lease to the version row and refuses an expired one', async () => {
    const store = await openStore();
    const lease = await store.leaseArtifact(digest('a'), 60_000);
    const record = await store.insertVersion(draft('fraud', digest('a')), exactly('1.0.0'), { lease });
    expect(record.artifact.sha256).toBe(digest('a'));
    // The lease is gone (used once), the row protects the digest now.
    await rejection(store.insertVersion(draft('fraud', digest('a')), exactly('1.1.0'), { lease }), 'UNAVAILABLE');
    expect(await store.collectArtifacts([digest('a')], () => Promise.resolve())).toEqual([]);

    const expired = await store.leaseArtifact(digest('b'), -1);
    const error = await rejection(
      store.insertVersion(draft('fraud', digest('b')), exactly('1.1.0'), { lease: expired }),
      'UNAVAILABLE',
    );
    expect(error.message).toMatch(/took longer than its artifact lease.*push again/);
    expect(await store.getVersion('fraud', '1.1.0')).toBeUndefined();
  });

  it('refuses a digest the model already has when asked to, naming the version', async () => {
    const store = await openStore();
    await store.insertVersion(draft('fraud', digest('a')), exactly('1.0.0'));
    await store.archiveVersion('fraud', '1.0.0');
    const error = await rejection(
      store.insertVersion(draft('fraud', digest('a')), exactly('1.1.0'), { refuseDuplicate: true }),
      'ALREADY_EXISTS',
    );
    expect(error.message).toBe(
      `model "fraud": same artifact as 1.0.0, archived (sha256 aaaaaaaaaaaa…); pass --allow-duplicate (API: allow_duplicate) to register it again`,
    );
    expect(error.details).toEqual({ sameAs: '1.0.0', sha256: digest('a') });
    // Another model may hold the same bytes; without the check the same model may too.
    expect(
      (await store.insertVersion(draft('other', digest('a')), exactly('1.0.0'), { refuseDuplicate: true })).version,
    ).toBe('1.0.0');
    expect((await store.insertVersion(draft('fraud', digest('a')), exactly('1.1.0'))).version).toBe('1.1.0');
  });
});
