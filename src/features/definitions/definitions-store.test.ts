import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachDialect } from '../../testing/databases.js';
import { fixtureBytes, openTestPlatform } from '../../testing/fixtures.js';
import { rejection } from '../../testing/rejection.js';
import { FeatureDefinitionsStore } from './definitions-store.js';
import { parseDefinitions } from './parse-definitions.js';

const yaml = (services: string, extraFeature = ''): string => `
entities: [{ name: patient, join_keys: [patient_id] }]
feature_views:
  - name: vitals
    entities: [patient]
    source: vitals.parquet
    timestamp_field: event_ts
    ttl: 1d
    features: [{ name: a, type: float64 }, { name: b, type: float64 }${extraFeature}]
feature_services:
${services}`;
const defs = (services: string, extraFeature = '') =>
  parseDefinitions(yaml(services, extraFeature), { baseDir: '/data' });

describeEachDialect('FeatureDefinitionsStore', (fixture) => {
  it('stores what was applied and reads it back equal', async () => {
    const store = new FeatureDefinitionsStore(await fixture.open());
    const desired = defs('  - { name: s, features: [vitals:a, vitals:b], description: first }');
    const plan = await store.apply(desired);
    expect(plan.changes.map((c) => `${c.action} ${c.kind} ${c.name}`)).toEqual([
      'create entity patient',
      'create view vitals',
      'create service s',
    ]);
    const loaded = await store.load();
    expect(loaded.entities).toEqual(desired.entities);
    expect(loaded.views).toEqual(desired.views);
    expect(loaded.services).toMatchObject([{ ...desired.services[0], version: 1 }]);
  });

  it('gives a service a new version when its features or model change, not for its description', async () => {
    const store = new FeatureDefinitionsStore(await fixture.open());
    await store.apply(defs('  - { name: s, features: [vitals:a] }'));
    await store.apply(defs('  - { name: s, features: [vitals:a], description: docs only }'));
    expect((await store.load()).services[0]?.version).toBe(1);
    await store.apply(defs('  - { name: s, features: [vitals:a, vitals:b] }'));
    expect((await store.load()).services[0]?.version).toBe(2);
    // Deleted and created again: numbering goes on, so a version number never means two lists.
    await store.apply(defs('  - { name: t, features: [vitals:a] }'));
    await store.apply(defs('  - { name: s, features: [vitals:b] }'));
    expect((await store.load()).services.map((s) => [s.name, s.version])).toEqual([['s', 3]]);
    expect((await store.serviceHistory('s')).map((h) => [h.version, h.spec.features])).toEqual([
      [1, ['vitals:a']],
      [2, ['vitals:a', 'vitals:b']],
      [3, ['vitals:b']],
    ]);
  });

  it('refuses a breaking change to a bound service and leaves the store as it was', async () => {
    const store = new FeatureDefinitionsStore(await fixture.open());
    await store.apply(defs('  - { name: s, features: [vitals:a, vitals:b], model: m@1.0.0 }'));
    const before = await store.load();
    const error = await rejection(
      store.apply(
        defs('  - { name: s, features: [vitals:b, vitals:a], model: m@1.0.0 }', ', { name: c, type: int64 }'),
      ),
    );
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain(
      'feature service "s" is bound to m@1.0.0, whose input order follows the feature list',
    );
    expect(await store.load()).toEqual(before);
  });

  it('keeps materialization runs and answers the watermark per view', async () => {
    const store = new FeatureDefinitionsStore(await fixture.open());
    expect(await store.watermark('vitals')).toBeUndefined();
    await store.recordMaterialization({ view: 'vitals', startMs: 0, endMs: 1_000, rows: 10 });
    await store.recordMaterialization({ view: 'vitals', startMs: 1_000, endMs: 5_000, rows: 4 });
    await store.recordMaterialization({ view: 'labs', startMs: 0, endMs: 9_000, rows: 1 });
    expect(await store.watermark('vitals')).toBe(5_000);
    expect((await store.materializations('vitals')).map((r) => [r.startMs, r.endMs, r.rows])).toEqual([
      [1_000, 5_000, 4],
      [0, 1_000, 10],
    ]);
  });
});

describe('FeatureStore.apply checks model bindings against the registry', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  const cancer = (features: number, model = 'breast_cancer@1.0.0') => {
    const names = Array.from({ length: features }, (_, i) => `f${i}`);
    return parseDefinitions(
      `
entities: [{ name: patient, join_keys: [patient_id] }]
feature_views:
  - { name: tumour, entities: [patient], source: t.parquet, timestamp_field: ts, features: [${names.join(', ')}] }
feature_services:
  - { name: cancer, features: [${names.map((n) => `tumour:${n}`).join(', ')}], model: ${model} }
`,
      { baseDir: '/data' },
    );
  };

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'breast_cancer', bytes: fixtureBytes('breast_cancer.onnx') });
  });
  afterAll(async () => {
    await platform.dispose();
  });

  it('refuses a service whose width does not match the model input, or an unknown version', async () => {
    const plan = await platform.features.plan(cancer(29));
    expect(plan.refused).toEqual([
      'feature service "cancer" cannot feed breast_cancer@1.0.0: the model\'s input "input" has 30 columns but the service lists 29 features',
    ]);
    const unknown = await rejection(platform.features.apply(cancer(30, 'breast_cancer@9.0.0')));
    expect(unknown.code).toBe('FAILED_PRECONDITION');
    expect(unknown.message).toMatch(/cannot feed breast_cancer@9\.0\.0: .*9\.0\.0/);
    expect((await platform.features.definitions()).services).toEqual([]);
  });

  it('applies a fitting binding, serves it by model version, and binds in the columns layout', async () => {
    await platform.features.apply(cancer(30));
    const service = await platform.features.serviceForModel('breast_cancer', '1.0.0');
    expect(service?.name).toBe('cancer');
    expect(await platform.features.binding(service!)).toEqual({ layout: 'columns', input: 'input' });
    expect(await platform.features.serviceForModel('breast_cancer', '2.0.0')).toBeUndefined();
  });
});
