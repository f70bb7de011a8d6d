import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import type { Signature } from '../tensor/datatypes.js';
import { describeEachDialect } from '../testing/databases.js';
import type { RegistryStore } from './registry-store.js';
import type { ArtifactStore } from './artifact-store.js';
import { RegistryService } from './registry-service.js';
import { SqlRegistryStore } from './sql-registry-store.js';
import type { SchemaChange, VersionDraft, VersionPlanner, VersionRecord } from './types.js';
import { rejection } from '../testing/rejection.js';

const signature: Signature = {
  inputs: [
    { name: 'features', datatype: 'FP32', shape: [-1, 4] },
    { name: 'mask', datatype: 'BOOL', shape: [-1], optional: true },
  ],
  outputs: [{ name: 'score', datatype: 'FP64', shape: [-1, 1] }],
};

function draft(model: string, overrides: Partial<VersionDraft> = {}): VersionDraft {
  return {
    model,
    description: `a version of ${model}`,
    signature,
    artifact: { sha256: 'a'.repeat(64), sizeBytes: 1234, format: 'onnx' },
    card: null,
    metrics: {},
    params: {},
    tags: {},
    lineage: {},
    ...overrides,
  };
}

const INITIAL: SchemaChange = { comparedTo: null, requiredBump: null, appliedBump: 'initial', differences: [] };

/** What the registry does by default: 1.0.0 first, then bump the newest's minor. */
const bumpMinor: VersionPlanner = (newest) =>
  newest === undefined
    ? { version: '1.0.0', schemaChange: INITIAL }
    : {
        version: semver.inc(newest.version, 'minor')!,
        schemaChange: { comparedTo: newest.version, requiredBump: null, appliedBump: 'minor', differences: [] },
      };

const exactly =
  (version: string): VersionPlanner =>
  () => ({ version, schemaChange: INITIAL });

async function push(store: RegistryStore, model: string, ...versions: string[]): Promise<VersionRecord[]> {
  const records: VersionRecord[] = [];
  for (const version of versions) records.push(await store.insertVersion(draft(model), exactly(version)));
  return records;
}

