import { describe, expect, it } from 'vitest';
import { parseDefinitions } from './parse-definitions.js';
import { formatPlan, planApply } from './plan.js';
import type { AppliedDefinitions, FeatureDefinitions } from './types.js';

const BASE = '/data/project';

const YAML = `
entities:
  - name: patient
    join_keys: [{ name: patient_id, type: int64 }]
    description: a patient
  - name: clinic
    join_keys: { clinic_id: string }
feature_views:
  - name: vitals
    entities: [patient]
    source: { path: data/vitals.parquet }
    timestamp_field: event_ts
    created_timestamp_field: created_ts
    ttl: 30d
    features:
      - { name: heart_rate, type: float64, default: 70 }
      - { name: smoker, type: bool }
      - name: notes
        type: string
    owner: ml@example.com
    tags: { team: ml, tier: 1 }
  - name: visits
    entities: [patient, clinic]
    source: { table: visit_stats }
    timestamp_field: ts
    features: [{ name: visits_30d, type: int64 }]
feature_services:
  - name: risk
    features: [vitals:heart_rate, visits:visits_30d, request:age]
    model: risk_model@1.2.0
`;

describe('parseDefinitions', () => {
  it('reads entities, views and services with their defaults', () => {
    const defs = parseDefinitions(YAML, { baseDir: BASE });
    expect(defs.entities).toEqual([
      { name: 'patient', joinKeys: [{ name: 'patient_id', type: 'int64' }], description: 'a patient' },
      { name: 'clinic', joinKeys: [{ name: 'clinic_id', type: 'string' }] },
    ]);
    const [vitals, visits] = defs.views;
    expect(vitals).toEqual({
      name: 'vitals',
      entities: ['patient'],
      source: { path: '/data/project/data/vitals.parquet' },
      timestampField: 'event_ts',
      createdTimestampField: 'created_ts',
      ttlMs: 30 * 86_400_000,
      features: [
        { name: 'heart_rate', type: 'float64', default: 70 },
        { name: 'smoker', type: 'bool' },
        { name: 'notes', type: 'string' },
      ],
      owner: 'ml@example.com',
      tags: { team: 'ml', tier: '1' },
    });
    expect(visits).toMatchObject({
      source: { table: 'visit_stats' },
      ttlMs: 0,
      features: [{ name: 'visits_30d', type: 'int64' }],
      tags: {},
    });
    expect(defs.services).toEqual([
      {
        name: 'risk',
        features: ['vitals:heart_rate', 'visits:visits_30d', 'request:age'],
        model: 'risk_model@1.2.0',
        tags: {},
      },
    ]);
  });

  it('an empty document is no definitions', () => {
    expect(parseDefinitions('', { baseDir: BASE })).toEqual({ entities: [], views: [], services: [] });
  });

  it('lists every problem at once, each naming where it is', () => {
    const bad = `
entities:
  - name: patient
    join_keys: [{ name: patient_id, type: float64 }]
feature_views:
  - name: vitals
    entities: [patient, nobody]
    source: { path: v.parquet, table: t }
    timestamp_field: event_ts
    ttl: soon
    colour: blue
    features:
      - { name: heart_rate, type: decimal }
      - { name: age, type: int64, default: 1.5 }
feature_services:
  - name: risk
    features: [vitals heart_rate]
    model: risk_model
`;
    let message = '';
    try {
      parseDefinitions(bad, { baseDir: BASE, file: 'features.yaml' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('features.yaml:');
    expect(message).toContain('join_keys[0] type must be one of int64, string, got "float64"');
    expect(message).toContain('unknown field "colour"');
    expect(message).toContain('source must be { path: <file or glob> } or { table: <name> }');
    expect(message).toContain('feature view "vitals".ttl');
    expect(message).toContain(
      'feature "heart_rate" type must be one of int64, int32, float64, float32, string, bool, got "decimal"',
    );
    expect(message).toContain('feature "age" default must be a int64 value, got 1.5');
    expect(message).toContain('must be "<view>:<feature>" or "request:<name>", got "vitals heart_rate"');
    expect(message).toContain('model must be <model>@<major.minor.patch>, got "risk_model"');
  });

  it('checks references across objects', () => {
    const bad = `
entities: [{ name: patient, join_keys: [patient_id] }]
feature_views:
  - { name: vitals, entities: [ghost], source: v.parquet, timestamp_field: ts, features: [heart_rate, patient_id] }
  - { name: vitals, entities: [patient], source: v.parquet, timestamp_field: ts, features: [patient_id] }
feature_services:
  - { name: risk, features: [vitals:pulse, labs:a] }
  - { name: only_request, features: [request:age] }
`;
    expect(() => parseDefinitions(bad, { baseDir: BASE })).toThrow(
      /feature view "vitals" is defined twice.*unknown entity "ghost".*"patient_id" is a join key or timestamp column, not a feature.*view "vitals" has no feature "pulse".*unknown feature view "labs".*"only_request" needs at least one view feature/s,
    );
  });

  it('refuses invalid YAML with the parser message', () => {
    expect(() => parseDefinitions('entities: [', { baseDir: BASE, file: 'f.yaml' })).toThrow(/f\.yaml: not valid YAML/);
  });
});

function applied(defs: FeatureDefinitions): AppliedDefinitions {
  return { ...defs, services: defs.services.map((s) => ({ ...s, version: 1, updatedAt: '2026-01-01T00:00:00.000Z' })) };
}

describe('planApply', () => {
  const current = applied(parseDefinitions(YAML, { baseDir: BASE }));
  const edit = (change: (yaml: string) => string): FeatureDefinitions =>
    parseDefinitions(change(YAML), { baseDir: BASE });

  it('no changes when the file equals the store', () => {
    const plan = planApply(current, parseDefinitions(YAML, { baseDir: BASE }));
    expect(plan).toEqual({ changes: [], refused: [] });
    expect(formatPlan(plan)).toBe('No changes: the store matches the file.\n');
  });

  it('everything is created on an empty store, and deleted by an empty file', () => {
    const create = planApply({ entities: [], views: [], services: [] }, parseDefinitions(YAML, { baseDir: BASE }));
    expect(create.changes.map((c) => `${c.action} ${c.kind} ${c.name}`)).toEqual([
      'create entity patient',
      'create entity clinic',
      'create view vitals',
      'create view visits',
      'create service risk',
    ]);
    const unbound = applied(edit((y) => y.replace('    model: risk_model@1.2.0\n', '')));
    const remove = planApply(unbound, { entities: [], views: [], services: [] });
    expect(remove.refused).toEqual([]);
    expect(remove.changes.filter((c) => c.action === 'delete')).toHaveLength(5);
  });

  it('describes what changes in a view', () => {
    const plan = planApply(
      current,
      edit((y) =>
        y
          .replace('ttl: 30d', 'ttl: 7d')
          .replace('      - { name: smoker, type: bool }\n', '      - { name: bmi, type: float32 }\n'),
      ),
    );
    expect(plan.refused).toEqual([]);
    expect(plan.changes).toEqual([
      {
        kind: 'view',
        name: 'vitals',
        action: 'update',
        details: ['ttl: 4w2d -> 1w', '+ feature bmi (float32)', '- feature smoker'],
      },
    ]);
    expect(formatPlan(plan)).toContain(
      '~ view vitals\n    ttl: 4w2d -> 1w\n    + feature bmi (float32)\n    - feature smoker\n\nPlan: 0 to create, 1 to update, 0 to delete.',
    );
  });

  it('refuses to break a service bound to a model', () => {
    const refusals = (change: (yaml: string) => string) => planApply(current, edit(change)).refused;
    expect(
      refusals((y) =>
        y
          .replace('{ name: heart_rate, type: float64, default: 70 }', '{ name: pulse, type: float64 }')
          .replace('vitals:heart_rate', 'vitals:pulse'),
      ),
    ).toEqual([
      'feature service "risk" is bound to risk_model@1.2.0, whose input order follows the feature list; bind the new list to a new model version',
    ]);
    expect(refusals((y) => y.replace('type: float64, default: 70', 'type: int64'))).toEqual([
      'feature service "risk" is bound to risk_model@1.2.0 and serves vitals:heart_rate, whose type would change from float64 to int64',
    ]);
    expect(
      refusals((y) =>
        y.replace('join_keys: [{ name: patient_id, type: int64 }]', 'join_keys: [{ name: patient_id, type: string }]'),
      ),
    ).toEqual([
      'feature service "risk" is bound to risk_model@1.2.0 and reads view "vitals", whose join keys would change',
      'feature service "risk" is bound to risk_model@1.2.0 and reads view "visits", whose join keys would change',
    ]);
    expect(refusals((y) => y.slice(0, y.indexOf('feature_services:')))).toEqual([
      'feature service "risk" is bound to risk_model@1.2.0; remove its model binding before deleting it',
    ]);
  });

  it('allows a new list bound to a new model version, and changes to features the service does not serve', () => {
    expect(
      planApply(
        current,
        edit((y) =>
          y.replace('request:age]', 'request:age, vitals:smoker]').replace('risk_model@1.2.0', 'risk_model@2.0.0'),
        ),
      ).refused,
    ).toEqual([]);
    expect(
      planApply(
        current,
        edit((y) => y.replace('      - { name: smoker, type: bool }\n', '')),
      ).refused,
    ).toEqual([]);
  });
});
