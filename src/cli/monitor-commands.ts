import path from 'node:path';
import type { Command } from 'commander';
import { parseDuration } from '../core/duration.js';
import { invalid } from '../core/errors.js';
import type { DriftReport } from '../monitor/drift-report.js';
import type { PerformanceReport } from '../monitor/performance-service.js';
import { tensorListJson } from '../monitor/prediction-json.js';
import type { PredictionCursor, PredictionStore, StoredPrediction } from '../monitor/prediction-store.js';
import { parseTime } from '../monitor/time-params.js';
import { parseModelRef } from '../registry/model-ref.js';
import type { ColumnDrift } from '../stats/index.js';
import { table, collect, jsonText } from './format.js';
import type { CliIo } from './io.js';
import { withPlatform } from './registry-commands.js';

/** `log export`, `performance`, `drift`, `reference set|show`: read the monitoring data in the store. */
export function registerMonitorCommands(program: Command, io: CliIo): void {
  const json = (value: unknown) => io.stdout(jsonText(value));

  const logCommand = program.command('log').description('The prediction log');
  logCommand
    .command('export')
    .description(
      'Write logged predictions to a Parquet, CSV or JSONL file (by extension); inputs and outputs as JSON text',
    )
    .requiredOption('--out <file>', 'preds.parquet, preds.csv or preds.jsonl')
    .option('--since <time>', 'from (a duration ago like 1h, an ISO date, or epoch ms)', '1h')
    .option('--until <time>', 'to (default now)')
    .option('--model <model>')
    .option('--version <version>')
    .action(async (options: { out: string; since: string; until?: string; model?: string; version?: string }) => {
      const now = Date.now();
      const since = parseTime(options.since, '--since', now);
      const until = options.until === undefined ? now : parseTime(options.until, '--until', now);
      const out = path.resolve(io.cwd, options.out);
      // Loaded on first use: DuckDB's native module costs ~0.3 s, which every CLI command would pay.
      const { writeTable } = await import('../io/index.js');
      await withPlatform(io, async ({ predictions }) => {
        const filter = {
          since,
          until,
          ...(options.model === undefined ? {} : { model: options.model }),
          ...(options.version === undefined ? {} : { version: options.version }),
        };
        const { rows } = await writeTable(out, EXPORT_COLUMNS, exportRows(predictions, filter));
        io.stdout(`wrote ${rows} predictions to ${options.out}\n`);
      });
    });

  program
    .command('performance')
    .description(
      'Model quality from ground-truth feedback, per version (accuracy, F1, ROC AUC, log loss, calibration; MAE, RMSE, R2)',
    )
    .argument('<model>')
    .option('--version <version>')
    .option('--window <duration>', 'predictions made in the last ...', '24h')
    .option('--json', 'machine-readable output')
    .action(async (model: string, options: { version?: string; window: string; json?: boolean }) => {
      const windowMs = parseDuration(options.window, '--window');
      await withPlatform(io, async ({ performance }) => {
        const report = await performance.report(model, windowMs, options.version);
        if (options.json) return json(report);
        io.stdout(formatPerformance(report));
      });
    });

  program
    .command('drift')
    .description(
      "Compare a window of logged predictions with the version's reference profile (Evidently's default tests)",
    )
    .argument('<model[@version]>')
    .option('--window <duration>', 'the last ...', '1h')
    .option('--json', 'machine-readable output (with the histograms)')
    .action(async (ref: string, options: { window: string; json?: boolean }) => {
      const { model, selector } = parseModelRef(ref);
      const windowMs = parseDuration(options.window, '--window');
      await withPlatform(io, async ({ drift }) => {
        const report = await drift.check({ model, windowMs, ...(selector === undefined ? {} : { selector }) });
        if (options.json) return json(report);
        io.stdout(formatDrift(report));
      });
    });

  const reference = program.command('reference').description("A version's drift reference profile");
  reference
    .command('set')
    .description(
      "Profile a training file (inputs, and the model's outputs on them) or the first N served requests as the reference",
    )
    .argument('<model[@version]>')
    .argument('[file]', 'CSV, Parquet or JSONL with one column per input feature')
    .option('--ignore <column>', 'a file column that is not an input, e.g. the label (repeatable)', collect, [])
    .option('--from-served <rows>', 'use the first N logged requests instead of a file')
    .action(async (ref: string, file: string | undefined, options: { ignore: string[]; fromServed?: string }) => {
      const { model, selector } = parseModelRef(ref);
      if ((file === undefined) === (options.fromServed === undefined))
        throw invalid('give a file or --from-served N (one of them)');
      await withPlatform(io, async ({ drift }) => {
        const profile =
          file !== undefined
            ? await drift.setReferenceFromFile(model, selector, path.resolve(io.cwd, file), options.ignore)
            : await drift.setReferenceFromServed(model, selector, Number(options.fromServed));
        io.stdout(
          `reference of ${profile.model}@${profile.version}: ${profile.rows} rows (${profile.sourceDetail}), ${profile.features.length} features, ${profile.outputs.length} outputs${profile.skipped.length > 0 ? `; skipped (too wide): ${profile.skipped.join(', ')}` : ''}\n`,
        );
      });
    });
  reference
    .command('show')
    .argument('<model[@version]>')
    .option('--json', 'the whole profile')
    .action(async (ref: string, options: { json?: boolean }) => {
      const { model, selector } = parseModelRef(ref);
      await withPlatform(io, async ({ drift }) => {
        const profile = await drift.getReference(model, selector);
        if (options.json) return json(profile);
        io.stdout(
          `${profile.model}@${profile.version}: ${profile.rows} rows from ${profile.sourceDetail} (${profile.createdAt})\n`,
        );
        io.stdout(
          table([
            ['column', 'kind', 'count', 'nulls', 'distinct'],
            ...[...profile.features, ...profile.outputs].map((c) => [
              c.name,
              c.kind,
              String(c.count),
              String(c.nulls),
              `${c.distinct}${c.distinctExact ? '' : '+'}`,
            ]),
          ]),
        );
      });
    });
}

