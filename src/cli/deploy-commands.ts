import type { Command } from 'commander';
import { invalid } from '../core/errors.js';
import { parseModelRef } from '../registry/model-ref.js';
import type { Revision } from '../deploy/deployment-store.js';
import type { DeploymentView } from '../deploy/deployment-service.js';
import type { ShadowVersionReport } from '../deploy/shadow-store.js';
import { formatRoutes, formatSticky } from '../deploy/spec.js';
import { parseDuration } from '../core/duration.js';
import { jsonText, table } from './format.js';
import type { CliIo } from './io.js';
import { withPlatform } from './registry-commands.js';
import { auditedCliChange, cliActorName } from './cli-audit.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * `deploy`, `deployments`, `history`, `rollback`, `traffic`, `shadow report`: deployments are read
 * and written in the metadata database; running servers follow a change within a second.
 */
export function registerDeployCommands(program: Command, io: CliIo): void {
  const json = (value: unknown) => io.stdout(jsonText(value));

  program
    .command('deploy')
    .description(
      'Create a deployment or change its traffic (a new revision): routes version=weight summing to 100, shadows version=percent',
    )
    .argument(
      '<name>',
      'the deployment, callable as a model name (/v2/models/<name>/infer, /v1/deployments/<name>:predict)',
    )
    .requiredOption('--model <model>', 'the registered model it serves')
    .option('--route <version=weight>', 'a version and its share of traffic in percent (repeat)', collect)
    .option('--shadow <version=percent>', 'mirror this percent of answered requests to a version (repeat)', collect)
    .option('--sticky <key>', 'header:<name> or input:<name>: the same key keeps its version when weights move')
    .option('--notes <text>', 'notes kept with the revision')
    .option('--why <text>', 'why this change (kept in the history)')
    .option('--json', 'print the revision as JSON')
    .action(
      async (
        name: string,
        options: {
          model: string;
          route?: string[];
          shadow?: string[];
          sticky?: string;
          notes?: string;
          why?: string;
          json?: boolean;
        },
      ) => {
        if (options.route === undefined) throw invalid('give at least one --route version=weight');
        await withPlatform(io, async ({ deployments, database }) => {
          const revision = await auditedCliChange(database, { action: 'deployment.deploy', target: () => name }, () =>
            deployments.service.deploy(
              name,
              {
                model: options.model,
                routes: options.route,
                shadows: options.shadow ?? [],
                sticky: options.sticky ?? null,
                notes: options.notes ?? null,
              },
              { why: options.why ?? null, actor: cliActorName() },
            ),
          );
          if (options.json) return json(revision);
          io.stdout(`deployment ${name} revision ${revision.revision}: ${describeSpec(revision)}\n`);
        });
      },
    );

  program
    .command('deployments')
    .description('Every deployment with its active revision')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      await withPlatform(io, async ({ deployments }) => {
        const list = await deployments.service.list();
        if (options.json) return json(list);
        io.stdout(list.length === 0 ? 'no deployments\n' : formatDeployments(list));
      });
    });

  program
    .command('history')
    .description("A deployment's revisions, oldest first: when, who, why, and the traffic each set")
    .argument('<name>', 'the deployment')
    .option('--json', 'machine-readable output')
    .action(async (name: string, options: { json?: boolean }) => {
      await withPlatform(io, async ({ deployments }) => {
        const revisions = await deployments.service.history(name);
        if (options.json) return json(revisions);
        io.stdout(
          table([
            ['REVISION', 'WHEN', 'BY', 'ACTOR', 'TRAFFIC', 'WHY'],
            ...revisions.map((r) => [
              String(r.revision),
              new Date(r.createdMs).toISOString(),
              r.source,
              r.actor ?? '-',
              describeSpec(r),
              r.why ?? '',
            ]),
          ]),
        );
      });
    });

  program
    .command('rollback')
    .description(
      'Restore the previous revision now (recorded as a new revision); stops a running rollout or experiment',
    )
    .argument('<name>', 'the deployment')
    .option('--why <text>', 'why (kept in the history)')
    .option('--json', 'print the revision as JSON')
    .action(async (name: string, options: { why?: string; json?: boolean }) => {
      await withPlatform(io, async ({ deployments, database }) => {
        const revision = await auditedCliChange(database, { action: 'deployment.rollback', target: () => name }, () =>
          deployments.service.rollback(name, options.why, cliActorName()),
        );
        if (options.json) return json(revision);
        io.stdout(
          `deployment ${name} revision ${revision.revision}: ${describeSpec(revision)} (${revision.why ?? ''})\n`,
        );
      });
    });

  program
    .command('traffic')
    .description('When a model version served which share of which deployment')
    .argument('<model@version>', 'e.g. fraud@1.2.0')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, options: { json?: boolean }) => {
      const { model, selector } = parseModelRef(ref);
      await withPlatform(io, async ({ deployments, registry }) => {
        const version = (await registry.resolve(model, selector)).version;
        const intervals = await deployments.service.versionTraffic(model, version);
        if (options.json) return json({ model, version, intervals });
        if (intervals.length === 0) return io.stdout(`${model}@${version} has not served a deployment\n`);
        io.stdout(
          table([
            ['DEPLOYMENT', 'REVISION', 'SHARE', 'FROM', 'UNTIL', 'WHY'],
            ...intervals.map((i) => [
              i.deployment,
              String(i.revision),
              `${i.share}%`,
              new Date(i.fromMs).toISOString(),
              i.untilMs === null ? 'now' : new Date(i.untilMs).toISOString(),
              i.why ?? '',
            ]),
          ]),
        );
      });
    });

  const shadow = program.command('shadow').description('Shadow traffic of a deployment');
  shadow
    .command('report')
    .description(
      'Per shadow version: agreement (classification), mean/max absolute difference (regression), latency of each, counts and drops',
    )
    .argument('<name>', 'the deployment')
    .option('--since <duration>', 'only copies made in this window (e.g. 1h); default all')
    .option('--json', 'machine-readable output')
    .action(async (name: string, options: { since?: string; json?: boolean }) => {
      const sinceMs = options.since === undefined ? 0 : Date.now() - parseDuration(options.since, '--since');
      await withPlatform(io, async ({ deployments }) => {
        await deployments.service.get(name);
        const versions = await deployments.shadowStore.report(name, sinceMs);
        if (options.json) return json({ deployment: name, sinceMs, versions });
        io.stdout(versions.length === 0 ? `deployment ${name} has no shadow results\n` : formatShadowReport(versions));
      });
    });
}

