/**
 * How a table's columns (CSV, Parquet, JSONL) feed a model's inputs. Used by drift's reference files
 * and by batch scoring, so it lives here, below both.
 *
 * For each input `x` of the signature, in order of preference:
 *  1. a column named `x` (inputs one value wide);
 *  2. columns `x[0]..x[k-1]` or `x_0..x_{k-1}`;
 *  3. when the model has a single input k wide: the file's first k columns other than the ones
 *     named in `ignore` (e.g. the training label), in file order.
 * Anything else fails with a message naming the input and the columns expected.
 */
import { invalid } from '../core/errors.js';
import type { Signature, TensorSpec } from './datatypes.js';

export interface InputMapping {
  readonly spec: TensorSpec;
  readonly columns: readonly string[];
}

/**
 * Decide which file columns feed which input. `overrides` (input name -> columns, in order) come
 * first (batch scoring's `--map`); a column they name that the file lacks fails naming it.
 */
export function mapColumns(
  signature: Signature,
  fileColumns: readonly string[],
  ignore: readonly string[] = [],
  overrides: Readonly<Record<string, readonly string[]>> = {},
): InputMapping[] {
  const available = new Set(fileColumns);
  const mappings: InputMapping[] = [];
  for (const name of Object.keys(overrides)) {
    if (!signature.inputs.some((spec) => spec.name === name))
      throw invalid(
        `the model has no input "${name}"; its inputs are ${signature.inputs.map((s) => s.name).join(', ')}`,
      );
  }
  for (const spec of signature.inputs) {
    const width = innerWidth(spec);
    if (width === undefined)
      throw invalid(
        `input "${spec.name}" has shape [${spec.shape.join(', ')}]: only [batch, k] inputs with a fixed k can be read from a table`,
      );
    const override = overrides[spec.name];
    if (override !== undefined) {
      mappings.push({ spec, columns: checkOverride(spec.name, width, override, fileColumns) });
      continue;
    }
    if (width === 1 && available.has(spec.name)) {
      mappings.push({ spec, columns: [spec.name] });
      continue;
    }
    const bracketed = Array.from({ length: width }, (_, j) => `${spec.name}[${j}]`);
    const underscored = Array.from({ length: width }, (_, j) => `${spec.name}_${j}`);
    if (bracketed.every((c) => available.has(c))) mappings.push({ spec, columns: bracketed });
    else if (underscored.every((c) => available.has(c))) mappings.push({ spec, columns: underscored });
    else if (width > 1 && [bracketed, underscored].some((names) => names.some((c) => available.has(c)))) {
      const names = bracketed.some((c) => available.has(c)) ? bracketed : underscored;
      const missing = names.filter((c) => !available.has(c));
      throw invalid(
        `input "${spec.name}" needs columns "${names[0]}".."${names[width - 1]}"; missing column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `"${c}"`).join(', ')}`,
        { column: missing[0] },
      );
    } else if (signature.inputs.length === 1) {
      const candidates = fileColumns.filter((c) => !ignore.includes(c));
      if (candidates.length < width) {
        throw invalid(
          `input "${spec.name}" needs ${width} columns but the file has ${candidates.length} usable ones (${candidates.join(', ')})`,
        );
      }
      mappings.push({ spec, columns: candidates.slice(0, width) });
    } else {
      throw invalid(
        `no columns for input "${spec.name}": expected a column "${spec.name}"${width > 1 ? ` or columns "${spec.name}[0]".."${spec.name}[${width - 1}]"` : ''}`,
      );
    }
  }
  return mappings;
}

function checkOverride(
  input: string,
  width: number,
  columns: readonly string[],
  fileColumns: readonly string[],
): readonly string[] {
  const missing = columns.find((c) => !fileColumns.includes(c));
  if (missing !== undefined) {
    throw invalid(
      `missing column "${missing}" (mapped to input "${input}"); the file's columns are ${fileColumns.join(', ')}`,
      { column: missing },
    );
  }
  if (columns.length !== width)
    throw invalid(
      `input "${input}" takes ${width} values per row but is mapped to ${columns.length} column${columns.length === 1 ? '' : 's'}`,
    );
  return columns;
}

function innerWidth(spec: TensorSpec): number | undefined {
  const inner = spec.shape.slice(1);
  if (spec.shape.length === 0) return 1;
  if (inner.some((d) => d < 0)) return undefined;
  return inner.reduce((a, b) => a * b, 1);
}

/**
 * Refuse ignored columns the file does not have: a misspelt label would otherwise be read as a
 * feature without a word (issue 13 item 13).
 */
export function checkIgnoredColumns(fileColumns: readonly string[], ignore: readonly string[]): void {
  const unknown = ignore.filter((c) => !fileColumns.includes(c));
  if (unknown.length === 0) return;
  const names = unknown.map((c) => `"${c}"`).join(', ');
  throw invalid(
    `ignored column${unknown.length > 1 ? 's' : ''} ${names} ${unknown.length > 1 ? 'are' : 'is'} not in the file; its columns are ${fileColumns.join(', ')}`,
    { column: unknown[0] },
  );
}
