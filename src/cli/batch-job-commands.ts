import type { Command } from 'commander';
import { SlipwayError } from '../core/errors.js';
import type { BatchJobRecord } from '../batch/job-store.js';
import { BATCH_JOB_STATUSES } from '../batch/job-store.js';
import type { BatchJobStatus, BatchProgress } from '../batch/types.js';
import { jsonText, table } from './format.js';
import type { CliIo } from './io.js';
import { withPlatform } from './registry-commands.js';

/**
 * The `batch` command group: the one `registerBatchCommands` made (with `batch run`) or a new one.
 * Whichever registers first creates it, so the two registrations work in either order.
 */
export function batchCommandGroup(program: Command): Command {
  return (
    program.commands.find((command) => command.name() === 'batch') ??
    program
      .command('batch')
      .description('Batch scoring: score files with a model, and manage batch jobs (status, cancel, list)')
  );
}

/**
 * `batch status|cancel|list`: batch job records, read and written in the metadata database directly
 * (like `alerts`), so they work whether or not a server is running. A cancel sets the job's flag;
 * the process running it (a server polls once a second) stops it after its current chunk.
 */
export function registerBatchJobCommands(program: Command, io: CliIo): void {
  const json = (value: unknown) => io.stdout(jsonText(value));
  const batch = batchCommandGroup(program);

  batch
    .command('status')
    .description('A batch job: status, progress, and its summary once finished')
    .argument('<id>', 'the job id')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { json?: boolean }) => {
      await withPlatform(io, async ({ jobs }) => {
        const job = await jobs.status(id);
        if (options.json) return json(job);
        io.stdout(formatJob(job));
      });
    });

  batch
    .command('cancel')
    .description('Cancel a batch job: a queued one at once, a running one after its current chunk')
    .argument('<id>', 'the job id')
    .option('--json', 'print the job as JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      await withPlatform(io, async ({ jobs }) => {
        const job = await jobs.cancel(id);
        if (options.json) return json(job);
        io.stdout(
          job.status === 'cancelled'
            ? `cancelled batch job ${id} (it had not started)\n`
            : `cancel requested for batch job ${id}: it stops after its current chunk\n`,
        );
      });
    });

  batch
    .command('list')
    .description('Batch jobs, newest first')
    .option('--status <status>', BATCH_JOB_STATUSES.join(', '))
    .option('--limit <n>', '1 to 1000', '100')
    .option('--json', 'machine-readable output')
    .action(async (options: { status?: string; limit: string; json?: boolean }) => {
      const status = parseStatus(options.status);
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw new SlipwayError('INVALID_ARGUMENT', `--limit ${options.limit}: expected an integer from 1 to 1000`);
      await withPlatform(io, async ({ jobs }) => {
        const list = await jobs.list({ ...(status === undefined ? {} : { status }), limit });
        if (options.json) return json(list);
        io.stdout(formatJobs(list));
      });
    });
}

function parseStatus(value: string | undefined): BatchJobStatus | undefined {
  if (value === undefined) return undefined;
  if (!(BATCH_JOB_STATUSES as readonly string[]).includes(value))
    throw new SlipwayError('INVALID_ARGUMENT', `--status ${value}: expected one of ${BATCH_JOB_STATUSES.join(', ')}`);
  return value as BatchJobStatus;
}

/** `200/1,000 rows (20.0%), 2/10 chunks, 1 rejected, 100 rows/s, ETA 8s`. */
export function progressText(progress: BatchProgress | null): string {
  if (progress === null) return '-';
  const count = (n: number) => n.toLocaleString('en-US');
  const rows =
    progress.rowsTotal === null
      ? `${count(progress.rowsDone)} rows`
      : `${count(progress.rowsDone)}/${count(progress.rowsTotal)} rows${progress.rowsTotal > 0 ? ` (${((100 * progress.rowsDone) / progress.rowsTotal).toFixed(1)}%)` : ''}`;
  const chunks =
    progress.chunksTotal === null
      ? `${progress.chunksDone} chunks`
      : `${progress.chunksDone}/${progress.chunksTotal} chunks`;
  const eta = progress.etaSeconds === null ? '' : `, ETA ${Math.round(progress.etaSeconds)}s`;
  return `${rows}, ${chunks}, ${count(progress.rejected)} rejected, ${count(Math.round(progress.rowsPerSecond))} rows/s${eta}`;
}

function formatJob(job: BatchJobRecord): string {
  const lines = [
    `batch job ${job.id}  ${job.status}${job.cancelRequested && job.status === 'running' ? ' (cancel requested)' : ''}`,
    `model     ${job.spec.model}`,
    `input     ${job.spec.input}`,
    `output    ${job.spec.output}`,
    `progress  ${progressText(job.progress)}`,
    `created   ${job.createdAt}`,
  ];
  if (job.startedAt !== null)
    lines.push(`started   ${job.startedAt}${job.attempts > 1 ? ` (attempt ${job.attempts})` : ''}`);
  if (job.finishedAt !== null) lines.push(`finished  ${job.finishedAt}`);
  const summary = job.summary;
  if (summary !== null) {
    lines.push(
      `summary   ${summary.model}@${summary.version}: ${summary.scored.toLocaleString('en-US')} of ${summary.rows.toLocaleString('en-US')} rows scored, ${summary.rejected} rejected in ${summary.seconds.toFixed(1)} s (${Math.round(summary.rowsPerSecond)} rows/s)`,
    );
    if (summary.rejects !== null) lines.push(`rejects   ${summary.rejects}`);
  }
  if (job.error !== null) lines.push(`error     ${job.error}`);
  return `${lines.join('\n')}\n`;
}

function formatJobs(jobs: readonly BatchJobRecord[]): string {
  if (jobs.length === 0) return 'no batch jobs\n';
  return table([
    ['ID', 'STATUS', 'MODEL', 'PROGRESS', 'CREATED', 'OUTPUT'],
    ...jobs.map((job) => [
      job.id,
      job.status,
      job.spec.model,
      job.progress === null
        ? '-'
        : `${job.progress.rowsDone}${job.progress.rowsTotal === null ? '' : `/${job.progress.rowsTotal}`} rows`,
      job.createdAt,
      job.spec.output,
    ]),
  ]);
}
