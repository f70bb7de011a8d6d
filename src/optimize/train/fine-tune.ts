/**
 * A short fine-tune of an MLP's dense chain (src/optimize/train/dense-chain.ts) after it was pruned:
 * the chain's input for the training rows comes from the model itself, run in ONNX Runtime with that
 * tensor added as a graph output (so the preprocessing stays in the graph, untouched); the same chain
 * is rebuilt in tfjs-layers with the model's weights, trained on the labels (cross-entropy for
 * classifiers, MSE for a single regression output) and its weights are written back into the ONNX
 * initializers. Also home of `intermediateValues`, which the pruning pass uses for activation statistics.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import ort from 'onnxruntime-node';
import { invalid, SlipwayError } from '../../core/errors.js';
import { consumersOf, findInitializer } from '../onnx/graph-edit.js';
import { cloneModel, ElementType, encodeModel, type OnnxModel, type OnnxTensor } from '../onnx/model-proto.js';
import { floatTensor, readFloats, readInt64s } from '../onnx/tensor-proto.js';
import type { EvalSet, FeedTensor } from '../types.js';
import type { DenseChain, DenseLayer } from './dense-chain.js';
import { loadTensorFlow } from './tfjs.js';

const ORT_TYPES: Readonly<Record<string, ort.Tensor.Type>> = {
  FP32: 'float32',
  FP64: 'float64',
  INT64: 'int64',
  INT32: 'int32',
  UINT8: 'uint8',
  BOOL: 'bool',
  BYTES: 'string',
};

/** Rows [start, end) of one feed as an ONNX Runtime tensor. */
function feedSlice(name: string, feed: FeedTensor, rowCount: number, start: number, end: number): ort.Tensor {
  const type = ORT_TYPES[feed.datatype];
  if (type === undefined)
    throw invalid(`input "${name}": datatype ${feed.datatype} cannot be fed to ONNX Runtime here`);
  const width = rowCount === 0 ? 0 : feed.data.length / rowCount;
  const data = feed.data.slice(start * width, end * width);
  const dims = [end - start, ...feed.dims.slice(1)];
  return new ort.Tensor(type, data, dims);
}

/**
 * The values of FLOAT tensors inside the graph (or graph inputs) for every row of `rows`, each as
 * `rowCount x width` row-major: the model is run with those tensors added as graph outputs, in chunks.
 */
export async function intermediateValues(
  model: OnnxModel,
  tensors: readonly string[],
  rows: EvalSet,
  chunkRows = 512,
): Promise<Array<{ width: number; values: Float32Array }>> {
  const probe = cloneModel(model);
  const graphInputs = new Set(probe.graph.input.map((i) => i.name));
  for (const name of tensors)
    if (!graphInputs.has(name) && !probe.graph.output.some((o) => o.name === name))
      probe.graph.output.push({ name, type: { tensorType: { elemType: ElementType.FLOAT } } });
  const session = await ort.InferenceSession.create(encodeModel(probe), { logSeverityLevel: 3 });
  const parts: Float32Array[][] = tensors.map(() => []);
  const widths: number[] = tensors.map(() => 0);
  try {
    const wanted = tensors.filter((name) => !graphInputs.has(name));
    for (let start = 0; start < rows.rowCount; start += chunkRows) {
      const end = Math.min(rows.rowCount, start + chunkRows);
      const feeds: Record<string, ort.Tensor> = {};
      for (const name of session.inputNames) {
        const feed = rows.inputs[name];
        if (feed === undefined) throw invalid(`rows from ${rows.source} have no column set for model input "${name}"`);
        feeds[name] = feedSlice(name, feed, rows.rowCount, start, end);
      }
      const out = wanted.length > 0 ? await session.run(feeds, wanted) : {};
      tensors.forEach((name, i) => {
        const tensor = graphInputs.has(name) ? feeds[name]! : out[name]!;
        if (tensor.type !== 'float32') throw invalid(`tensor "${name}" is ${tensor.type}, not float32`);
        widths[i] = (tensor.data as Float32Array).length / (end - start);
        parts[i]!.push(tensor.data as Float32Array);
      });
    }
  } finally {
    await session.release();
  }
  return parts.map((chunks, i) => {
    const values = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
    let offset = 0;
    for (const c of chunks) {
      values.set(c, offset);
      offset += c.length;
    }
    return { width: widths[i]!, values };
  });
}

/** What the chain's last layer is trained against. */
export type ChainHead =
  | { readonly kind: 'multiclass'; readonly classes: number }
  | { readonly kind: 'binary' }
  | { readonly kind: 'regression' };

