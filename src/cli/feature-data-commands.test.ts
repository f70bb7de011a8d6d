import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.js';
import {
  BASE,
  SECOND,
  definitionsYaml,
  generate,
  prediction,
  readRows,
  servedRow,
  writeGenerated,
} from '../features/offline/feature-data.test-support.js';
import { referencePointInTimeJoin } from '../features/offline/point-in-time.test-support.js';
import type { SkewReport } from '../features/offline/skew.js';
import type { ViewMaterialization } from '../features/offline/materialize.js';
import { openPlatform } from '../platform.js';
import { progressReporter } from './feature-data-commands.js';
import { cliRunner } from './cli.test-support.js';

describe('slipway features training-set | materialize | skew', () => {
  const data = generate(21, 60);
  let home: string;

  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-features-'));
    await writeGenerated(home, data);
    await writeFile(path.join(home, 'features.yaml'), definitionsYaml());
    const applied = await cli('features', 'apply', 'features.yaml', '--yes');
    expect(applied.code).toBe(0);
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('training-set writes the reference rows and reports them', async () => {
    const result = await cli(
      'features',
      'training-set',
      '--service',
      'svc',
      '--entities',
      'entities.csv',
      '--out',
      'train.parquet',
      '--timestamp-column',
      'ts',
    );
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out).toMatch(
      new RegExp(
        `^Wrote ${data.entities.length} rows x 4 features \\(service svc v1\\) to train.parquet in \\d+\\.\\d\\d s\\n$`,
      ),
    );
    const rows = await readRows(path.join(home, 'train.parquet'));
    expect(rows).toEqual(referencePointInTimeJoin(data.entities, 'ts', data.views));
    const missing = await cli(
      'features',
      'training-set',
      '--service',
      'svc',
      '--entities',
      'entities.csv',
      '--out',
      'x.parquet',
    );
    expect(missing.code).not.toBe(0);
    expect(missing.err).toContain('lacks "event_timestamp"');
  });

  it('materialize writes a window, prints a summary, and continues incrementally', async () => {
    const start = new Date(BASE + 10 * SECOND).toISOString();
    const end = new Date(BASE + 40 * SECOND).toISOString();
    const json = await cli('features', 'materialize', '--start', start, '--end', end, '--view', 'b', '--json');
    expect(json.err).toBe('');
    const { views } = JSON.parse(json.out) as { views: ViewMaterialization[] };
    const keys = new Set(
      data.views[1]!.rows.filter(
        (r) => (r.event_ts as number) >= BASE + 10 * SECOND && (r.event_ts as number) <= BASE + 40 * SECOND,
      ).map((r) => r.k1),
    );
    expect(views).toEqual([
      expect.objectContaining({
        view: 'b',
        startMs: BASE + 10 * SECOND,
        endMs: BASE + 40 * SECOND,
        rows: keys.size,
        written: keys.size,
        stale: 0,
      }),
    ]);
    const text = await cli('features', 'materialize', '--end', end, '--view', 'a', '--view', 'b');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(
      /^VIEW +START +END +WRITTEN +STALE +SECONDS\na +- +2026-01-01T00:00:40.000Z +\d+ +0 +\d+\.\d\d\nb +- +2026-01-01T00:00:40.000Z +\d+ +\d+ +\d+\.\d\d\n$/,
    );
    expect(text.err).toMatch(/^a: 0\/\d+ rows\n(.*\n)*a: (\d+)\/\2 rows done\n/);
    // Incremental: starts at the watermark (the last end) and ends now.
    const incremental = await cli('features', 'materialize', '--incremental', '--view', 'a', '--json');
    const [run] = (JSON.parse(incremental.out) as { views: ViewMaterialization[] }).views;
    expect(run!.startMs).toBe(BASE + 40 * SECOND);
    expect(run!.endMs).toBeGreaterThan(Date.now() - 60_000);
  });

  it('skew prints mismatch rates per feature', async () => {
    const platform = await openPlatform(loadConfig({ SLIPWAY_LOG_LEVEL: 'silent' }, { home }));
    const expected = referencePointInTimeJoin(data.entities, 'ts', data.views).slice(0, 40);
    try {
      // Logged at each entity row's time, so the offline truth is the reference row; b_val served wrong on the first 10.
      await platform.predictions.append(
        expected.map((row, i) =>
          prediction(`s${i}`, row.ts as number, {
            service: 'svc',
            serviceVersion: 1,
            rows: [servedRow(row, (ref, v) => (ref === 'b:b_val' && v !== null && i < 10 ? -999 : v))],
          }),
        ),
      );
    } finally {
      await platform.close();
    }
    const tampered = expected.slice(0, 10).filter((r) => r.b__b_val !== null).length;
    const compared = expected.filter((r) => r.b__b_val !== null).length;
    const json = await cli(
      'features',
      'skew',
      '--service',
      'svc',
      '--since',
      String(BASE - 1),
      '--until',
      String(BASE + 3_600_000),
      '--json',
    );
    expect(json.err).toBe('');
    const report = JSON.parse(json.out) as SkewReport;
    expect(report.rows).toBe(40);
    expect(report.features.find((f) => f.feature === 'b:b_val')).toMatchObject({
      compared,
      mismatches: tampered,
      mismatchRate: tampered / compared,
    });
    expect(report.features.find((f) => f.feature === 'a:a_val')).toMatchObject({ mismatches: 0, mismatchRate: 0 });
    const text = await cli(
      'features',
      'skew',
      '--service',
      'svc',
      '--since',
      String(BASE - 1),
      '--until',
      String(BASE + 3_600_000),
    );
    expect(text.out).toContain('Service svc: 40 served rows from 40 predictions');
    expect(text.out).toMatch(
      new RegExp(`b:b_val +${compared} +${tampered} +${((tampered / compared) * 100).toFixed(1)}%`),
    );
    expect(text.out).toMatch(/a:a_val +40 +0 +0\.0%/);
  });
});

describe('progressReporter', () => {
  it('redraws a bar on a terminal', () => {
    let err = '';
    const report = progressReporter({
      stdout: () => undefined,
      stderr: (t) => void (err += t),
      env: {},
      cwd: '/',
      isTTY: true,
    });
    report({ view: 'v', rows: 5, total: 10 });
    report({ view: 'v', rows: 10, total: 10 });
    expect(err).toBe(
      `\rv [${'#'.repeat(15)}${'-'.repeat(15)}]  50% 5/10 rows\rv [${'#'.repeat(30)}] 100% 10/10 rows\n`,
    );
  });

  it('prints plain lines at most every 5 s otherwise', () => {
    let err = '';
    let now = 0;
    const report = progressReporter(
      { stdout: () => undefined, stderr: (t) => void (err += t), env: {}, cwd: '/' },
      () => now,
    );
    report({ view: 'v', rows: 0, total: 30 });
    now = 1000;
    report({ view: 'v', rows: 10, total: 30 });
    now = 6000;
    report({ view: 'v', rows: 20, total: 30 });
    report({ view: 'v', rows: 30, total: 30 });
    expect(err).toBe('v: 0/30 rows\nv: 20/30 rows\nv: 30/30 rows done\n');
  });
});
