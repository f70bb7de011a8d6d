import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PredictionEntry } from '../../monitor/prediction-store.js';
import { fixtureBytes, openTestPlatform } from '../../testing/fixtures.js';
import { evaluateTriggers } from './evaluate-triggers.js';
import { pipelineWith } from './testing.js';
import { triggerDepsFrom } from './trigger-deps.js';
import type { TriggerDeps } from './evaluate-triggers.js';

const HOUR = 3_600_000;

/** Rows of a fixtures/optimize CSV as [30 features, label]. */
function csvRows(file: string): { features: number[]; label: number }[] {
  const lines = readFileSync(new URL(`../../../fixtures/optimize/${file}`, import.meta.url), 'utf8')
    .trim()
    .split('\n');
  return lines.slice(1).map((line) => {
    const values = line.split(',').map(Number);
    return { features: values.slice(0, 30), label: values[30] as number };
  });
}

function entry(id: string, model: string, timeMs: number, features: number[], predicted: number): PredictionEntry {
  return {
    requestId: id,
    timeMs,
    deployment: undefined,
    model,
    version: '1.0.0',
    protocol: 'http',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: Float32Array.from(features) }],
    outputs: [
      { name: 'label', datatype: 'INT64', shape: [1], data: BigInt64Array.from([BigInt(predicted)]) },
      {
        name: 'probabilities',
        datatype: 'FP32',
        shape: [1, 2],
        data: Float32Array.from(predicted === 1 ? [0.2, 0.8] : [0.8, 0.2]),
      },
    ],
    latencyMs: 1,
  };
}

