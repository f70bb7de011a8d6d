/**
 * Static INT8 quantization (`--quantize static --calibration <file>`), in the QDQ format ONNX
 * Runtime's quantize_static writes by default:
 *
 * - every activation input of a selected Conv / MatMul / Gemm gets QuantizeLinear -> DequantizeLinear
 *   with a scale and zero point from its calibrated range (uint8 asymmetric by default);
 * - weights become INT8 initializers (symmetric, zero point 0; per output channel for Conv when
 *   `perChannel`) read through DequantizeLinear; biases (1-D FLOAT initializers; for Gemm only with
 *   alpha = beta = 1) become INT32 with scale = x_scale * w_scale, other biases stay float;
 * - a quantized tensor made by an order-keeping op (MaxPool, Reshape, Flatten, ...) shares the
 *   quantization of that op's input, which is quantized too, so ONNX Runtime runs the op on 8 bits;
 * - a selected Conv's output is quantized as well (through its Relu, which the uint8 clamp then
 *   makes redundant and which is removed), so ONNX Runtime fuses the chain into QLinearConv.
 *
 * Why QDQ rather than writing QLinearConv / QLinearMatMul (the "QOperator" form) ourselves: ONNX
 * Runtime's level-2 optimizations (on by default) fuse each DQ -> Conv -> Q group into QLinearConv,
 * DQ -> MaxPool -> Q into an 8-bit MaxPool and DQ -> Gemm into QGemm at load, so both forms run the
 * same kernels (ORT's saved optimized graph of this pass's output on fixtures/models/digits_cnn.onnx:
 * QuantizeLinear, Reshape, QLinearConv, NhwcMaxPool, QLinearConv, NhwcMaxPool, Flatten, QGemm).
 * Measured on that fixture (batch 1, one intra-op thread, alternating, on a busy 2-core machine):
 * float 1.13 ms, this QDQ output 0.40-0.44 ms, the same model rewritten by hand into QLinearConv +
 * uint8 MaxPool 0.44-0.47 ms. QDQ is as fast or faster, and it stays a standard ONNX graph that
 * other runtimes and checkers read, with the float graph still visible.
 */
import { invalid, SlipwayError } from '../../core/errors.js';
import {
  attributeNumber,
  consumersOf,
  findInitializer,
  makeNode,
  nameAllocator,
  producerOf,
  removeUnusedInitializers,
  sortTopologically,
} from '../onnx/graph-edit.js';
import {
  cloneModel,
  decodeModel,
  encodeModel,
  opsetVersion,
  type OnnxModel,
  type OnnxNode,
} from '../onnx/model-proto.js';
import { floatTensor, int32Tensor, int8Tensor, readFloats, uint8Tensor } from '../onnx/tensor-proto.js';
import { verifyCandidate } from '../onnx/check-model.js';
import type { OptimizationPass, PassContext } from '../types.js';
import { nothingToDo, refuseUnknownSettings, selectNodes, stringList } from './pass-settings.js';
import { calibrate, parseCalibrationMethod, type TensorRange } from './calibrate.js';
import { quantizeWeights } from './quantize-weights.js';

export interface StaticQuantizationOptions {
  /** `minmax`, `percentile:<p>` or `entropy` (calibrate.ts). */
  readonly method?: string;
  /** Conv weights per output channel; this pass always quantizes Gemm / MatMul weights per tensor. */
  readonly perChannel?: boolean;
  readonly opTypes?: readonly string[];
  /** Only these node names (default: every node of the op types). */
  readonly includeNodes?: readonly string[];
  readonly excludeNodes?: readonly string[];
  readonly activationType?: 'uint8' | 'int8';
}

const SUPPORTED_OPS = ['Conv', 'MatMul', 'Gemm'] as const;
/** Ops whose output values are a subset of their input values (same quantization on both sides). */
const ORDER_KEEPING = new Set(['MaxPool', 'Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity']);

/** Scale and zero point of one tensor's (or weight's) quantization. */
interface QuantParams {
  readonly scale: number;
  readonly zeroPoint: number;
}

