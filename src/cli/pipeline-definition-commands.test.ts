import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../store/database.js';
import { SqlPipelineStore } from '../pipelines/pipeline-store.js';
import { SqlRunStore } from '../pipelines/run-store.js';
import type { PipelineOverview, PipelineSummary } from '../pipelines/definitions/overview.js';
import { cliRunner } from './cli.test-support.js';

const pipelinesYaml = (minInterval: string, extra = ''): string => `
pipelines:
  - name: cancer-retrain
    model: breast_cancer
    deployment: cancer-live
    triggers:
      - drift: { window: 1h }
      - labels: { count: 100 }
    minInterval: ${minInterval}
    data: { labels: feedback, window: 30d }
    train: { command: /usr/bin/python3 train.py, workdir: ./training, timeout: 10m }
    evaluate: { gates: ["accuracy >= champion - 0.005"] }
    release: { alias: staging }
${extra}`;

const SECOND = `  - name: digits
    model: digits_mlp
    triggers: [manual]
    data: { labels: feedback, window: 7d }
    train: { command: [node, train.mjs] }
`;

describe('slipway pipelines apply | list | show', () => {
  let home: string;
  const slipwayHome = () => path.join(home, '.slipway');
  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: slipwayHome() }, cwd: home }));

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-pipelines-'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('names a parse problem by its path and file, and stores nothing', async () => {
    await writeFile(path.join(home, 'bad.yaml'), pipelinesYaml('soon'));
    const bad = await cli('pipelines', 'apply', 'bad.yaml', '--yes');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain('pipelines[0].minInterval "soon": expected e.g. 30s, 5m, 1h or 1h30m');
    expect(bad.err).toContain('bad.yaml');
    expect((await cli('pipelines', 'list')).out).toBe(
      'No pipelines: run `slipway pipelines apply pipelines.yaml --yes`.\n',
    );
  });

  it('prints the plan without --yes and applies nothing', async () => {
    await writeFile(path.join(home, 'pipelines.yaml'), pipelinesYaml('1h', SECOND));
    const dry = await cli('pipelines', 'apply', 'pipelines.yaml');
    expect(dry).toMatchObject({ code: 0, err: '' });
    expect(dry.out).toBe(
      '+ pipeline cancer-retrain\n+ pipeline digits\n\nPlan: 2 to add, 0 to change, 0 to remove, 0 unchanged.\n\n' +
        'Nothing applied: run again with --yes to apply this plan.\n',
    );
    expect(JSON.parse((await cli('pipelines', 'list', '--json')).out)).toEqual([]);
  });

  it('applies with --yes at version 1, then bumps only the changed pipeline and deactivates a removed one', async () => {
    const applied = await cli('pipelines', 'apply', 'pipelines.yaml', '--yes');
    expect(applied).toMatchObject({ code: 0, err: '' });
    expect(applied.out).toContain('Applied: cancer-retrain v1, digits v1.');
    expect((await cli('pipelines', 'apply', 'pipelines.yaml', '--yes')).out).toBe(
      'No changes: the stored pipelines match the file.\n',
    );

    await writeFile(path.join(home, 'pipelines.yaml'), pipelinesYaml('2h'));
    const changed = await cli('pipelines', 'apply', 'pipelines.yaml', '--yes', '--json');
    expect(changed.code).toBe(0);
    const plan = JSON.parse(changed.out) as { changed: unknown; removed: string[]; applied: boolean };
    expect(plan).toMatchObject({
      added: [],
      changed: [{ name: 'cancer-retrain', details: ['minInterval: 1h -> 2h'] }],
      removed: ['digits'],
      unchanged: [],
      applied: true,
    });
    const list = JSON.parse((await cli('pipelines', 'list', '--json')).out) as PipelineSummary[];
    expect(list.map((p) => [p.name, p.version, p.spec.minIntervalMs])).toEqual([['cancer-retrain', 2, 7_200_000]]);
    expect((await cli('pipelines', 'list')).out).toMatch(
      /cancer-retrain\s+2\s+breast_cancer -> cancer-live\s+drift,labels\s+alias staging\s+-/,
    );
    expect((await cli('pipelines', 'show', 'digits')).err).toContain('pipeline "digits" does not exist');
    const audit = JSON.parse((await cli('audit', '--json', '--action', 'pipelines.apply')).out) as {
      events: { action: string; target: string; outcome: string; details: Record<string, number> }[];
    };
    // Two applies changed something (the one with no changes and the dry run are not recorded).
    expect(audit.events.map((e) => [e.target, e.outcome, e.details])).toEqual([
      ['pipelines.yaml', 'ok', { added: 0, changed: 1, removed: 1 }],
      ['pipelines.yaml', 'ok', { added: 2, changed: 0, removed: 0 }],
    ]);
  });

  it('shows the definition, the latest trigger evaluations and runs', async () => {
    const database = await openDatabase({ sqlitePath: path.join(slipwayHome(), 'slipway.db') });
    try {
      const pipelines = new SqlPipelineStore(database);
      const runs = new SqlRunStore(database);
      await pipelines.recordEvaluations(
        Array.from({ length: 12 }, (_, i) => ({
          pipeline: 'cancer-retrain',
          trigger: 'labels' as const,
          at: `2026-12-01T00:${String(i).padStart(2, '0')}:00.000Z`,
          fired: false,
          value: i,
          reason: `${i} new labels, needs 100`,
        })),
      );
      const run = await runs.create(await pipelines.get('cancer-retrain'), {
        kind: 'drift',
        reason: 'dataset drift 0.62',
        value: 0.62,
      });
      await runs.finish(run.id, null, { status: 'cancelled', reason: 'cancelled by request' });
    } finally {
      await database.close();
    }
    const shown = await cli('pipelines', 'show', 'cancer-retrain');
    expect(shown).toMatchObject({ code: 0, err: '' });
    const lines = shown.out.split('\n');
    expect(lines.slice(0, 10)).toEqual([
      expect.stringMatching(/^pipeline cancer-retrain v2 \(applied \d{4}-/),
      '  model: breast_cancer (deployment cancer-live)',
      '  triggers: drift 1h; labels 100',
      '  min interval: 2h',
      '  data: labels from feedback, last 4w2d, split 0.7/0.15/0.15, label column label',
      `  train: /usr/bin/python3 train.py in ${path.join(home, 'training')}, timeout 10m`,
      '  evaluate: accuracy >= champion - 0.005',
      '  release: alias staging',
      '  allow major: no',
      '',
    ]);
    expect(shown.out).toMatch(/2026-12-01T00:11:00.000Z\s+labels\s+no\s+11\s+11 new labels, needs 100/);
    expect(shown.out).not.toContain('2026-12-01T00:01:00.000Z');
    expect(shown.out).toMatch(/run-\S+\s+cancelled\s+pending\s+drift\s+\S+\s+cancelled by request/);

    const json = JSON.parse((await cli('pipelines', 'show', 'cancer-retrain', '--json')).out) as PipelineOverview;
    expect(json.pipeline.version).toBe(2);
    expect(json.evaluations.map((e) => e.value)).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
    expect(json.runs.map((r) => r.status)).toEqual(['cancelled']);
  });
});
