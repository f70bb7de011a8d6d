import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { SlipwayError, invalid } from '../core/errors.js';
import { deleteOnlineEntities, entityFromText } from '../features/online-delete.js';
import type { PushTarget } from '../features/offline/push.js';
import { collect, jsonText } from './format.js';
import type { CliIo } from './io.js';
import { withPlatform } from './registry-commands.js';
import { auditedCliChange } from './cli-audit.js';

/** push.ts's PUSH_TARGETS, spelled here: importing push.ts would load DuckDB for every command. */
const PUSH_TARGETS = ['online_and_offline', 'online', 'offline'] as const satisfies readonly PushTarget[];

/**
 * `features push|delete`: write rows to a view (as `POST /api/v1/features/push` does) and delete
 * entities' online values (as `DELETE /api/v1/features/views/{view}/online` does). Both use the
 * store directly, like `features apply`; a running server reads the online store on every request,
 * so it sees the change at once.
 */
export function registerFeatureOnlineCommands(features: Command, io: CliIo): void {
  features
    .command('push')
    .description(
      'Push rows to a feature view: online, and appended to its offline push log (nothing written if any row is bad)',
    )
    .argument('<view>', 'the feature view')
    .requiredOption(
      '--input <file>',
      "rows in the view's column names: a JSON array, or JSON Lines (one object per line)",
    )
    .option('--to <target>', `where the rows go: ${PUSH_TARGETS.join(', ')}`, 'online_and_offline')
    .option('--json', 'machine-readable output')
    .action(async (view: string, options: { input: string; to: string; json?: boolean }) => {
      if (!(PUSH_TARGETS as readonly string[]).includes(options.to))
        throw invalid(`--to "${options.to}": expected one of ${PUSH_TARGETS.join(', ')}`);
      const rows = await readRowsFile(path.resolve(io.cwd, options.input), options.input);
      const result = await withPlatform(io, async ({ features: store, database }) =>
        auditedCliChange(
          database,
          { action: 'features.push', target: () => view, details: { rows: rows.length } },
          async () =>
            (await import('../features/offline/push.js')).pushFeatures(store, {
              view,
              rows,
              to: options.to as PushTarget,
            }),
        ),
      );
      if (options.json === true) io.stdout(jsonText(result));
      else
        io.stdout(
          `Pushed ${result.rows} row${result.rows === 1 ? '' : 's'} to view ${view}: ${result.written} written online, ${result.stale} stale${result.file === undefined ? '' : `; offline log ${result.file}`}\n`,
        );
    });

  features
    .command('delete')
    .description(
      "Delete entities' online values from a view (e.g. a value stamped in the future that makes every real one stale)",
    )
    .argument('<view>', 'the feature view')
    .option(
      '--entity <key=value,...>',
      'one entity: every join key of the view, e.g. patient_id=42 (repeatable)',
      collect,
      [],
    )
    .option('--json', 'machine-readable output')
    .action(async (view: string, options: { entity: string[]; json?: boolean }) => {
      if (options.entity.length === 0)
        throw invalid('give at least one --entity with every join key of the view, e.g. --entity patient_id=42');
      const result = await withPlatform(io, async ({ features: store, database }) =>
        auditedCliChange(database, { action: 'features.delete', target: () => view }, async () => {
          const joinKeys = await store.joinKeys(await store.view(view));
          return deleteOnlineEntities(
            store,
            view,
            options.entity.map((text) => entityFromText(joinKeys, pairsOf(text))),
          );
        }),
      );
      if (options.json === true) io.stdout(jsonText(result));
      else
        io.stdout(
          `Deleted the online values of ${result.deleted} of ${result.entities} ${result.entities === 1 ? 'entity' : 'entities'} in view ${result.view}${result.deleted < result.entities ? ' (the others had none)' : ''}\n`,
        );
    });
}

/** `k1=7,k2=x` into pairs; a part without `=` is refused by name. */
function pairsOf(text: string): [string, string][] {
  return text.split(',').map((part) => {
    const equals = part.indexOf('=');
    if (equals <= 0)
      throw invalid(`--entity "${text}": expected join_key=value pairs separated by commas, e.g. patient_id=42`);
    return [part.slice(0, equals).trim(), part.slice(equals + 1)];
  });
}

/** A JSON array of objects, or JSON Lines; INVALID_ARGUMENT naming the file (and line) otherwise. */
async function readRowsFile(file: string, shown: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `cannot read --input ${shown}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
  if (text.trimStart().startsWith('[')) {
    try {
      return JSON.parse(text) as unknown[];
    } catch (error) {
      throw invalid(`--input ${shown} is not a valid JSON array: ${(error as Error).message}`);
    }
  }
  const rows: unknown[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    try {
      rows.push(JSON.parse(line));
    } catch (error) {
      throw invalid(`--input ${shown} line ${index + 1} is not valid JSON: ${(error as Error).message}`);
    }
  });
  return rows;
}