/** The `quantize-static` pass; it needs `context.calibration` and refuses a setting it cannot honour by name. */
export function staticQuantizationPass(options: StaticQuantizationOptions = {}): OptimizationPass {
  refuseUnknownSettings('quantize-static', options, [
    'method',
    'perChannel',
    'opTypes',
    'includeNodes',
    'excludeNodes',
    'activationType',
  ]);
  const method = options.method ?? 'minmax';
  if (typeof method !== 'string') throw invalid(`the quantize-static pass's "method" must be a string`);
  parseCalibrationMethod(method);
  if (options.perChannel !== undefined && typeof options.perChannel !== 'boolean')
    throw invalid(
      `the quantize-static pass's "perChannel" must be true or false, got ${JSON.stringify(options.perChannel)}`,
    );
  const opTypes = stringList('quantize-static', 'opTypes', options.opTypes) ?? ['Conv', 'MatMul', 'Gemm'];
  for (const op of opTypes)
    if (!(SUPPORTED_OPS as readonly string[]).includes(op))
      throw invalid(`the quantize-static pass cannot quantize op type "${op}" (it takes ${SUPPORTED_OPS.join(', ')})`);
  const activationType = options.activationType ?? 'uint8';
  if (activationType !== 'uint8' && activationType !== 'int8')
    throw invalid(`the quantize-static pass's "activationType" must be uint8 or int8, got "${String(activationType)}"`);
  const settings = {
    method,
    perChannel: options.perChannel ?? false,
    opTypes,
    includeNodes: stringList('quantize-static', 'includeNodes', options.includeNodes),
    excludeNodes: stringList('quantize-static', 'excludeNodes', options.excludeNodes) ?? [],
    activationType,
  };
  return {
    name: 'quantize-static',
    settings,
    async apply(bytes: Uint8Array, context: PassContext): Promise<Uint8Array> {
      if (context.calibration === undefined)
        throw new SlipwayError('FAILED_PRECONDITION', 'static quantization needs --calibration rows');
      const parent = decodeModel(bytes);
      const plan = planQuantization(parent, settings);
      context.progress(
        `quantize-static: calibrating ${plan.tensors.length} tensors (${method}) on ${context.calibration.rowCount} rows`,
      );
      const ranges = await calibrate(bytes, plan.tensors, context.calibration, method);
      const model = rewrite(parent, plan, ranges, settings);
      const out = encodeModel(model);
      await verifyCandidate('quantize-static', out, model, context.signature);
      return out;
    },
  };
}

type Settings = Omit<Required<StaticQuantizationOptions>, 'includeNodes' | 'method'> & {
  readonly includeNodes: readonly string[] | undefined;
};

interface Plan {
  readonly nodes: OnnxNode[];
  /** Every tensor whose range is needed. */
  readonly tensors: string[];
}

/** Which nodes are quantized; refuses unknown node names, and models without the ops to do it. */
function planQuantization(model: OnnxModel, settings: Settings): Plan {
  const graph = model.graph;
  const opset = opsetVersion(model) ?? 0;
  if (opset < 13)
    throw invalid(`quantize-static: the model imports ai.onnx opset ${opset}; QDQ quantization here needs opset >= 13`);
  const candidates = graph.node.filter(
    (n) => settings.opTypes.includes(n.opType) && (n.domain ?? '') === '' && weightOf(model, n) !== undefined,
  );
  const nodes = selectNodes('quantize-static', model, candidates, settings.includeNodes, settings.excludeNodes);
  if (nodes.length === 0)
    throw nothingToDo(
      'quantize-static',
      `no selected ${settings.opTypes.join('/')} node with a FLOAT initializer weight`,
    );
  const tensors = new Set<string>();
  for (const node of nodes) {
    tensors.add(node.input[0]!);
    for (
      let x = node.input[0]!, p = producerOf(graph, x);
      p !== undefined && ORDER_KEEPING.has(p.opType);
      p = producerOf(graph, x)
    ) {
      x = p.input[0]!;
      tensors.add(x);
    }
    if (node.opType === 'Conv') tensors.add(quantizedOutputOf(model, node));
  }
  return { nodes, tensors: [...tensors] };
}

/** The weight initializer a node multiplies by (Conv W, MatMul B, Gemm B), when it is one and FLOAT. */
function weightOf(model: OnnxModel, node: OnnxNode): string | undefined {
  const name = node.input[1];
  if (name === undefined) return undefined;
  const tensor = findInitializer(model.graph, name);
  return tensor?.dataType === 1 ? name : undefined;
}

