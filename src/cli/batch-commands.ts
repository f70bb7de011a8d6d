import path from 'node:path';
import type { Command } from 'commander';
import { formatDuration } from '../core/duration.js';
import { SlipwayError, invalid } from '../core/errors.js';
import type { BatchJobSpec, BatchProgress, BatchSummary } from '../batch/types.js';
import { checkJobSettings } from '../batch/job-submission.js';
import { batchCommandGroup } from './batch-job-commands.js';
import { PLAIN_PROGRESS_INTERVAL_MS, collect, jsonText, progressBar } from './format.js';
import type { CliIo } from './io.js';
import { withPlatform } from './registry-commands.js';
import { primaryVersion } from '../deploy/spec.js';

interface RunOptions {
  model?: string;
  deployment?: string;
  input: string;
  output: string;
  idColumn?: string;
  keep?: string;
  map: string[];
  jobId?: string;
  maxRejectRate?: string;
  chunkRows?: string;
  workers?: string;
  features?: string;
  timestampColumn: string;
  json?: boolean;
}

/**
 * `batch run`: score a file with a model version, resumably. The batch engine (and DuckDB) load on
 * use, so other commands do not pay for them.
 */
export function registerBatchCommands(program: Command, io: CliIo): void {
  const batch = batchCommandGroup(program);
  batch
    .command('run')
    .description('Score a CSV, Parquet or JSONL file (or glob) with a model; resumable with --job-id')
    .option('--model <ref>', 'model@version or model@alias')
    .option('--deployment <name>', 'a deployment: scores with its primary version (the route with the most traffic)')
    .requiredOption('--input <file>', 'input file or glob (CSV, Parquet or JSONL)')
    .requiredOption('--output <file>', 'out.parquet, out.csv or out.jsonl')
    .option('--id-column <name>', 'column identifying each row (default: the row number, as "row")')
    .option('--keep <columns>', 'input columns to copy to the output, comma-separated')
    .option(
      '--map <input=columns>',
      'model input from columns; several columns separated by ";" (repeatable)',
      collect,
      [],
    )
    .option('--job-id <id>', 'names the job; rerun with the same id to resume (default: generated)')
    .option('--max-reject-rate <rate>', 'fail when rejected rows / rows read exceeds this (0..1)')
    .option('--chunk-rows <n>', 'rows per chunk (one part and resume point)')
    .option('--workers <n>', 'scoring threads, each with its own ONNX Runtime session (default: one per core)')
    .option('--features <service>', 'join point-in-time features from this feature service first')
    .option('--timestamp-column <name>', 'the input timestamp column for --features', 'event_timestamp')
    .option('--json', 'machine-readable summary')
    .action(async (options: RunOptions) => {
      if ((options.model === undefined) === (options.deployment === undefined))
        throw invalid('give exactly one of --model <name@version> and --deployment <name>');
      if (options.deployment !== undefined) {
        const name = options.deployment;
        options.model = await withPlatform(io, async ({ deployments }) => {
          const view = await deployments.service.view(name);
          return `${view.model}@${primaryVersion(view.revision.spec)}`;
        });
      }
      const spec = toSpec(options, io);
      // Through the jobs service, so the run has a job record: `batch status|cancel|list|resume` see it.
      const summary = await withPlatform(io, (platform) =>
        runInForeground(io, (signal, onProgress) => platform.jobs.runHere(spec, { signal, onProgress }), spec.jobId),
      );
      reportSummary(io, summary, options.json === true, spec.jobId);
    });

  batch
    .command('resume')
    .description(
      'Resume a batch job from its finished parts, here in the foreground: one whose process died (kill -9, a crash), or that failed or was cancelled',
    )
    .argument('<id>', 'the job id')
    .option('--json', 'machine-readable summary')
    .action(async (id: string, options: { json?: boolean }) => {
      const summary = await withPlatform(io, async (platform) => {
        const record = await platform.jobs.status(id);
        if (record.status === 'succeeded')
          throw new SlipwayError(
            'FAILED_PRECONDITION',
            `batch job "${id}" already succeeded; its output is ${record.spec.output}`,
            { details: { status: record.status } },
          );
        // The stored spec, so the job folder's fingerprint matches; a live owner is refused by runHere (409).
        return runInForeground(
          io,
          (signal, onProgress) => platform.jobs.runHere(record.spec, { signal, onProgress }),
          id,
        );
      });
      reportSummary(io, summary, options.json === true, id);
    });
}

/** Runs a job with Ctrl-C cancelling it after the current chunk, and the progress on stderr. */
async function runInForeground(
  io: CliIo,
  run: (signal: AbortSignal, onProgress: (progress: BatchProgress) => void) => Promise<BatchSummary>,
  jobId: string,
): Promise<BatchSummary> {
  const controller = new AbortController();
  const onSigint = (): void => {
    io.stderr(`\ncancelling after the current chunk; resume with: slipway batch resume ${jobId}\n`);
    controller.abort();
  };
  process.once('SIGINT', onSigint);
  try {
    return await run(controller.signal, progressReporter(io));
  } finally {
    process.removeListener('SIGINT', onSigint);
    if (io.isTTY === true) io.stderr('\n'); // end the bar's line
  }
}

