/**
 * An OptimizationReport as text: a plain table for the CLI and a model-card section in Markdown.
 */
import type { GateResult, OptimizationReport } from './types.js';

type Row = readonly [string, string, string, string];

function number(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined) return '-';
  if (!Number.isFinite(value)) return String(value);
  if (value !== 0 && Math.abs(value) < 10 ** -digits) return value.toExponential(2);
  return Number(value.toFixed(digits)).toString();
}

function signed(value: number | undefined, digits = 4): string {
  if (value === undefined) return '-';
  return `${value > 0 ? '+' : ''}${number(value, digits)}`;
}

function bytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function ms(value: number): string {
  return `${value < 1 ? value.toFixed(3) : value.toFixed(2)} ms`;
}

/** The rows shared by both formats: measure, parent, candidate, change. */
function comparisonRows(report: OptimizationReport): Row[] {
  const rows: Row[] = [
    ['size', bytes(report.size.parentBytes), bytes(report.size.candidateBytes), `x${number(report.size.ratio, 3)}`],
    [
      'load time',
      ms(report.loadMs.parent),
      ms(report.loadMs.candidate),
      `x${number(report.loadMs.candidate / report.loadMs.parent, 3)}`,
    ],
  ];
  for (const l of report.latency) {
    const b = `batch ${l.batchSize}`;
    rows.push(
      [`${b} p50`, ms(l.parent.p50Ms), ms(l.candidate.p50Ms), `speedup x${number(l.speedup, 2)} (mean)`],
      [`${b} p99`, ms(l.parent.p99Ms), ms(l.candidate.p99Ms), ''],
      [`${b} mean`, ms(l.parent.meanMs), ms(l.candidate.meanMs), ''],
      [
        `${b} rows/s`,
        number(l.parent.rowsPerSecond, 0),
        number(l.candidate.rowsPerSecond, 0),
        `x${number(l.candidate.rowsPerSecond / l.parent.rowsPerSecond, 2)}`,
      ],
    );
  }
  const metrics = report.metrics;
  if (metrics !== undefined)
    for (const name of Object.keys(metrics.parent))
      rows.push([name, number(metrics.parent[name]), number(metrics.candidate[name]), signed(metrics.delta[name])]);
  return rows;
}

function gateLine(gate: GateResult): string {
  return `${gate.passed ? 'PASS' : 'FAIL'}  ${gate.text}  (actual ${number(gate.actual, 6)})`;
}

/** Plain text for the CLI: parent / candidate / change per measure, agreement and diffs, each gate with PASS/FAIL. */
export function reportTable(report: OptimizationReport, gateResults: readonly GateResult[]): string {
  const header: Row = ['', 'parent', 'candidate', 'change'];
  const rows = [header, ...comparisonRows(report)];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = [
    `Evaluated on ${report.rows} rows of ${report.source} (${report.task})`,
    ...rows.map((r) =>
      r
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
        .join('  ')
        .trimEnd(),
    ),
    '',
    `agreement     ${number(report.agreement, 6)}`,
    `max_abs_diff  ${number(report.maxAbsDiff, 6)}`,
    `mean_abs_diff ${number(report.meanAbsDiff, 6)}`,
  ];
  if (report.metrics === undefined) lines.push('task metrics: none (the eval set has no label column)');
  if (gateResults.length > 0) lines.push('', 'gates:', ...gateResults.map((g) => `  ${gateLine(g)}`));
  const failed = gateResults.filter((g) => !g.passed).length;
  if (gateResults.length > 0)
    lines.push(failed === 0 ? 'all gates pass' : `${failed} of ${gateResults.length} gates fail`);
  return lines.join('\n') + '\n';
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/**
 * The model card's "## Optimization report" section: the parent, the passes with their settings,
 * the comparison table, agreement and diffs, and the gates.
 */
export function reportMarkdown(
  report: OptimizationReport,
  gateResults: readonly GateResult[],
  passes: readonly { readonly name: string; readonly settings: Readonly<Record<string, unknown>> }[],
  parent: string,
): string {
  const lines = ['## Optimization report', '', `Optimized from \`${parent}\` by:`, ''];
  if (passes.length === 0) lines.push('- (no passes)');
  for (const pass of passes) lines.push(`- \`${pass.name}\` ${escapeCell(JSON.stringify(pass.settings))}`);
  lines.push(
    '',
    `Evaluated side by side in one process on ${report.rows} rows of \`${report.source}\` (${report.task}).`,
    '',
    '| | parent | candidate | change |',
    '|---|---:|---:|---:|',
    ...comparisonRows(report).map((r) => `| ${r.map(escapeCell).join(' | ')} |`),
    '',
    `Agreement ${number(report.agreement, 6)}, max absolute difference ${number(report.maxAbsDiff, 6)}, ` +
      `mean absolute difference ${number(report.meanAbsDiff, 6)}.`,
  );
  if (gateResults.length > 0) {
    lines.push('', '| gate | actual | result |', '|---|---:|---|');
    for (const g of gateResults)
      lines.push(`| \`${escapeCell(g.text)}\` | ${number(g.actual, 6)} | ${g.passed ? 'PASS' : 'FAIL'} |`);
  }
  return lines.join('\n') + '\n';
}