/** The loss a chain's head calls for: Softmax/ArgMax over k logits, Sigmoid over one logit, or one float value. */
export function chainHead(model: OnnxModel, chain: DenseChain): ChainHead {
  const units = chain.layers[chain.layers.length - 1]!.units;
  const readers = consumersOf(model.graph, chain.output).map((c) => c.node.opType);
  if (units > 1 && (readers.includes('Softmax') || readers.includes('ArgMax')))
    return { kind: 'multiclass', classes: units };
  if (units === 1 && readers.includes('Sigmoid')) return { kind: 'binary' };
  if (units === 1) return { kind: 'regression' };
  const read = readers.join(', ') || 'nothing';
  throw new SlipwayError(
    'FAILED_PRECONDITION',
    `fine-tune: the MLP's last layer writes ${units} values to "${chain.output}", read by ${read}: ` +
      'expected a Softmax/ArgMax head, a Sigmoid over one logit, or a single regression value',
  );
}

/** The class values the graph's label output names, index = class: a Gather over an initializer after the ArgMax. */
function graphClassLabels(model: OnnxModel, chain: DenseChain): string[] | undefined {
  for (const { node } of consumersOf(model.graph, chain.output)) {
    if (node.opType !== 'ArgMax') continue;
    const gather = consumersOf(model.graph, node.output[0]!).find((c) => c.node.opType === 'Gather' && c.index === 1);
    const table = gather === undefined ? undefined : findInitializer(model.graph, gather.node.input[0]!);
    if (table === undefined) continue;
    return tableValues(table);
  }
  return undefined;
}

function tableValues(table: OnnxTensor): string[] | undefined {
  if (table.dataType === ElementType.INT64) return readInt64s(table).map(String);
  if (table.dataType === ElementType.INT32) return (table.int32Data ?? []).map(String);
  if (table.dataType === ElementType.STRING)
    return ((table.stringData as Uint8Array[] | undefined) ?? []).map((b) => new TextDecoder().decode(b));
  return undefined;
}

/**
 * Each label's class index: through `classLabels` when given, else the graph's label Gather table, else
 * the labels must be the class indices themselves (an ArgMax label output: 0..k-1; a Sigmoid: 0 or 1).
 */
export function classIndices(
  labels: readonly (number | string)[],
  classes: number,
  classLabels: readonly string[] | undefined,
  graphLabels: readonly string[] | undefined,
): Int32Array {
  const table = classLabels ?? graphLabels;
  const where = classLabels !== undefined ? 'the class labels' : "the graph's label table";
  const indices = new Int32Array(labels.length);
  labels.forEach((label, row) => {
    let index: number;
    if (table !== undefined) {
      index = table.indexOf(String(label));
      if (index < 0) throw invalid(`fine-tune: label "${String(label)}" (row ${row}) is not one of ${where}`);
    } else {
      index = typeof label === 'number' ? label : Number(label);
      if (!Number.isInteger(index) || index < 0 || index >= classes)
        throw invalid(`fine-tune: label "${String(label)}" (row ${row}) is not a class index 0..${classes - 1}`);
    }
    if (index >= classes)
      throw invalid(`fine-tune: label "${String(label)}" is class ${index}, the model has ${classes}`);
    indices[row] = index;
  });
  return indices;
}

export interface FineTuneOptions {
  readonly epochs: number;
  readonly learningRate: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly classLabels?: readonly string[];
  readonly progress: (message: string) => void;
}

/** Deterministic uniform numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A layer's weights as tfjs wants them: kernel [inputs, units] (alpha folded in), bias [units] (beta folded in). */
function kernelOf(model: OnnxModel, layer: DenseLayer): { kernel: Float32Array; bias: Float32Array | undefined } {
  const w = readFloats(findInitializer(model.graph, layer.weight)!);
  const kernel = new Float32Array(layer.inputs * layer.units);
  for (let i = 0; i < layer.inputs; i++)
    for (let j = 0; j < layer.units; j++)
      kernel[i * layer.units + j] =
        layer.alpha * (layer.weightLayout === 'in-out' ? w[i * layer.units + j]! : w[j * layer.inputs + i]!);
  if (layer.bias === undefined || layer.beta === 0) return { kernel, bias: undefined };
  const b = readFloats(findInitializer(model.graph, layer.bias)!).map((v) => v * layer.beta);
  return { kernel, bias: b };
}

/** Replace an initializer's values (same name, dims and position). */
function writeInitializer(model: OnnxModel, name: string, values: Float32Array): void {
  const index = model.graph.initializer.findIndex((t) => t.name === name);
  const old = model.graph.initializer[index]!;
  model.graph.initializer[index] = floatTensor(name, old.dims ?? [], values);
}

/** Write tfjs's trained kernel and bias back into the layer's initializers (undoing alpha, beta and transB). */
function writeBack(model: OnnxModel, layer: DenseLayer, kernel: Float32Array, bias: Float32Array | undefined): void {
  const w = new Float32Array(layer.inputs * layer.units);
  for (let i = 0; i < layer.inputs; i++)
    for (let j = 0; j < layer.units; j++) {
      const value = kernel[i * layer.units + j]! / layer.alpha;
      w[layer.weightLayout === 'in-out' ? i * layer.units + j : j * layer.inputs + i] = value;
    }
  writeInitializer(model, layer.weight, w);
  if (bias !== undefined && layer.bias !== undefined)
    writeInitializer(
      model,
      layer.bias,
      bias.map((v) => v / layer.beta),
    );
}

