import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.js';
import { openPlatform } from '../platform.js';
import { startServer } from '../server/serve.js';
import { FIXTURES, expectedOutputs, firstMismatch } from '../testing/fixtures.js';
import { cliRunner } from './cli.test-support.js';

describe('slipway CLI', () => {
  let home: string;
  let work: string;
  const env = () => ({ SLIPWAY_HOME: home, SLIPWAY_LOG_LEVEL: 'silent' });

  const cli = cliRunner(() => ({ env: env(), cwd: work }));

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-'));
    work = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-work-'));
    await writeFile(path.join(work, 'card.md'), '# Breast cancer classifier\n\nIntended use: decision support.\n');
    await writeFile(path.join(work, 'm.json'), JSON.stringify({ accuracy: 0.958, f1: 0.9667 }));
    await writeFile(path.join(work, 'p.json'), JSON.stringify({ C: 1, penalty: 'l2' }));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  it('pushes with card, metrics, params, tags and lineage, then lists and shows', async () => {
    const model = path.join(FIXTURES, 'breast_cancer.onnx');
    const pushed = await cli(
      'push',
      model,
      '--name',
      'cancer',
      '--card',
      'card.md',
      '--metrics',
      'm.json',
      '--params',
      'p.json',
      '--tag',
      'team=risk',
      '--dataset',
      'wdbc',
      '-d',
      'baseline',
    );
    expect(pushed.err).toBe('');
    expect(pushed.code).toBe(0);
    expect(pushed.out).toBe('pushed cancer@1.0.0  (first version)\n');

    const second = await cli(
      'push',
      path.join(FIXTURES, 'breast_cancer_extra_output.onnx'),
      '--name',
      'cancer',
      '--json',
    );
    expect(second.code).toBe(0);
    expect(JSON.parse(second.out)).toMatchObject({
      version: '1.1.0',
      lineage: { parentVersion: '1.0.0' },
      schemaChange: { appliedBump: 'minor' },
    });

    const models = JSON.parse((await cli('models', '--json')).out) as Array<{
      name: string;
      latestVersion: string;
      versionCount: number;
    }>;
    expect(models).toEqual([expect.objectContaining({ name: 'cancer', latestVersion: '1.1.0', versionCount: 2 })]);
    const table = (await cli('models')).out;
    expect(table.split('\n')[0]).toMatch(/^MODEL\s+LATEST\s+VERSIONS\s+ALIASES\s+UPDATED$/);
    expect((await cli('versions', 'cancer')).out).toMatch(/1\.1\.0\s+active\s+minor[\s\S]*1\.0\.0\s+active\s+initial/);

    const shown = await cli('show', 'cancer@1.0.0');
    expect(shown.code).toBe(0);
    for (const part of [
      'cancer@1.0.0',
      'FP32',
      '[-1,30]',
      'probabilities',
      'accuracy=0.958',
      'C=1',
      'team=risk',
      'dataset=wdbc',
      'Intended use: decision support.',
    ]) {
      expect(shown.out).toContain(part);
    }
    const json = JSON.parse((await cli('show', 'cancer', '--json')).out) as { version: string };
    expect(json.version).toBe('1.1.0');
  });

  it('refuses a version the schema diff forbids, with the differences and exit code 1', async () => {
    const refused = await cli(
      'push',
      path.join(FIXTURES, 'breast_cancer_no_label.onnx'),
      '--name',
      'cancer',
      '--version',
      '1.2.0',
    );
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.err).toMatch(
      /^error: version 1\.2\.0 is a minor bump from 1\.1\.0, but the schema change is breaking and needs a major bump/,
    );
    expect(refused.err).toMatch(/BREAKING output "label" was removed/);
    const dry = await cli('push', path.join(FIXTURES, 'breast_cancer_no_label.onnx'), '--name', 'cancer', '--dry-run');
    expect(dry.out).toMatch(/^would push cancer@2\.0\.0/);
    expect(JSON.parse((await cli('versions', 'cancer', '--json')).out)).toHaveLength(2);
  });

  it('moves aliases and archives', async () => {
    expect((await cli('alias', 'set', 'cancer', 'champion', '1.0.0', '--why', 'launch')).out).toBe(
      'cancer@champion -> 1.0.0\n',
    );
    expect((await cli('alias', 'set', 'cancer', 'champion', '1.1.0')).out).toBe(
      'cancer@champion -> 1.1.0 (was 1.0.0)\n',
    );
    const history = JSON.parse((await cli('alias', 'history', 'cancer', '--json')).out) as Array<{
      toVersion: string;
      reason: string | null;
    }>;
    expect(history.map((e) => [e.toVersion, e.reason])).toEqual([
      ['1.0.0', 'launch'],
      ['1.1.0', null],
    ]);
    const refused = await cli('archive', 'cancer@1.1.0');
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/^error: .*champion/);
    expect((await cli('archive', 'cancer@1.0.0')).out).toBe('archived cancer@1.0.0\n');
    expect((await cli('show', 'cancer@1.0.0')).out).toMatch(/archived/);
  });

  it('reports errors as one line and a non-zero exit', async () => {
    const missing = await cli('push', 'nope.onnx', '--name', 'x');
    expect(missing).toEqual({ code: 1, out: '', err: 'error: cannot read nope.onnx: ENOENT\n' });
    const unknown = await cli('show', 'ghost');
    expect(unknown).toEqual({ code: 1, out: '', err: 'error: model "ghost" does not exist\n' });
    const usage = await cli('push');
    expect(usage.code).toBe(2);
    const badFile = await cli('push', path.join(FIXTURES, 'not_onnx.onnx'), '--name', 'x');
    expect(badFile.code).toBe(1);
    expect(badFile.err.split('\n')[0]).toMatch(/^error: not a valid ONNX model/);
  });

  it('shows and changes serving settings, and loads/unloads on a running server', async () => {
    expect((await cli('config', 'cancer')).out).toBe('cancer: default serving settings\n');
    const set = await cli('config', 'cancer', '--set', 'maxBatchSize=8', '--set', 'batching=true', '--json');
    expect(set.code).toBe(0);
    expect(JSON.parse(set.out)).toEqual({ maxBatchSize: 8, batching: true });
    const bad = await cli('config', 'cancer', '--set', 'maxBatchSize=0');
    expect(bad).toMatchObject({
      code: 1,
      err: 'error: invalid serving config: maxBatchSize must be an integer from 1 to 1048576, got "0"\n',
    });
    expect((await cli('config', 'cancer', '--set', 'maxBatchSize=default')).out).toMatch(/^batching=true\n/);

    const platform = await openPlatform(loadConfig(env()));
    const server = await startServer(platform, { host: '127.0.0.1', port: 0 });
    try {
      await server.preloaded;
      expect(await cli('load', 'cancer@champion', '--url', server.url)).toEqual({
        code: 0,
        out: 'loaded cancer@1.1.0\n',
        err: '',
      });
      expect(await cli('unload', 'cancer@1.1.0', '--url', server.url)).toEqual({
        code: 0,
        out: 'unloaded cancer@1.1.0\n',
        err: '',
      });
      expect((await cli('unload', 'cancer@1.1.0', '--url', server.url)).out).toBe('was not loaded: cancer@1.1.0\n');
      expect(await cli('load', 'ghost', '--url', server.url)).toEqual({
        code: 1,
        out: '',
        err: 'error: model "ghost" does not exist\n',
      });
    } finally {
      await server.stop();
    }
  });

  it('predicts from JSON and CSV rows against a running server', async () => {
    const platform = await openPlatform(loadConfig(env()));
    const server = await startServer(platform, { host: '127.0.0.1', port: 0 });
    try {
      await server.preloaded;
      const expected = expectedOutputs('breast_cancer');
      const rows = Array.from({ length: 3 }, (_, i) => expected.inputs[0]!.data.slice(i * 30, (i + 1) * 30));
      await writeFile(path.join(work, 'rows.json'), JSON.stringify(rows));
      const header = Array.from({ length: 30 }, (_, i) => `f${i}`).join(',');
      await writeFile(path.join(work, 'rows.csv'), [header, ...rows.map((r) => r.join(','))].join('\n') + '\n');
      const wantLabels = expected.outputs.find((o) => o.name === 'label')!.data.slice(0, 3);
      const wantProba = expected.outputs.find((o) => o.name === 'probabilities')!.data.slice(0, 6);
      for (const file of ['rows.json', 'rows.csv']) {
        // cancer@1.0.0 was archived above; the original schema answers as 1.1.0 with an extra logit output
        const result = await cli('predict', 'cancer@champion', '--input', file, '--url', server.url, '--json');
        expect(result.err).toBe('');
        const body = JSON.parse(result.out) as {
          predictions: Array<{ label: number; probabilities: number[] }>;
          model_version: string;
        };
        expect(body.model_version).toBe('1.1.0');
        expect(body.predictions.map((p) => p.label)).toEqual(wantLabels);
        expect(
          firstMismatch(
            body.predictions.flatMap((p) => p.probabilities),
            wantProba,
            1e-5,
          ),
        ).toBeUndefined();
      }
      const down = await cli('predict', 'cancer', '--input', 'rows.json', '--url', 'http://127.0.0.1:1');
      expect(down.code).toBe(1);
      expect(down.err).toMatch(/^error: cannot reach http:\/\/127\.0\.0\.1:1/);
    } finally {
      await server.stop();
    }
  });
});
