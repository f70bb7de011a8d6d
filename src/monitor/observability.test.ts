import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../server/app.js';
import { fixtureBytes, openTestPlatform, type ExpectedTensor } from '../testing/fixtures.js';

const MONITOR_FIXTURES = fileURLToPath(new URL('../../fixtures/monitor/', import.meta.url));
const load = <T>(file: string): T => JSON.parse(fs.readFileSync(MONITOR_FIXTURES + file, 'utf8')) as T;

interface FeedbackFixture {
  models: Record<
    string,
    {
      model: string;
      task: string;
      inputs: ExpectedTensor[];
      labels: (string | number)[];
      metrics: Record<string, unknown> & {
        calibration?: {
          fraction_positive: number[];
          mean_predicted: number[];
          bin_counts: number[];
          bin_index: number[];
        };
        per_class?: Record<string, { precision: number; recall: number; f1: number; support: number }>;
      };
    }
  >;
}
interface RowsFixture {
  inputs: ExpectedTensor[];
}

describe('prediction log, feedback and performance, drift, end to end over HTTP', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  const feedback = load<FeedbackFixture>('feedback.json');

  beforeAll(async () => {
    // Reference files are repository fixtures: their folder is a data root (core/data-roots.ts).
    platform = await openTestPlatform({ dataRoots: [MONITOR_FIXTURES] });
    for (const model of ['breast_cancer', 'wine_forest', 'diabetes_ridge'])
      await platform.registry.push({ name: model, bytes: fixtureBytes(`${model}.onnx`) });
    app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      monitor: platform.monitor,
      observability: platform,
    });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  async function serve(model: string, rows: readonly ExpectedTensor[], version?: string): Promise<string[]> {
    const ids: string[] = [];
    for (const input of rows) {
      const url = version === undefined ? `/v2/models/${model}/infer` : `/v2/models/${model}/versions/${version}/infer`;
      const response = await app.inject({ method: 'POST', url, payload: { inputs: [input] } });
      expect(response.statusCode, response.body).toBe(200);
      ids.push(response.json<{ id: string }>().id);
    }
    await platform.log.flush();
    return ids;
  }

  it('logs every prediction with its inputs and outputs, found by request id', async () => {
    const rows = feedback.models.breast_cancer!.inputs.slice(0, 3);
    const ids = await serve('breast_cancer', rows);
    const response = await app.inject({
      method: 'GET',
      url: `/api/v1/predictions?model=breast_cancer&request_id=${ids[1]}`,
    });
    expect(response.statusCode, response.body).toBe(200);
    const [logged] = response.json<{
      predictions: {
        request_id: string;
        version: string;
        inputs: ExpectedTensor[];
        outputs: ExpectedTensor[];
        latency_ms: number;
      }[];
    }>().predictions;
    expect(logged?.request_id).toBe(ids[1]);
    expect(logged?.version).toBe('1.0.0');
    expect(logged?.inputs[0]?.data).toEqual(rows[1]?.data);
    expect(logged?.outputs.map((o) => o.name)).toEqual(['label', 'probabilities']);
    expect(logged!.latency_ms).toBeGreaterThan(0);
    const recent = await app.inject({
      method: 'GET',
      url: '/api/v1/predictions?model=breast_cancer&since=1h&limit=2&order=desc',
    });
    expect(recent.json<{ predictions: { request_id: string }[] }>().predictions.map((p) => p.request_id)).toEqual([
      ids[2],
      ids[1],
    ]);
  });

  it.each(['breast_cancer', 'wine_forest', 'diabetes_ridge'])(
    '%s: metrics from feedback equal scikit-learn',
    async (name) => {
      const fixture = feedback.models[name]!;
      const ids = await serve(name, fixture.inputs);
      const items = ids.map((id, i) =>
        fixture.task === 'regression'
          ? { request_id: id, value: fixture.labels[i] }
          : { request_id: id, label: fixture.labels[i] },
      );
      const posted = await app.inject({ method: 'POST', url: '/api/v1/feedback', payload: items });
      expect(posted.statusCode, posted.body).toBe(200);
      expect(posted.json<{ accepted: number }>().accepted).toBe(ids.length);

      const response = await app.inject({ method: 'GET', url: `/api/v1/performance?model=${name}&window=1h` });
      expect(response.statusCode, response.body).toBe(200);
      const [v] = response.json<{
        versions: {
          version: string;
          task: string;
          count: number;
          binary?: Record<string, number | null> & {
            calibration: { count: number; meanPredicted: number; fractionPositive: number }[];
          };
          multiclass?: {
            accuracy: number;
            macroF1: number;
            classes: { label: string; precision: number; recall: number; f1: number; support: number }[];
          };
          regression?: Record<string, number>;
        }[];
      }>().versions;
      const m = fixture.metrics;
      expect(v?.task).toBe(fixture.task);
      expect(v?.count).toBe(fixture.inputs.length);
      const close = (actual: number | null | undefined, expected: unknown) =>
        expect(actual).toBeCloseTo(expected as number, 6);
      if (fixture.task === 'binary') {
        const b = v!.binary!;
        for (const [ours, theirs] of [
          ['accuracy', 'accuracy'],
          ['precision', 'precision'],
          ['recall', 'recall'],
          ['f1', 'f1'],
          ['rocAuc', 'roc_auc'],
          ['logLoss', 'log_loss'],
        ] as const)
          close(b[ours], m[theirs]);
        const calibration = m.calibration!;
        expect(b.calibration.map((bin) => bin.count)).toEqual(calibration.bin_counts);
        b.calibration.forEach((bin, i) => {
          close(bin.meanPredicted, calibration.mean_predicted[i]);
          close(bin.fractionPositive, calibration.fraction_positive[i]);
        });
      } else if (fixture.task === 'multiclass') {
        close(v!.multiclass!.accuracy, m.accuracy);
        close(v!.multiclass!.macroF1, m.macro_f1);
        for (const cls of v!.multiclass!.classes) expect(cls.support).toBe(m.per_class![cls.label]!.support);
      } else {
        for (const key of ['mae', 'rmse', 'r2']) close(v!.regression![key], m[key]);
      }
    },
  );

  it('refuses malformed feedback with a message naming the item', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/feedback',
      payload: [{ request_id: 'a', label: 1 }, { request_id: 'b' }, { label: 2 }],
    });
    expect(response.statusCode).toBe(400);
    const { error } = response.json<{ error: string }>();
    expect(error).toContain('feedback[1]: send exactly one of "label"');
    expect(error).toContain('feedback[2]: "request_id" must be a non-empty string');
  });

  it('decides no drift for rows like the training data and drift for shifted rows', async () => {
    const train = `${MONITOR_FIXTURES}breast_cancer_train.csv`;
    const set = await app.inject({
      method: 'PUT',
      url: '/api/v1/models/breast_cancer@1.0.0/reference',
      payload: { file: train, ignore: ['target'] },
    });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json<{ rows: number; features: number; outputs: number }>()).toMatchObject({
      rows: 426,
      features: 30,
      outputs: 3,
    });
    await serve('breast_cancer', load<RowsFixture>('breast_cancer_same.json').inputs);
    const same = await app.inject({ method: 'GET', url: '/api/v1/drift?model=breast_cancer&version=1.0.0&window=1h' });
    expect(same.statusCode, same.body).toBe(200);
    const quiet = same.json<{
      status: string;
      dataset: { drifted: boolean; share: number };
      features: { column: string; test: string; drifted: boolean }[];
    }>();
    expect(quiet.status).toBe('ok');
    expect(quiet.features.every((f) => f.test === 'ks')).toBe(true); // 426 reference rows <= 1000
    expect(quiet.dataset.drifted).toBe(false);

    await platform.registry.push({ name: 'breast_cancer', bytes: fixtureBytes('breast_cancer_retrained.onnx') });
    const setNew = await app.inject({
      method: 'PUT',
      url: '/api/v1/models/breast_cancer@1.1.0/reference',
      payload: { file: train, ignore: ['target'] },
    });
    expect(setNew.statusCode, setNew.body).toBe(200);
    await serve('breast_cancer', load<RowsFixture>('breast_cancer_shifted.json').inputs, '1.1.0');
    const shifted = await app.inject({
      method: 'GET',
      url: '/api/v1/drift?model=breast_cancer&version=1.1.0&window=1h',
    });
    const loud = shifted.json<{
      dataset: { drifted: boolean; share: number; driftedColumns: number };
      features: { column: string; drifted: boolean }[];
    }>();
    expect(loud.dataset.drifted).toBe(true);
    expect(loud.dataset.driftedColumns).toBeGreaterThanOrEqual(20);
    expect(loud.features.slice(0, 20).every((f) => f.drifted)).toBe(true);

    const stored = await app.inject({ method: 'GET', url: '/api/v1/drift/results?model=breast_cancer' });
    expect(stored.json<{ results: { version: string }[] }>().results.map((r) => r.version)).toEqual(['1.1.0', '1.0.0']);
  });

  it('reports "not enough data" for a window with too few predictions', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/api/v1/drift?model=breast_cancer&version=1.0.0&window=1h&until=2020-01-01T00:00:00Z',
    });
    expect(response.statusCode, response.body).toBe(200);
    const report = response.json<{
      status: string;
      dataset: { drifted: boolean | null };
      features: { status: string }[];
    }>();
    expect(report.status).toBe('not_enough_data');
    expect(report.dataset.drifted).toBeNull();
    expect(report.features.every((f) => f.status === 'not_enough_data')).toBe(true);
  });
});