const EXPORT_COLUMNS = [
  { name: 'request_id', type: 'string' },
  { name: 'time', type: 'string' },
  { name: 'deployment', type: 'string' },
  { name: 'model', type: 'string' },
  { name: 'version', type: 'string' },
  { name: 'protocol', type: 'string' },
  { name: 'latency_ms', type: 'number' },
  { name: 'inputs', type: 'string' },
  { name: 'outputs', type: 'string' },
  // full, truncated (tensors cut by the payload policy: `shape` as served, `stored_shape`, `truncated`) or omitted.
  { name: 'payload', type: 'string' },
] as const;

/** Rows and stored bytes an export reads per page: memory stays bounded whatever the rows hold. */
const EXPORT_PAGE_ROWS = 1_000;
const EXPORT_PAGE_BYTES = 4 * 1024 * 1024;

/**
 * Pages of predictions in time order, by keyset on (time, id) (the store's `page`), each bounded
 * in rows and stored bytes; the table writers (io/write-table.ts) hold one page at a time.
 */
async function* exportRows(
  store: PredictionStore,
  filter: { since: number; until: number; model?: string; version?: string },
): AsyncGenerator<unknown[][]> {
  let after: PredictionCursor | undefined;
  do {
    const page = await store.page({
      ...filter,
      ...(after === undefined ? {} : { after }),
      limit: EXPORT_PAGE_ROWS,
      maxBytes: EXPORT_PAGE_BYTES,
      order: 'asc',
    });
    const rows: unknown[][] = [];
    for (const p of page.rows) rows.push(await exportRow(p));
    if (rows.length > 0) yield rows;
    after = page.next;
  } while (after !== undefined);
}

async function exportRow(p: StoredPrediction): Promise<unknown[]> {
  const full = { full: true };
  return [
    p.requestId,
    new Date(p.timeMs).toISOString(),
    p.deployment ?? null,
    p.model,
    p.version,
    p.protocol,
    p.latencyMs,
    await tensorListJson(p.inputs, p.servedShapes?.inputs, full),
    await tensorListJson(p.outputs, p.servedShapes?.outputs, full),
    p.payload ?? 'full',
  ];
}

const fixed = (value: number | null | undefined, digits = 4) =>
  value === null || value === undefined ? '-' : value.toFixed(digits);

function formatPerformance(report: PerformanceReport): string {
  if (report.versions.length === 0)
    return `${report.model}: no feedback for predictions in the last ${report.window}\n`;
  const lines = [`${report.model}, predictions of the last ${report.window} with feedback:`];
  for (const v of report.versions) {
    if (v.binary) {
      const b = v.binary;
      lines.push(
        `  ${v.version}  binary  n=${v.count}  accuracy ${fixed(b.accuracy)}  precision ${fixed(b.precision)}  recall ${fixed(b.recall)}  f1 ${fixed(b.f1)}  roc_auc ${fixed(b.rocAuc)}  log_loss ${fixed(b.logLoss)}`,
      );
      lines.push(
        table([
          ['    bin', 'count', 'mean predicted', 'fraction positive'],
          ...b.calibration.map((c) => [
            `    ${c.lower.toFixed(1)}-${c.upper.toFixed(1)}`,
            String(c.count),
            fixed(c.meanPredicted),
            fixed(c.fractionPositive),
          ]),
        ]).trimEnd(),
      );
    } else if (v.multiclass) {
      lines.push(
        `  ${v.version}  multiclass  n=${v.count}  accuracy ${fixed(v.multiclass.accuracy)}  macro_f1 ${fixed(v.multiclass.macroF1)}`,
      );
    } else if (v.regression) {
      lines.push(
        `  ${v.version}  regression  n=${v.count}  mae ${fixed(v.regression.mae)}  rmse ${fixed(v.regression.rmse)}  r2 ${fixed(v.regression.r2)}`,
      );
    } else {
      lines.push(`  ${v.version}  ${v.reason ?? 'no metrics'}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function formatDrift(report: DriftReport): string {
  const head = `${report.model}@${report.version}, last ${report.window}: ${report.currentRows} predictions (${report.sampledRows} read)`;
  if (report.status === 'no_reference')
    return `${head}\nno reference profile: set one with \`slipway reference set ${report.model}@${report.version} train.csv\`\n`;
  const d = report.dataset;
  const verdict =
    d.drifted === null
      ? 'not enough data for a verdict'
      : `${d.drifted ? 'DATASET DRIFT' : 'no dataset drift'}: ${d.driftedColumns}/${d.evaluatedColumns} features drifted (share ${d.share.toFixed(2)})`;
  const row = (c: ColumnDrift) => [
    c.column,
    c.test,
    fixed(c.statistic),
    c.pValue === null ? '-' : c.pValue.toExponential(2),
    String(c.threshold),
    c.status === 'ok' ? (c.drifted ? 'DRIFT' : 'ok') : 'not enough data',
    c.psi === null ? '-' : `${c.psi.value.toFixed(3)} ${c.psi.level}`,
  ];
  const header = ['column', 'test', 'statistic', 'p-value', 'threshold', 'verdict', 'psi'];
  return `${head}\nreference: ${report.reference?.rows ?? 0} rows (${report.reference?.detail ?? ''})\n${verdict}\n\n${table([header, ...report.features.map(row)])}\noutputs:\n${table([header, ...report.outputs.map(row)])}`;
}
