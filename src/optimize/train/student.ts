/**
 * The distillation student: a dense ReLU network (an MLP) trained with TensorFlow.js (train/tfjs.ts)
 * on a teacher's outputs. Classification students learn the teacher's soft targets at a temperature
 * (Hinton et al., "Distilling the Knowledge in a Neural Network": cross-entropy between the student's
 * softmax(z / T) and softmax(log p / T), scaled by T^2); regression students learn the teacher's
 * values with mean squared error. Inputs are standardised with the data's mean and standard deviation
 * (kept with the weights, so the exported graph does the same), regression targets too (folded back
 * into the last layer). Training is deterministic for a seed: our own PRNG draws the initial weights
 * and each epoch's row order.
 */
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { invalid } from '../../core/errors.js';
import { loadTensorFlow } from './tfjs.js';

export interface StudentSettings {
  /** Hidden layer widths, input side first. */
  readonly hidden: readonly number[];
  readonly epochs: number;
  readonly temperature: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
}

/** What the student learns from, row-major `[rows, width]`. */
export type StudentTargets =
  | { readonly kind: 'soft'; readonly probabilities: Float32Array; readonly classes: number }
  | { readonly kind: 'regression'; readonly values: Float32Array; readonly width: number };

/** One dense layer: `y = x W + b` with `W` row-major `[inputs, outputs]`. ReLU follows all but the last. */
export interface DenseLayer {
  readonly inputs: number;
  readonly outputs: number;
  readonly weights: Float32Array;
  readonly bias: Float32Array;
}

export interface TrainedStudent {
  /** Per input feature: the graph computes (x - mean) / std before the first layer. */
  readonly mean: Float32Array;
  readonly std: Float32Array;
  readonly layers: readonly DenseLayer[];
  /** Mean training loss of each epoch. */
  readonly losses: readonly number[];
  readonly trainMs: number;
}

/** Probabilities below this are clipped before log p / T (forests give exact zeros). */
const MIN_PROBABILITY = 1e-6;

/** mulberry32: a small, fast PRNG with 32-bit state, good enough for shuffles and initial weights. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Column means and standard deviations of a row-major table; constant columns get std 1. */
export function columnStatistics(
  values: Float32Array,
  rows: number,
  width: number,
): { mean: Float32Array; std: Float32Array } {
  const sum = new Float64Array(width);
  const squares = new Float64Array(width);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < width; j++) {
      const v = values[r * width + j]!;
      sum[j] = sum[j]! + v;
      squares[j] = squares[j]! + v * v;
    }
  const mean = new Float32Array(width);
  const std = new Float32Array(width);
  for (let j = 0; j < width; j++) {
    const m = sum[j]! / rows;
    const s = Math.sqrt(Math.max(0, squares[j]! / rows - m * m));
    mean[j] = m;
    std[j] = s > 1e-6 * Math.max(1, Math.abs(m)) ? s : 1;
  }
  return { mean, std };
}

/** The teacher's probabilities softened by the temperature: softmax(log p / T), row by row. */
export function softTargets(probabilities: Float32Array, classes: number, temperature: number): Float32Array {
  const out = new Float32Array(probabilities.length);
  const logits = new Float64Array(classes);
  for (let r = 0; r < probabilities.length / classes; r++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) {
      logits[c] = Math.log(Math.max(probabilities[r * classes + c]!, MIN_PROBABILITY)) / temperature;
      max = Math.max(max, logits[c]!);
    }
    let total = 0;
    for (let c = 0; c < classes; c++) total += Math.exp(logits[c]! - max);
    for (let c = 0; c < classes; c++) out[r * classes + c] = Math.exp(logits[c]! - max) / total;
  }
  return out;
}

function standardise(values: Float32Array, rows: number, width: number, mean: Float32Array, std: Float32Array) {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < width; j++) out[r * width + j] = (values[r * width + j]! - mean[j]!) / std[j]!;
  return out;
}

/** Glorot-uniform weights (Keras' default for Dense) from our PRNG. */
function glorotUniform(inputs: number, outputs: number, random: () => number): Float32Array {
  const limit = Math.sqrt(6 / (inputs + outputs));
  return Float32Array.from({ length: inputs * outputs }, () => (random() * 2 - 1) * limit);
}

/**
 * Train a student on `features` (row-major `[rows, width]`, raw scale) to reproduce `targets`.
 * `onEpoch` is called after each epoch with its number (from 1) and mean loss.
 */
