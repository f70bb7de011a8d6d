import type { Command } from 'commander';
import { formatDuration } from '../core/duration.js';
import { SlipwayError } from '../core/errors.js';
import { readDefinitionsFile } from '../features/definitions/parse-definitions.js';
import { formatPlan } from '../features/definitions/plan.js';
import type { AppliedDefinitions } from '../features/definitions/types.js';
import { registerFeatureDataCommands } from './feature-data-commands.js';
import { registerFeatureOnlineCommands } from './feature-online-commands.js';
import { jsonText, table } from './format.js';
import type { CliIo } from './io.js';
import { withPlatform } from './registry-commands.js';
import { auditedCliChange } from './cli-audit.js';

/**
 * `features apply|plan|list` here; the data commands (training sets, materialization, skew) in
 * feature-data-commands.ts; push and delete of online values in feature-online-commands.ts.
 */
export function registerFeatureCommands(program: Command, io: CliIo): void {
  const features = program
    .command('features')
    .description('The feature store: definitions, training sets, materialization, push, online deletes, skew');

  features
    .command('apply')
    .description('Make the stored definitions equal features.yaml: shows the plan, applies it with --yes')
    .argument('<file>', 'features.yaml')
    .option('--yes', 'apply without asking (the plan is still printed)')
    .option('--json', 'print the plan as JSON')
    .action(async (file: string, options: { yes?: boolean; json?: boolean }) => {
      const desired = await readDefinitionsFile(file, io.cwd);
      await withPlatform(io, async ({ features: store, database }) => {
        const plan = await store.plan(desired);
        if (options.json === true)
          io.stdout(
            jsonText({
              ...plan,
              applied: options.yes === true && plan.refused.length === 0 && plan.changes.length > 0,
            }),
          );
        else io.stdout(formatPlan(plan));
        const refuse = () => {
          if (plan.refused.length > 0)
            throw new SlipwayError(
              'FAILED_PRECONDITION',
              'nothing applied: the plan would break a service in use (see "Refused" above)',
            );
        };
        // An apply that was asked for (--yes) is a change, recorded refused or not; a plan alone is not.
        if (options.yes === true && (plan.changes.length > 0 || plan.refused.length > 0)) {
          await auditedCliChange(
            database,
            { action: 'features.apply', target: () => file, details: { changes: plan.changes.length } },
            async () => {
              refuse();
              await store.apply(desired);
            },
          );
        }
        refuse();
        if (plan.changes.length === 0) return;
        if (options.yes !== true) {
          if (options.json !== true) io.stdout('\nNothing applied: run again with --yes to apply this plan.\n');
          return;
        }
        if (options.json !== true)
          io.stdout(`\nApplied ${plan.changes.length} change${plan.changes.length === 1 ? '' : 's'}.\n`);
      });
    });

  features
    .command('list')
    .description('Applied entities, feature views and feature services')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      await withPlatform(io, async ({ features: store }) => {
        const applied = await store.store.load();
        io.stdout(options.json === true ? jsonText(applied) : formatDefinitions(applied));
      });
    });

  registerFeatureDataCommands(features, io);
  registerFeatureOnlineCommands(features, io);
}

function formatDefinitions(applied: AppliedDefinitions): string {
  if (applied.entities.length + applied.views.length + applied.services.length === 0)
    return 'No feature definitions: run `slipway features apply features.yaml`.\n';
  const sections: string[] = [];
  sections.push(
    `Entities\n${table([['NAME', 'JOIN KEYS'], ...applied.entities.map((e) => [e.name, e.joinKeys.map((k) => `${k.name}:${k.type}`).join(', ')])])}`,
  );
  sections.push(
    `Feature views\n${table([
      ['NAME', 'ENTITIES', 'FEATURES', 'TTL', 'SOURCE'],
      ...applied.views.map((v) => [
        v.name,
        v.entities.join(', '),
        String(v.features.length),
        v.ttlMs === 0 ? '-' : formatDuration(v.ttlMs),
        'path' in v.source ? v.source.path : `table ${v.source.table}`,
      ]),
    ])}`,
  );
  sections.push(
    `Feature services\n${table([
      ['NAME', 'VERSION', 'FEATURES', 'MODEL'],
      ...applied.services.map((s) => [s.name, String(s.version), String(s.features.length), s.model ?? '-']),
    ])}`,
  );
  return `${sections.join('\n')}`;
}
