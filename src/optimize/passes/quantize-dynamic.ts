/**
 * Dynamic INT8 quantization, like ONNX Runtime's quantize_dynamic: the weights of MatMul / Gemm (and
 * simple Conv) nodes are stored as INT8 (symmetric, per tensor or per output channel) and the
 * activations are quantized at run time to UINT8 by DynamicQuantizeLinear.
 *
 * The form written is the standard ONNX one ONNX Runtime's quantize_dynamic writes:
 * DynamicQuantizeLinear(X) -> MatMulInteger(Xq, Wq, Xzp, Wzp) -> Cast -> Mul(Xscale * Wscale), so the
 * file stays portable. ONNX Runtime 1.30 fuses that chain (with a following bias Add) into its
 * com.microsoft DynamicQuantizeMatMul kernel at load (graph level 'extended' and above; checked with
 * optimizedModelFilePath). Writing DynamicQuantizeMatMul directly was measured on this repository's
 * 2-core AVX-512 VNNI machine on fixtures/models/digits_mlp_wide.onnx at batch 64, one intra-op
 * thread: 0.63-0.75 ms (standard form) against 0.60-0.72 ms (contrib op), the parent 2.2-2.6 ms, a
 * difference within run-to-run noise, so the portable form is kept.
 *
 * Conv is quantized only when `opTypes` names it (as ConvInteger -> Cast -> Mul -> Add bias): ORT has
 * no fused kernel for that chain, and on fixtures/models/digits_cnn.onnx it ran about 3.7x slower than
 * the float Conv at batch 1 and 64 (same machine) while agreeing on every held-out label. A Conv that
 * is not simple (weight not a FLOAT initializer of rank 3 or 4, bias not a FLOAT initializer) is left
 * float and listed in the settings' `skipped` with the reason.
 */
import { invalid, SlipwayError } from '../../core/errors.js';
import { decodeModel, ElementType, requireOpset, type OnnxModel, type OnnxNode } from '../onnx/model-proto.js';
import { attributeNumber, findInitializer, makeNode, nameAllocator } from '../onnx/graph-edit.js';
import { floatTensor, int8Tensor, readFloats } from '../onnx/tensor-proto.js';
import type { OptimizationPass, PassContext } from '../types.js';
import {
  finishModel,
  nodeLabel,
  nothingToDo,
  refuseUnknownSettings,
  selectNodes,
  stringList,
} from './pass-settings.js';
import { quantizeWeights, transpose2d } from './quantize-weights.js';

export const DYNAMIC_OP_TYPES = ['MatMul', 'Gemm', 'Conv'] as const;
export type DynamicOpType = (typeof DYNAMIC_OP_TYPES)[number];

export interface DynamicQuantizationSettings {
  /** One scale per output column (MatMul/Gemm) or output channel (Conv) instead of one per weight. */
  readonly perChannel?: boolean;
  readonly opTypes?: readonly DynamicOpType[];
  /** Only these nodes (names; an unnamed node by its first output). */
  readonly includeNodes?: readonly string[];
  /** Never these nodes: they stay float. */
  readonly excludeNodes?: readonly string[];
}

const PASS = 'quantize-dynamic';
const SETTINGS = ['perChannel', 'opTypes', 'includeNodes', 'excludeNodes'] as const;

/** A pass that quantizes weights to INT8 and activations at run time (see the module comment). */
export function dynamicQuantizationPass(given: DynamicQuantizationSettings = {}): OptimizationPass {
  refuseUnknownSettings(PASS, given, SETTINGS);
  const perChannel = given.perChannel ?? false;
  if (typeof perChannel !== 'boolean') throw invalid(`the ${PASS} pass's "perChannel" must be true or false`);
  const opTypes = stringList(PASS, 'opTypes', given.opTypes) ?? ['MatMul', 'Gemm'];
  const wrong = opTypes.filter((t) => !(DYNAMIC_OP_TYPES as readonly string[]).includes(t));
  if (wrong.length > 0 || opTypes.length === 0)
    throw invalid(
      `the ${PASS} pass's "opTypes" must be some of ${DYNAMIC_OP_TYPES.join(', ')}; got ${JSON.stringify(opTypes)}`,
    );
  const includeNodes = stringList(PASS, 'includeNodes', given.includeNodes);
  const excludeNodes = stringList(PASS, 'excludeNodes', given.excludeNodes);
  const settings: Record<string, unknown> = { perChannel, opTypes };
  if (includeNodes !== undefined) settings.includeNodes = includeNodes;
  if (excludeNodes !== undefined) settings.excludeNodes = excludeNodes;
  return {
    name: PASS,
    settings,
    async apply(bytes: Uint8Array, context: PassContext): Promise<Uint8Array> {
      const model = decodeModel(bytes);
      const candidates = model.graph.node.filter((n) => (n.domain ?? '') === '' && opTypes.includes(n.opType));
      const selected = selectNodes(PASS, model, candidates, includeNodes, excludeNodes);
      const outcome = quantizeNodes(model, selected, perChannel);
      if (outcome.quantized.length === 0)
        throw nothingToDo(
          PASS,
          `no ${opTypes.join('/')} with a constant weight to quantize` +
            (outcome.skipped.length > 0 ? ` (${outcome.skipped.map((s) => `${s.node}: ${s.reason}`).join('; ')})` : ''),
        );
      settings.quantized = outcome.quantized;
      settings.skipped = outcome.skipped;
      context.progress(`${PASS}: ${outcome.quantized.length} nodes to INT8, ${outcome.skipped.length} left float`);
      return finishModel(PASS, model, context);
    },
  };
}