/**
 * Train the chain's weights in place on `training`'s labelled rows for `options.epochs` epochs
 * (Adam, shuffled with `options.seed`), reporting each epoch's mean loss through `options.progress`.
 * Returns the last epoch's mean loss.
 */
export async function fineTuneChain(
  model: OnnxModel,
  chain: DenseChain,
  training: EvalSet,
  options: FineTuneOptions,
): Promise<number> {
  const labels = training.labels;
  if (labels === undefined || labels.length !== training.rowCount)
    throw invalid(`fine-tune needs labelled training rows: ${training.source} has no label column`);
  const head = chainHead(model, chain);
  const { width, values } = (await intermediateValues(model, [chain.input], training))[0]!;
  if (width !== chain.layers[0]!.inputs)
    throw invalid(
      `fine-tune: "${chain.input}" has ${width} values per row, the first layer takes ${chain.layers[0]!.inputs}`,
    );
  const rows = training.rowCount;
  let targets: Float32Array;
  let targetWidth: number;
  if (head.kind === 'regression') {
    targets = Float32Array.from(labels, (label, row) => {
      const value = typeof label === 'number' ? label : Number(label);
      if (!Number.isFinite(value)) throw invalid(`fine-tune: label "${String(label)}" (row ${row}) is not a number`);
      return value;
    });
    targetWidth = 1;
  } else {
    const classes = head.kind === 'multiclass' ? head.classes : 2;
    const indices = classIndices(labels, classes, options.classLabels, graphClassLabels(model, chain));
    targetWidth = head.kind === 'multiclass' ? classes : 1;
    targets = new Float32Array(rows * targetWidth);
    // Multiclass: one-hot rows for softmax cross-entropy; binary: the 0/1 target of the one logit.
    for (let row = 0; row < rows; row++)
      if (head.kind === 'multiclass') targets[row * classes + indices[row]!] = 1;
      else targets[row] = indices[row]!;
  }

  const { tf, tfl } = await loadTensorFlow();
  const net = tfl.sequential();
  const weights = chain.layers.map((layer) => kernelOf(model, layer));
  chain.layers.forEach((layer, i) => {
    net.add(
      tfl.layers.dense({
        units: layer.units,
        activation: layer.activation === 'none' ? 'linear' : layer.activation,
        useBias: weights[i]!.bias !== undefined,
        ...(i === 0 ? { inputShape: [layer.inputs] } : {}),
      }),
    );
    const { kernel, bias } = weights[i]!;
    const initial = [tf.tensor2d(kernel, [layer.inputs, layer.units]), ...(bias ? [tf.tensor1d(bias)] : [])];
    net.layers[i]!.setWeights(initial);
    initial.forEach((t) => t.dispose());
  });
  const loss =
    head.kind === 'multiclass'
      ? (yTrue: Tensor, yPred: Tensor) => tf.losses.softmaxCrossEntropy(yTrue, yPred)
      : head.kind === 'binary'
        ? (yTrue: Tensor, yPred: Tensor) => tf.losses.sigmoidCrossEntropy(yTrue, yPred)
        : (yTrue: Tensor, yPred: Tensor) => tf.losses.meanSquaredError(yTrue, yPred);
  const optimizer = tf.train.adam(options.learningRate);
  net.compile({ optimizer, loss });

  const xAll = tf.tensor2d(values, [rows, width]);
  const yAll = tf.tensor2d(targets, [rows, targetWidth]);
  const next = random(options.seed);
  let lastLoss = Number.NaN;
  try {
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      const order = Int32Array.from({ length: rows }, (_, i) => i);
      for (let i = rows - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      let total = 0;
      for (let start = 0; start < rows; start += options.batchSize) {
        const batch = order.subarray(start, Math.min(rows, start + options.batchSize));
        const [x, y] = tf.tidy(() => {
          const index = tf.tensor1d(batch, 'int32');
          return [tf.gather(xAll, index), tf.gather(yAll, index)];
        });
        const value = await net.trainOnBatch(x, y);
        x.dispose();
        y.dispose();
        total += (Array.isArray(value) ? value[0]! : value) * batch.length;
      }
      lastLoss = total / rows;
      options.progress(`fine-tune epoch ${epoch}/${options.epochs} loss ${lastLoss.toFixed(3)}`);
    }
    chain.layers.forEach((layer, i) => {
      const [kernel, bias] = net.layers[i]!.getWeights().map((t) => t.dataSync() as Float32Array);
      writeBack(model, layer, kernel!, weights[i]!.bias !== undefined ? bias : undefined);
    });
  } finally {
    xAll.dispose();
    yAll.dispose();
    net.dispose();
    optimizer.dispose();
  }
  return lastLoss;
}
