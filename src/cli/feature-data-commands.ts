import path from 'node:path';
import type { Command } from 'commander';
import { invalid } from '../core/errors.js';
import type { MaterializeProgress, ViewMaterialization } from '../features/offline/materialize.js';
import type { SkewReport } from '../features/offline/skew.js';
import { parseTime } from '../monitor/time-params.js';
import { PLAIN_PROGRESS_INTERVAL_MS, collect, jsonText, progressBar, table } from './format.js';
import type { CliIo } from './io.js';
import { withPlatform } from './registry-commands.js';

/**
 * `features training-set|materialize|skew`: the commands that move feature data. Their modules load
 * on use: DuckDB's native module costs ~0.3 s that every other CLI command would pay.
 */
export function registerFeatureDataCommands(features: Command, io: CliIo): void {
  features
    .command('training-set')
    .description('A point-in-time-correct training set: entity rows plus the service features as of each row')
    .requiredOption('--service <service>', 'feature service whose features become columns, in its order')
    .requiredOption(
      '--entities <file>',
      'entity rows: join keys, the timestamp and request columns (Parquet, CSV or JSONL)',
    )
    .requiredOption('--out <file>', 'train.parquet, train.csv or train.jsonl')
    .option('--timestamp-column <name>', "the entity file's timestamp column", 'event_timestamp')
    .option('--json', 'machine-readable output')
    .action(
      async (options: { service: string; entities: string; out: string; timestampColumn: string; json?: boolean }) => {
        const started = performance.now();
        const result = await withPlatform(io, async ({ features: store }) =>
          (await import('../features/offline/training-set.js')).buildTrainingSet(store, {
            service: options.service,
            entities: path.resolve(io.cwd, options.entities),
            out: path.resolve(io.cwd, options.out),
            timestampColumn: options.timestampColumn,
          }),
        );
        const seconds = (performance.now() - started) / 1000;
        if (options.json === true) io.stdout(jsonText({ ...result, out: options.out, seconds }));
        else
          io.stdout(
            `Wrote ${result.rows} rows x ${result.featureColumns.length} features (service ${options.service} v${result.serviceVersion}) to ${options.out} in ${seconds.toFixed(2)} s\n`,
          );
      },
    );

  features
    .command('materialize')
    .description('Load the latest value per entity in a time window from the offline sources into the online store')
    .option('--start <time>', 'earliest event time (ISO date, epoch ms, or a duration ago like 7d); default no limit')
    .option('--end <time>', 'latest event time; default now')
    .option('--incremental', "start where each view's last materialization ended (first run: now - ttl, or 52 weeks)")
    .option('--view <view>', 'a view to materialize (repeatable); default all', collect, [])
    .option('--json', 'machine-readable output')
    .action(
      async (options: { start?: string; end?: string; incremental?: boolean; view: string[]; json?: boolean }) => {
        const now = Date.now();
        const progress = options.json === true ? undefined : progressReporter(io);
        const runs = await withPlatform(io, async ({ features: store }) =>
          (await import('../features/offline/materialize.js')).materialize(store, {
            views: options.view,
            ...(options.start === undefined ? {} : { start: parseTime(options.start, 'start', now) }),
            ...(options.end === undefined ? {} : { end: parseTime(options.end, 'end', now) }),
            incremental: options.incremental === true,
            now,
            ...(progress === undefined ? {} : { onProgress: progress }),
          }),
        );
        io.stdout(options.json === true ? jsonText({ views: runs }) : formatRuns(runs));
      },
    );

  features
    .command('skew')
    .description('Recompute served features point-in-time from the offline data and report mismatch rates per feature')
    .requiredOption('--service <service>', 'the feature service')
    .option('--since <time>', 'predictions from (a duration ago like 1h, an ISO date, or epoch ms)', '1h')
    .option('--until <time>', 'to (default now)')
    .option('--max-rows <n>', 'most served rows recomputed', '10000')
    .option('--json', 'machine-readable output')
    .action(async (options: { service: string; since: string; until?: string; maxRows: string; json?: boolean }) => {
      const now = Date.now();
      const report = await withPlatform(io, async ({ features: store, predictions }) =>
        (await import('../features/offline/skew.js')).featureSkew(store, predictions, {
          service: options.service,
          since: parseTime(options.since, 'since', now),
          until: options.until === undefined ? now : parseTime(options.until, 'until', now),
          maxRows: positiveInteger(options.maxRows, '--max-rows'),
        }),
      );
      io.stdout(options.json === true ? jsonText(report) : formatSkew(report));
    });
}

function positiveInteger(text: string, what: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw invalid(`${what} "${text}": expected a positive integer`);
  return value;
}

/**
 * Progress on stderr, so stdout stays the summary: a bar redrawn in place on a terminal, otherwise
 * a line when a view starts, at most every 5 s, and when it ends (logs stay short).
 */
export function progressReporter(io: CliIo, clock: () => number = Date.now): (progress: MaterializeProgress) => void {
  let lastView = '';
  let lastLine = 0;
  return ({ view, rows, total }) => {
    const done = rows >= total;
    if (io.isTTY === true) {
      io.stderr(`\r${view} ${progressBar(total === 0 ? 1 : rows / total)} ${rows}/${total} rows${done ? '\n' : ''}`);
      return;
    }
    const now = clock();
    if (view !== lastView || done || now - lastLine >= PLAIN_PROGRESS_INTERVAL_MS) {
      io.stderr(`${view}: ${rows}/${total} rows${done ? ' done' : ''}\n`);
      lastView = view;
      lastLine = now;
    }
  };
}

function formatRuns(runs: readonly ViewMaterialization[]): string {
  if (runs.length === 0) return 'No feature views to materialize: run `slipway features apply features.yaml`.\n';
  const time = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());
  return table([
    ['VIEW', 'START', 'END', 'WRITTEN', 'STALE', 'SECONDS'],
    ...runs.map((r) => [
      r.view,
      time(r.startMs),
      time(r.endMs),
      String(r.written),
      String(r.stale),
      r.seconds.toFixed(2),
    ]),
  ]);
}

function formatSkew(report: SkewReport): string {
  const head = `Service ${report.service}: ${report.rows} served rows from ${report.predictions} predictions (${new Date(report.since).toISOString()} to ${new Date(report.until).toISOString()})\n`;
  if (report.rows === 0)
    return `${head}Nothing to compare: no prediction in the window logged features of this service.\n`;
  return (
    head +
    table([
      ['FEATURE', 'COMPARED', 'MISMATCHES', 'RATE', 'DEFAULTED', 'OFFLINE MISSING'],
      ...report.features.map((f) => [
        f.feature,
        String(f.compared),
        String(f.mismatches),
        `${(f.mismatchRate * 100).toFixed(1)}%`,
        String(f.defaulted),
        String(f.offlineMissing),
      ]),
    ])
  );
}
