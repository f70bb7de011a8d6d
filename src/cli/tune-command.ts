/**
 * `slipway tune <model@version> [--batch 1,64] [--rounds n] [--data file] [--apply] [--json]`: try a
 * small grid of ONNX Runtime session settings for one version on this machine (optimize/tune.ts),
 * print the table and, with --apply, store the fastest setting whose outputs equal the default's as
 * the model's serving config `session` (the same path as `slipway config --set`, audited alike).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { invalid } from '../core/errors.js';
import { parseModelRef } from '../registry/model-ref.js';
import { readEvalSet } from '../optimize/eval-set.js';
import { describeSettings, TUNE_MIN_GAIN, tuneSessionSettings, type TuneResult } from '../optimize/tune.js';
import { auditedCliChange } from './cli-audit.js';
import type { CliIo } from './io.js';
import { withRegistry } from './registry-commands.js';

interface TuneFlags {
  batch: string;
  rounds: string;
  data?: string;
  apply?: boolean;
  json?: boolean;
}

/** Register `slipway tune`. */
export function registerTuneCommand(program: Command, io: CliIo): void {
  program
    .command('tune')
    .description(
      "Try ONNX Runtime session settings (threads, execution mode, graph level, memory pattern) for a version on this machine; --apply stores the fastest that keeps outputs equal in the model's serving config",
    )
    .argument('<model@version>', 'name@1.2.3, name@alias or name (latest)')
    .option('--batch <sizes>', 'batch sizes to time, comma-separated', '1,64')
    .option('--rounds <n>', 'alternating rounds per setting and batch size', '20')
    .option('--data <file>', 'rows to run (CSV/Parquet/JSONL, columns named like the inputs); default synthetic rows')
    .option('--apply', "store the winner as the model's serving config session (applies at the next load)")
    .option('--json', 'machine-readable output')
    .action(async (ref: string, flags: TuneFlags) => {
      const batchSizes = parseBatchSizes(flags.batch);
      const rounds = Number(flags.rounds);
      const { model, selector } = parseModelRef(ref);
      await withRegistry(io, async ({ registry, database }) => {
        const record = await registry.resolve(model, selector);
        const bytes = await readFile(registry.artifactPath(record));
        const sampleFeeds =
          flags.data === undefined
            ? undefined
            : await readEvalSet(path.resolve(io.cwd, flags.data), record.signature, { purpose: 'data' });
        const result = await tuneSessionSettings({
          bytes,
          signature: record.signature,
          rounds,
          batchSizes,
          ...(sampleFeeds === undefined ? {} : { sampleFeeds }),
          progress: (line) => io.stderr(`${line}\n`),
        });
        let applied: Record<string, unknown> | undefined;
        if (flags.apply) {
          const current = await registry.getServingConfig(record.model);
          const wanted = { ...current, session: result.best.settings };
          applied = {
            ...(await auditedCliChange(database, { action: 'config.set', target: () => record.model }, () =>
              registry.setServingConfig(record.model, wanted),
            )),
          };
        }
        if (flags.json) {
          io.stdout(
            `${JSON.stringify({ model: record.model, version: record.version, ...result, applied }, null, 2)}\n`,
          );
          return;
        }
        io.stdout(formatTable(result));
        io.stdout(
          result.best.speedup >= TUNE_MIN_GAIN
            ? `fastest with equal outputs: ${describeSettings(result.best.settings)} (${result.best.speedup.toFixed(2)}x the default)\n`
            : `fastest with equal outputs: ${describeSettings(result.best.settings)} (the default: no setting was ${TUNE_MIN_GAIN}x faster without being slower at a batch size)\n`,
        );
        io.stdout(
          applied === undefined
            ? `store it with: slipway tune ${ref} --apply (or slipway config ${record.model} --set 'session=${JSON.stringify(result.best.settings)}')\n`
            : `stored as ${record.model}'s serving config session; apply it to a running server with \`slipway load ${record.model}\`\n`,
        );
      });
    });
}

function parseBatchSizes(text: string): number[] {
  const sizes = text.split(',').map((s) => Number(s.trim()));
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1))
    throw invalid(`--batch must be positive integers separated by commas, e.g. 1,64; got ${JSON.stringify(text)}`);
  return sizes;
}

/** One line per grid setting: its outputs check and its mean ms per run against the default at each batch size. */
function formatTable(result: TuneResult): string {
  const head = [
    'setting',
    'max_abs_diff',
    'labels',
    ...result.batchSizes.map((b) => `batch ${b} ms (default)`),
    'speedup',
  ];
  const lines = result.rows.map((row) => [
    describeSettings(row.settings),
    row.maxAbsDiff.toExponential(1),
    row.labelsEqual ? 'equal' : 'DIFFER',
    ...row.timings.map((t) => `${t.msPerRun.toFixed(3)} (${t.defaultMsPerRun.toFixed(3)})`),
    `${row.speedup.toFixed(2)}x${row.outputsEqual ? '' : ' (outputs differ)'}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return `${[fmt(head), ...lines.map(fmt)].join('\n')}\n${result.sampleRows} sample rows; default: ${describeSettings(result.baseline)}\n`;
}
