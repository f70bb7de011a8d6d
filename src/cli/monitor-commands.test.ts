import { tensorRequest } from '../serving/index.js';
import fs from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.js';
import { openPlatform } from '../platform.js';
import { FIXTURES } from '../testing/fixtures.js';
import { cliRunner } from './cli.test-support.js';

const MONITOR_FIXTURES = fileURLToPath(new URL('../../fixtures/monitor/', import.meta.url));

/** push --reference, drift, performance, reference show and log export, on a store with served traffic. */
describe('slipway monitoring commands', () => {
  let home: string;
  const ids: string[] = [];

  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-monitor-'));
    const pushed = await cli(
      'push',
      path.join(FIXTURES, 'breast_cancer.onnx'),
      '--name',
      'cancer',
      '--reference',
      `${MONITOR_FIXTURES}breast_cancer_train.csv`,
      '--reference-ignore',
      'target',
    );
    expect(pushed.err).toBe('');
    expect(pushed.out).toContain('reference: 426 rows, 30 features, 3 outputs profiled');
    // Serve the shifted rows in-process, with feedback for each (labels from the fixture).
    const fixture = JSON.parse(fs.readFileSync(`${MONITOR_FIXTURES}breast_cancer_shifted.json`, 'utf8')) as {
      inputs: { shape: number[]; data: number[] }[];
      labels: (string | number)[];
    };
    const platform = await openPlatform(loadConfig({ SLIPWAY_LOG_LEVEL: 'silent' }, { home }));
    try {
      for (const input of fixture.inputs) {
        const result = await platform.serving.pipeline.infer(
          tensorRequest('cancer', [
            { name: 'input', datatype: 'FP32', shape: input.shape, data: Float32Array.from(input.data) },
          ]),
        );
        ids.push(result.id!);
      }
      await platform.predictions.addFeedback(
        ids.map((requestId, i) => ({ requestId, label: String(fixture.labels[i]) })),
      );
    } finally {
      await platform.close();
    }
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('reports dataset drift for the shifted rows', async () => {
    const text = await cli('drift', 'cancer@1.0.0', '--window', '1h');
    expect(text.err).toBe('');
    expect(text.out).toMatch(/DATASET DRIFT: (2\d|30)\/30 features drifted/);
    const json = await cli('drift', 'cancer', '--json');
    const report = JSON.parse(json.out) as {
      currentRows: number;
      dataset: { drifted: boolean };
      features: { column: string; test: string }[];
    };
    expect(report.currentRows).toBe(200);
    expect(report.dataset.drifted).toBe(true);
    expect(report.features[0]).toMatchObject({ column: 'input[0]', test: 'ks' });
  });

  it('computes performance from the feedback', async () => {
    const json = await cli('performance', 'cancer', '--window', '1h', '--json');
    expect(json.err).toBe('');
    const report = JSON.parse(json.out) as {
      versions: { version: string; task: string; count: number; binary: { accuracy: number } }[];
    };
    expect(report.versions[0]).toMatchObject({ version: '1.0.0', task: 'binary', count: 200 });
    expect(report.versions[0]!.binary.accuracy).toBeGreaterThan(0.5);
    const text = await cli('performance', 'cancer');
    expect(text.out).toMatch(/1\.0\.0 {2}binary {2}n=200 {2}accuracy 0\.\d{4}/);
  });

  it('exports the log to CSV with one row per prediction', async () => {
    const out = await cli('log', 'export', '--since', '1h', '--out', 'preds.csv', '--model', 'cancer');
    expect(out.err).toBe('');
    expect(out.out).toBe('wrote 200 predictions to preds.csv\n');
    const lines = (await readFile(path.join(home, 'preds.csv'), 'utf8')).trimEnd().split('\n');
    expect(lines[0]).toBe('request_id,time,deployment,model,version,protocol,latency_ms,inputs,outputs,payload');
    expect(lines).toHaveLength(201);
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(ids);
  });

  it('names what is wrong with a reference file', async () => {
    const bad = await cli(
      'reference',
      'set',
      'cancer@1.0.0',
      `${MONITOR_FIXTURES}breast_cancer_train.csv`,
      '--ignore',
      'mean radius',
      '--ignore',
      'mean texture',
    );
    expect(bad.code).toBe(1); // 31 columns, 2 ignored: 29 usable, 30 needed
    expect(bad.err).toContain('input "input" needs 30 columns but the file has 29 usable ones');
    const missing = await cli('reference', 'set', 'cancer@1.0.0', path.join(home, 'nope.csv'));
    expect(missing.code).not.toBe(0);
    expect(missing.err).toContain('nope.csv');
  });
});
