/**
 * Classification quality metrics equal to scikit-learn 1.2's: accuracy, precision/recall/F1
 * (zero_division=0), ROC AUC, log loss and the uniform calibration curve for binary models;
 * accuracy and macro F1 with per-class scores for multiclass models.
 */
import { invalid } from '../core/errors.js';
import { assertSameLength, sum } from './numeric.js';

export interface BinaryClassificationInput {
  /** True labels, 0 or 1. */
  readonly labels: ArrayLike<number>;
  /** Predicted probability of the positive class, in [0, 1]. */
  readonly scores: ArrayLike<number>;
  /** Predict positive when score >= threshold (default 0.5). */
  readonly threshold?: number;
  /** Calibration bins over [0, 1] (default 10). */
  readonly bins?: number;
}

export interface CalibrationBin {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  /** Mean score in the bin (sklearn `prob_pred`). */
  readonly meanPredicted: number;
  /** Share of positives in the bin (sklearn `prob_true`). */
  readonly fractionPositive: number;
}

export interface BinaryClassificationMetrics {
  readonly count: number;
  readonly positives: number;
  readonly threshold: number;
  readonly confusion: {
    readonly truePositives: number;
    readonly falsePositives: number;
    readonly trueNegatives: number;
    readonly falseNegatives: number;
  };
  readonly accuracy: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** null when the labels hold a single class (sklearn raises). */
  readonly rocAuc: number | null;
  /** sklearn `log_loss(labels, scores, labels=[0, 1])`, scores clipped to [ε, 1 − ε], ε = 2.22e-16. */
  readonly logLoss: number;
  /** Non-empty bins of sklearn `calibration_curve(strategy='uniform')`. */
  readonly calibration: CalibrationBin[];
}

/** precision = tp / (tp + fp) and so on, 0 when the denominator is 0 (sklearn zero_division=0). */
function divideOrZero(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator;
}

/** sklearn's F-score from precision and recall: 2·p·r / (p + r), 0 when p + r = 0. */
function fScore(precision: number, recall: number): number {
  const denominator = precision + recall;
  return (2 * precision * recall) / (denominator === 0 ? 1 : denominator);
}

/**
 * Area under the ROC curve with tied scores as one threshold (sklearn roc_auc_score, equal to
 * the Mann–Whitney U with average ranks). Trapezoids in integer counts, divided once.
 */
function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>, positives: number): number | null {
  const n = labels.length;
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return null;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let truePositives = 0;
  let falsePositives = 0;
  let previousTp = 0;
  let previousFp = 0;
  let doubledArea = 0;
  for (let k = 0; k < n; k++) {
    const index = order[k]!;
    if (labels[index] === 1) truePositives++;
    else falsePositives++;
    const next = order[k + 1];
    if (next === undefined || scores[next] !== scores[index]) {
      doubledArea += (falsePositives - previousFp) * (truePositives + previousTp);
      previousTp = truePositives;
      previousFp = falsePositives;
    }
  }
  return doubledArea / (2 * positives * negatives);
}

/** sklearn 1.2 log_loss for binary labels: clip, renormalise the two columns, mean of −log. */
function logLoss(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const eps = Number.EPSILON;
  const losses = new Float64Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(Math.max(scores[i]!, eps), 1 - eps);
    const total = 1 - p + p;
    losses[i] = -Math.log((labels[i] === 1 ? p : 1 - p) / total);
  }
  return sum(losses) / labels.length;
}

/** sklearn calibration_curve(strategy='uniform'): edges linspace(0, 1, bins + 1), `searchsorted(left)` on the inner edges. */
function calibration(labels: ArrayLike<number>, scores: ArrayLike<number>, bins: number): CalibrationBin[] {
  const step = 1 / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? 1 : i * step));
  const totals = new Array<number>(bins).fill(0);
  const scoreSums = new Array<number>(bins).fill(0);
  const positives = new Array<number>(bins).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const score = scores[i]!;
    let bin = 0;
    while (bin < bins - 1 && edges[bin + 1]! < score) bin++;
    totals[bin]!++;
    scoreSums[bin]! += score;
    positives[bin]! += labels[i]!;
  }
  const result: CalibrationBin[] = [];
  for (let bin = 0; bin < bins; bin++) {
    const count = totals[bin]!;
    if (count === 0) continue;
    result.push({
      lower: edges[bin]!,
      upper: edges[bin + 1]!,
      count,
      meanPredicted: scoreSums[bin]! / count,
      fractionPositive: positives[bin]! / count,
    });
  }
  return result;
}

