import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { createOrtBackend } from '../runtime/onnx/ort-backend.js';
import { describeEachDialect } from '../testing/databases.js';
import { fixtureBytes } from '../testing/fixtures.js';
import { LocalArtifactStore } from './artifact-store.js';
import { blobFiles, variant } from './artifacts.test-support.js';
import { RegistryService, type PushInput } from './registry-service.js';
import { SqlRegistryStore } from './sql-registry-store.js';

const backend = createOrtBackend();

/**
 * Issue 13 item 1: a refused push deleted the blob of an accepted push of the same bytes (it saw
 * the blob as its own and unreferenced, then the other push committed). Many pushes race here,
 * accepted and refused, of identical and different bytes, through several registry instances on
 * one blob folder and one database (PostgreSQL: one pool each, as several servers would have).
 */
describeEachDialect('artifact lifetime under concurrent pushes', (fixture) => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'slipway-blobs-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('keeps the blob of every accepted version and leaves no unreferenced blob', async () => {
    const instances = fixture.dialect === 'postgres' ? 3 : 1;
    const services: RegistryService[] = [];
    for (let i = 0; i < instances; i++) {
      services.push(
        new RegistryService({
          store: new SqlRegistryStore(await fixture.open()),
          artifacts: new LocalArtifactStore(root),
          // The real check a push makes (platform.ts): it gives other pushes time to interleave.
          verifyArtifact: async (file) => void (await (await backend.load({ path: file })).release()),
        }),
      );
    }
    const base = fixtureBytes('breast_cancer.onnx');
    await services[0]!.push({ name: 'race', bytes: base });
    await services[0]!.push({ name: 'other', bytes: fixtureBytes('breast_cancer_retrained.onnx') });

    const outcomes = { accepted: 0, refused: 0 };
    for (let round = 0; round < 6; round++) {
      // New bytes every round (the refused push may be the one that writes the blob), plus bytes
      // that already have a blob (an existing version's).
      const fresh = variant(base, `round ${round}`);
      const pushes: PushInput[] = [];
      for (let k = 0; k < 3; k++) {
        pushes.push({ name: 'race', bytes: fresh, allowDuplicate: true });
        pushes.push({ name: 'race', bytes: fresh, version: '0.0.1' }); // lower than the newest: refused
        pushes.push({ name: 'other', bytes: fresh, version: '0.0.1' });
      }
      pushes.push({ name: 'race', bytes: base, allowDuplicate: true });
      pushes.push({ name: 'race', bytes: base, version: '0.0.1' });
      pushes.push({ name: 'other', bytes: variant(base, `other ${round}`), version: '0.0.2' });
      const results = await Promise.allSettled(pushes.map((push, i) => services[i % instances]!.push(push)));
      for (const result of results) {
        if (result.status === 'fulfilled') outcomes.accepted++;
        else if (result.reason instanceof SlipwayError && ['CONFLICT', 'ALREADY_EXISTS'].includes(result.reason.code))
          outcomes.refused++;
        else throw result.reason;
      }
    }
    expect(outcomes.accepted).toBe(6 * 4);
    expect(outcomes.refused).toBe(6 * 8);

    const registry = services[0]!;
    const versions = [
      ...(await registry.listVersions('race', { includeArchived: true })),
      ...(await registry.listVersions('other', { includeArchived: true })),
    ];
    expect(versions).toHaveLength(2 + 6 * 4);
    const lost: string[] = [];
    for (const record of versions) {
      let bytes: Buffer;
      try {
        bytes = await readFile(registry.artifactPath(record));
      } catch {
        lost.push(`${record.model}@${record.version}`);
        continue;
      }
      expect(createHash('sha256').update(bytes).digest('hex'), `${record.model}@${record.version}`).toBe(
        record.artifact.sha256,
      );
    }
    expect(lost, `${lost.length} of ${versions.length} versions lost their artifact`).toEqual([]);
    const latest = await registry.resolve('race@latest');
    await (await backend.load({ path: registry.artifactPath(latest) })).release();

    // Refused pushes left nothing behind (each collected its own digest under the lock): the blob
    // folder holds exactly the referenced digests and no temporary file, and a full sweep finds nothing.
    const referenced = [...new Set(versions.map((v) => v.artifact.sha256))].sort();
    expect(await blobFiles(root)).toEqual(referenced);
    expect(await registry.collectGarbage()).toEqual({ removed: [], temporaries: 0 });
    expect(await blobFiles(root)).toEqual(referenced);
  });
});
