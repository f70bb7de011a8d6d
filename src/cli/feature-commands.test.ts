import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner } from './cli.test-support.js';

const definitions = (features: string, service = 'features: [vitals:heart_rate, vitals:bmi]'): string => `
entities: [{ name: patient, join_keys: [{ name: patient_id, type: int64 }] }]
feature_views:
  - name: vitals
    entities: [patient]
    source: { path: vitals.parquet }
    timestamp_field: event_ts
    ttl: 2d
    features: [${features}]
feature_services:
  - { name: risk, ${service} }
`;

describe('slipway features apply | list', () => {
  let home: string;

  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: path.join(home, '.slipway') }, cwd: home }));

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-features-'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('shows the plan without --yes and applies nothing', async () => {
    await writeFile(path.join(home, 'features.yaml'), definitions('heart_rate, bmi'));
    const dry = await cli('features', 'apply', 'features.yaml');
    expect(dry).toMatchObject({ code: 0, err: '' });
    expect(dry.out).toBe(
      '+ entity patient\n+ view vitals\n+ service risk\n\nPlan: 3 to create, 0 to update, 0 to delete.\n\nNothing applied: run again with --yes to apply this plan.\n',
    );
    expect((await cli('features', 'list')).out).toContain('No feature definitions');
  });

  it('applies with --yes, lists what is stored, and reports no changes the second time', async () => {
    const applied = await cli('features', 'apply', 'features.yaml', '--yes');
    expect(applied).toMatchObject({ code: 0, err: '' });
    expect(applied.out).toContain('Applied 3 changes.');
    const list = await cli('features', 'list');
    expect(list.out).toMatch(/vitals\s+patient\s+2\s+2d\s+.*vitals\.parquet/);
    expect(list.out).toMatch(/risk\s+1\s+2\s+-/);
    const json = JSON.parse((await cli('features', 'list', '--json')).out) as {
      services: { name: string; version: number; features: string[] }[];
    };
    expect(json.services).toMatchObject([{ name: 'risk', version: 1, features: ['vitals:heart_rate', 'vitals:bmi'] }]);
    expect((await cli('features', 'apply', 'features.yaml', '--yes')).out).toBe(
      'No changes: the store matches the file.\n',
    );
  });

  it('updates a service and gives it a new version', async () => {
    await writeFile(
      path.join(home, 'features.yaml'),
      definitions('heart_rate, bmi, age', 'features: [vitals:heart_rate, vitals:bmi, vitals:age]'),
    );
    const applied = await cli('features', 'apply', 'features.yaml', '--yes', '--json');
    const plan = JSON.parse(applied.out) as {
      changes: { name: string; action: string; details: string[] }[];
      applied: boolean;
    };
    expect(plan.applied).toBe(true);
    expect(plan.changes.map((c) => [c.name, c.action, c.details])).toEqual([
      ['vitals', 'update', ['+ feature age (float64)']],
      ['risk', 'update', ['features: vitals:heart_rate, vitals:bmi -> vitals:heart_rate, vitals:bmi, vitals:age']],
    ]);
    const json = JSON.parse((await cli('features', 'list', '--json')).out) as { services: { version: number }[] };
    expect(json.services[0]?.version).toBe(2);
  });

  it('names the problem in a bad file and exits 1', async () => {
    await writeFile(path.join(home, 'bad.yaml'), definitions('heart_rate', 'features: [vitals:pulse]'));
    const bad = await cli('features', 'apply', 'bad.yaml', '--yes');
    expect(bad.code).toBe(1);
    expect(bad.err).toBe('error: bad.yaml: feature service "risk": view "vitals" has no feature "pulse"\n');
    expect((await cli('features', 'apply', 'missing.yaml')).err).toBe(
      'error: definitions file "missing.yaml" does not exist\n',
    );
  });

  it('refuses a binding to a model version that does not exist', async () => {
    await writeFile(
      path.join(home, 'bound.yaml'),
      definitions('heart_rate, bmi', 'features: [vitals:heart_rate, vitals:bmi], model: nothing@1.0.0'),
    );
    const refused = await cli('features', 'apply', 'bound.yaml', '--yes');
    expect(refused.code).toBe(1);
    expect(refused.out).toContain(
      'Refused (would break a service in use):\n  ! feature service "risk" cannot feed nothing@1.0.0:',
    );
    expect(refused.err).toContain('nothing applied');
  });
});