interface Outcome {
  quantized: string[];
  skipped: Array<{ node: string; reason: string }>;
}

/** Rewrites the selected nodes in place; returns which were quantized and why the others were not. */
function quantizeNodes(model: OnnxModel, nodes: readonly OnnxNode[], perChannel: boolean): Outcome {
  const graph = model.graph;
  const fresh = nameAllocator(graph);
  const activations = new Map<string, { q: string; scale: string; zero: string }>();
  const quantizedWeights = new Map<string, { q: string; scale: string; zero: string }>();
  const outcome: Outcome = { quantized: [], skipped: [] };

  /** One DynamicQuantizeLinear per distinct activation tensor, shared by every node reading it. */
  const quantizedActivation = (tensor: string): { q: string; scale: string; zero: string } => {
    let q = activations.get(tensor);
    if (q === undefined) {
      q = { q: fresh(`${tensor}_quantized`), scale: fresh(`${tensor}_scale`), zero: fresh(`${tensor}_zero_point`) };
      graph.node.push(
        makeNode('DynamicQuantizeLinear', [tensor], [q.q, q.scale, q.zero], {
          name: fresh(`${tensor}_QuantizeLinear`),
        }),
      );
      activations.set(tensor, q);
    }
    return q;
  };

  for (const node of nodes) {
    const label = nodeLabel(node);
    const reason = unsupportedReason(model, node);
    if (reason !== undefined) {
      outcome.skipped.push({ node: label, reason });
      continue;
    }
    const weight = findInitializer(graph, node.input[1]!)!;
    const dims = weight.dims ?? [];
    let values = readFloats(weight);
    const replacement: OnnxNode[] = [];
    const output = node.output[0]!;
    const base = label.replace(/[^A-Za-z0-9_]/g, '_');

    if (node.opType === 'Conv') {
      const q = quantizeWeights(values, dims, { perChannel, axis: 0, symmetric: true });
      const x = quantizedActivation(node.input[0]!);
      const wq = fresh(`${weight.name}_quantized`);
      const wzp = fresh(`${weight.name}_zero_point`);
      // Symmetric: every zero point is 0, so one scalar serves per-channel scales too (ONNX Runtime's
      // CPU ConvInteger refuses a per-channel w_zero_point: "Non per-tensor quantization is not supported").
      graph.initializer.push(int8Tensor(wq, dims, q.data), int8Tensor(wzp, [], Int8Array.of(0)));
      // The scale multiplies the [batch, M, spatial...] output: shape [M, 1, ...] to broadcast per channel.
      const broadcast = perChannel ? [dims[0]!, ...dims.slice(2).map(() => 1)] : [];
      const wscale = fresh(`${weight.name}_scale`);
      graph.initializer.push(floatTensor(wscale, broadcast, q.scales));
      const int32 = fresh(`${base}_int32`);
      const float = fresh(`${base}_float`);
      const scale = fresh(`${base}_output_scale`);
      const unbiased = node.input[2] ? fresh(`${base}_unbiased`) : output;
      replacement.push(
        makeNode('ConvInteger', [x.q, wq, x.zero, wzp], [int32], { name: fresh(`${base}_ConvInteger`) }),
        makeNode('Cast', [int32], [float], { name: fresh(`${base}_Cast`), attributes: { to: ElementType.FLOAT } }),
        makeNode('Mul', [x.scale, wscale], [scale], { name: fresh(`${base}_scale_Mul`) }),
        makeNode('Mul', [float, scale], [unbiased], { name: fresh(`${base}_Mul`) }),
      );
      replacement[0]!.attribute = node.attribute?.map((a) => ({ ...a }));
      if (node.input[2]) {
        const bias = findInitializer(graph, node.input[2])!;
        const biasName = fresh(`${bias.name}_channels`);
        graph.initializer.push(floatTensor(biasName, [dims[0]!, ...dims.slice(2).map(() => 1)], readFloats(bias)));
        replacement.push(makeNode('Add', [unbiased, biasName], [output], { name: fresh(`${base}_bias_Add`) }));
      }
    } else {
      // MatMul B [K, N]; Gemm B [K, N], or [N, K] with transB (transposed here so both are [K, N]).
      const gemm = node.opType === 'Gemm';
      const transposed = gemm && attributeNumber(node, 'transB', 0) !== 0;
      const alpha = gemm ? attributeNumber(node, 'alpha', 1) : 1;
      const beta = gemm ? attributeNumber(node, 'beta', 1) : 1;
      // A weight read by several nodes the same way is quantized once.
      const key = `${weight.name}|${transposed}|${alpha}`;
      let names = quantizedWeights.get(key);
      if (names === undefined) {
        let [k, n] = dims as [number, number];
        if (transposed) {
          values = transpose2d(values, dims[0]!, dims[1]!);
          [k, n] = [dims[1]!, dims[0]!];
        }
        const q = quantizeWeights(values, [k, n], { perChannel, axis: 1, symmetric: true });
        names = {
          q: fresh(`${weight.name}_quantized`),
          zero: fresh(`${weight.name}_zero_point`),
          scale: fresh(`${weight.name}_scale`),
        };
        // Gemm's alpha scales the product: folded into the weight scale, exact up to float rounding.
        const scales = alpha === 1 ? q.scales : q.scales.map((s) => s * alpha);
        graph.initializer.push(
          int8Tensor(names.q, [k, n], q.data),
          int8Tensor(names.zero, q.paramDims, q.zeroPoints),
          floatTensor(names.scale, q.paramDims, scales),
        );
        quantizedWeights.set(key, names);
      }
      const { q: wq, zero: wzp, scale: wscale } = names;
      const c = gemm ? node.input[2] : undefined;
      const product = c ? fresh(`${base}_product`) : output;
      const x = quantizedActivation(node.input[0]!);
      const int32 = fresh(`${base}_int32`);
      const float = fresh(`${base}_float`);
      const scale = fresh(`${base}_output_scale`);
      replacement.push(
        makeNode('MatMulInteger', [x.q, wq, x.zero, wzp], [int32], { name: fresh(`${base}_MatMulInteger`) }),
        makeNode('Cast', [int32], [float], { name: fresh(`${base}_Cast`), attributes: { to: ElementType.FLOAT } }),
        makeNode('Mul', [x.scale, wscale], [scale], { name: fresh(`${base}_scale_Mul`) }),
        makeNode('Mul', [float, scale], [product], { name: fresh(`${base}_Mul`) }),
      );
      if (c) replacement.push(...gemmBias(model, c, beta, product, output, base, fresh));
    }
    graph.node.splice(graph.node.indexOf(node), 1, ...replacement);
    outcome.quantized.push(label);
  }
  if (activations.size > 0) requireOpset(model, '', 11);
  return outcome;
}

