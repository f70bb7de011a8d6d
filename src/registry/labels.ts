import { invalid } from '../core/errors.js';
import type { Signature } from '../tensor/datatypes.js';
import { quote } from '../tensor/format.js';

/**
 * Class labels of a version (Triton's classification extension: `"score:index:label"`). One list
 * per version, index = class index. Like Triton's per-output `label_filename`, a list belongs to
 * outputs: here to every numeric output whose last dimension is fixed and equals the list's length
 * (`labelsForOutput`), so a classifier's `probabilities [N, 3]` gets three labels and its
 * `label [N]` none.
 */

/** Labels longer than this are refused: they end up inside every classified response element. */
export const MAX_LABEL_LENGTH = 1024;

/**
 * Labels from text, one per line (a `--labels` file, an ONNX `labels` metadata value): the first
 * line is class 0. `\r\n` and `\n` both end a line, one final line break is dropped, and a blank
 * line is refused rather than skipped (skipping it would shift every following index).
 *
 * @example parseLabelLines('cat\ndog\n', 'labels file') // ['cat', 'dog']
 */
export function parseLabelLines(text: string, source: string): string[] {
  // A byte order mark (editors on Windows write one) is not part of the first label.
  const body = text.replace(/^\uFEFF/, '').replace(/\r?\n$/, '');
  if (body === '') throw invalid(`${source} holds no labels`);
  return checkLabels(body.split(/\r?\n/), source, { lines: true });
}

/**
 * Check a list of labels: strings, non-empty, one line each, at most MAX_LABEL_LENGTH characters.
 * Errors name the source and the class index (and the line, for `lines`: text read line by line).
 */
export function checkLabels(labels: readonly unknown[], source: string, options: { lines?: boolean } = {}): string[] {
  if (labels.length === 0) throw invalid(`${source} holds no labels`);
  return labels.map((label, index) => {
    const at = `${source}: label ${index}${options.lines === true ? ` (line ${index + 1})` : ''}`;
    if (typeof label !== 'string') throw invalid(`${at} must be a string, got ${JSON.stringify(label)}`);
    if (label.trim() === '') throw invalid(`${at} is empty; every class index needs a label`);
    if (/[\r\n]/.test(label)) throw invalid(`${at} spans more than one line`);
    if (label.length > MAX_LABEL_LENGTH)
      throw invalid(`${at} is ${label.length} characters long, over the limit of ${MAX_LABEL_LENGTH}`);
    return label;
  });
}

/** Whether some output takes these labels (`labelsForOutput`). */
export function labelsFitSomeOutput(labels: readonly string[], signature: Signature): boolean {
  return signature.outputs.some((output) => labelsForOutput(output, labels) !== undefined);
}

/**
 * Refuse labels that fit no output (400 naming the count and every output's shape): labels
 * that fit nothing would silently never appear.
 */
export function checkLabelsFit(labels: readonly string[], signature: Signature, source: string): void {
  if (labelsFitSomeOutput(labels, signature)) return;
  const shapes = signature.outputs.map((o) => `${quote(o.name)} ${o.datatype} [${o.shape.join(', ')}]`).join(', ');
  throw invalid(
    `${source} has ${labels.length} label${labels.length === 1 ? '' : 's'}, but no numeric output has a last dimension of ${labels.length} ` +
      `(outputs: ${shapes}); labels apply to the outputs whose fixed last dimension equals their count`,
  );
}

/** The labels that apply to one output of a version, or undefined (see the module comment). */
export function labelsForOutput(
  output: { readonly datatype: string; readonly shape: readonly number[] },
  labels: readonly string[] | undefined,
): readonly string[] | undefined {
  if (labels === undefined || output.datatype === 'BYTES' || output.datatype === 'BOOL') return undefined;
  return output.shape.at(-1) === labels.length ? labels : undefined;
}
