import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { loadConfig } from '../core/config.js';
import { SlipwayError } from '../core/errors.js';
import { parseLabelLines } from '../registry/labels.js';
import { parseModelRef } from '../registry/model-ref.js';
import { readOnnxModel } from '../registry/onnx/read-onnx.js';
import { parseTags } from '../registry/tags.js';
import type { Lineage } from '../registry/types.js';
import { openPlatform, type Platform } from '../platform.js';
import { openRegistry, type OpenRegistry } from '../registry/open-registry.js';
import {
  describeSchemaChange,
  formatModels,
  formatVersion,
  formatVersions,
  table,
  collect,
  jsonText,
} from './format.js';
import type { CliIo } from './io.js';
import { auditedCliChange, cliActorName } from './cli-audit.js';

const run = promisify(execFile);

/** Open the configured platform for one command and always close it. */
export async function withPlatform<T>(io: CliIo, fn: (platform: Platform) => Promise<T>): Promise<T> {
  const platform = await openPlatform(loadConfig(io.env), { predictionLogThread: false });
  try {
    return await fn(platform);
  } finally {
    await platform.close();
  }
}

/**
 * Open only the registry (database, registry store, artifact folder) for one command and always
 * close it: commands that only read or write the registry start no model pool, monitor,
 * prediction log, deployments or online store (an unreachable Redis must not stop `slipway models`).
 */
export async function withRegistry<T>(io: CliIo, fn: (opened: OpenRegistry) => Promise<T>): Promise<T> {
  const opened = await openRegistry(loadConfig(io.env));
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}

async function readText(io: CliIo, file: string, what: string): Promise<string> {
  try {
    return await readFile(path.resolve(io.cwd, file), 'utf8');
  } catch (error) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
}