describeEachDialect('RegistryStore', (fixture) => {
  const openStore = async (): Promise<SqlRegistryStore> => new SqlRegistryStore(await fixture.open());

  describe('insertVersion', () => {
    it('creates the model and the first version; the planner sees no newest and no taken numbers', async () => {
      const store = await openStore();
      const calls: { newest: VersionRecord | undefined; taken: string[] }[] = [];
      const record = await store.insertVersion(draft('fraud', { modelDescription: 'card fraud' }), (newest, taken) => {
        calls.push({ newest, taken: [...taken] });
        return { version: '1.0.0', schemaChange: INITIAL };
      });

      expect(calls).toEqual([{ newest: undefined, taken: [] }]);
      expect(record.version).toBe('1.0.0');
      expect(record.status).toBe('active');
      expect(record.aliases).toEqual([]);
      expect(record.archivedAt).toBeNull();
      expect(new Date(record.createdAt).toISOString()).toBe(record.createdAt);
      const model = await store.getModel('fraud');
      expect(model).toEqual({
        name: 'fraud',
        description: 'card fraud',
        createdAt: record.createdAt,
        updatedAt: record.createdAt,
        latestVersion: '1.0.0',
        versionCount: 1,
        aliases: {},
      });
    });

    it('shows the planner the newest version and every taken number', async () => {
      const store = await openStore();
      await push(store, 'fraud', '1.0.0', '1.1.0');
      const seen: { newest: string | undefined; taken: string[] }[] = [];
      const record = await store.insertVersion(
        draft('fraud', { modelDescription: 'ignored for an existing model' }),
        (newest, taken) => {
          seen.push({ newest: newest?.version, taken: [...taken].sort() });
          return bumpMinor(newest, taken);
        },
      );

      expect(seen).toEqual([{ newest: '1.1.0', taken: ['1.0.0', '1.1.0'] }]);
      expect(record.version).toBe('1.2.0');
      expect(record.schemaChange).toEqual({
        comparedTo: '1.1.0',
        requiredBump: null,
        appliedBump: 'minor',
        differences: [],
      });
      expect((await store.getModel('fraud'))?.description).toBe('');
    });

    it('counts archived versions as newest and taken', async () => {
      const store = await openStore();
      await push(store, 'fraud', '1.0.0', '2.0.0');
      await store.archiveVersion('fraud', '2.0.0');
      const record = await store.insertVersion(draft('fraud'), (newest, taken) => {
        expect(newest?.version).toBe('2.0.0');
        expect(newest?.status).toBe('archived');
        expect(taken.has('2.0.0')).toBe(true);
        return bumpMinor(newest, taken);
      });
      expect(record.version).toBe('2.1.0');
    });

    it('keeps class labels in order (text with colons, quotes and non-ASCII intact); a version without labels has none', async () => {
      const store = await openStore();
      const labels = ['setosa', 'versi:color "v"', 'virgínica 🌸'];
      const stored = await store.insertVersion(draft('iris', { labels }), exactly('1.0.0'));
      const plain = await store.insertVersion(draft('iris'), exactly('1.1.0'));

      expect(stored.labels).toEqual(labels);
      expect((await store.getVersion('iris', '1.0.0'))?.labels).toEqual(labels);
      expect((await store.listVersions('iris')).map((v) => v.labels)).toEqual([undefined, labels]);
      expect(plain.labels).toBeUndefined();
      expect('labels' in plain).toBe(false);
    });

    it('stores nothing when the planner throws, and the error propagates unchanged', async () => {
      const store = await openStore();
      const refusal = new SlipwayError('CONFLICT', 'the schema diff requires a major bump');
      const throwing: VersionPlanner = () => {
        throw refusal;
      };

      await expect(store.insertVersion(draft('brand-new'), throwing)).rejects.toBe(refusal);
      expect(await store.getModel('brand-new')).toBeUndefined();
      expect(await store.listVersions('brand-new', { includeArchived: true })).toEqual([]);
      expect(await store.listModels()).toEqual([]);

      await push(store, 'fraud', '1.0.0');
      await expect(store.insertVersion(draft('fraud'), throwing)).rejects.toBe(refusal);
      expect((await store.listVersions('fraud')).map((v) => v.version)).toEqual(['1.0.0']);
    });

    it('refuses a planner answer that is taken or not semver', async () => {
      const store = await openStore();
      await push(store, 'fraud', '1.0.0');
      const taken = await rejection(store.insertVersion(draft('fraud'), exactly('1.0.0')), 'ALREADY_EXISTS');
      expect(taken.message).toBe('model "fraud" already has version 1.0.0');
      await rejection(store.insertVersion(draft('fraud'), exactly('v2')), 'INVALID_ARGUMENT');
      expect((await store.listVersions('fraud')).map((v) => v.version)).toEqual(['1.0.0']);
    });

    it('gives 8 concurrent pushes of one model 8 distinct numbers', async () => {
      const store = await openStore();
      const records = await Promise.all(
        Array.from({ length: 8 }, () => store.insertVersion(draft('fraud'), bumpMinor)),
      );

      const expected = Array.from({ length: 8 }, (_, minor) => `1.${minor}.0`);
      expect(records.map((r) => r.version).sort(semver.compare)).toEqual(expected);
      expect((await store.listVersions('fraud')).map((v) => v.version)).toEqual([...expected].reverse());
      expect((await store.getModel('fraud'))?.versionCount).toBe(8);
    });

    // Several pools (processes) only exist for PostgreSQL; SQLite's cross-process locking is BEGIN IMMEDIATE.
    if (fixture.dialect === 'postgres') {
      it('serialises pushes racing across two pools', async () => {
        const stores = [await openStore(), await openStore()];
        const records = await Promise.all(
          Array.from({ length: 12 }, (_, i) => stores[i % 2]!.insertVersion(draft('fraud'), bumpMinor)),
        );

        const expected = Array.from({ length: 12 }, (_, minor) => `1.${minor}.0`);
        expect(records.map((r) => r.version).sort(semver.compare)).toEqual(expected);
        expect((await stores[1]!.listVersions('fraud')).map((v) => v.version)).toEqual([...expected].reverse());
      });
    }
  });

  describe('reading versions', () => {
    it('lists newest first by numeric semver', async () => {
      const store = await openStore();
      await push(store, 'fraud', '1.9.0', '1.10.0', '1.2.0', '2.0.0', '1.10.1', '0.1.0');

      const versions = await store.listVersions('fraud');
      expect(versions.map((v) => v.version)).toEqual(['2.0.0', '1.10.1', '1.10.0', '1.9.0', '1.2.0', '0.1.0']);
      expect((await store.latestVersion('fraud'))?.version).toBe('2.0.0');
    });

    it('round-trips every field of a version', async () => {
      const store = await openStore();
      const schemaChange: SchemaChange = {
        comparedTo: '1.0.0',
        requiredBump: 'major',
        appliedBump: 'major',
        differences: [
          {
            kind: 'datatype-changed',
            side: 'input',
            name: 'features',
            severity: 'breaking',
            before: 'FP32',
            after: 'FP64',
            message: 'input "features" changed from FP32 to FP64; clients must send new data',
          },
        ],
      };
      const full = draft('fraud', {
        description: 'retrained on Q3 data — ünïcode ok',
        artifact: { sha256: 'b'.repeat(64), sizeBytes: 5_000_000_000, format: 'onnx' },
        card: '# Fraud model\n\nScores card transactions.',
        metrics: { auc: 0.973, f1: 0.81, latency_ms: 1.5 },
        params: { learningRate: 0.05, layers: [64, 32], optimizer: { name: 'adam', beta: [0.9, 0.999] }, early: null },
        tags: { team: 'risk', stage: 'prod' },
        lineage: {
          sourcePath: 'models/fraud.onnx',
          dataset: 's3://data/q3',
          gitCommit: 'abc123',
          parentVersion: '1.0.0',
        },
      });
      const inserted = await store.insertVersion(full, () => ({ version: '2.0.0', schemaChange }));
      const read = await store.getVersion('fraud', '2.0.0');

      expect(read).toStrictEqual(inserted);
      expect(read).toStrictEqual({
        model: 'fraud',
        version: '2.0.0',
        status: 'active',
        description: full.description,
        signature: full.signature,
        artifact: full.artifact,
        card: full.card,
        metrics: full.metrics,
        params: full.params,
        tags: full.tags,
        lineage: full.lineage,
        schemaChange,
        createdAt: inserted.createdAt,
        archivedAt: null,
        aliases: [],
      });
      expect((await store.listVersions('fraud'))[0]).toStrictEqual(read);
    });

    it('answers undefined or empty for unknown models and versions', async () => {
      const store = await openStore();
      await push(store, 'fraud', '1.0.0');
      expect(await store.getVersion('fraud', '9.9.9')).toBeUndefined();
      expect(await store.getVersion('nope', '1.0.0')).toBeUndefined();
      expect(await store.latestVersion('nope')).toBeUndefined();
      expect(await store.listVersions('nope')).toEqual([]);
      expect(await store.resolveAlias('fraud', 'champion')).toBeUndefined();
      expect(await store.aliasHistory('nope')).toEqual([]);
    });

    it('skips archived versions for latest and default listings', async () => {
      const store = await openStore();
      await push(store, 'fraud', '1.0.0', '1.1.0');
      const archived = await store.archiveVersion('fraud', '1.1.0', { reason: 'bad recall' });

      expect(archived.status).toBe('archived');
      expect(new Date(archived.archivedAt!).toISOString()).toBe(archived.archivedAt);
      expect((await store.latestVersion('fraud'))?.version).toBe('1.0.0');
      expect((await store.listVersions('fraud')).map((v) => v.version)).toEqual(['1.0.0']);
      const all = await store.listVersions('fraud', { includeArchived: true });
      expect(all.map((v) => [v.version, v.status])).toEqual([
        ['1.1.0', 'archived'],
        ['1.0.0', 'active'],
      ]);
      expect(await store.getModel('fraud')).toMatchObject({ latestVersion: '1.0.0', versionCount: 2 });

      await store.archiveVersion('fraud', '1.0.0');
      expect(await store.latestVersion('fraud')).toBeUndefined();
      expect(await store.getModel('fraud')).toMatchObject({ latestVersion: null, versionCount: 2 });
    });

    it('lists models by name with their summaries', async () => {
      const store = await openStore();
      await push(store, 'zeta', '1.0.0');
      await push(store, 'alpha', '1.0.0', '1.1.0');
      await store.setAlias('alpha', 'champion', '1.0.0');

      const models = await store.listModels();
      expect(models.map((m) => [m.name, m.latestVersion, m.versionCount, m.aliases])).toEqual([
        ['alpha', '1.1.0', 2, { champion: '1.0.0' }],
        ['zeta', '1.0.0', 1, {}],
      ]);
    });
  });

  describe('aliases', () => {
    it('sets, moves and removes an alias, keeping the history in order', async () => {
      const store = await openStore();
      await push(store, 'fraud', '1.0.0', '1.1.0');

      const created = await store.setAlias('fraud', 'champion', '1.0.0', 'first release');
      expect(created).toMatchObject({
        model: 'fraud',
        alias: 'champion',
        fromVersion: null,
        toVersion: '1.0.0',
        reason: 'first release',
      });
      expect(await store.resolveAlias('fraud', 'champion')).toBe('1.0.0');
      expect((await store.getVersion('fraud', '1.0.0'))?.aliases).toEqual(['champion']);

      await store.setAlias('fraud', 'champion', '1.1.0', 'better auc');
      await store.setAlias('fraud', 'challenger', '1.0.0');
      expect(await store.resolveAlias('fraud', 'champion')).toBe('1.1.0');
      expect((await store.getVersion('fraud', '1.1.0'))?.aliases).toEqual(['champion']);
      await store.setAlias('fraud', 'shadow', '1.1.0');
      expect((await store.getVersion('fraud', '1.1.0'))?.aliases).toEqual(['champion', 'shadow']);
      expect((await store.getModel('fraud'))?.aliases).toEqual({
        challenger: '1.0.0',
        champion: '1.1.0',
        shadow: '1.1.0',
      });

      const removed = await store.removeAlias('fraud', 'champion', 'rollback drill');
      expect(removed).toMatchObject({ fromVersion: '1.1.0', toVersion: null, reason: 'rollback drill' });
      expect(await store.resolveAlias('fraud', 'champion')).toBeUndefined();

      const history = await store.aliasHistory('fraud', 'champion');
      expect(history.map((e) => [e.fromVersion, e.toVersion, e.reason])).toEqual([
        [null, '1.0.0', 'first release'],
        ['1.0.0', '1.1.0', 'better auc'],
        ['1.1.0', null, 'rollback drill'],
      ]);
      expect(
        history.every((e) => e.model === 'fraud' && e.alias === 'champion' && new Date(e.at).toISOString() === e.at),
      ).toBe(true);
      expect((await store.aliasHistory('fraud')).map((e) => e.alias)).toEqual([
        'champion',
        'champion',
        'challenger',
        'shadow',
        'champion',
      ]);
    });

    it('refuses unknown versions, models and aliases with NOT_FOUND', async () => {
      const store = await openStore();
      await push(store, 'fraud', '1.0.0');

      const error = await rejection(store.setAlias('fraud', 'champion', '1.2.3'), 'NOT_FOUND');
      expect(error.message).toBe('model "fraud" has no version 1.2.3');
      await rejection(store.setAlias('nope', 'champion', '1.0.0'), 'NOT_FOUND');
      await rejection(store.removeAlias('fraud', 'champion'), 'NOT_FOUND');
      expect(await store.aliasHistory('fraud')).toEqual([]);
    });

    it('refuses reserved and malformed alias names with INVALID_ARGUMENT', async () => {
      const store = await openStore();
      await push(store, 'fraud', '1.0.0');

      for (const name of [
        'latest',
        'LATEST',
        '1.2.3',
        'v1.2.3',
        '',
        '9lives',
        '-dash',
        'has space',
        'a'.repeat(65),
        'ünï',
      ]) {
        await rejection(store.setAlias('fraud', name, '1.0.0'), 'INVALID_ARGUMENT');
      }
      for (const name of ['a'.repeat(64), 'champion_2-b', 'B']) {
        expect((await store.setAlias('fraud', name, '1.0.0')).toVersion).toBe('1.0.0');
      }
    });
  });

  describe('archiveVersion', () => {
    it('is refused while an alias points at the version, naming the alias', async () => {
      const store = await openStore();
      await push(store, 'fraud', '1.0.0');
      await store.setAlias('fraud', 'champion', '1.0.0');

      const error = await rejection(store.archiveVersion('fraud', '1.0.0'), 'FAILED_PRECONDITION');
      expect(error.message).toBe('version 1.0.0 of "fraud" is used by alias champion; move or remove the alias first');
      expect((await store.getVersion('fraud', '1.0.0'))?.status).toBe('active');

      await store.removeAlias('fraud', 'champion');
      expect((await store.archiveVersion('fraud', '1.0.0')).status).toBe('archived');
    });

    it('is refused while inUse names users, and asks about the right version', async () => {
      const store = await openStore();
      await push(store, 'fraud', '1.0.0');
      const asked: string[] = [];

      const error = await rejection(
        store.archiveVersion('fraud', '1.0.0', {
          inUse: (model, version) => {
            asked.push(`${model}@${version}`);
            return Promise.resolve(['deployment fraud-prod', 'deployment fraud-canary']);
          },
        }),
        'FAILED_PRECONDITION',
      );
      expect(asked).toEqual(['fraud@1.0.0']);
      expect(error.message).toContain('deployment fraud-prod, deployment fraud-canary');
      expect((await store.getVersion('fraud', '1.0.0'))?.status).toBe('active');

      const archived = await store.archiveVersion('fraud', '1.0.0', { inUse: () => Promise.resolve([]) });
      expect(archived.status).toBe('archived');
    });

    it('makes the version unusable for aliases', async () => {
      const store = await openStore();
      await push(store, 'fraud', '1.0.0');
      await store.archiveVersion('fraud', '1.0.0');

      const error = await rejection(store.setAlias('fraud', 'champion', '1.0.0'), 'FAILED_PRECONDITION');
      expect(error.message).toContain('archived');
      expect(await store.resolveAlias('fraud', 'champion')).toBeUndefined();
    });

    it('refuses unknown versions with NOT_FOUND', async () => {
      const store = await openStore();
      await push(store, 'fraud', '1.0.0');
      await rejection(store.archiveVersion('fraud', '2.0.0'), 'NOT_FOUND');
      await rejection(store.archiveVersion('nope', '1.0.0'), 'NOT_FOUND');
    });
  });

  // Artifact leases, the collector and duplicate refusal: artifact-leases.test.ts.

  it("stores a model's serving config, empty by default", async () => {
    const store = await openStore();
    await push(store, 'fraud', '1.0.0');
    expect(await store.getServingConfig('fraud')).toEqual({});
    expect(await store.setServingConfig('fraud', { maxBatchSize: 16, batching: true })).toEqual({
      maxBatchSize: 16,
      batching: true,
    });
    const reopened = await openStore();
    expect(await reopened.getServingConfig('fraud')).toEqual({ maxBatchSize: 16, batching: true });
    expect(await store.getServingConfig('nope')).toBeUndefined();
    await rejection(store.setServingConfig('nope', {}), 'NOT_FOUND');
  });

  it('finds the newest active version of a major (Triton-style integer versions, issue 14)', async () => {
    const store = await openStore();
    await push(store, 'fraud', '0.1.0', '0.2.0', '1.0.0', '1.1.0', '1.10.0', '2.0.0');
    await store.archiveVersion('fraud', '1.10.0');
    expect((await store.latestVersion('fraud', { major: 1 }))?.version).toBe('1.1.0');
    expect((await store.latestVersion('fraud', { major: 0 }))?.version).toBe('0.2.0');
    expect((await store.latestVersion('fraud', { major: 2 }))?.version).toBe('2.0.0');
    expect(await store.latestVersion('fraud', { major: 3 })).toBeUndefined();
    expect(await store.latestVersion('nope', { major: 1 })).toBeUndefined();
    expect((await store.latestVersion('fraud'))?.version).toBe('2.0.0');
  });

  it('resolves a digits-only selector to the newest active version of that major through the service', async () => {
    const store = await openStore();
    const registry = new RegistryService({ store, artifacts: {} as ArtifactStore });
    await push(store, 'm', '1.0.0', '1.1.0', '2.0.0');
    await store.archiveVersion('m', '1.1.0');

    expect((await registry.resolve('m', '1')).version).toBe('1.0.0');
    expect((await registry.resolve('m@1')).version).toBe('1.0.0');
    expect((await registry.resolve('m', '2')).version).toBe('2.0.0');
    expect((await registry.resolve('m@2')).version).toBe('2.0.0');
    // The exact number still reaches the archived version; the major does not.
    expect((await registry.resolve('m', '1.1.0')).version).toBe('1.1.0');

    const unknownMajor = await rejection(registry.resolve('m', '3'), 'NOT_FOUND');
    expect(unknownMajor.message).toBe('model "m" has no active version with major 3 (3.x.y)');
    const noZero = await rejection(registry.resolve('m', '0'), 'NOT_FOUND');
    expect(noZero.message).toBe('model "m" has no active version with major 0 (0.x.y)');
    const leadingZero = await rejection(registry.resolve('m', '01'), 'INVALID_ARGUMENT');
    expect(leadingZero.message).toBe(
      'version "01" of model "m": an integer version is a major number without leading zeros (0, 1, 2, ...), meaning the newest active version with that major',
    );
    // Past the integer column's range no version can have that major: 404, not a database error.
    expect((await rejection(registry.resolve('m', '99999999999'), 'NOT_FOUND')).message).toBe(
      'model "m" has no active version with major 99999999999 (99999999999.x.y)',
    );
    const unknownModel = await rejection(registry.resolve('nope', '1'), 'NOT_FOUND');
    expect(unknownModel.message).toBe('model "nope" does not exist');

    // An alias can never shadow a major: digits-only alias names are refused.
    expect((await rejection(registry.setAlias('m', '1', '2.0.0'), 'INVALID_ARGUMENT')).message).toBe(
      'invalid alias "1": use a letter, then letters, digits, "_" or "-" (1 to 64 characters)',
    );

    // 1.x moves when a newer 1.x is pushed; archiving every 1.x leaves major 1 unresolvable.
    await push(store, 'm', '1.2.0');
    expect((await registry.resolve('m', '1')).version).toBe('1.2.0');
    await store.archiveVersion('m', '1.2.0');
    await store.archiveVersion('m', '1.0.0');
    expect((await rejection(registry.resolve('m', '1'), 'NOT_FOUND')).message).toBe(
      'model "m" has no active version with major 1 (1.x.y)',
    );
  });

  it('refuses use after close', async () => {
    const store = await openStore();
    await store.close();
    await store.close();
    await rejection(store.listModels(), 'UNAVAILABLE');
  });
});
