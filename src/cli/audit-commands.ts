import type { Command } from 'commander';
import { SqlAuditStore } from '../audit/audit-store.js';
import { parseAuditQuery } from '../audit/audit-query.js';
import { jsonText, table } from './format.js';
import type { CliIo } from './io.js';
import { withRegistry } from './registry-commands.js';

interface AuditOptions {
  since?: string;
  actor?: string;
  action?: string;
  limit?: string;
  before?: string;
  json?: boolean;
}

/**
 * `slipway audit [--since 1h|ISO] [--actor name] [--action prefix] [--limit n] [--before id] [--json]`:
 * the audit trail read from the metadata database directly (the same filters as GET /api/v1/audit),
 * newest first. Opens only the registry's database: no model pool or online store.
 */
export function registerAuditCommands(program: Command, io: CliIo): void {
  program
    .command('audit')
    .description('Who changed what, when, from where, and how it ended (pushes, aliases, deploys, rollbacks, ...)')
    .option('--since <when>', 'a duration ago (1h, 7d), an ISO time or epoch milliseconds')
    .option('--actor <name>', 'only this actor (a token name, anonymous, cli:<user>)')
    .option('--action <prefix>', 'only actions starting with this (model.push, alias, rollout, ...)')
    .option('--limit <n>', 'at most this many events (1..1000, default 100)')
    .option('--before <id>', "only events older than this id (the previous page's next)")
    .option('--json', 'machine-readable output: {events, next?}')
    .action(async (options: AuditOptions) => {
      const query = parseAuditQuery({
        ...(options.since === undefined ? {} : { since: options.since }),
        ...(options.actor === undefined ? {} : { actor: options.actor }),
        ...(options.action === undefined ? {} : { action: options.action }),
        ...(options.limit === undefined ? {} : { limit: options.limit }),
        ...(options.before === undefined ? {} : { before: options.before }),
      });
      await withRegistry(io, async ({ database }) => {
        const page = await new SqlAuditStore(database).list(query);
        if (options.json === true) return io.stdout(jsonText(page));
        if (page.events.length === 0) return io.stdout('no audit events\n');
        io.stdout(
          table([
            ['ID', 'TIME', 'ACTOR', 'ADDRESS', 'ACTION', 'TARGET', 'OUTCOME'],
            ...page.events.map((e) => [
              String(e.id),
              e.time,
              e.actor,
              e.address ?? '-',
              e.action,
              e.target ?? '-',
              e.outcome,
            ]),
          ]),
        );
        if (page.next !== undefined) io.stdout(`older events: --before ${page.next}\n`);
      });
    });
}