export async function trainStudent(
  features: Float32Array,
  rows: number,
  width: number,
  targets: StudentTargets,
  settings: StudentSettings,
  onEpoch: (epoch: number, loss: number) => void = () => {},
): Promise<TrainedStudent> {
  if (rows < 1 || features.length !== rows * width)
    throw invalid(`trainStudent: ${features.length} feature values for ${rows} rows of ${width}`);
  const outputs = targets.kind === 'soft' ? targets.classes : targets.width;
  const targetValues = targets.kind === 'soft' ? targets.probabilities : targets.values;
  if (targetValues.length !== rows * outputs)
    throw invalid(`trainStudent: ${targetValues.length} target values for ${rows} rows of ${outputs}`);
  const { tf } = await loadTensorFlow();
  const started = performance.now();
  const random = seededRandom(settings.seed);

  const { mean, std } = columnStatistics(features, rows, width);
  const x = tf.tensor2d(standardise(features, rows, width, mean, std), [rows, width]);
  let targetMean: Float32Array = new Float32Array(outputs);
  let targetStd: Float32Array = new Float32Array(outputs).fill(1);
  let y: Tensor2D;
  if (targets.kind === 'soft') {
    y = tf.tensor2d(softTargets(targets.probabilities, outputs, settings.temperature), [rows, outputs]);
  } else {
    ({ mean: targetMean, std: targetStd } = columnStatistics(targets.values, rows, outputs));
    y = tf.tensor2d(standardise(targets.values, rows, outputs, targetMean, targetStd), [rows, outputs]);
  }

  const sizes = [width, ...settings.hidden, outputs];
  const variables = sizes.slice(1).map((out, i) => ({
    w: tf.variable(tf.tensor2d(glorotUniform(sizes[i]!, out, random), [sizes[i]!, out])),
    b: tf.variable(tf.zeros([out])),
  }));
  const forward = (input: Tensor2D) => {
    let h = input;
    variables.forEach(({ w, b }, i) => {
      h = tf.add(tf.matMul(h, w), b);
      if (i < variables.length - 1) h = tf.relu(h);
    });
    return h;
  };
  const temperature = settings.temperature;
  const lossOf = (xb: Tensor2D, yb: Tensor2D) => {
    const z = forward(xb);
    if (targets.kind === 'soft') {
      const logProbabilities = tf.logSoftmax(tf.div(z, temperature));
      return tf.mul(tf.mean(tf.neg(tf.sum(tf.mul(yb, logProbabilities), 1))), temperature * temperature);
    }
    return tf.mean(tf.square(tf.sub(z, yb)));
  };

  const optimizer = tf.train.adam(settings.learningRate);
  const order = Int32Array.from({ length: rows }, (_, i) => i);
  const losses: number[] = [];
  for (let epoch = 1; epoch <= settings.epochs; epoch++) {
    for (let i = rows - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let total = 0;
    for (let start = 0; start < rows; start += settings.batchSize) {
      const count = Math.min(settings.batchSize, rows - start);
      const index = tf.tensor1d(order.subarray(start, start + count), 'int32');
      const xb = tf.gather<Tensor2D>(x, index);
      const yb = tf.gather<Tensor2D>(y, index);
      const loss = optimizer.minimize(() => lossOf(xb, yb) as Scalar, true)!;
      total += loss.dataSync()[0]! * count;
      tf.dispose([index, xb, yb, loss]);
    }
    const meanLoss = total / rows;
    if (!Number.isFinite(meanLoss))
      throw invalid(`distillation diverged at epoch ${epoch} (loss ${meanLoss}): lower the learning rate`);
    losses.push(meanLoss);
    onEpoch(epoch, meanLoss);
  }

  const layers: DenseLayer[] = [];
  for (let i = 0; i < variables.length; i++) {
    const weights = (await variables[i]!.w.data()) as Float32Array;
    const bias = (await variables[i]!.b.data()) as Float32Array;
    const inputs = sizes[i]!;
    const out = sizes[i + 1]!;
    if (i === variables.length - 1 && targets.kind === 'regression') {
      // y = (x W + b) * s + m  =  x (W * s) + (b * s + m)
      for (let r = 0; r < inputs; r++) for (let c = 0; c < out; c++) weights[r * out + c]! *= targetStd[c]!;
      for (let c = 0; c < out; c++) bias[c] = bias[c]! * targetStd[c]! + targetMean[c]!;
    }
    layers.push({ inputs, outputs: out, weights: Float32Array.from(weights), bias: Float32Array.from(bias) });
  }
  x.dispose();
  y.dispose();
  for (const { w, b } of variables) {
    w.dispose();
    b.dispose();
  }
  optimizer.dispose();
  return { mean, std, layers, losses, trainMs: performance.now() - started };
}
