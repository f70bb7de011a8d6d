/**
 * Small, explicit graph edits shared by the passes: look-ups by tensor name, fresh names, nodes and
 * attributes built the way onnx.helper builds them, and topological re-ordering after an insertion.
 */
import { AttributeType, type OnnxAttribute, type OnnxGraph, type OnnxNode, type OnnxTensor } from './model-proto.js';

export function findInitializer(graph: OnnxGraph, name: string): OnnxTensor | undefined {
  return graph.initializer.find((t) => t.name === name);
}

/** Nodes that read `tensor`, with the input position. */
export function consumersOf(graph: OnnxGraph, tensor: string): Array<{ node: OnnxNode; index: number }> {
  const found: Array<{ node: OnnxNode; index: number }> = [];
  for (const node of graph.node)
    node.input.forEach((name, index) => {
      if (name === tensor) found.push({ node, index });
    });
  return found;
}

export function producerOf(graph: OnnxGraph, tensor: string): OnnxNode | undefined {
  return graph.node.find((n) => n.output.includes(tensor));
}

export function isGraphOutput(graph: OnnxGraph, tensor: string): boolean {
  return graph.output.some((o) => o.name === tensor);
}

/** Every name used for a tensor or node in the graph. */
function usedNames(graph: OnnxGraph): Set<string> {
  const names = new Set<string>();
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) names.add(v.name);
  for (const t of graph.initializer) if (t.name !== undefined) names.add(t.name);
  for (const n of graph.node) {
    if (n.name !== undefined) names.add(n.name);
    for (const x of [...n.input, ...n.output]) names.add(x);
  }
  return names;
}

/**
 * Hands out names no tensor or node of the graph has (`base`, then `base_1`, ...). Create one per
 * pass run: it remembers what it handed out.
 */
export function nameAllocator(graph: OnnxGraph): (base: string) => string {
  const taken = usedNames(graph);
  return (base) => {
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };
}

export type AttributeValue = number | string | readonly number[] | readonly string[] | OnnxTensor;

/** An attribute typed like onnx.helper.make_attribute: integers → INT(S), other numbers → FLOAT(S). */
export function makeAttribute(name: string, value: AttributeValue, floats = false): OnnxAttribute {
  if (typeof value === 'number')
    return Number.isInteger(value) && !floats
      ? { name, type: AttributeType.INT, i: value }
      : { name, type: AttributeType.FLOAT, f: value };
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string'))
      return { name, type: AttributeType.STRINGS, strings: value.map((v) => new TextEncoder().encode(v)) };
    const numbers = value as readonly number[];
    return numbers.every((v) => Number.isInteger(v)) && !floats
      ? { name, type: AttributeType.INTS, ints: [...numbers] }
      : { name, type: AttributeType.FLOATS, floats: [...numbers] };
  }
  return { name, type: AttributeType.TENSOR, t: value as OnnxTensor };
}

/** A node like onnx.helper.make_node. `attributes` values follow makeAttribute's typing. */
export function makeNode(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  options: { name?: string; domain?: string; attributes?: Readonly<Record<string, AttributeValue>> } = {},
): OnnxNode {
  const node: OnnxNode = { opType, input: [...inputs], output: [...outputs] };
  if (options.name !== undefined) node.name = options.name;
  if (options.domain !== undefined && options.domain !== '') node.domain = options.domain;
  const attributes = Object.entries(options.attributes ?? {});
  if (attributes.length > 0) node.attribute = attributes.map(([k, v]) => makeAttribute(k, v));
  return node;
}

/** An attribute's value as a number (INT or FLOAT), or `fallback`. */
export function attributeNumber(node: OnnxNode, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  if (a === undefined) return fallback;
  return a.type === AttributeType.FLOAT ? (a.f ?? 0) : (a.i ?? 0);
}

export function attributeInts(node: OnnxNode, name: string): number[] | undefined {
  return node.attribute?.find((x) => x.name === name)?.ints;
}

/**
 * Re-order nodes so every node comes after the producers of its inputs (Kahn's algorithm, keeping
 * the existing order among ready nodes). Passes append new nodes anywhere and call this once.
 * Throws when the graph has a cycle or reads a tensor nothing produces (checkGraph names it).
 */
export function sortTopologically(graph: OnnxGraph): void {
  const available = new Set<string>(['']);
  for (const v of graph.input) available.add(v.name);
  for (const t of graph.initializer) if (t.name !== undefined) available.add(t.name);
  const pending = [...graph.node];
  const sorted: OnnxNode[] = [];
  while (pending.length > 0) {
    const index = pending.findIndex((n) => n.input.every((x) => available.has(x)));
    if (index === -1) {
      const stuck = pending[0]!;
      const missing = stuck.input.filter((x) => !available.has(x));
      throw new Error(`node "${stuck.name ?? stuck.opType}" reads ${missing.join(', ')}, which nothing produces`);
    }
    const [node] = pending.splice(index, 1);
    for (const x of node!.output) available.add(x);
    sorted.push(node!);
  }
  graph.node = sorted;
}

/** Drop initializers no node reads and that are not graph outputs (after a pass replaced them). */
export function removeUnusedInitializers(graph: OnnxGraph): void {
  const read = new Set<string>(graph.output.map((o) => o.name));
  for (const n of graph.node) for (const x of n.input) read.add(x);
  graph.initializer = graph.initializer.filter((t) => t.name !== undefined && read.has(t.name));
  graph.input = graph.input.filter((i) => read.has(i.name) || !graph.initializer.some((t) => t.name === i.name));
}
