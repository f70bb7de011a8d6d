/**
 * What every pass's result must satisfy before it is evaluated: the structural rules of
 * onnx.checker we can apply without its op schemas, the exact signature of the parent, and a load
 * in ONNX Runtime (which checks each node against its kernels' schemas).
 */
import ort from 'onnxruntime-node';
import { SlipwayError } from '../../core/errors.js';
import { readOnnxModel } from '../../registry/onnx/read-onnx.js';
import type { Signature, TensorSpec } from '../../tensor/datatypes.js';
import type { OnnxModel } from './model-proto.js';
import { elementCount } from './tensor-proto.js';

/**
 * onnx.checker's graph rules: names are unique where they must be, nodes are in topological order
 * and read only what exists, every output is produced, every domain used is imported, initializers
 * hold as many values as their dims say. Returns the problems (empty when the model is valid).
 */
export function checkGraph(model: OnnxModel): string[] {
  const problems: string[] = [];
  const graph = model.graph;
  const available = new Set<string>(['']);
  for (const v of graph.input) {
    if (available.has(v.name)) problems.push(`graph input "${v.name}" is declared twice`);
    available.add(v.name);
  }
  for (const t of graph.initializer) {
    const name = t.name ?? '';
    if (name === '') problems.push('an initializer has no name');
    if (available.has(name) && !graph.input.some((i) => i.name === name))
      problems.push(`initializer "${name}" is declared twice`);
    available.add(name);
    const width = ELEMENT_BYTES[t.dataType ?? 0];
    const count = elementCount(t.dims);
    if (
      t.rawData !== undefined &&
      t.rawData.byteLength > 0 &&
      width !== undefined &&
      t.rawData.byteLength !== count * width
    )
      problems.push(`initializer "${name}" has ${t.rawData.byteLength} bytes for dims [${(t.dims ?? []).join(', ')}]`);
  }
  const imported = new Set(model.opsetImport.map((o) => (o.domain === 'ai.onnx' ? '' : (o.domain ?? ''))));
  graph.node.forEach((node, i) => {
    const label = `node ${i} (${node.opType}${node.name ? ` "${node.name}"` : ''})`;
    for (const x of node.input)
      if (!available.has(x)) problems.push(`${label} reads "${x}", which no earlier node, input or initializer gives`);
    for (const y of node.output) {
      if (y === '') continue;
      if (available.has(y)) problems.push(`${label} writes "${y}", which already exists (SSA form)`);
      available.add(y);
    }
    const domain = node.domain === 'ai.onnx' ? '' : (node.domain ?? '');
    if (!imported.has(domain)) problems.push(`${label} uses domain "${domain}", which the model does not import`);
  });
  for (const o of graph.output)
    if (!available.has(o.name)) problems.push(`graph output "${o.name}" is produced by nothing`);
  return problems;
}

const ELEMENT_BYTES: Readonly<Record<number, number>> = {
  1: 4,
  2: 1,
  3: 1,
  4: 2,
  5: 2,
  6: 4,
  7: 8,
  9: 1,
  10: 2,
  11: 8,
  12: 4,
  13: 8,
};

function describe(spec: TensorSpec): string {
  return `${spec.name} ${spec.datatype} [${spec.shape.join(', ')}]`;
}

/** Differences between two signatures, one line each (empty when equal, order included). */
export function signatureDifferences(parent: Signature, candidate: Signature): string[] {
  const lines: string[] = [];
  for (const side of ['inputs', 'outputs'] as const) {
    const a = parent[side].map(describe);
    const b = candidate[side].map(describe);
    if (a.join('; ') !== b.join('; ')) lines.push(`${side}: parent ${a.join('; ')}; candidate ${b.join('; ')}`);
  }
  return lines;
}

/**
 * The candidate passes the graph rules, has the parent's exact signature and loads in ONNX Runtime;
 * otherwise FAILED_PRECONDITION naming the pass and every problem (a pass bug, never the user's).
 */
export async function verifyCandidate(
  pass: string,
  bytes: Uint8Array,
  model: OnnxModel,
  parent: Signature,
): Promise<void> {
  const problems = checkGraph(model);
  if (problems.length === 0) {
    const signature = readOnnxModel(bytes).signature;
    problems.push(...signatureDifferences(parent, signature));
  }
  if (problems.length === 0) {
    try {
      const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
      await session.release();
    } catch (error) {
      problems.push(`ONNX Runtime refuses it: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  if (problems.length > 0)
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `the ${pass} pass produced an invalid model: ${problems.join('; ')}`,
      {
        details: problems,
      },
    );
}
