/**
 * Finding an MLP's dense layers in an ONNX graph: MatMul(x, W) + Add(b) [+ Relu/Tanh/Sigmoid], or
 * Gemm(x, W, C) with transB/alpha/beta, one after the other, as fixtures/models/make.py and
 * make_heavy.py export them. Whatever comes before the first layer (Div by 16, a Sub/Div scaler) and
 * after the last (Softmax, ArgMax, a label Gather...) is left alone: the chain reports the tensor that
 * feeds its first layer and the tensor its last layer writes.
 *
 * Only layers whose tensors nobody else reads are part of a chain, so changing the width of a hidden
 * layer never changes a graph output or another node's input.
 */
import { attributeNumber, consumersOf, findInitializer, isGraphOutput } from '../onnx/graph-edit.js';
import { ElementType, type OnnxGraph, type OnnxModel, type OnnxNode, type OnnxTensor } from '../onnx/model-proto.js';

export type DenseActivation = 'relu' | 'tanh' | 'sigmoid' | 'none';

/** One dense layer: y = act(alpha * x W + beta * b), W stored [inputs, units] or [units, inputs] (Gemm transB=1). */
export interface DenseLayer {
  /** Initializer names. */
  readonly weight: string;
  readonly bias: string | undefined;
  readonly inputs: number;
  readonly units: number;
  /** 'in-out': W is [inputs, units] (MatMul, Gemm transB=0); 'out-in': W is [units, inputs] (Gemm transB=1). */
  readonly weightLayout: 'in-out' | 'out-in';
  /** Gemm's alpha and beta (1 for MatMul + Add). */
  readonly alpha: number;
  readonly beta: number;
  /** The activation between this layer and the next ('none' for the last layer: what follows it is the head). */
  readonly activation: DenseActivation;
  /** The MatMul or Gemm, the bias Add (MatMul form only) and the activation node. */
  readonly nodes: { readonly matmul: OnnxNode; readonly add?: OnnxNode; readonly activation?: OnnxNode };
  /** Tensor the layer reads and the tensor it writes (after its activation). */
  readonly input: string;
  readonly output: string;
}

export interface DenseChain {
  /** The tensor feeding the first layer (a graph input, or the preprocessing's result). */
  readonly input: string;
  /** The tensor the last layer writes (logits, or a regression's value), before the head. */
  readonly output: string;
  readonly layers: readonly DenseLayer[];
}

const ACTIVATIONS: Readonly<Record<string, DenseActivation>> = { Relu: 'relu', Tanh: 'tanh', Sigmoid: 'sigmoid' };

/** A FLOAT initializer with exactly these many dims that only `node` reads and that is not a graph input. */
function privateFloatInitializer(graph: OnnxGraph, name: string, node: OnnxNode, rank: number): OnnxTensor | undefined {
  const tensor = findInitializer(graph, name);
  if (tensor === undefined || tensor.dataType !== ElementType.FLOAT || (tensor.dims ?? []).length !== rank)
    return undefined;
  if (graph.input.some((i) => i.name === name) || isGraphOutput(graph, name)) return undefined;
  if (consumersOf(graph, name).some((c) => c.node !== node)) return undefined;
  return tensor;
}

/** The only node reading `tensor`, when exactly one does and it is not a graph output. */
function soleConsumer(graph: OnnxGraph, tensor: string): OnnxNode | undefined {
  if (isGraphOutput(graph, tensor)) return undefined;
  const readers = consumersOf(graph, tensor);
  return readers.length === 1 ? readers[0]!.node : undefined;
}

/** A bias of `units` values as [units] or [1, units]. */
function biasFits(tensor: OnnxTensor | undefined, units: number): boolean {
  const dims = tensor?.dims ?? [];
  return (dims.length === 1 && dims[0] === units) || (dims.length === 2 && dims[0] === 1 && dims[1] === units);
}

