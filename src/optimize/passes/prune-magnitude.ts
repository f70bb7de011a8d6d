/**
 * Unstructured magnitude pruning: in each selected weight (the constant input 1 of MatMul, Gemm and
 * Conv nodes, FLOAT, rank >= 2) the `sparsity` share of weights with the smallest |w| is set to 0.
 * Biases are never touched. The matrices keep their shapes, so the file compresses better but ONNX
 * Runtime's dense kernels run no faster (structured pruning, prune-neurons.ts, shrinks the matrices).
 */
import { invalid } from '../../core/errors.js';
import { decodeModel, ElementType, type OnnxTensor } from '../onnx/model-proto.js';
import { findInitializer } from '../onnx/graph-edit.js';
import { floatTensor, readFloats } from '../onnx/tensor-proto.js';
import type { OptimizationPass, PassContext } from '../types.js';
import { finishModel, nothingToDo, refuseUnknownSettings, stringList } from './pass-settings.js';

export const PRUNE_OP_TYPES = ['MatMul', 'Gemm', 'Conv'] as const;
export const PRUNE_SCOPES = ['per-tensor', 'global'] as const;

export interface MagnitudePruningSettings {
  /** Share of weights to zero, in (0, 1). */
  readonly sparsity: number;
  readonly opTypes?: ReadonlyArray<(typeof PRUNE_OP_TYPES)[number]>;
  /**
   * 'per-tensor': floor(sparsity * n) weights zeroed in each tensor of n weights. 'global': one
   * magnitude threshold over all selected tensors together, floor(sparsity * total) weights zeroed.
   */
  readonly scope?: (typeof PRUNE_SCOPES)[number];
}

const PASS = 'prune-magnitude';

/** A pass zeroing the smallest-magnitude weights of MatMul/Gemm/Conv (see the module comment). */
export function magnitudePruningPass(given: MagnitudePruningSettings): OptimizationPass {
  refuseUnknownSettings(PASS, given, ['sparsity', 'opTypes', 'scope']);
  const sparsity = given.sparsity;
  if (typeof sparsity !== 'number' || !(sparsity > 0 && sparsity < 1))
    throw invalid(`the ${PASS} pass's "sparsity" must be a number in (0, 1), got ${JSON.stringify(sparsity)}`);
  const opTypes = stringList(PASS, 'opTypes', given.opTypes) ?? [...PRUNE_OP_TYPES];
  const wrong = opTypes.filter((t) => !(PRUNE_OP_TYPES as readonly string[]).includes(t));
  if (wrong.length > 0 || opTypes.length === 0)
    throw invalid(
      `the ${PASS} pass's "opTypes" must be some of ${PRUNE_OP_TYPES.join(', ')}; got ${JSON.stringify(opTypes)}`,
    );
  const scope = given.scope ?? 'per-tensor';
  if (!(PRUNE_SCOPES as readonly string[]).includes(scope))
    throw invalid(`the ${PASS} pass's "scope" must be one of ${PRUNE_SCOPES.join(', ')}, got ${JSON.stringify(scope)}`);
  const settings: Record<string, unknown> = { sparsity, opTypes, scope };
  return {
    name: PASS,
    settings,
    async apply(bytes: Uint8Array, context: PassContext): Promise<Uint8Array> {
      const model = decodeModel(bytes);
      const graph = model.graph;
      const weights: OnnxTensor[] = [];
      for (const node of graph.node) {
        if ((node.domain ?? '') !== '' || !opTypes.includes(node.opType)) continue;
        const weight = findInitializer(graph, node.input[1] ?? '');
        if (weight === undefined || weight.dataType !== ElementType.FLOAT || (weight.dims ?? []).length < 2) continue;
        if (!weights.includes(weight)) weights.push(weight);
      }
      if (weights.length === 0)
        throw nothingToDo(PASS, `no ${opTypes.join('/')} with a constant FLOAT weight of rank >= 2 to prune`);
      const values = weights.map(readFloats);
      const zeroed =
        scope === 'per-tensor'
          ? values.map((v) => zeroSmallest([v], Math.floor(sparsity * v.length)))
          : [zeroSmallest(values, Math.floor(sparsity * values.reduce((n, v) => n + v.length, 0)))];
      const pruned = weights.map((w, i) => {
        const replacement = floatTensor(w.name!, w.dims ?? [], values[i]!);
        graph.initializer[graph.initializer.indexOf(w)] = replacement;
        return { initializer: w.name!, weights: values[i]!.length, zeros: countZeros(values[i]!) };
      });
      settings.pruned = pruned;
      context.progress(`${PASS}: ${zeroed.reduce((a, b) => a + b, 0)} weights zeroed in ${weights.length} tensors`);
      return finishModel(PASS, model, context);
    },
  };
}

/**
 * Zero exactly `count` values with the smallest |v| across `arrays`, in place; among equal
 * magnitudes the earlier ones (array order, then index) go first. Returns `count`.
 */
export function zeroSmallest(arrays: readonly Float32Array[], count: number): number {
  if (count <= 0) return 0;
  const total = arrays.reduce((n, a) => n + a.length, 0);
  const magnitudes = new Float32Array(total);
  let offset = 0;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) magnitudes[offset + i] = Math.abs(a[i]!);
    offset += a.length;
  }
  magnitudes.sort();
  const threshold = magnitudes[Math.min(count, total) - 1]!;
  // Everything strictly below the threshold goes; then values equal to it, in order, until `count`.
  let below = 0;
  for (let i = 0; i < Math.min(count, total); i++) if (magnitudes[i]! < threshold) below++;
  let ties = Math.min(count, total) - below;
  for (const a of arrays)
    for (let i = 0; i < a.length; i++) {
      const m = Math.abs(a[i]!);
      if (m < threshold) a[i] = 0;
      else if (m === threshold && ties > 0) {
        a[i] = 0;
        ties--;
      }
    }
  return Math.min(count, total);
}

function countZeros(values: Float32Array): number {
  let zeros = 0;
  for (const v of values) if (v === 0) zeros++;
  return zeros;
}
