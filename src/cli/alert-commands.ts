import type { Command } from 'commander';
import type { AlertEvent, StoredAlertRule } from '../monitor/alerts/alert-store.js';
import type { AlertService } from '../monitor/alerts/alert-service.js';
import { openAlertService } from '../monitor/alerts/open-alert-service.js';
import { describeScope } from '../monitor/alerts/rule.js';
import { table, jsonText } from './format.js';
import type { CliIo } from './io.js';
import { withPlatform } from './registry-commands.js';

interface AddOptions {
  model?: string;
  version?: string;
  deployment?: string;
  webhook?: string;
  severity?: string;
  description?: string;
  disabled?: boolean;
  json?: boolean;
}

/**
 * `alerts list|add|rm|history`: alert rules and history, in the store directly (like `config`).
 * A running server picks up added and removed rules at its next evaluation.
 */
export function registerAlertCommands(program: Command, io: CliIo): void {
  const json = (value: unknown) => io.stdout(jsonText(value));
  const alerts = program
    .command('alerts')
    .description('Alert rules on live, performance and drift metrics, and their history');

  alerts
    .command('list')
    .description('List alert rules with their current state')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      await withAlerts(io, async (service) => {
        const rules = await service.listRules();
        if (options.json) return json(rules);
        io.stdout(formatRules(rules));
      });
    });

  alerts
    .command('add')
    .description('Add an alert rule, e.g. slipway alerts add fraud-p99 "p99_ms > 50 for 5m" --model fraud')
    .argument('<name>', 'a-z, 0-9, "_", "." and "-"')
    .argument('<expr>', '"<metric> <op> <number> [for <duration>]", ops > >= < <= == !=, durations 30s 5m 1h')
    .option('--model <model>', 'only this model')
    .option('--version <version>', 'only this version of --model')
    .option('--deployment <name>', 'only this deployment')
    .option('--webhook <url>', "POST this rule's events here")
    .option('--severity <level>', 'info, warning (default) or critical')
    .option('--description <text>', 'sent with every event')
    .option('--disabled', 'store the rule without evaluating it')
    .option('--json', 'print the rule as JSON')
    .action(async (name: string, expr: string, options: AddOptions) => {
      await withAlerts(io, async (service) => {
        const rule = await service.addRule({
          name,
          expr,
          scope: { model: options.model, version: options.version, deployment: options.deployment },
          webhook: options.webhook,
          severity: options.severity,
          description: options.description,
          ...(options.disabled ? { enabled: false } : {}),
        });
        if (options.json) return json(rule);
        io.stdout(`added alert ${rule.name}: ${rule.expr} (scope ${describeScope(rule.scope)}, ${rule.severity})\n`);
      });
    });

  alerts
    .command('rm')
    .description('Delete an alert rule (its history stays); rules from the rule file are changed there')
    .argument('<name>')
    .action(async (name: string) => {
      await withAlerts(io, async (service) => {
        await service.removeRule(name);
        io.stdout(`removed alert ${name}\n`);
      });
    });

  alerts
    .command('history')
    .description('Alert events (firing, resolved) with their delivery, newest first')
    .option('--rule <name>', 'only this rule')
    .option('--state <state>', 'firing or resolved')
    .option('--since <when>', 'ISO timestamp, or a duration back from now (1h)')
    .option('--limit <n>', '1 to 1000', '100')
    .option('--json', 'machine-readable output')
    .action(async (options: { rule?: string; state?: string; since?: string; limit: string; json?: boolean }) => {
      await withAlerts(io, async (service) => {
        const events = await service.history(options);
        if (options.json) return json(events);
        io.stdout(formatEvents(events));
      });
    });
}

/**
 * An AlertService on the configured store for one command. The CLI never evaluates, so it
 * needs no metric reader; the platform's database is closed by `withPlatform`.
 */
function withAlerts<T>(io: CliIo, fn: (alerts: AlertService) => Promise<T>): Promise<T> {
  return withPlatform(io, async ({ database }) => {
    const alerts = await openAlertService(database, {
      readMetric: () => Promise.resolve(undefined),
      log: (event) => io.stderr(`${event.message}\n`),
    });
    return fn(alerts);
  });
}

function formatRules(rules: readonly StoredAlertRule[]): string {
  if (rules.length === 0) return 'no alert rules: add one with `slipway alerts add <name> "p99_ms > 50 for 5m"`\n';
  return table([
    ['NAME', 'STATE', 'SINCE', 'VALUE', 'EXPR', 'SCOPE', 'SEVERITY', 'SOURCE'],
    ...rules.map((rule) => [
      rule.name,
      rule.enabled ? rule.status.state : 'disabled',
      rule.status.since ?? '-',
      rule.status.value === null ? '-' : String(rule.status.value),
      rule.expr,
      describeScope(rule.scope),
      rule.severity,
      rule.source,
    ]),
  ]);
}

function formatEvents(events: readonly AlertEvent[]): string {
  if (events.length === 0) return 'no alert events\n';
  return table([
    ['AT', 'RULE', 'STATE', 'VALUE', 'EXPR', 'SCOPE', 'DELIVERY'],
    ...events.map((event) => [
      event.at,
      event.rule,
      event.state,
      String(event.value),
      event.expr,
      describeScope(event.scope),
      deliveryText(event),
    ]),
  ]);
}

function deliveryText(event: AlertEvent): string {
  const delivery = event.delivery;
  if (delivery === null) return 'log only';
  const tries = `${delivery.attempts} attempt${delivery.attempts === 1 ? '' : 's'}`;
  switch (delivery.status) {
    case 'pending':
      return 'pending';
    case 'delivered':
      return `delivered (${tries})`;
    case 'failed':
      return `failed (${tries}: ${delivery.lastError ?? 'unknown error'})`;
  }
}