describe('triggerDepsFrom (real services over SQLite)', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let deps: TriggerDeps;
  const now = Date.now();
  const test = csvRows('breast_cancer_test.csv');
  /** The first 40 current rows of `stable` get feedback; 4 of their predictions are wrong. */
  const labelled = test.slice(0, 40).map((row, i) => ({ ...row, predicted: i % 10 === 0 ? 1 - row.label : row.label }));
  let second: string;

  beforeAll(async () => {
    platform = await openTestPlatform();
    const reference = csvRows('breast_cancer_train.csv').slice(0, 200);
    for (const model of ['stable', 'shifted']) {
      await platform.registry.push({ name: model, bytes: fixtureBytes('breast_cancer.onnx') });
      await platform.predictions.append(
        reference.map((row, i) => entry(`${model}-ref-${i}`, model, now - 3 * HOUR + i, row.features, row.label)),
      );
      await platform.drift.setReferenceFromServed(model, '1.0.0', 200);
      const scale = model === 'shifted' ? 1.5 : 1;
      await platform.predictions.append(
        test.map((row, i) =>
          entry(
            `${model}-now-${i}`,
            model,
            now - HOUR / 2 + i,
            row.features.map((x) => x * scale),
            labelled[i]?.predicted ?? row.label,
          ),
        ),
      );
    }
    await platform.predictions.addFeedback(
      labelled.map((row, i) => ({ requestId: `stable-now-${i}`, label: String(row.label) })),
    );
    second = (await platform.registry.push({ name: 'stable', bytes: fixtureBytes('breast_cancer_retrained.onnx') }))
      .version;
    deps = triggerDepsFrom({
      registry: platform.registry,
      drift: platform.drift,
      performance: platform.performance,
      predictions: platform.predictions,
      deployments: platform.deployments.service,
      runs: {
        lastStarted: (name) => Promise.resolve(name === 'cancer-retrain' ? new Date(now - 5 * HOUR) : undefined),
      },
    });
  }, 60_000);
  afterAll(async () => {
    await platform?.dispose();
  });

  it('drift: no dataset drift on the same distribution, drift on features scaled by 1.5', async () => {
    const stable = await deps.drift('stable', '1.0.0', HOUR);
    const shifted = await deps.drift('shifted', '1.0.0', HOUR);
    expect(stable?.rows).toBe(test.length);
    expect(shifted?.rows).toBe(test.length);
    expect(stable?.threshold).toBe(0.5);
    expect(stable?.features).toHaveLength(30);
    expect(stable?.datasetDrift).toBe(false);
    expect(stable?.share).toBeLessThan(0.5);
    expect(shifted?.datasetDrift).toBe(true);
    expect(shifted?.share).toBeGreaterThanOrEqual(0.5);
    expect(shifted?.share).toBe(shifted!.features.filter((f) => f.drifted).length / 30);
    // The second version has no reference profile (and served nothing): no verdict.
    expect(await deps.drift('stable', second, HOUR)).toBeUndefined();
  });

  it('performance: accuracy and auc equal an independent count on the serving version', async () => {
    const correct = labelled.filter((r) => r.predicted === r.label).length;
    expect(await deps.performance('stable', 'accuracy', HOUR, '1.0.0')).toEqual({
      value: correct / labelled.length,
      rows: 40,
    });
    // AUC over two score levels: P(score of a positive > score of a negative) + half the ties.
    const positives = labelled.filter((r) => r.label === 1).map((r) => (r.predicted === 1 ? 0.8 : 0.2));
    const negatives = labelled.filter((r) => r.label === 0).map((r) => (r.predicted === 1 ? 0.8 : 0.2));
    let wins = 0;
    for (const p of positives) for (const n of negatives) wins += p > n ? 1 : p === n ? 0.5 : 0;
    const auc = await deps.performance('stable', 'auc', HOUR, '1.0.0');
    expect(auc.rows).toBe(40);
    expect(auc.value).toBeCloseTo(wins / (positives.length * negatives.length), 6);
    expect(await deps.performance('shifted', 'accuracy', HOUR, '1.0.0')).toEqual({ value: null, rows: 0 });
    await expect(deps.performance('stable', 'accuracyy', HOUR)).rejects.toThrow(
      'performance trigger metric "accuracyy": expected one of accuracy, precision, recall, f1, roc_auc, log_loss, macro_f1, mae, rmse, r2, auc',
    );
  });

  it('feedbackSince counts feedback on predictions since the time, stopping at atMost', async () => {
    expect(await deps.feedbackSince('stable', new Date(now - HOUR))).toBe(40);
    expect(await deps.feedbackSince('stable', new Date(now - HOUR), 25)).toBe(25);
    expect(await deps.feedbackSince('stable', new Date(now))).toBe(0);
    expect(await deps.feedbackSince('shifted', new Date(now - HOUR))).toBe(0);
  });

  it('servingVersion: latest, then the champion alias, then the deployment primary route', async () => {
    const spec = pipelineWith([]).spec;
    expect(await deps.servingVersion({ ...spec, model: 'stable' })).toBe(second);
    await platform.registry.setAlias('stable', 'champion', '1.0.0');
    expect(await deps.servingVersion({ ...spec, model: 'stable' })).toBe('1.0.0');
    await platform.deployments.service.deploy('stable-live', { model: 'stable', routes: ['1.0.0=10', `${second}=90`] });
    expect(await deps.servingVersion({ ...spec, model: 'stable', deployment: 'stable-live' })).toBe(second);
    await expect(deps.servingVersion({ ...spec, model: 'shifted', deployment: 'stable-live' })).rejects.toThrow(
      'pipeline "cancer-retrain": deployment "stable-live" serves model "stable", not "shifted"',
    );
    await expect(deps.servingVersion({ ...spec, model: 'nope' })).rejects.toThrow('model "nope" does not exist');
  });

  it('evaluateTriggers on the real sources: drift fires on the shifted model only', async () => {
    const drift = { kind: 'drift', windowMs: HOUR } as const;
    const labels = { kind: 'labels', count: 40 } as const;
    const at = new Date(now);
    const shifted = await evaluateTriggers(pipelineWith([drift], { model: 'shifted' }), deps, at);
    expect(shifted.firing?.kind).toBe('drift');
    expect(shifted.firing?.reason).toMatch(
      /^dataset drift: [\d.]+ of features drifted \(threshold 0\.5\) on shifted@1\.0\.0 over 1h, 143 rows$/,
    );
    const stable = await evaluateTriggers(pipelineWith([drift, labels], { model: 'stable' }), deps, at);
    expect(stable.evaluations.map((e) => [e.trigger, e.fired])).toEqual([
      ['drift', false],
      ['labels', true],
    ]);
    expect(stable.evaluations[1]?.reason).toBe(
      `40 or more new labels since the last run started (${new Date(now - 5 * HOUR).toISOString()}), needs 40`,
    );
  });
});