export function describeSpec(revision: Pick<Revision, 'spec'>): string {
  const { spec } = revision;
  const parts = [`${spec.model} ${formatRoutes(spec.routes)}`];
  if (spec.shadows.length > 0) parts.push(`shadow ${spec.shadows.map((s) => `${s.version}=${s.percent}%`).join(' ')}`);
  if (spec.sticky !== null) parts.push(`sticky ${formatSticky(spec.sticky)}`);
  return parts.join(', ');
}

function formatDeployments(list: readonly DeploymentView[]): string {
  return table([
    ['NAME', 'MODEL', 'REVISION', 'TRAFFIC', 'UPDATED'],
    ...list.map((d) => [d.name, d.model, String(d.activeRevision), describeSpec(d.revision), d.updatedAt]),
  ]);
}

function formatShadowReport(versions: readonly ShadowVersionReport[]): string {
  const ms = (x: number | null) => (x === null ? '-' : x.toFixed(2));
  const num = (x: number | null) => (x === null ? '-' : Number(x.toPrecision(4)).toString());
  return table([
    [
      'SHADOW',
      'COMPARED',
      'ERRORS',
      'DROPPED',
      'AGREEMENT',
      'MEAN |DIFF|',
      'MAX |DIFF|',
      'PRIMARY P50/P99 MS',
      'SHADOW P50/P99 MS',
    ],
    ...versions.map((v) => [
      v.shadowVersion,
      String(v.compared),
      String(v.errors),
      String(v.dropped),
      v.agreementRate === null ? '-' : `${(v.agreementRate * 100).toFixed(2)}%`,
      num(v.meanAbsDiff),
      num(v.maxAbsDiff),
      `${ms(v.primaryLatency.p50Ms)}/${ms(v.primaryLatency.p99Ms)}`,
      `${ms(v.shadowLatency.p50Ms)}/${ms(v.shadowLatency.p99Ms)}`,
    ]),
  ]);
}
