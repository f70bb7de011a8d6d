import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../testing/fixtures.js';
import { cliRunner } from './cli.test-support.js';

const OPTIMIZE_FIXTURES = fileURLToPath(new URL('../../fixtures/optimize/', import.meta.url));
const CANCER_TEST = path.join(OPTIMIZE_FIXTURES, 'breast_cancer_test.csv');
const DIGITS_TEST = path.join(OPTIMIZE_FIXTURES, 'digits_test.csv');

let home: string;
const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));

async function blobs(): Promise<string[]> {
  const root = path.join(home, 'blobs', 'sha256');
  const folders = await readdir(root).catch(() => []);
  const files = await Promise.all(folders.map((f) => readdir(path.join(root, f)).catch(() => [])));
  return files.flat().sort();
}

async function versions(model: string): Promise<
  Array<{
    version: string;
    lineage: Record<string, unknown>;
    params: Record<string, unknown>;
    metrics: Record<string, number>;
    card: string | null;
  }>
> {
  const r = await cli('versions', model, '--json');
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as Awaited<ReturnType<typeof versions>>;
}

interface Outcome {
  status: string;
  parent: string;
  version: string | null;
  passes: Array<{ name: string }>;
  gates: Array<{ passed: boolean }>;
  report: {
    rows: number;
    size: { candidateBytes: number; parentBytes: number; ratio: number };
    latency: Array<{ speedup: number; parent: { meanMs: number }; candidate: { meanMs: number } }>;
    metrics: { parent: Record<string, number> };
  };
}

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), 'slipway-optimize-cli-'));
  for (const [name, file] of [
    ['cancer', 'breast_cancer.onnx'],
    ['digits', 'digits_mlp_wide.onnx'],
  ] as const)
    expect((await cli('push', path.join(FIXTURES, file), '--name', name)).code).toBe(0);
}, 60_000);

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('slipway optimize', () => {
  it('quantizes a wide MLP, measures it against its parent and registers it with lineage, params and the report', async () => {
    const r = await cli(
      'optimize',
      'digits@1.0.0',
      '--quantize',
      'dynamic',
      '--eval',
      DIGITS_TEST,
      '--label-column',
      'label',
      '--gate',
      'accuracy>=-0.005',
      '--gate',
      'size_ratio<=0.3',
      '--min-seconds',
      '0.2',
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const outcome = JSON.parse(r.out) as Outcome;
    expect(outcome.status).toBe('registered');
    expect(outcome.parent).toBe('digits@1.0.0');
    const report = outcome.report;
    expect(report.rows).toBe(450);
    expect(report.size.candidateBytes / report.size.parentBytes).toBeCloseTo(report.size.ratio, 6);
    expect(report.size.ratio).toBeLessThanOrEqual(1 / 3.5);
    for (const l of report.latency) expect(l.speedup).toBeCloseTo(l.parent.meanMs / l.candidate.meanMs, 6);
    expect(report.metrics.parent.accuracy).toBeCloseTo(0.9733, 3);
    expect(outcome.gates.every((g) => g.passed)).toBe(true);
    const listed = await versions('digits');
    const created = listed.find((v) => v.version === outcome.version)!;
    expect(created.lineage).toMatchObject({ parentVersion: '1.0.0', passes: ['quantize-dynamic'] });
    expect(created.params.optimize).toMatchObject({ parent: 'digits@1.0.0', passes: [{ name: 'quantize-dynamic' }] });
    expect(created.card).toMatch(/Optimization report/);
    // Semver: same signature, so a compatible (non-major) bump.
    expect(outcome.version).toMatch(/^1\./);
  }, 120_000);

  it('applies passes in the order given on the command line', async () => {
    const r = await cli(
      'optimize',
      'digits@1.0.0',
      '--prune',
      'magnitude:0.5',
      '--quantize',
      'dynamic',
      '--eval',
      DIGITS_TEST,
      '--min-seconds',
      '0.1',
      '--batch-sizes',
      '1',
      '--dry-run',
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const outcome = JSON.parse(r.out) as Outcome;
    expect(outcome.status).toBe('dry-run');
    expect(outcome.passes.map((p) => p.name)).toEqual(['prune-magnitude', 'quantize-dynamic']);
  }, 120_000);

  it('a failing gate refuses the candidate and stores nothing: no blob, no version', async () => {
    const before = { blobs: await blobs(), versions: (await versions('cancer')).length };
    const r = await cli(
      'optimize',
      'cancer@1.0.0',
      '--fp16',
      '--eval',
      CANCER_TEST,
      '--label-column',
      'label',
      '--gate',
      'speedup>=1000',
      '--min-seconds',
      '0.1',
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/speedup>=1000 \(measured [0-9.]+\).*nothing was registered/);
    expect(r.out).toMatch(/FAIL/);
    expect(await blobs()).toEqual(before.blobs);
    expect((await versions('cancer')).length).toBe(before.versions);
  }, 120_000);

  it('a dry run reports and stores nothing', async () => {
    const before = await blobs();
    const r = await cli(
      'optimize',
      'cancer@1.0.0',
      '--graph',
      'basic',
      '--eval',
      CANCER_TEST,
      '--min-seconds',
      '0.1',
      '--dry-run',
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/dry run: nothing was stored/);
    expect(await blobs()).toEqual(before);
  }, 60_000);

  it('refuses bad requests by name before running anything', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--quantize', 'static', '--eval', CANCER_TEST], /quantize-static needs calibration rows/],
      [['--quantize', 'half', '--eval', CANCER_TEST], /--quantize must be dynamic or static/],
      [['--prune', 'random:0.5', '--eval', CANCER_TEST], /--prune must be magnitude:<sparsity> or neurons:<fraction>/],
      [['--eval', CANCER_TEST], /name at least one pass/],
      [['--fp16', '--eval', CANCER_TEST, '--gate', 'speed>=2'], /speed/],
      [['--fp16', '--eval', path.join(home, 'missing.csv')], /missing\.csv/],
    ];
    for (const [args, message] of cases) {
      const r = await cli('optimize', 'cancer@1.0.0', ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err).toMatch(message);
    }
    const unknown = await cli('optimize', 'nope@1.0.0', '--fp16', '--eval', CANCER_TEST);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/nope/);
  }, 60_000);
});
