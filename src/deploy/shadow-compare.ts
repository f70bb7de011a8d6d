/**
 * How a shadow's answer compares with the primary's: label outputs (integers, strings) agree or
 * not; floating-point outputs differ by a mean and a max absolute difference.
 */
import type { Tensor } from '../tensor/datatypes.js';
import { fromHalfBits } from '../tensor/fp16.js';

export interface ShadowComparison {
  /** Every label output equal, element for element; null when the outputs have no label. */
  readonly agree: boolean | null;
  /** Over every element of every floating-point output both answered; null when there are none. */
  readonly absDiffMean: number | null;
  readonly absDiffMax: number | null;
  /** Why they cannot be compared (different shapes or names); null when they could. */
  readonly mismatch: string | null;
}

const FLOATS = new Set(['FP16', 'FP32', 'FP64']);

export function compareOutputs(primary: readonly Tensor[], shadow: readonly Tensor[]): ShadowComparison {
  let agree: boolean | null = null;
  let sum = 0;
  let count = 0;
  let max = 0;
  const problems: string[] = [];
  for (const p of primary) {
    const s = shadow.find((t) => t.name === p.name);
    if (s === undefined) {
      problems.push(`the shadow has no output "${p.name}"`);
      continue;
    }
    if (s.data.length !== p.data.length) {
      problems.push(
        `output "${p.name}" has shape [${s.shape.join(',')}] in the shadow, [${p.shape.join(',')}] in the primary`,
      );
      continue;
    }
    if (FLOATS.has(p.datatype) && FLOATS.has(s.datatype)) {
      for (let i = 0; i < p.data.length; i++) {
        const d = Math.abs(numberAt(s, i) - numberAt(p, i));
        sum += d;
        count++;
        if (d > max || Number.isNaN(d)) max = d;
      }
    } else {
      let same = true;
      for (let i = 0; i < p.data.length && same; i++) same = scalarText(p.data[i]) === scalarText(s.data[i]);
      agree = (agree ?? true) && same;
    }
  }
  return {
    agree,
    absDiffMean: count === 0 ? null : sum / count,
    absDiffMax: count === 0 ? null : max,
    mismatch: problems.length === 0 ? null : problems.join('; '),
  };
}

/** Outputs as `{name: [values]}` JSON for storage, each cut to `maxElements` values. */
export function outputsJson(outputs: readonly Tensor[], maxElements = 1000): string {
  const out: Record<string, unknown[]> = {};
  for (const t of outputs) {
    const values: unknown[] = [];
    for (let i = 0; i < Math.min(t.data.length, maxElements); i++)
      values.push(t.datatype === 'FP16' ? numberAt(t, i) : jsonScalar(t.data[i]));
    out[t.name] = values;
  }
  return JSON.stringify(out);
}

function numberAt(t: Tensor, i: number): number {
  const v = t.data[i];
  if (t.datatype === 'FP16') return fromHalfBits(v as number);
  return Number(v);
}

function scalarText(v: unknown): string {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return typeof v === 'string'
    ? v
    : typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean'
      ? String(v)
      : JSON.stringify(v);
}

function jsonScalar(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}
