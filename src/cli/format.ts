import type { ModelSummary, SchemaChange, VersionRecord } from '../registry/types.js';
import type { TensorSpec } from '../tensor/datatypes.js';

/** Left-aligned columns separated by two spaces; the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return (
    rows
      .map((row) =>
        row
          .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export const shapeText = (shape: readonly number[]): string => `[${shape.join(',')}]`;

export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatModels(models: readonly ModelSummary[]): string {
  if (models.length === 0) return 'no models yet: push one with `slipway push model.onnx --name <model>`\n';
  return table([
    ['MODEL', 'LATEST', 'VERSIONS', 'ALIASES', 'UPDATED'],
    ...models.map((m) => [
      m.name,
      m.latestVersion ?? '-',
      String(m.versionCount),
      Object.entries(m.aliases)
        .map(([a, v]) => `${a}=${v}`)
        .join(' ') || '-',
      m.updatedAt,
    ]),
  ]);
}

export function formatVersions(versions: readonly VersionRecord[]): string {
  return table([
    ['VERSION', 'STATUS', 'BUMP', 'ALIASES', 'CREATED', 'DESCRIPTION'],
    ...versions.map((v) => [
      v.version,
      v.status,
      v.schemaChange.appliedBump,
      v.aliases.join(',') || '-',
      v.createdAt,
      v.description,
    ]),
  ]);
}

function specRows(specs: readonly TensorSpec[]): string[][] {
  return specs.map((s) => ['  ' + s.name, s.datatype, shapeText(s.shape) + (s.optional ? ' (optional)' : '')]);
}

export function describeSchemaChange(change: SchemaChange): string {
  if (change.comparedTo === null) return 'first version';
  const n = change.differences.length;
  const what = n === 0 ? 'schema unchanged' : `${n} schema difference${n === 1 ? '' : 's'}`;
  return `${change.appliedBump} bump from ${change.comparedTo} (${what}; required: ${change.requiredBump ?? 'any'})`;
}

/** Everything `slipway show` prints about one version. */
export function formatVersion(v: VersionRecord): string {
  const lines: string[] = [];
  lines.push(`${v.model}@${v.version}  ${v.status}${v.aliases.length ? `  aliases: ${v.aliases.join(', ')}` : ''}`);
  if (v.description) lines.push(v.description);
  lines.push('');
  lines.push(`created   ${v.createdAt}${v.archivedAt ? `  (archived ${v.archivedAt})` : ''}`);
  lines.push(`artifact  sha256:${v.artifact.sha256} (${bytesText(v.artifact.sizeBytes)}, ${v.artifact.format})`);
  lines.push(`semver    ${describeSchemaChange(v.schemaChange)}`);
  for (const d of v.schemaChange.differences)
    lines.push(`            ${d.severity === 'breaking' ? 'BREAKING' : 'compatible'} ${d.message}`);
  lines.push('');
  lines.push(table([['inputs', '', ''], ...specRows(v.signature.inputs)]).trimEnd());
  lines.push(table([['outputs', '', ''], ...specRows(v.signature.outputs)]).trimEnd());
  const kv = (o: Readonly<Record<string, unknown>>) =>
    Object.entries(o)
      .map(([k, val]) => `${k}=${typeof val === 'string' ? val : JSON.stringify(val)}`)
      .join('  ');
  lines.push('');
  if (Object.keys(v.metrics).length) lines.push(`metrics   ${kv(v.metrics)}`);
  if (Object.keys(v.params).length) lines.push(`params    ${kv(v.params)}`);
  if (Object.keys(v.tags).length) lines.push(`tags      ${kv(v.tags)}`);
  if (v.labels)
    lines.push(
      `labels    ${v.labels.length} (${v.labels.slice(0, 5).join(', ')}${v.labels.length > 5 ? ', ...' : ''})`,
    );
  const lineage = kv(v.lineage as Record<string, unknown>);
  if (lineage) lines.push(`lineage   ${lineage}`);
  if (v.card) {
    lines.push('', '--- model card ---', v.card.trimEnd());
  }
  return lines.join('\n') + '\n';
}

/** commander's accumulator for a repeatable option (`--tag a=1 --tag b=2`). */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `--json` output: indented, one trailing newline. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Plain progress lines (when stderr is not a terminal) at most this often. */
export const PLAIN_PROGRESS_INTERVAL_MS = 5000;

const PROGRESS_BAR_WIDTH = 30;

/** `[#######-----------------------]  25%` for a fraction from 0 to 1. */
export function progressBar(fraction: number): string {
  const filled = Math.round(fraction * PROGRESS_BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(PROGRESS_BAR_WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%`;
}
