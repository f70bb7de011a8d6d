import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import { readOnnxModel } from '../../registry/onnx/read-onnx.js';
import { fixtureBytes } from '../../testing/fixtures.js';
import { evaluateRun } from './evaluate-run.js';

const TEST_FILE = fileURLToPath(new URL('../../../fixtures/optimize/breast_cancer_test.csv', import.meta.url));
const CHAMPION = new Uint8Array(fixtureBytes('breast_cancer.onnx'));
const CANDIDATE = new Uint8Array(fixtureBytes('breast_cancer_retrained.onnx'));
const SIGNATURE = readOnnxModel(CHAMPION).signature;

/** The test split read by hand: 30 features and the label per row. */
function testRows(): { features: Float32Array; labels: number[] } {
  const [header, ...lines] = readFileSync(TEST_FILE, 'utf8').trim().split('\n');
  const names = header!.split(',');
  const label = names.indexOf('label');
  const columns = Array.from({ length: 30 }, (_, i) => names.indexOf(`input_${i}`));
  const features = new Float32Array(lines.length * 30);
  const labels: number[] = [];
  lines.forEach((line, row) => {
    const cells = line.split(',').map(Number);
    columns.forEach((c, i) => (features[row * 30 + i] = cells[c]!));
    labels.push(cells[label]!);
  });
  return { features, labels };
}

/** Accuracy of a model on the test split, computed here with ONNX Runtime directly. */
async function accuracyOf(bytes: Uint8Array): Promise<number> {
  const { features, labels } = testRows();
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ input: new ort.Tensor('float32', features, [labels.length, 30]) });
    const predicted = out['label']!.data as BigInt64Array;
    let right = 0;
    labels.forEach((l, i) => (right += Number(predicted[i]) === l ? 1 : 0));
    return right / labels.length;
  } finally {
    await session.release();
  }
}

describe('evaluateRun', () => {
  it('evaluates the retrained candidate against the champion on the test split, metrics equal to ORT computed here', async () => {
    const evaluation = await evaluateRun({
      championBytes: CHAMPION,
      champion: '1.0.0',
      candidateBytes: CANDIDATE,
      signature: SIGNATURE,
      testFile: TEST_FILE,
      labelColumn: 'label',
      gates: ['accuracy >= champion - 0.005', 'auc >= 0.8', 'p99_ms <= 50', 'agreement >= 0.999'],
      minSeconds: 0.05,
    });
    const championAccuracy = await accuracyOf(CHAMPION);
    const candidateAccuracy = await accuracyOf(CANDIDATE);
    expect(evaluation.champion).toBe('1.0.0');
    expect(evaluation.report.rows).toBe(143);
    expect(evaluation.report.metrics!.parent['accuracy']).toBe(championAccuracy);
    expect(evaluation.report.metrics!.candidate['accuracy']).toBe(candidateAccuracy);
    const [accuracy, auc, p99, agreement] = evaluation.gates;
    expect(accuracy!.actual).toBe(candidateAccuracy);
    expect(accuracy!.value).toBeCloseTo(championAccuracy - 0.005, 12);
    expect(accuracy!.passed).toBe(candidateAccuracy >= championAccuracy - 0.005);
    expect(auc!.actual).toBeGreaterThan(0.9);
    expect(auc!.passed).toBe(true);
    expect(p99!.actual).toBe(evaluation.report.latency.find((l) => l.batchSize === 1)!.candidate.p99Ms);
    // Retrained with other weights: it disagrees with the champion on some rows.
    expect(agreement!.actual).toBeLessThan(1);
    expect(agreement!.passed).toBe(false);
    expect(evaluation.passed).toBe(false);
  }, 30_000);

  it('judges a first version by absolute gates only and refuses relative ones by name', async () => {
    const base = {
      candidateBytes: CANDIDATE,
      signature: SIGNATURE,
      testFile: TEST_FILE,
      labelColumn: 'label',
      minSeconds: 0.02,
    };
    await expect(evaluateRun({ ...base, gates: ['accuracy >= champion - 0.005'] })).rejects.toThrow(
      /compares with the champion, but there is none to compare with \(the model has no version yet\)/,
    );
    const evaluation = await evaluateRun({ ...base, gates: ['accuracy >= 0.9'] });
    expect(evaluation.champion).toBeNull();
    expect(evaluation.gates[0]!.actual).toBe(await accuracyOf(CANDIDATE));
    expect(evaluation.passed).toBe(true);
  }, 30_000);

  it('refuses a candidate with another signature unless a signature change is allowed', async () => {
    const narrow = new Uint8Array(fixtureBytes('breast_cancer_29_features.onnx'));
    const base = {
      championBytes: CHAMPION,
      champion: '1.0.0',
      candidateBytes: narrow,
      signature: SIGNATURE,
      testFile: TEST_FILE,
      labelColumn: 'label',
      minSeconds: 0.02,
    };
    const refused = await evaluateRun({ ...base, gates: ['accuracy >= 0.5'] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SlipwayError);
    expect((refused as SlipwayError).code).toBe('FAILED_PRECONDITION');
    expect((refused as SlipwayError).message).toMatch(
      /signature differs from the champion 1\.0\.0's: inputs: .*30.*29/,
    );
    await expect(evaluateRun({ ...base, gates: ['accuracy >= champion'], allowSignatureChange: true })).rejects.toThrow(
      /signature differs from the champion's/,
    );
    const allowed = await evaluateRun({ ...base, gates: ['accuracy >= 0.5'], allowSignatureChange: true });
    expect(allowed.champion).toBeNull();
    expect(allowed.report.rows).toBe(143);
    expect(allowed.gates[0]!.actual).toBeGreaterThan(0.9);
  }, 30_000);
});