/**
 * Binary classification metrics from labels and positive-class probabilities.
 * Throws INVALID_ARGUMENT on mismatched lengths, labels other than 0/1 or scores outside [0, 1].
 *
 * @example
 * binaryClassificationMetrics({ labels: [0, 0, 1, 1], scores: [0.1, 0.4, 0.35, 0.8] }).rocAuc; // 0.75
 */
export function binaryClassificationMetrics(input: BinaryClassificationInput): BinaryClassificationMetrics {
  const { labels, scores } = input;
  const threshold = input.threshold ?? 0.5;
  const bins = input.bins ?? 10;
  assertSameLength(labels, scores, 'binaryClassificationMetrics');
  if (!Number.isInteger(bins) || bins < 1) throw invalid(`bins must be a positive integer (got ${bins})`);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    const score = scores[i]!;
    if (label !== 0 && label !== 1) throw invalid(`labels must be 0 or 1 (index ${i} is ${label})`);
    if (!(score >= 0 && score <= 1)) throw invalid(`scores must be probabilities in [0, 1] (index ${i} is ${score})`);
    const predicted = score >= threshold;
    if (predicted && label === 1) tp++;
    else if (predicted) fp++;
    else if (label === 1) fn++;
    else tn++;
  }
  const count = labels.length;
  const positives = tp + fn;
  const precision = divideOrZero(tp, tp + fp);
  const recall = divideOrZero(tp, tp + fn);
  return {
    count,
    positives,
    threshold,
    confusion: { truePositives: tp, falsePositives: fp, trueNegatives: tn, falseNegatives: fn },
    accuracy: (tp + tn) / count,
    precision,
    recall,
    f1: fScore(precision, recall),
    rocAuc: rocAuc(labels, scores, positives),
    logLoss: logLoss(labels, scores),
    calibration: calibration(labels, scores, bins),
  };
}

export interface ClassScores {
  readonly label: string;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Occurrences of the label among the true labels. */
  readonly support: number;
}

export interface MulticlassMetrics {
  readonly count: number;
  readonly accuracy: number;
  /** Unweighted mean of the per-class F1 over every label seen in either input (sklearn average='macro'). */
  readonly macroF1: number;
  /** Per label, sorted by label. */
  readonly classes: ClassScores[];
}

/**
 * Multiclass metrics from true and predicted labels, equal to sklearn's accuracy_score and
 * precision_recall_fscore_support(zero_division=0) over the sorted union of labels.
 *
 * @example
 * multiclassMetrics({ labels: ['a', 'b', 'c'], predicted: ['a', 'b', 'b'] }).macroF1; // 0.5556
 */
export function multiclassMetrics(input: {
  readonly labels: readonly string[];
  readonly predicted: readonly string[];
}): MulticlassMetrics {
  const { labels, predicted } = input;
  assertSameLength(labels, predicted, 'multiclassMetrics');
  const truth = new Map<string, number>();
  const guesses = new Map<string, number>();
  const hits = new Map<string, number>();
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    const guess = predicted[i]!;
    truth.set(label, (truth.get(label) ?? 0) + 1);
    guesses.set(guess, (guesses.get(guess) ?? 0) + 1);
    if (label === guess) {
      correct++;
      hits.set(label, (hits.get(label) ?? 0) + 1);
    }
  }
  const names = [...new Set([...truth.keys(), ...guesses.keys()])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const classes = names.map((label): ClassScores => {
    const tp = hits.get(label) ?? 0;
    const support = truth.get(label) ?? 0;
    const precision = divideOrZero(tp, guesses.get(label) ?? 0);
    const recall = divideOrZero(tp, support);
    return { label, precision, recall, f1: fScore(precision, recall), support };
  });
  const macroF1 = sum(classes.map((scores) => scores.f1)) / classes.length;
  return { count: labels.length, accuracy: correct / labels.length, macroF1, classes };
}