/** Gemm's `+ beta * C` after the quantized product (C constant: beta folded in; C computed: a Mul). */
function gemmBias(
  model: OnnxModel,
  c: string,
  beta: number,
  product: string,
  output: string,
  base: string,
  fresh: (base: string) => string,
): OnnxNode[] {
  if (beta === 1) return [makeNode('Add', [product, c], [output], { name: fresh(`${base}_bias_Add`) })];
  const constant = findInitializer(model.graph, c);
  let scaled: string;
  const nodes: OnnxNode[] = [];
  if (constant !== undefined) {
    scaled = fresh(`${c}_times_beta`);
    model.graph.initializer.push(
      floatTensor(
        scaled,
        constant.dims ?? [],
        readFloats(constant).map((v) => v * beta),
      ),
    );
  } else {
    const betaName = fresh(`${base}_beta`);
    model.graph.initializer.push(floatTensor(betaName, [], [beta]));
    scaled = fresh(`${c}_times_beta`);
    nodes.push(makeNode('Mul', [c, betaName], [scaled], { name: fresh(`${base}_beta_Mul`) }));
  }
  nodes.push(makeNode('Add', [product, scaled], [output], { name: fresh(`${base}_bias_Add`) }));
  return nodes;
}

/** Why a selected node cannot be quantized by this pass (undefined when it can). */
function unsupportedReason(model: OnnxModel, node: OnnxNode): string | undefined {
  const weight = findInitializer(model.graph, node.input[1] ?? '');
  if (weight === undefined) return 'its weight (input 1) is computed, not a constant initializer';
  if (weight.dataType !== ElementType.FLOAT)
    return `its weight "${weight.name}" is element type ${weight.dataType}, not FLOAT`;
  const rank = (weight.dims ?? []).length;
  if (findInitializer(model.graph, node.input[0] ?? '') !== undefined) return 'its input 0 is a constant too';
  if (node.opType === 'Conv') {
    if (rank !== 3 && rank !== 4) return `a Conv weight of rank ${rank} (1-D and 2-D convolutions only)`;
    const bias = node.input[2];
    if (bias && findInitializer(model.graph, bias)?.dataType !== ElementType.FLOAT)
      return 'its bias is not a FLOAT initializer';
    return undefined;
  }
  if (rank !== 2) return `its weight "${weight.name}" has rank ${rank}, not 2`;
  if (node.opType === 'Gemm' && attributeNumber(node, 'transA', 0) !== 0)
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `the ${PASS} pass cannot quantize Gemm "${nodeLabel(node)}": it has transA=1 (only transA=0 is handled); exclude it with excludeNodes`,
    );
  return undefined;
}