async function readJsonObject(
  io: CliIo,
  file: string | undefined,
  what: string,
): Promise<Record<string, unknown> | undefined> {
  if (file === undefined) return undefined;
  const text = await readText(io, file, what);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SlipwayError('INVALID_ARGUMENT', `${what} ${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SlipwayError('INVALID_ARGUMENT', `${what} ${file} must hold a JSON object`);
  return value as Record<string, unknown>;
}

async function gitCommitOf(file: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('git', ['-C', path.dirname(file), 'rev-parse', 'HEAD'], { timeout: 2000 });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

interface PushOptions {
  name: string;
  description?: string;
  card?: string;
  metrics?: string;
  params?: string;
  tag: string[];
  dataset?: string;
  gitCommit?: string;
  parent?: string;
  bump?: string;
  version?: string;
  dryRun?: boolean;
  json?: boolean;
  reference?: string;
  referenceIgnore: string[];
  allowDuplicate?: boolean;
  labels?: string;
}

/** push, models, versions, show, alias, archive: commands that work on the registry directly. */
export function registerRegistryCommands(program: Command, io: CliIo): void {
  const print = (text: string) => io.stdout(text);
  const json = (value: unknown) => io.stdout(jsonText(value));

  program
    .command('push')
    .description(
      'Store an ONNX model as a new version; the semver comes from the schema diff against the newest version',
    )
    .argument('<file>', 'the .onnx file')
    .requiredOption('-n, --name <model>', 'model name')
    .option('-d, --description <text>', 'what this version is')
    .option('--card <file.md>', 'model card (markdown: intended use, assumptions, limitations, expected behaviour)')
    .option('--metrics <file.json>', 'evaluation metrics, a JSON object of numbers')
    .option('--params <file.json>', 'training parameters, a JSON object')
    .option('-t, --tag <key=value>', 'a tag (repeatable)', collect, [])
    .option('--dataset <name>', 'training data set (lineage)')
    .option('--git-commit <sha>', 'source commit (default: the commit of the folder holding the file, if any)')
    .option('--parent <version>', 'version this one was derived from (default: the newest version)')
    .option('--bump <level>', 'auto (default), major, minor or patch')
    .option('--version <X.Y.Z>', 'exact version, refused if the schema diff needs a bigger bump')
    .option(
      '--reference <file>',
      'training data (CSV, Parquet, JSONL) to profile as the drift reference of this version',
    )
    .option(
      '--reference-ignore <column>',
      'a column of the reference file that is not an input, e.g. the label (repeatable)',
      collect,
      [],
    )
    .option(
      '--labels <file>',
      'class labels, one per line (line N = class index N-1); replaces labels in the ONNX file',
    )
    .option(
      '--allow-duplicate',
      'register the file even when a version of the model has the same bytes (refused by default)',
    )
    .option('--dry-run', 'show the version and schema diff without storing anything')
    .option('--json', 'print the version record as JSON')
    .action(async (file: string, options: PushOptions) => {
      const absolute = path.resolve(io.cwd, file);
      let bytes: Buffer;
      try {
        bytes = await readFile(absolute);
      } catch (error) {
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        );
      }
      if (options.referenceIgnore.length > 0 && options.reference === undefined) {
        throw new SlipwayError(
          'INVALID_ARGUMENT',
          '--reference-ignore applies to a --reference file; give one or drop the flag',
        );
      }
      await withPlatform(io, async ({ registry, drift, database }) => {
        // Refuse a reference file that cannot be read as this model's inputs before storing the
        // version (a misspelt --reference-ignore column used to pass silently).
        if (options.reference !== undefined) {
          const { checkReferenceFile } = await import('../monitor/reference-file.js');
          await checkReferenceFile(
            path.resolve(io.cwd, options.reference),
            readOnnxModel(bytes).signature,
            options.referenceIgnore,
          );
        }
        const allowDuplicate = options.allowDuplicate === true;
        const labelsSource = `labels file ${options.labels ?? ''}`;
        const labels =
          options.labels === undefined
            ? {}
            : {
                labels: parseLabelLines(await readText(io, options.labels, 'labels file'), labelsSource),
                labelsSource,
              };
        if (options.dryRun) {
          const plan = await registry.planPush({
            name: options.name,
            bytes,
            bump: options.bump,
            version: options.version,
            allowDuplicate,
            ...labels,
          });
          if (options.json) return json(plan);
          return print(`would push ${plan.model}@${plan.version}\n${plan.report}\n`);
        }
        const newest = (await registry.listModels()).find((m) => m.name === options.name)?.latestVersion ?? undefined;
        const gitCommit = options.gitCommit ?? (await gitCommitOf(absolute));
        const parentVersion = options.parent ?? newest;
        const lineage: Lineage = {
          sourcePath: absolute,
          ...(options.dataset ? { dataset: options.dataset } : {}),
          ...(gitCommit ? { gitCommit } : {}),
          ...(parentVersion ? { parentVersion } : {}),
        };
        const push = async () =>
          registry.push({
            name: options.name,
            bytes,
            description: options.description,
            card: options.card === undefined ? undefined : await readText(io, options.card, 'model card'),
            metrics: (await readJsonObject(io, options.metrics, 'metrics file')) as Record<string, number> | undefined,
            params: await readJsonObject(io, options.params, 'params file'),
            tags: parseTags(options.tag, (pair) => `--tag ${pair}`),
            lineage,
            bump: options.bump,
            version: options.version,
            allowDuplicate,
            ...labels,
          });
        const record = await auditedCliChange(
          database,
          { action: 'model.push', target: (pushed) => (pushed ? `${pushed.model}@${pushed.version}` : options.name) },
          push,
        );
        let reference: Awaited<ReturnType<typeof drift.setReferenceFromFile>> | undefined;
        if (options.reference !== undefined) {
          try {
            reference = await drift.setReferenceFromFile(
              record.model,
              record.version,
              path.resolve(io.cwd, options.reference),
              options.referenceIgnore,
            );
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            throw new SlipwayError(
              'INVALID_ARGUMENT',
              `pushed ${record.model}@${record.version}, but its reference was refused: ${message}\nfix the file and run: slipway reference set ${record.model}@${record.version} ${options.reference}`,
            );
          }
        }
        if (options.json) return json(record);
        print(`pushed ${record.model}@${record.version}  (${describeSchemaChange(record.schemaChange)})\n`);
        for (const d of record.schemaChange.differences)
          print(`  ${d.severity === 'breaking' ? 'BREAKING' : 'compatible'} ${d.message}\n`);
        if (reference)
          print(
            `reference: ${reference.rows} rows, ${reference.features.length} features, ${reference.outputs.length} outputs profiled\n`,
          );
      });
    });

  program
    .command('models')
    .description('List models')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      await withRegistry(io, async ({ registry }) => {
        const models = await registry.listModels();
        if (options.json) json(models);
        else print(formatModels(models));
      });
    });

  program
    .command('versions')
    .description('List the versions of a model, newest first')
    .argument('<model>')
    .option('--all', 'include archived versions')
    .option('--json', 'machine-readable output')
    .action(async (model: string, options: { all?: boolean; json?: boolean }) => {
      await withRegistry(io, async ({ registry }) => {
        const versions = await registry.listVersions(model, { includeArchived: options.all === true });
        if (options.json) json(versions);
        else print(formatVersions(versions));
      });
    });

  program
    .command('show')
    .description('Show one version: signature, semver decision, metrics, lineage, model card')
    .argument('<model@version>', 'name@1.2.3, name@alias or name (latest)')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, options: { json?: boolean }) => {
      await withRegistry(io, async ({ registry }) => {
        const record = await registry.resolve(ref);
        if (options.json) json(record);
        else print(formatVersion(record));
      });
    });

  const alias = program.command('alias').description('Movable version pointers (champion, staging, ...)');
  alias
    .command('set')
    .argument('<model>')
    .argument('<alias>')
    .argument('<version>', 'a version, another alias, or latest')
    .option('--why <reason>', 'recorded with the move')
    .option('--json', 'machine-readable output')
    .action(async (model: string, name: string, version: string, options: { why?: string; json?: boolean }) => {
      await withRegistry(io, async ({ registry, database }) => {
        const event = await auditedCliChange(
          database,
          { action: 'alias.set', target: () => `${model}:${name}`, details: { version, reason: options.why } },
          () => registry.setAlias(model, name, version, options.why, cliActorName()),
        );
        if (options.json) json(event);
        else
          print(
            `${model}@${name} -> ${event.toVersion ?? '-'}${event.fromVersion ? ` (was ${event.fromVersion})` : ''}\n`,
          );
      });
    });
  alias
    .command('rm')
    .argument('<model>')
    .argument('<alias>')
    .option('--why <reason>', 'recorded with the removal')
    .action(async (model: string, name: string, options: { why?: string }) => {
      await withRegistry(io, async ({ registry, database }) => {
        const event = await auditedCliChange(
          database,
          { action: 'alias.remove', target: () => `${model}:${name}`, details: { reason: options.why } },
          () => registry.removeAlias(model, name, options.why, cliActorName()),
        );
        print(`removed ${model}@${name} (was ${event.fromVersion ?? '-'})\n`);
      });
    });
  alias
    .command('history')
    .argument('<model>')
    .option('--json', 'machine-readable output')
    .action(async (model: string, options: { json?: boolean }) => {
      await withRegistry(io, async ({ registry }) => {
        const events = await registry.aliasHistory(model);
        if (options.json) return json(events);
        print(
          table([
            ['WHEN', 'ALIAS', 'FROM', 'TO', 'BY', 'WHY'],
            ...events.map((e) => [
              e.at,
              e.alias,
              e.fromVersion ?? '-',
              e.toVersion ?? '-',
              e.actor ?? '-',
              e.reason ?? '',
            ]),
          ]),
        );
      });
    });

  program
    .command('gc')
    .description('Delete artifact blobs no version references (left by pushes that crashed); safe while servers push')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      await withRegistry(io, async ({ registry }) => {
        const result = await registry.collectGarbage();
        if (options.json) return json(result);
        print(
          `removed ${result.removed.length} unreferenced blob(s)${result.temporaries > 0 ? ` and ${result.temporaries} unfinished write(s)` : ''}\n`,
        );
        for (const sha256 of result.removed) print(`  ${sha256}\n`);
      });
    });

  program
    .command('archive')
    .description('Archive a version (refused while an alias or deployment uses it)')
    .argument('<model@version>')
    .option('--why <reason>')
    .action(async (ref: string, options: { why?: string }) => {
      if (!ref.includes('@'))
        throw new SlipwayError('INVALID_ARGUMENT', `archive takes model@version, e.g. ${ref}@1.0.0`);
      const { model, selector } = parseModelRef(ref);
      await withRegistry(io, async ({ registry, database }) => {
        const record = await auditedCliChange(
          database,
          { action: 'version.archive', target: () => `${model}@${selector}`, details: { reason: options.why } },
          () => registry.archive(model, selector, options.why),
        );
        print(`archived ${record.model}@${record.version}\n`);
      });
    });
}
