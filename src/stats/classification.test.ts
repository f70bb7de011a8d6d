import { describe, expect, it } from 'vitest';
import { binaryClassificationMetrics, multiclassMetrics } from './classification.js';
import { expectClose, loadReference } from './reference.test-support.js';

interface Reference {
  binary: {
    name: string;
    labels: number[];
    scores: number[];
    threshold: number;
    accuracy: number;
    precision: number;
    recall: number;
    f1: number;
    rocAuc: number | null;
    logLoss: number;
    calibration: { lower: number; upper: number; count: number; meanPredicted: number; fractionPositive: number }[];
  }[];
  multiclass: {
    name: string;
    labels: string[];
    predicted: string[];
    accuracy: number;
    macroF1: number;
    classes: { label: string; precision: number; recall: number; f1: number; support: number }[];
  }[];
}

const reference = loadReference<Reference>();

describe('binaryClassificationMetrics equals scikit-learn', () => {
  it.each(reference.binary)('$name', (expected) => {
    const result = binaryClassificationMetrics({
      labels: expected.labels,
      scores: expected.scores,
      threshold: expected.threshold,
    });
    expect(result.count).toBe(expected.labels.length);
    expect(result.positives).toBe(expected.labels.filter((label) => label === 1).length);
    expectClose(result.accuracy, expected.accuracy, 1e-15);
    expectClose(result.precision, expected.precision, 1e-15);
    expectClose(result.recall, expected.recall, 1e-15);
    expectClose(result.f1, expected.f1, 1e-14);
    expectClose(result.rocAuc, expected.rocAuc, 1e-13);
    expectClose(result.logLoss, expected.logLoss, 1e-12);
    expect(result.calibration).toHaveLength(expected.calibration.length);
    result.calibration.forEach((bin, i) => {
      const want = expected.calibration[i]!;
      expect(bin.count).toBe(want.count);
      expect(bin.lower).toBe(want.lower);
      expect(bin.upper).toBe(want.upper);
      expectClose(bin.meanPredicted, want.meanPredicted, 1e-13);
      expectClose(bin.fractionPositive, want.fractionPositive, 1e-15);
    });
  });

  it('counts the confusion matrix at the threshold (score >= threshold is positive)', () => {
    const result = binaryClassificationMetrics({ labels: [1, 0, 1, 0], scores: [0.5, 0.5, 0.2, 0.1] });
    expect(result.confusion).toEqual({ truePositives: 1, falsePositives: 1, trueNegatives: 1, falseNegatives: 1 });
  });

  it('rejects bad labels, scores and lengths', () => {
    expect(() => binaryClassificationMetrics({ labels: [2], scores: [0.5] })).toThrow(/0 or 1/);
    expect(() => binaryClassificationMetrics({ labels: [1], scores: [1.5] })).toThrow(/\[0, 1\]/);
    expect(() => binaryClassificationMetrics({ labels: [1, 0], scores: [0.5] })).toThrow(/lengths differ/);
    expect(() => binaryClassificationMetrics({ labels: [], scores: [] })).toThrow(/no values/);
  });
});

describe('multiclassMetrics equals scikit-learn', () => {
  it.each(reference.multiclass)('$name', (expected) => {
    const result = multiclassMetrics({ labels: expected.labels, predicted: expected.predicted });
    expectClose(result.accuracy, expected.accuracy, 1e-15);
    expectClose(result.macroF1, expected.macroF1, 1e-14);
    expect(result.classes.map((c) => c.label)).toEqual(expected.classes.map((c) => c.label));
    result.classes.forEach((scores, i) => {
      const want = expected.classes[i]!;
      expectClose(scores.precision, want.precision, 1e-15);
      expectClose(scores.recall, want.recall, 1e-15);
      expectClose(scores.f1, want.f1, 1e-14);
      expect(scores.support).toBe(want.support);
    });
  });
});
