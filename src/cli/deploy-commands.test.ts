import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../testing/fixtures.js';
import { cliRunner } from './cli.test-support.js';

describe('slipway deploy, history, rollback, traffic, rollout, experiment, shadow report', () => {
  let home: string;
  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-deploy-'));
    for (const file of ['breast_cancer.onnx', 'breast_cancer_retrained.onnx'])
      expect((await cli('push', path.join(FIXTURES, file), '--name', 'cancer')).code).toBe(0);
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('deploys revisions, lists them, rolls back, and tells when a version served which share', async () => {
    const first = await cli(
      'deploy',
      'cancer-live',
      '--model',
      'cancer',
      '--route',
      '1.0.0=90',
      '--route',
      '1.1.0=10',
      '--sticky',
      'header:x-user-id',
      '--why',
      'canary by hand',
    );
    expect(first.err).toBe('');
    expect(first.out).toBe('deployment cancer-live revision 1: cancer 1.0.0=90 1.1.0=10, sticky header:x-user-id\n');
    const refused = await cli(
      'deploy',
      'cancer-live',
      '--model',
      'cancer',
      '--route',
      '1.0.0=90',
      '--route',
      '1.1.0=20',
    );
    expect(refused.code).not.toBe(0);
    expect(refused.err).toContain('route weights must sum to 100, got 1.0.0=90 + 1.1.0=20 = 110');
    expect(
      (await cli('deploy', 'cancer-live', '--model', 'cancer', '--route', '1.1.0=100', '--why', 'all in')).code,
    ).toBe(0);
    const back = await cli('rollback', 'cancer-live');
    expect(back.out).toBe(
      'deployment cancer-live revision 3: cancer 1.0.0=90 1.1.0=10, sticky header:x-user-id (rollback to revision 1)\n',
    );
    const history = await cli('history', 'cancer-live', '--json');
    expect(
      (JSON.parse(history.out) as Array<{ revision: number; source: string; why: string }>).map((r) => [
        r.revision,
        r.source,
        r.why,
      ]),
    ).toEqual([
      [1, 'user', 'canary by hand'],
      [2, 'user', 'all in'],
      [3, 'rollback', 'rollback to revision 1'],
    ]);
    const table = (await cli('history', 'cancer-live')).out.trim().split('\n');
    expect(table[0]).toMatch(/^REVISION\s+WHEN\s+BY\s+ACTOR\s+TRAFFIC\s+WHY$/);
    expect(table).toHaveLength(4);
    const list = await cli('deployments');
    expect(list.out).toMatch(/cancer-live\s+cancer\s+3\s+cancer 1\.0\.0=90 1\.1\.0=10/);
    const traffic = JSON.parse((await cli('traffic', 'cancer@1.1.0', '--json')).out) as {
      intervals: Array<{ revision: number; share: number; untilMs: number | null }>;
    };
    expect(traffic.intervals.map((i) => [i.revision, i.share, i.untilMs === null])).toEqual([
      [1, 10, false],
      [2, 100, false],
      [3, 10, true],
    ]);
    expect((await cli('shadow', 'report', 'cancer-live')).out).toBe('deployment cancer-live has no shadow results\n');
  });

  it('starts, pauses, resumes and aborts a rollout; runs and stops an experiment', async () => {
    expect((await cli('deploy', 'cancer-canary', '--model', 'cancer', '--route', '1.0.0=100')).code).toBe(0);
    const started = await cli(
      'rollout',
      'start',
      'cancer-canary',
      '--candidate',
      '1.1.0',
      '--steps',
      '10,50,100',
      '--interval',
      '5m',
      '--gate',
      'error_rate<0.01',
      '--gate',
      'p99_ms<50',
    );
    expect(started.err).toBe('');
    expect(started.out).toContain('rollout #1 of cancer-canary: running');
    expect(started.out).toContain(
      '1.1.0 replaces 1.0.0: steps [10%] 50% 100%, every 5m; gates error_rate<0.01, p99_ms<50 + sample ratio',
    );
    expect((await cli('rollout', 'pause', 'cancer-canary')).out).toContain('rollout #1 of cancer-canary: paused');
    expect((await cli('rollout', 'resume', 'cancer-canary')).out).toContain(': running');
    const gate = await cli('rollout', 'start', 'cancer-canary', '--candidate', '1.1.0', '--gate', 'latency<5');
    expect(gate.err).toContain('unknown metric "latency"');
    const aborted = await cli('rollout', 'abort', 'cancer-canary', '--json');
    expect(JSON.parse(aborted.out)).toMatchObject({ status: 'aborted', reason: 'aborted by hand' });
    expect(
      (JSON.parse((await cli('history', 'cancer-canary', '--json')).out) as Array<{ spec: { routes: unknown } }>).at(
        -1,
      )!.spec.routes,
    ).toEqual([{ version: '1.0.0', weight: 100 }]);

    const experiment = await cli(
      'experiment',
      'start',
      'cancer-canary',
      '--arms',
      '1.0.0,1.1.0',
      '--metric',
      'conversion',
    );
    expect(experiment.out).toBe('experiment #1 on cancer-canary: 1.0.0=50% 1.1.0=50%, metric conversion, alpha 0.05\n');
    const results = await cli('experiment', 'results', 'cancer-canary');
    expect(results.out).toContain('experiment #1 of cancer-canary: running');
    expect(results.out).toContain('decision: continue — waiting for feedback');
    expect((await cli('experiment', 'stop', 'cancer-canary')).out).toBe(
      'experiment #1 on cancer-canary stopped: stopped by hand; 1.0.0 serves 100%\n',
    );
  });

  it('scores a file through a deployment with its primary version (batch run --deployment)', async () => {
    const { ROWS } = await import('../deploy/deploy.test-support.js');
    const header = Array.from({ length: 30 }, (_, j) => `f${j}`).join(',');
    await writeFile(
      path.join(home, 'rows.csv'),
      `${header}\n${ROWS.slice(0, 5)
        .map((r) => r.join(','))
        .join('\n')}\n`,
    );
    expect(
      (await cli('deploy', 'cancer-batch', '--model', 'cancer', '--route', '1.0.0=20', '--route', '1.1.0=80')).code,
    ).toBe(0);
    const run = await cli(
      'batch',
      'run',
      '--deployment',
      'cancer-batch',
      '--input',
      'rows.csv',
      '--output',
      'scores.csv',
      '--json',
    );
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({
      status: 'succeeded',
      model: 'cancer',
      version: '1.1.0',
      rows: 5,
      scored: 5,
    });
    const both = await cli(
      'batch',
      'run',
      '--deployment',
      'cancer-batch',
      '--model',
      'cancer@1.0.0',
      '--input',
      'rows.csv',
      '--output',
      'x.csv',
    );
    expect(both.err).toContain('give exactly one of --model <name@version> and --deployment <name>');
    expect(
      (await cli('batch', 'run', '--deployment', 'nope', '--input', 'rows.csv', '--output', 'x.csv')).err,
    ).toContain('deployment "nope" does not exist');
  });
});