/** The layer a MatMul or Gemm node starts (activation not yet attached), or undefined when it is not dense. */
function layerAt(
  graph: OnnxGraph,
  node: OnnxNode,
): (Omit<DenseLayer, 'activation' | 'output'> & { linearOut: string }) | undefined {
  const [x, w, c] = node.input;
  if (x === undefined || w === undefined || findInitializer(graph, x) !== undefined) return undefined;
  if (node.opType === 'MatMul') {
    const weight = privateFloatInitializer(graph, w, node, 2);
    if (weight === undefined) return undefined;
    const [inputs, units] = weight.dims as [number, number];
    const base = { weight: w, inputs, units, weightLayout: 'in-out' as const, alpha: 1, beta: 1, input: x };
    const add = soleConsumer(graph, node.output[0]!);
    if (add?.opType === 'Add') {
      const biasName = add.input.find((name) => name !== node.output[0]);
      const bias =
        biasName === undefined
          ? undefined
          : privateFloatInitializer(graph, biasName, add, (findInitializer(graph, biasName)?.dims ?? []).length);
      if (bias !== undefined && biasFits(bias, units))
        return { ...base, bias: biasName, nodes: { matmul: node, add }, linearOut: add.output[0]! };
    }
    return { ...base, bias: undefined, nodes: { matmul: node }, linearOut: node.output[0]! };
  }
  if (node.opType === 'Gemm') {
    if (attributeNumber(node, 'transA', 0) !== 0) return undefined;
    const weight = privateFloatInitializer(graph, w, node, 2);
    if (weight === undefined) return undefined;
    const transB = attributeNumber(node, 'transB', 0) !== 0;
    const [d0, d1] = weight.dims as [number, number];
    const [inputs, units] = transB ? [d1, d0] : [d0, d1];
    let bias: string | undefined;
    if (c !== undefined && c !== '') {
      const tensor = privateFloatInitializer(graph, c, node, (findInitializer(graph, c)?.dims ?? []).length);
      if (tensor === undefined || !biasFits(tensor, units)) return undefined;
      bias = c;
    }
    return {
      weight: w,
      bias,
      inputs,
      units,
      weightLayout: transB ? 'out-in' : 'in-out',
      alpha: attributeNumber(node, 'alpha', 1),
      beta: attributeNumber(node, 'beta', 1),
      input: x,
      nodes: { matmul: node },
      linearOut: node.output[0]!,
    };
  }
  return undefined;
}

/**
 * The longest chain of dense layers in the graph (the first found on a tie), each hidden layer's output
 * read only by the next layer, or undefined when the graph has no dense layer at all. A single
 * layer (logistic or linear regression) is a chain of one.
 */
export function findDenseChain(model: OnnxModel): DenseChain | undefined {
  const graph = model.graph;
  let best: DenseLayer[] = [];
  const inChain = new Set<OnnxNode>();
  for (const start of graph.node) {
    if (inChain.has(start)) continue;
    const layers: DenseLayer[] = [];
    let node: OnnxNode | undefined = start;
    while (node !== undefined) {
      const layer = layerAt(graph, node);
      if (layer === undefined) break;
      if (layers.length > 0 && layers[layers.length - 1]!.units !== layer.inputs) break;
      const { linearOut, ...rest } = layer;
      // The next layer: directly, or after one elementwise activation whose output only it reads.
      let next = soleConsumer(graph, linearOut);
      let activationNode: OnnxNode | undefined;
      if (next !== undefined && ACTIVATIONS[next.opType] !== undefined && (next.domain ?? '') === '') {
        activationNode = next;
        next = soleConsumer(graph, next.output[0]!);
      }
      const nextLayer =
        next !== undefined && next.input[0] === (activationNode?.output[0] ?? linearOut)
          ? layerAt(graph, next)
          : undefined;
      const continues = nextLayer !== undefined && nextLayer.inputs === rest.units;
      layers.push(
        continues
          ? {
              ...rest,
              activation: activationNode === undefined ? 'none' : ACTIVATIONS[activationNode.opType]!,
              nodes: activationNode === undefined ? rest.nodes : { ...rest.nodes, activation: activationNode },
              output: activationNode?.output[0] ?? linearOut,
            }
          : { ...rest, activation: 'none', output: linearOut },
      );
      inChain.add(node);
      node = continues ? next : undefined;
    }
    if (layers.length > best.length) best = layers;
  }
  if (best.length === 0) return undefined;
  return { input: best[0]!.input, output: best[best.length - 1]!.output, layers: best };
}
