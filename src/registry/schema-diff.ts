import type { Datatype, Signature, TensorSpec } from '../tensor/datatypes.js';
import { canWiden } from '../tensor/widening.js';
import type { SchemaDifference, Side } from './types.js';

/**
 * Signature diffing for schema-derived semver. A signature is a contract: clients SEND inputs, so
 * an input may only widen (the new model accepts everything the old one accepted), and clients
 * READ outputs, so an output may only narrow (everything the new model returns fits what clients
 * expect). Every difference is classified `breaking` or `compatible` with one sentence saying why.
 */

const SIGNIFICAND_BITS: Partial<Record<Datatype, number>> = { FP16: 11, FP32: 24, FP64: 53 };
const INTEGERS: ReadonlySet<Datatype> = new Set([
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
]);

/** Whether every `from` value is exactly representable in `to` (true for `from === to`). */
export function isSafeWidening(from: Datatype, to: Datatype): boolean {
  // One widening table for the whole system: what the server converts is exactly what semver calls compatible.
  return from === to || canWiden(from, to);
}

/** Why values of `source` do (or do not) all fit `target`; a clause for messages. */
function representability(source: Datatype, target: Datatype): string {
  if (isSafeWidening(source, target)) return `every ${source} value is exactly representable in ${target}`;
  const bits = SIGNIFICAND_BITS[target];
  if (INTEGERS.has(source) && bits !== undefined) {
    return `${target} has a ${bits}-bit significand, so large ${source} values lose precision`;
  }
  if (SIGNIFICAND_BITS[source] !== undefined && INTEGERS.has(target))
    return `${target} cannot hold fractional ${source} values`;
  if ([source, target].some((t) => t === 'BOOL' || t === 'BYTES'))
    return `${source} and ${target} are not interchangeable`;
  return `${target} cannot hold every ${source} value`;
}

/**
 * A short rendering of a tensor spec: datatype and shape, `-1` for variable dimensions, plus
 * ` (optional)` for an optional input.
 *
 * @example
 * renderSpec({ name: 'input', datatype: 'FP32', shape: [-1, 30] }); // 'FP32[-1,30]'
 */
export function renderSpec(spec: TensorSpec): string {
  return `${renderType(spec)}${spec.optional === true ? ' (optional)' : ''}`;
}

function renderType(spec: TensorSpec): string {
  return `${spec.datatype}[${spec.shape.join(',')}]`;
}

const isVariable = (dim: number): boolean => dim < 0;
const renderDim = (dim: number): string => (isVariable(dim) ? 'variable' : String(dim));

