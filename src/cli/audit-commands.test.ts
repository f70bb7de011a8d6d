import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../audit/audit-store.js';
import { FIXTURES } from '../testing/fixtures.js';
import { cliRunner } from './cli.test-support.js';

const USER = `cli:${os.userInfo().username}`;

const FEATURES = `
entities: [{ name: patient, join_keys: [{ name: patient_id, type: int64 }] }]
feature_views:
  - name: vitals
    entities: [patient]
    source: { path: vitals.parquet }
    timestamp_field: event_ts
    ttl: 2d
    features: [heart_rate]
`;

/** CLI commands that change the store directly record `cli:<os user>`; `slipway audit` reads the trail. */
describe('slipway audit and the CLI changes it records', () => {
  let home: string;
  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: path.join(home, '.slipway') }, cwd: home }));
  const trail = async (...filters: string[]) => {
    const result = await cli('audit', '--json', ...filters);
    expect(result.err).toBe('');
    return (JSON.parse(result.out) as { events: AuditEvent[]; next?: number }).events.map(
      ({ actor, address, action, target, outcome }) =>
        `${actor} ${address ?? '-'} ${action} ${target ?? '-'} ${outcome}`,
    );
  };

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-audit-'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('records push, alias, archive, config, deploy, rollback and features apply, failures with their code', async () => {
    const push = (file: string) => cli('push', path.join(FIXTURES, file), '--name', 'cancer');
    expect((await push('breast_cancer.onnx')).code).toBe(0);
    expect((await push('breast_cancer_retrained.onnx')).code).toBe(0);
    expect((await push('breast_cancer.onnx')).code).not.toBe(0);
    expect(
      (await cli('push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', 'cancer', '--dry-run')).code,
    ).not.toBe(0);
    expect((await cli('alias', 'set', 'cancer', 'champion', '1.0.0', '--why', 'launch')).code).toBe(0);
    expect((await cli('alias', 'set', 'cancer', 'champion', '4.0.0')).code).not.toBe(0);
    expect((await cli('alias', 'rm', 'cancer', 'champion')).code).toBe(0);
    expect((await cli('archive', 'cancer@1.0.0', '--why', 'old')).code).toBe(0);
    expect((await cli('config', 'cancer', '--set', 'maxBatchSize=8')).code).toBe(0);
    expect((await cli('config', 'cancer')).code).toBe(0);
    expect((await cli('deploy', 'live', '--model', 'cancer', '--route', '1.1.0=100')).code).toBe(0);
    expect((await cli('rollback', 'live')).code).not.toBe(0);
    await writeFile(path.join(home, 'features.yaml'), FEATURES);
    expect((await cli('features', 'apply', 'features.yaml')).code).toBe(0);
    expect((await cli('features', 'apply', 'features.yaml', '--yes')).code).toBe(0);

    expect(await trail()).toEqual([
      `${USER} - features.apply features.yaml ok`,
      `${USER} - deployment.rollback live FAILED_PRECONDITION`,
      `${USER} - deployment.deploy live ok`,
      `${USER} - config.set cancer ok`,
      `${USER} - version.archive cancer@1.0.0 ok`,
      `${USER} - alias.remove cancer:champion ok`,
      `${USER} - alias.set cancer:champion NOT_FOUND`,
      `${USER} - alias.set cancer:champion ok`,
      `${USER} - model.push cancer ALREADY_EXISTS`,
      `${USER} - model.push cancer@1.1.0 ok`,
      `${USER} - model.push cancer@1.0.0 ok`,
    ]);

    // Alias moves and deployment revisions show who made them.
    const aliases = JSON.parse((await cli('alias', 'history', 'cancer', '--json')).out) as Array<{ actor: string }>;
    expect(aliases.map((e) => e.actor)).toEqual([USER, USER]);
    const table = (await cli('alias', 'history', 'cancer')).out.trim().split('\n');
    expect(table[0]).toMatch(/^WHEN\s+ALIAS\s+FROM\s+TO\s+BY\s+WHY$/);
    expect(table[1]).toContain(` ${USER} `);
    const revisions = JSON.parse((await cli('history', 'live', '--json')).out) as Array<{ actor: string }>;
    expect(revisions.map((r) => r.actor)).toEqual([USER]);
  });

  it('filters by actor, action prefix and time, pages with --before, and prints a table', async () => {
    expect(await trail('--action', 'alias')).toEqual([
      `${USER} - alias.remove cancer:champion ok`,
      `${USER} - alias.set cancer:champion NOT_FOUND`,
      `${USER} - alias.set cancer:champion ok`,
    ]);
    expect(await trail('--actor', 'someone-else')).toEqual([]);
    expect(await trail('--since', '2099-01-01T00:00:00Z')).toEqual([]);
    expect(await trail('--since', '1h', '--action', 'model.push', '--limit', '1')).toEqual([
      `${USER} - model.push cancer ALREADY_EXISTS`,
    ]);
    const page = JSON.parse((await cli('audit', '--json', '--limit', '2')).out) as {
      events: AuditEvent[];
      next: number;
    };
    expect(page.events).toHaveLength(2);
    const older = JSON.parse((await cli('audit', '--json', '--limit', '2', '--before', String(page.next))).out) as {
      events: AuditEvent[];
    };
    expect(older.events.map((e) => e.action)).toEqual(['deployment.deploy', 'config.set']);

    const text = await cli('audit', '--limit', '1');
    const lines = text.out.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TIME\s+ACTOR\s+ADDRESS\s+ACTION\s+TARGET\s+OUTCOME$/);
    expect(lines[1]).toMatch(
      new RegExp(`^\\d+\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+${USER}\\s+-\\s+features\\.apply\\s+features\\.yaml\\s+ok$`),
    );
    expect(lines[2]).toMatch(/^older events: --before \d+$/);

    const bad = await cli('audit', '--limit', '5000');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain('limit "5000" must be an integer from 1 to 1000');
  });

  it('records CLI rollout, experiment and feature push/delete actions, failures with their code', async () => {
    await writeFile(
      path.join(home, 'rows.jsonl'),
      '{"patient_id": 1, "heart_rate": 70, "event_ts": "2026-01-01T00:00:00Z"}\n',
    );
    expect((await cli('features', 'push', 'no_such_view', '--input', 'rows.jsonl')).code).not.toBe(0);
    expect((await cli('features', 'delete', 'no_such_view', '--entity', 'patient_id=1')).code).not.toBe(0);
    expect((await cli('rollout', 'pause', 'live')).code).not.toBe(0);
    expect((await cli('rollout', 'status', 'live')).code).not.toBe(0);
    expect((await cli('experiment', 'stop', 'live')).code).not.toBe(0);
    expect(await trail('--limit', '4')).toEqual([
      `${USER} - experiment.stop live FAILED_PRECONDITION`,
      `${USER} - rollout.pause live FAILED_PRECONDITION`,
      `${USER} - features.delete no_such_view NOT_FOUND`,
      `${USER} - features.push no_such_view NOT_FOUND`,
    ]);
  });
});