/** The summary on stdout; exit 1 with one line on stderr when the job failed or was cancelled. */
function reportSummary(io: CliIo, summary: BatchSummary, json: boolean, jobId: string): void {
  io.stdout(json ? jsonText(summary) : formatSummary(summary));
  if (summary.status === 'failed') throw invalid(summary.error ?? 'the job failed');
  if (summary.status === 'cancelled')
    throw new SlipwayError(
      'CANCELLED',
      `cancelled after ${summary.rows} rows; resume with: slipway batch resume ${jobId}`,
    );
}

function toSpec(options: RunOptions, io: CliIo): BatchJobSpec {
  if (options.model === undefined) throw invalid('--model is required');
  const map: Record<string, string> = {};
  for (const pair of options.map.flatMap((m) => m.split(','))) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1)
      throw invalid(`--map "${pair}": expected input=column (or input=c1;c2;... for a [batch, k] input)`);
    map[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const spec: BatchJobSpec = {
    jobId:
      options.jobId ??
      `batch-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${Math.random().toString(36).slice(2, 6)}`,
    model: options.model,
    input: path.resolve(io.cwd, options.input),
    output: path.resolve(io.cwd, options.output),
    ...(options.idColumn === undefined ? {} : { idColumn: options.idColumn }),
    ...(options.keep === undefined
      ? {}
      : {
          keep: options.keep
            .split(',')
            .map((c) => c.trim())
            .filter((c) => c !== ''),
        }),
    ...(Object.keys(map).length === 0 ? {} : { map }),
    ...(options.maxRejectRate === undefined
      ? {}
      : { maxRejectRate: number(options.maxRejectRate, '--max-reject-rate') }),
    ...(options.chunkRows === undefined ? {} : { chunkRows: number(options.chunkRows, '--chunk-rows') }),
    ...(options.workers === undefined ? {} : { workers: number(options.workers, '--workers') }),
    ...(options.features === undefined
      ? {}
      : { features: { service: options.features, timestampColumn: options.timestampColumn } }),
  };
  // The jobs API's limits, named as flags here; the rest (model, files, columns) runHere checks.
  checkJobSettings(spec, (field) => FLAGS[field]);
  return spec;
}

const FLAGS = { chunkRows: '--chunk-rows', workers: '--workers', maxRejectRate: '--max-reject-rate' } as const;

function number(text: string, what: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw invalid(`${what} "${text}": expected a number`);
  return value;
}

/** A bar redrawn in place on a terminal; otherwise a plain line at most every 5 s. */
export function progressReporter(io: CliIo, clock: () => number = Date.now): (progress: BatchProgress) => void {
  let lastLine = 0;
  return (p) => {
    const rate = `${Math.round(p.rowsPerSecond).toLocaleString('en-US')} rows/s`;
    const eta = p.etaSeconds === null ? '' : ` ETA ${formatDuration(Math.ceil(p.etaSeconds) * 1000)}`;
    const rejected = p.rejected > 0 ? `, ${p.rejected} rejected` : '';
    if (io.isTTY === true) {
      const fraction = p.rowsTotal === null || p.rowsTotal === 0 ? null : Math.min(1, p.rowsDone / p.rowsTotal);
      const bar = fraction === null ? '' : `${progressBar(fraction)} `;
      io.stderr(
        `\r${bar}${p.rowsDone.toLocaleString('en-US')}${p.rowsTotal === null ? '' : `/${p.rowsTotal.toLocaleString('en-US')}`} rows${rejected}, ${rate}${eta}  `,
      );
      return;
    }
    const now = clock();
    if (now - lastLine < PLAIN_PROGRESS_INTERVAL_MS) return;
    lastLine = now;
    io.stderr(`${p.rowsDone} rows${p.rowsTotal === null ? '' : ` of ${p.rowsTotal}`}${rejected}, ${rate}${eta}\n`);
  };
}

function formatSummary(s: BatchSummary): string {
  const head = `job ${s.jobId}: ${s.status} — ${s.model}@${s.version}, ${s.rows} rows (${s.scored} scored, ${s.rejected} rejected) in ${s.seconds.toFixed(2)} s (${Math.round(s.rowsPerSecond)} rows/s)`;
  const lines = [head, `output: ${s.output}`];
  if (s.rejects !== null) lines.push(`rejects: ${s.rejects}`);
  if (s.resumedChunks > 0) lines.push(`resumed ${s.resumedChunks} chunks from an earlier run`);
  if (s.error !== undefined && s.status !== 'failed') lines.push(s.error);
  return `${lines.join('\n')}\n`;
}
