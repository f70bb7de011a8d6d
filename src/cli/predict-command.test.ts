import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.js';
import { openPlatform } from '../platform.js';
import { startServer, type RunningServer } from '../server/serve.js';
import { FIXTURES, expectedOutputs, firstMismatch } from '../testing/fixtures.js';
import { cliRunner } from './cli.test-support.js';

interface Prediction {
  label: number | string;
  probabilities: number[];
}

/**
 * Issue 13 item 13 (a): `slipway predict --input rows.csv` on a file with an id column failed with
 * `unknown input "id"`. `--id-column` and `--keep` (as `batch run` has them) keep such columns out
 * of the request and print them next to each prediction.
 */
describe('slipway predict --id-column / --keep', () => {
  let home: string;
  let server: RunningServer;
  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));
  const cancer = expectedOutputs('breast_cancer');
  const iris = expectedOutputs('iris_mixed');
  const N = 4;

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-predict-'));
    for (const model of ['breast_cancer', 'iris_mixed'])
      expect((await cli('push', path.join(FIXTURES, `${model}.onnx`), '--name', model)).code).toBe(0);
    server = await startServer(
      await openPlatform(loadConfig({ SLIPWAY_HOME: home, SLIPWAY_LOG_LEVEL: 'silent' }), {
        predictionLogThread: false,
      }),
      { host: '127.0.0.1', port: 0 },
    );
    // Multi-input: one column per input, plus an id and a city that are not inputs.
    const names = iris.inputs.map((t) => t.name);
    const irisRows = Array.from({ length: N }, (_, i) => [
      `id-${i}`,
      ...iris.inputs.map((t) => t.data[i]),
      i % 2 === 0 ? 'Lyon' : 'Oslo',
    ]);
    await writeFile(
      path.join(home, 'iris.csv'),
      [['id', ...names, 'city'].join(','), ...irisRows.map((r) => r.join(','))].join('\n') + '\n',
    );
    // Single input [batch, 30]: thirty feature columns between an id and the label.
    const features = Array.from({ length: 30 }, (_, j) => `f${j}`);
    const labels = cancer.outputs.find((o) => o.name === 'label')!.data;
    const cancerRows = Array.from({ length: N }, (_, i) => [
      `p${i}`,
      ...cancer.inputs[0]!.data.slice(i * 30, (i + 1) * 30),
      labels[i],
    ]);
    await writeFile(
      path.join(home, 'cancer.csv'),
      [['id', ...features, 'label'].join(','), ...cancerRows.map((r) => r.join(','))].join('\n') + '\n',
    );
    await writeFile(
      path.join(home, 'cancer.json'),
      JSON.stringify(cancerRows.map((r) => ({ id: r[0], input: r.slice(1, 31) }))),
    );
  }, 60_000);
  afterAll(async () => {
    await server?.stop(5000);
    await rm(home, { recursive: true, force: true });
  });

  const lines = (out: string) =>
    out
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  it('sends only the inputs of a multi-input model and prints the id and kept columns with each prediction', async () => {
    const refused = await cli('predict', 'iris_mixed', '--input', 'iris.csv', '--url', server.url);
    expect(refused).toEqual({
      code: 1,
      out: '',
      err: 'error: columns "id", "city" of iris.csv are not inputs of the model (inputs: sepal_length, sepal_width, petal_length, petal_width_band); pass --id-column <column> or --keep <columns> for columns that are not inputs\n',
    });
    const result = await cli(
      'predict',
      'iris_mixed',
      '--input',
      'iris.csv',
      '--id-column',
      'id',
      '--keep',
      'city',
      '--url',
      server.url,
    );
    expect(result.err).toBe('');
    expect(result.out.split('\n')[0]).toBe('# iris_mixed@1.0.0');
    const printed = lines(result.out);
    expect(printed.map((p) => [p.id, p.city])).toEqual([
      ['id-0', 'Lyon'],
      ['id-1', 'Oslo'],
      ['id-2', 'Lyon'],
      ['id-3', 'Oslo'],
    ]);
    const want = iris.outputs.find((o) => o.name === 'label')!.data.slice(0, N);
    expect(printed.map((p) => (p.prediction as Prediction).label)).toEqual(want);
    expect(
      firstMismatch(
        printed.flatMap((p) => (p.prediction as Prediction).probabilities),
        iris.outputs.find((o) => o.name === 'probabilities')!.data.slice(0, N * 3),
        1e-5,
      ),
    ).toBeUndefined();
  });

  it('keeps the id and label of a single-input model out of its 30 features, from CSV and JSON rows', async () => {
    const refused = await cli('predict', 'breast_cancer', '--input', 'cancer.csv', '--url', server.url);
    expect(refused.err).toBe(
      'error: cancer.csv has 32 columns but input "input" takes 30 values per row; pass --id-column <column> or --keep <columns> for columns that are not inputs\n',
    );
    const want = cancer.outputs.find((o) => o.name === 'label')!.data.slice(0, N);
    const result = await cli(
      'predict',
      'breast_cancer',
      '--input',
      'cancer.csv',
      '--id-column',
      'id',
      '--keep',
      'label',
      '--url',
      server.url,
      '--json',
    );
    expect(result.err).toBe('');
    const body = JSON.parse(result.out) as {
      model_version: string;
      predictions: Prediction[];
      rows: { id: string; label: string; prediction: Prediction }[];
    };
    expect(body.predictions.map((p) => p.label)).toEqual(want);
    expect(body.rows.map((r) => [r.id, r.label, r.prediction.label])).toEqual(
      want.map((label, i) => [`p${i}`, String(label), label]),
    );
    expect(
      firstMismatch(
        body.predictions.flatMap((p) => p.probabilities),
        cancer.outputs.find((o) => o.name === 'probabilities')!.data.slice(0, N * 2),
        1e-5,
      ),
    ).toBeUndefined();

    const fromJson = await cli(
      'predict',
      'breast_cancer',
      '--input',
      'cancer.json',
      '--id-column',
      'id',
      '--url',
      server.url,
    );
    expect(fromJson.err).toBe('');
    expect(lines(fromJson.out).map((p) => [p.id, (p.prediction as Prediction).label])).toEqual(
      want.map((label, i) => [`p${i}`, label]),
    );
    // Only --keep: the row number stands in for the id, as in `batch run`.
    const numbered = await cli(
      'predict',
      'breast_cancer',
      '--input',
      'cancer.csv',
      '--keep',
      'id,label',
      '--url',
      server.url,
    );
    expect(lines(numbered.out).map((p) => [p.row, p.id])).toEqual([
      [0, 'p0'],
      [1, 'p1'],
      [2, 'p2'],
      [3, 'p3'],
    ]);
  });

  it('refuses columns the file lacks, naming the ones it has', async () => {
    const missing = await cli(
      'predict',
      'breast_cancer',
      '--input',
      'cancer.csv',
      '--id-column',
      'patient',
      '--url',
      server.url,
    );
    expect(missing.err).toMatch(
      /^error: --id-column "patient": cancer\.csv has no such column; its columns are id, f0, f1, .*, f29, label\n$/,
    );
    const keep = await cli(
      'predict',
      'iris_mixed',
      '--input',
      'iris.csv',
      '--id-column',
      'id',
      '--keep',
      'city,country',
      '--url',
      server.url,
    );
    expect(keep.err).toMatch(
      /^error: --keep "country": iris\.csv has no such column; its columns are id, sepal_length/,
    );
    await writeFile(path.join(home, 'arrays.json'), JSON.stringify([cancer.inputs[0]!.data.slice(0, 30)]));
    const arrays = await cli(
      'predict',
      'breast_cancer',
      '--input',
      'arrays.json',
      '--id-column',
      'id',
      '--url',
      server.url,
    );
    expect(arrays.err).toBe(
      'error: --id-column and --keep need named columns: arrays.json must hold rows as objects ({"column": value, ...}), or use a CSV file\n',
    );
  });
});