/** The tensor a Conv's quantized output is: its Relu's output when a Relu is its only reader, else its own. */
function quantizedOutputOf(model: OnnxModel, node: OnnxNode): string {
  const out = node.output[0]!;
  const readers = consumersOf(model.graph, out);
  const isOutput = (name: string): boolean => model.graph.output.some((o) => o.name === name);
  const relu = readers.length === 1 && readers[0]!.node.opType === 'Relu' ? readers[0]!.node : undefined;
  // A Relu whose output is a graph output stays: the graph must still write the clamped values there.
  if (relu !== undefined && !isOutput(out) && !isOutput(relu.output[0]!)) return relu.output[0]!;
  return out;
}

/** ONNX Runtime's asymmetric activation parameters: the range widened to hold 0, spread over the 8-bit levels. */
function activationParams(range: TensorRange, type: 'uint8' | 'int8'): QuantParams {
  const [qmin, qmax] = type === 'uint8' ? [0, 255] : [-128, 127];
  const low = Math.min(range.min, 0);
  const high = Math.max(range.max, 0);
  if (!Number.isFinite(low) || !Number.isFinite(high))
    throw invalid(`quantize-static: a calibrated range is not finite`);
  if (high === low) return { scale: 1, zeroPoint: Math.min(qmax, Math.max(qmin, 0)) };
  const scale = Math.fround((high - low) / (qmax - qmin));
  const zeroPoint = Math.min(qmax, Math.max(qmin, Math.round(qmin - low / scale)));
  return { scale, zeroPoint };
}

/** Symmetric INT8 weights ([-127, 127], zero point 0), one scale per tensor or per slice along `axis`. */
export function quantizeWeightsSymmetric(
  values: Float32Array,
  dims: readonly number[],
  axis: number | undefined,
): { data: Int8Array; scales: number[] } {
  // The dynamic pass's weight math (quantize-weights.ts), symmetric: zero point 0, range [-127, 127].
  const q = quantizeWeights(values, dims, { perChannel: axis !== undefined, axis: axis ?? 0, symmetric: true });
  return { data: q.data, scales: Array.from(q.scales) };
}

