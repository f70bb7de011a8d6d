/**
 * Helpers the rewrite passes (quantize-dynamic, fp16, graph, prune-magnitude) share: refusing
 * settings they do not know, reading node selections, and the common ending of `apply` (re-order,
 * drop replaced initializers, encode, verify against the parent's signature).
 */
import { invalid, SlipwayError } from '../../core/errors.js';
import type { OnnxModel, OnnxNode } from '../onnx/model-proto.js';
import { encodeModel } from '../onnx/model-proto.js';
import { removeUnusedInitializers, sortTopologically } from '../onnx/graph-edit.js';
import { verifyCandidate } from '../onnx/check-model.js';
import type { PassContext } from '../types.js';

/** INVALID_ARGUMENT naming every setting of `pass` that is not in `allowed`. */
export function refuseUnknownSettings(pass: string, given: object, allowed: readonly string[]): void {
  const unknown = Object.keys(given).filter(
    (k) => !allowed.includes(k) && (given as Record<string, unknown>)[k] !== undefined,
  );
  if (unknown.length > 0)
    throw invalid(
      `the ${pass} pass has no setting ${unknown.map((k) => `"${k}"`).join(', ')} (it takes ${allowed.join(', ')})`,
    );
}

/** A list of strings from a setting, or INVALID_ARGUMENT naming it. */
export function stringList(pass: string, setting: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw invalid(`the ${pass} pass's "${setting}" must be a list of strings, got ${JSON.stringify(value)}`);
  return [...value];
}

/** A node's name for selections and messages: its name, or its first output when it has none. */
export function nodeLabel(node: OnnxNode): string {
  return node.name !== undefined && node.name !== '' ? node.name : (node.output[0] ?? node.opType);
}

/**
 * Which nodes of `candidates` a pass works on under `includeNodes` / `excludeNodes` (node names, or
 * first outputs of unnamed nodes). A name in either list that matches no node of the model is refused,
 * and so is an included node that is not a candidate (e.g. an op type the pass was not asked for).
 */
export function selectNodes(
  pass: string,
  model: OnnxModel,
  candidates: readonly OnnxNode[],
  includeNodes: readonly string[] | undefined,
  excludeNodes: readonly string[] | undefined,
): OnnxNode[] {
  const known = new Set(model.graph.node.map(nodeLabel));
  for (const [setting, list] of [
    ['includeNodes', includeNodes],
    ['excludeNodes', excludeNodes],
  ] as const) {
    const missing = (list ?? []).filter((n) => !known.has(n));
    if (missing.length > 0)
      throw invalid(
        `the ${pass} pass's ${setting} names ${missing.map((n) => `"${n}"`).join(', ')}, which the model has no node called`,
      );
  }
  const candidateNames = new Set(candidates.map(nodeLabel));
  const notCandidates = (includeNodes ?? []).filter((n) => !candidateNames.has(n));
  if (notCandidates.length > 0)
    throw invalid(
      `the ${pass} pass's includeNodes names ${notCandidates.map((n) => `"${n}"`).join(', ')}, which it does not work on ` +
        `(it works on ${[...candidateNames].map((n) => `"${n}"`).join(', ') || 'no node of this model'})`,
    );
  return candidates.filter(
    (n) =>
      (includeNodes === undefined || includeNodes.includes(nodeLabel(n))) &&
      !(excludeNodes ?? []).includes(nodeLabel(n)),
  );
}

/** FAILED_PRECONDITION: the pass found nothing to do on this model. */
export function nothingToDo(pass: string, what: string): SlipwayError {
  return new SlipwayError('FAILED_PRECONDITION', `the ${pass} pass found ${what}`);
}

/** Re-order, drop initializers nothing reads, encode and verify (signature, graph rules, ORT load). */
export async function finishModel(pass: string, model: OnnxModel, context: PassContext): Promise<Uint8Array> {
  sortTopologically(model.graph);
  removeUnusedInitializers(model.graph);
  const bytes = encodeModel(model);
  await verifyCandidate(pass, bytes, model, context.signature);
  return bytes;
}
