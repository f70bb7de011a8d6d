import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../testing/fixtures.js';
import { cliRunner } from './cli.test-support.js';

const CANCER_TEST = fileURLToPath(new URL('../../fixtures/optimize/breast_cancer_test.csv', import.meta.url));

let home: string;
const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), 'slipway-tune-cli-'));
  expect((await cli('push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', 'cancer')).code).toBe(0);
  expect((await cli('config', 'cancer', '--set', 'maxBatchSize=32')).code).toBe(0);
}, 60_000);

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('slipway tune', () => {
  it('prints the table of every grid setting and, with --apply, stores the winner in the serving config', async () => {
    const r = await cli('tune', 'cancer@1.0.0', '--batch', '1,64', '--rounds', '2', '--data', CANCER_TEST, '--apply');
    expect(r.code, r.err).toBe(0);
    const tableRows = r.out.split('\n').filter((l) => l.startsWith('intra='));
    expect(tableRows.length).toBeGreaterThanOrEqual(16);
    expect(r.out).toMatch(
      /^setting\s+max_abs_diff\s+labels\s+batch 1 ms \(default\)\s+batch 64 ms \(default\)\s+speedup$/m,
    );
    const winner = /fastest with equal outputs: (intra=\d+ inter=\d+ \w+ graph=\w+ arena=\w+ pattern=\w+)/.exec(
      r.out,
    )?.[1];
    expect(winner).toBeDefined();
    expect(r.out).toContain("stored as cancer's serving config session");

    const stored = await cli('config', 'cancer', '--json');
    expect(stored.code, stored.err).toBe(0);
    const config = JSON.parse(stored.out) as {
      maxBatchSize: number;
      session: {
        intraOpThreads: number;
        interOpThreads: number;
        executionMode: string;
        graphOptimizationLevel: string;
        enableCpuMemArena: boolean;
        enableMemPattern: boolean;
      };
    };
    expect(config.maxBatchSize).toBe(32);
    const s = config.session;
    expect(
      `intra=${s.intraOpThreads} inter=${s.interOpThreads} ${s.executionMode} graph=${s.graphOptimizationLevel} arena=${s.enableCpuMemArena ? 'on' : 'off'} pattern=${s.enableMemPattern ? 'on' : 'off'}`,
    ).toBe(winner);
  }, 30_000);

  it('--json gives the rows and the winner; `config --set session.x=` edits one field', async () => {
    const r = await cli('tune', 'cancer', '--batch', '1', '--rounds', '1', '--json');
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out) as {
      rows: { outputsEqual: boolean; timings: unknown[] }[];
      best: { outputsEqual: boolean };
      sampleRows: number;
      applied?: unknown;
    };
    expect(result.sampleRows).toBe(128);
    expect(result.rows.every((row) => row.timings.length === 1)).toBe(true);
    expect(result.best.outputsEqual).toBe(true);
    expect(result.applied).toBeUndefined();

    const set = await cli(
      'config',
      'cancer',
      '--set',
      'session.intraOpThreads=2',
      '--set',
      'executionProviders=cuda',
      '--json',
    );
    expect(set.code, set.err).toBe(0);
    const config = JSON.parse(set.out) as { session: { intraOpThreads: number }; executionProviders: string[] };
    expect(config.session.intraOpThreads).toBe(2);
    expect(config.executionProviders).toEqual(['cuda']);
    const bad = await cli('config', 'cancer', '--set', 'session.intraOpThreads=99');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('session.intraOpThreads must be an integer from 1 to 64, got "99"');
  }, 30_000);
});