function sameTypeAndShape(a: TensorSpec, b: TensorSpec): boolean {
  return a.datatype === b.datatype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

/** The tensor a difference is about; every message starts with `input "name"` / `output "name"`. */
interface Subject {
  readonly side: Side;
  readonly name: string;
}

type Classified = Pick<SchemaDifference, 'kind' | 'severity' | 'before' | 'after'>;

/** A difference about the tensor as a whole: `input "x" was removed: ...`. */
function difference(subject: Subject, classified: Classified, sentence: string): SchemaDifference {
  return {
    ...classified,
    side: subject.side,
    name: subject.name,
    message: `${subject.side} "${subject.name}" ${sentence}`,
  };
}

/** A difference in one attribute of a tensor: `input "x": datatype ...`. */
function attributeDifference(subject: Subject, classified: Classified, sentence: string): SchemaDifference {
  return {
    ...classified,
    side: subject.side,
    name: subject.name,
    message: `${subject.side} "${subject.name}": ${sentence}`,
  };
}

function removed(subject: Subject, spec: TensorSpec): SchemaDifference {
  const why =
    subject.side === 'input' ? 'clients still send it and would be rejected' : 'clients reading it would break';
  return difference(
    subject,
    { kind: 'removed', severity: 'breaking', before: renderSpec(spec), after: null },
    `was removed: ${why}`,
  );
}

function added(subject: Subject, spec: TensorSpec): SchemaDifference {
  const at = (severity: SchemaDifference['severity']): Classified => ({
    kind: 'added',
    severity,
    before: null,
    after: renderSpec(spec),
  });
  const type = renderType(spec);
  if (subject.side === 'output')
    return difference(subject, at('compatible'), `was added (${type}): clients that do not read it are unaffected`);
  if (spec.optional === true)
    return difference(subject, at('compatible'), `was added as optional (${type}): existing clients may leave it out`);
  return difference(
    subject,
    at('breaking'),
    `was added as required (${type}): existing clients do not send it and would be rejected`,
  );
}

function renamed(subject: Subject, to: TensorSpec): SchemaDifference {
  const why =
    subject.side === 'input'
      ? `clients still send "${subject.name}" and would be rejected`
      : `clients reading "${subject.name}" would break`;
  return difference(
    subject,
    { kind: 'renamed', severity: 'breaking', before: subject.name, after: to.name },
    `was renamed to "${to.name}" (${renderType(to)}): ${why}`,
  );
}

function datatypeChange(subject: Subject, before: TensorSpec, after: TensorSpec): SchemaDifference {
  const { datatype: from } = before;
  const { datatype: to } = after;
  const at = (severity: SchemaDifference['severity']): Classified => ({
    kind: 'datatype-changed',
    severity,
    before: renderSpec(before),
    after: renderSpec(after),
  });
  const change = `datatype ${from} -> ${to}`;
  if (subject.side === 'input') {
    return isSafeWidening(from, to)
      ? attributeDifference(subject, at('compatible'), `${change} is a safe widening (${representability(from, to)})`)
      : attributeDifference(
          subject,
          at('breaking'),
          `${change} is breaking (${representability(from, to)}): clients still send ${from} values`,
        );
  }
  return isSafeWidening(to, from)
    ? attributeDifference(
        subject,
        at('compatible'),
        `${change} is a safe narrowing (${representability(to, from)}, which clients expect)`,
      )
    : attributeDifference(
        subject,
        at('breaking'),
        `${change} is breaking (${representability(to, from)}): clients still read ${from} values`,
      );
}

/** Whether a change of one dimension is breaking, and why. */
function dimensionVerdict(side: Side, from: number, to: number): { breaking: boolean; why: string } {
  if (side === 'input') {
    if (isVariable(to))
      return { breaking: false, why: 'the model now accepts any size, so every old request still fits' };
    if (isVariable(from)) return { breaking: true, why: `requests with any size other than ${to} are rejected` };
    return { breaking: true, why: 'requests shaped for the old model are rejected' };
  }
  if (isVariable(from)) return { breaking: false, why: 'clients already handle any size' };
  if (isVariable(to)) return { breaking: true, why: `clients expecting exactly ${from} may receive other sizes` };
  return { breaking: true, why: `clients expecting exactly ${from} would break` };
}

function shapeChanges(subject: Subject, before: TensorSpec, after: TensorSpec): SchemaDifference[] {
  const at = (kind: 'rank-changed' | 'dimension-changed', breaking: boolean): Classified => ({
    kind,
    severity: breaking ? 'breaking' : 'compatible',
    before: renderSpec(before),
    after: renderSpec(after),
  });
  const [rankBefore, rankAfter] = [before.shape.length, after.shape.length];
  if (rankBefore !== rankAfter) {
    const why =
      subject.side === 'input'
        ? 'requests shaped for the old model are rejected'
        : `clients reading a rank-${rankBefore} tensor would break`;
    const shapes = `[${before.shape.join(',')}] -> [${after.shape.join(',')}]`;
    return [
      attributeDifference(
        subject,
        at('rank-changed', true),
        `rank changed ${rankBefore} -> ${rankAfter} (${shapes}): ${why}`,
      ),
    ];
  }
  const changes: SchemaDifference[] = [];
  before.shape.forEach((from, axis) => {
    const to = after.shape[axis] ?? from;
    if (from === to || (isVariable(from) && isVariable(to))) return;
    const { breaking, why } = dimensionVerdict(subject.side, from, to);
    changes.push(
      attributeDifference(
        subject,
        at('dimension-changed', breaking),
        `dimension ${axis} changed ${renderDim(from)} -> ${renderDim(to)}: ${why}`,
      ),
    );
  });
  return changes;
}

function optionalityChange(subject: Subject, before: TensorSpec, after: TensorSpec): SchemaDifference[] {
  const wasOptional = before.optional === true;
  // Outputs are always produced; optionality is an input-only notion.
  if (subject.side === 'output' || wasOptional === (after.optional === true)) return [];
  const at = (severity: SchemaDifference['severity']): Classified => ({
    kind: 'optionality-changed',
    severity,
    before: renderSpec(before),
    after: renderSpec(after),
  });
  return wasOptional
    ? [
        difference(
          subject,
          at('breaking'),
          'is now required (it was optional): clients that leave it out would be rejected',
        ),
      ]
    : [difference(subject, at('compatible'), 'is now optional (it was required): every old request still supplies it')];
}

function tensorChanges(subject: Subject, before: TensorSpec, after: TensorSpec): SchemaDifference[] {
  return [
    ...(before.datatype === after.datatype ? [] : [datatypeChange(subject, before, after)]),
    ...shapeChanges(subject, before, after),
    ...optionalityChange(subject, before, after),
  ];
}

/**
 * Pairs a removed tensor with an added one when each is the other's only match by datatype and
 * shape; anything ambiguous stays a removal plus an addition.
 */
function detectRenames(gone: readonly TensorSpec[], fresh: readonly TensorSpec[]): Map<TensorSpec, TensorSpec> {
  const pairs = new Map<TensorSpec, TensorSpec>();
  for (const old of gone) {
    const candidates = fresh.filter((spec) => sameTypeAndShape(old, spec));
    const only = candidates[0];
    if (candidates.length !== 1 || only === undefined) continue;
    if (gone.filter((spec) => sameTypeAndShape(spec, only)).length === 1) pairs.set(old, only);
  }
  return pairs;
}

function diffSide(side: Side, before: readonly TensorSpec[], after: readonly TensorSpec[]): SchemaDifference[] {
  const beforeByName = new Map(before.map((spec) => [spec.name, spec]));
  const afterByName = new Map(after.map((spec) => [spec.name, spec]));
  const gone = before.filter((spec) => !afterByName.has(spec.name));
  const fresh = after.filter((spec) => !beforeByName.has(spec.name));
  const renames = detectRenames(gone, fresh);
  const renamedTo = new Set(renames.values());

  const found: SchemaDifference[] = [];
  for (const old of before) {
    const subject = { side, name: old.name };
    const now = afterByName.get(old.name);
    const renamedAs = renames.get(old);
    if (now !== undefined) found.push(...tensorChanges(subject, old, now));
    else if (renamedAs !== undefined) found.push(renamed(subject, renamedAs));
    else found.push(removed(subject, old));
  }
  for (const spec of fresh) if (!renamedTo.has(spec)) found.push(added({ side, name: spec.name }, spec));

  // Stable sort by name in code-unit order (locale-independent); one tensor's differences keep their order.
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Every difference between two signatures, inputs before outputs, then by tensor name (the old
 * name for renames). Identical signatures give `[]`. Pure.
 *
 * @example
 * diffSignatures(v1, v2);
 * // [{ kind: 'datatype-changed', side: 'input', name: 'input', severity: 'compatible',
 * //    before: 'FP32[-1,30]', after: 'FP64[-1,30]',
 * //    message: 'input "input": datatype FP32 -> FP64 is a safe widening (every FP32 value is exactly representable in FP64)' }]
 */
export function diffSignatures(before: Signature, after: Signature): SchemaDifference[] {
  return [...diffSide('input', before.inputs, after.inputs), ...diffSide('output', before.outputs, after.outputs)];
}

/**
 * A multi-line report of `diffs` for CLI output and error messages: a header counting breaking and
 * compatible changes, then one line per difference.
 *
 * @example
 * formatSchemaDiff(diffs, { before: '1.2.0', after: 'the pushed model' });
 * // schema changes from 1.2.0 to the pushed model (1 breaking, 0 compatible):
 * //   BREAKING output "label" was removed: clients reading it would break
 */
export function formatSchemaDiff(
  diffs: readonly SchemaDifference[],
  labels: { before: string; after: string },
): string {
  if (diffs.length === 0) return `no schema changes from ${labels.before} to ${labels.after}`;
  const breaking = diffs.filter((d) => d.severity === 'breaking').length;
  const header = `schema changes from ${labels.before} to ${labels.after} (${breaking} breaking, ${diffs.length - breaking} compatible):`;
  const lines = diffs.map((d) => `  ${d.severity === 'breaking' ? 'BREAKING' : 'compatible'} ${d.message}`);
  return [header, ...lines].join('\n');
}