function rewrite(model: OnnxModel, plan: Plan, ranges: Map<string, TensorRange>, settings: Settings): OnnxModel {
  const graph = model.graph;
  const fresh = nameAllocator(graph);
  const zpType = settings.activationType;
  const qmin = zpType === 'uint8' ? 0 : -128;
  const params = new Map<string, { scale: string; zeroPoint: string; value: QuantParams }>();

  // Each tensor's own parameters; then order-keeping chains share their input's (walking down from the root).
  const paramsFor = (tensor: string): { scale: string; zeroPoint: string; value: QuantParams } => {
    const known = params.get(tensor);
    if (known !== undefined) return known;
    const producer = producerOf(graph, tensor);
    if (producer !== undefined && ORDER_KEEPING.has(producer.opType) && ranges.has(producer.input[0]!)) {
      const shared = paramsFor(producer.input[0]!);
      params.set(tensor, shared);
      return shared;
    }
    const value = activationParams(ranges.get(tensor)!, zpType);
    const entry = { scale: fresh(`${tensor}_scale`), zeroPoint: fresh(`${tensor}_zero_point`), value };
    graph.initializer.push(floatTensor(entry.scale, [], [value.scale]));
    graph.initializer.push(
      zpType === 'uint8'
        ? uint8Tensor(entry.zeroPoint, [], Uint8Array.of(value.zeroPoint))
        : int8Tensor(entry.zeroPoint, [], Int8Array.of(value.zeroPoint)),
    );
    params.set(tensor, entry);
    return entry;
  };

  // Relu after a selected Conv whose output is quantized with zero point = qmin: the clamp is the Relu.
  for (const node of plan.nodes) {
    if (node.opType !== 'Conv') continue;
    const out = quantizedOutputOf(model, node);
    if (out === node.output[0]) continue;
    if (paramsFor(out).value.zeroPoint !== qmin) continue;
    const relu = producerOf(graph, out)!;
    graph.node = graph.node.filter((n) => n !== relu);
    graph.valueInfo = graph.valueInfo.filter((v) => v.name !== node.output[0]);
    node.output[0] = out;
  }

  const activationOf = new Map(plan.nodes.map((n) => [n, n.input[0]!]));
  const live = plan.tensors.filter(
    (t) => graph.node.some((n) => n.output.includes(t)) || graph.input.some((i) => i.name === t),
  );
  // Every parameter first, while the order-keeping ops still read their original inputs.
  for (const tensor of live) paramsFor(tensor);
  // Q -> DQ on every calibrated tensor still in the graph; its readers (but the new Q) read the DQ output.
  for (const tensor of live) {
    const { scale, zeroPoint } = paramsFor(tensor);
    const quantized = fresh(`${tensor}_quantized`);
    const dequantized = fresh(`${tensor}_dequantized`);
    const readers = consumersOf(graph, tensor);
    graph.node.push(
      makeNode('QuantizeLinear', [tensor, scale, zeroPoint], [quantized], { name: fresh(`${tensor}_QuantizeLinear`) }),
    );
    graph.node.push(
      makeNode('DequantizeLinear', [quantized, scale, zeroPoint], [dequantized], {
        name: fresh(`${tensor}_DequantizeLinear`),
      }),
    );
    for (const { node, index } of readers) node.input[index] = dequantized;
  }

  // Weights and biases of the selected nodes.
  for (const node of plan.nodes) {
    const weightName = node.input[1]!;
    const weight = findInitializer(graph, weightName)!;
    const dims = weight.dims ?? [];
    const axis = node.opType === 'Conv' && settings.perChannel ? 0 : undefined;
    const { data, scales } = quantizeWeightsSymmetric(readFloats(weight), dims, axis);
    const channelDims = axis === undefined ? [] : [scales.length];
    const qName = fresh(`${weightName}_quantized`);
    const sName = fresh(`${weightName}_scale`);
    const zName = fresh(`${weightName}_zero_point`);
    const dqName = fresh(`${weightName}_dequantized`);
    graph.initializer.push(int8Tensor(qName, dims, data));
    graph.initializer.push(floatTensor(sName, channelDims, scales));
    graph.initializer.push(int8Tensor(zName, channelDims, new Int8Array(scales.length)));
    const attributes: Record<string, number> = axis === undefined ? {} : { axis };
    graph.node.push(
      makeNode('DequantizeLinear', [qName, sName, zName], [dqName], {
        name: fresh(`${weightName}_DequantizeLinear`),
        attributes,
      }),
    );
    node.input[1] = dqName;
    quantizeBias(model, node, scales, params.get(activationOf.get(node)!)!.value, fresh);
  }
  sortTopologically(graph);
  removeUnusedInitializers(graph);
  return cloneModel(model);
}

/** Conv / Gemm bias as INT32 with scale x_scale * w_scale (per channel when the weights are), read through DQ. */
function quantizeBias(
  model: OnnxModel,
  node: OnnxNode,
  weightScales: number[],
  input: QuantParams,
  fresh: (base: string) => string,
): void {
  const biasName = node.input[2];
  if (biasName === undefined || biasName === '') return;
  // Gemm computes alpha * A * B + beta * C: only with alpha = beta = 1 is C's scale x_scale * w_scale.
  if (node.opType === 'Gemm' && (attributeNumber(node, 'alpha', 1) !== 1 || attributeNumber(node, 'beta', 1) !== 1))
    return;
  const bias = findInitializer(model.graph, biasName);
  if (bias === undefined || bias.dataType !== 1 || (bias.dims ?? []).length !== 1) return;
  const values = readFloats(bias);
  if (weightScales.length !== 1 && weightScales.length !== values.length) return;
  const scales = weightScales.map((s) => Math.fround(s * input.scale));
  const scaleOf = (i: number): number => scales[scales.length === 1 ? 0 : i]!;
  const data = Int32Array.from(values, (v, i) =>
    Math.max(-2147483648, Math.min(2147483647, Math.round(v / scaleOf(i)))),
  );
  const qName = fresh(`${biasName}_quantized`);
  const sName = fresh(`${biasName}_scale`);
  const dqName = fresh(`${biasName}_dequantized`);
  model.graph.initializer.push(int32Tensor(qName, bias.dims ?? [], data));
  model.graph.initializer.push(floatTensor(sName, scales.length === 1 ? [] : [scales.length], scales));
  const attributes: Record<string, number> = scales.length === 1 ? {} : { axis: 0 };
  model.graph.node.push(
    makeNode('DequantizeLinear', [qName, sName], [dqName], { name: fresh(`${biasName}_DequantizeLinear`), attributes }),
  );
  node.input[2] = dqName;
}
