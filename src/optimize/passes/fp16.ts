/**
 * FP16: FLOAT weights stored as IEEE half floats, the graph's inputs and outputs unchanged.
 *
 * What ONNX Runtime 1.30's CPU provider (onnxruntime-node) computes in FP16, found by running one-op
 * FLOAT16 models and reading the graph it actually runs (saved with optimizedModelFilePath): only
 * data movement (Cast, Concat, Flatten) and LayerNormalization have FP16 CPU kernels. MatMul, Gemm,
 * Conv, Add/Sub/Mul/Div, Relu, Sigmoid, Tanh, Exp, Erf, Sqrt, Abs, Neg, AveragePool, MaxPool,
 * ReduceMean, Greater, ArgMax and Softmax have none: ORT inserts Cast FLOAT16 -> FLOAT before each
 * and Cast back after (its InsertCastTransformer), so an all-FP16 graph computes in FP32 anyway and
 * pays for the extra Casts. Nothing useful runs in FP16 on this CPU, so this pass writes the
 * "weights stored FP16, Cast to float at load" form: each FLOAT initializer W becomes a FLOAT16
 * initializer and a Cast node that outputs the name W, so every consumer is unchanged; ORT's
 * constant folding evaluates those Casts once at session creation, so serving runs the parent's
 * FP32 graph on weights rounded to FP16, from a file about half the size. The settings record
 * `compute: 'fp32'`; 'fp16' (FP16 activations, for GPUs with FP16 kernels) is refused by name.
 */
import { invalid } from '../../core/errors.js';
import { encodeFp16, FP16_MAX } from '../../tensor/fp16.js';
import { decodeModel, ElementType, type OnnxNode } from '../onnx/model-proto.js';
import { makeNode, nameAllocator } from '../onnx/graph-edit.js';
import { elementCount, float16Tensor, readFloats } from '../onnx/tensor-proto.js';
import type { OptimizationPass, PassContext } from '../types.js';
import { finishModel, nothingToDo, refuseUnknownSettings } from './pass-settings.js';

export interface Fp16Settings {
  /** Where arithmetic happens: only 'fp32' (weights stored FP16, computed in FP32) is available. */
  readonly compute?: 'fp32';
}

const PASS = 'fp16';

/** A pass storing FLOAT initializers as FLOAT16 with a Cast to FLOAT each (see the module comment). */
export function fp16Pass(given: Fp16Settings = {}): OptimizationPass {
  refuseUnknownSettings(PASS, given, ['compute']);
  const compute = given.compute ?? 'fp32';
  if (compute !== 'fp32')
    throw invalid(
      `the ${PASS} pass's "compute" must be 'fp32' (weights stored FP16, computed in FP32), got ${JSON.stringify(compute)}: ` +
        `ONNX Runtime's CPU provider has no FP16 kernels for MatMul, Gemm, Conv or element-wise ops`,
    );
  const settings: Record<string, unknown> = { compute };
  return {
    name: PASS,
    settings,
    async apply(bytes: Uint8Array, context: PassContext): Promise<Uint8Array> {
      const model = decodeModel(bytes);
      const graph = model.graph;
      const fresh = nameAllocator(graph);
      const graphInputs = new Set(graph.input.map((i) => i.name));
      const read = new Set([...graph.node.flatMap((n) => n.input), ...graph.output.map((o) => o.name)]);
      const casts: OnnxNode[] = [];
      const keptFloat: Array<{ initializer: string; reason: string }> = [];
      let converted = 0;
      graph.initializer = graph.initializer.map((tensor) => {
        const name = tensor.name ?? '';
        if (tensor.dataType !== ElementType.FLOAT || elementCount(tensor.dims) === 0 || !read.has(name)) return tensor;
        if (graphInputs.has(name)) {
          keptFloat.push({ initializer: name, reason: 'it is also a graph input (a default the caller may override)' });
          return tensor;
        }
        const values = readFloats(tensor);
        let largest = 0;
        for (const v of values) largest = Math.max(largest, Math.abs(v));
        if (!(largest <= FP16_MAX)) {
          keptFloat.push({ initializer: name, reason: `|value| ${largest} exceeds FP16's largest, ${FP16_MAX}` });
          return tensor;
        }
        const half = fresh(`${name}_fp16`);
        casts.push(
          makeNode('Cast', [half], [name], { name: fresh(`${name}_to_float`), attributes: { to: ElementType.FLOAT } }),
        );
        converted++;
        return float16Tensor(half, tensor.dims ?? [], encodeFp16(values));
      });
      if (converted === 0) throw nothingToDo(PASS, 'no FLOAT initializer to store as FP16');
      graph.node.unshift(...casts);
      settings.converted = converted;
      settings.keptFloat = keptFloat;
      context.progress(`${PASS}: ${converted} initializers stored as FP16, computed in FP32`);
      return finishModel(PASS, model, context);
    },
  };
}
