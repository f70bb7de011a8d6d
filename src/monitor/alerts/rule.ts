import { invalid } from '../../core/errors.js';
import { isRuleName } from '../../core/names.js';
import { isPlainObject } from '../../tensor/format.js';
import { parseRuleExpr } from './rule-expr.js';
import type { ComparisonOp } from './rule-expr.js';

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** What a rule watches. Every key is optional; the metric reader decides what an empty scope means (all traffic). */
export interface AlertScope {
  readonly model?: string;
  readonly version?: string;
  readonly deployment?: string;
}

/**
 * A validated alert rule. `metric`, `op`, `threshold` and `for` (ms) are parsed from `expr`.
 *
 * @example
 * { name: 'fraud-p99', expr: 'p99_ms > 50 for 5m', metric: 'p99_ms', op: '>', threshold: 50, for: 300000,
 *   scope: { model: 'fraud' }, severity: 'critical', enabled: true }
 */
export interface AlertRule {
  readonly name: string;
  readonly expr: string;
  readonly metric: string;
  readonly op: ComparisonOp;
  readonly threshold: number;
  readonly for: number;
  readonly scope: AlertScope;
  /** http(s) URL that receives this rule's events (besides any default webhook). */
  readonly webhook?: string;
  readonly severity: Severity;
  readonly description?: string;
  /** Disabled rules are not evaluated; their state is kept. */
  readonly enabled: boolean;
}

/** The fields a rule is written with (API body, CLI flags, one entry of a rule file). */
export interface AlertRuleInput {
  name: string;
  expr: string;
  scope?: AlertScope;
  webhook?: string;
  severity?: Severity;
  description?: string;
  enabled?: boolean;
}

const INPUT_KEYS = ['name', 'expr', 'scope', 'webhook', 'severity', 'description', 'enabled'] as const;
const SCOPE_KEYS = ['model', 'version', 'deployment'] as const;

/**
 * Validate a rule written by a person: the name, the expression (its metric must be one of
 * `knownMetrics`; without a list any metric name passes), the scope, the webhook URL and the
 * severity (default `warning`). Throws INVALID_ARGUMENT naming the field and what was expected.
 */
export function validateRule(input: unknown, knownMetrics?: readonly string[]): AlertRule {
  if (!isPlainObject(input)) throw invalid('an alert rule must be a JSON object with "name" and "expr"');
  const unknown = Object.keys(input).filter((key) => !(INPUT_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    const hint = unknown.includes('for') ? ' (put the duration in expr: "p99_ms > 50 for 5m")' : '';
    throw invalid(
      `unknown alert rule field ${unknown.map((key) => `"${key}"`).join(', ')}${hint}; expected ${INPUT_KEYS.join(', ')}`,
    );
  }
  const name = requiredText(input.name, 'name');
  if (!isRuleName(name))
    throw invalid(
      `rule name "${name}": expected 1 to 64 of a-z, 0-9, "_", "." and "-", starting with a letter or digit`,
    );
  const expr = requiredText(input.expr, 'expr').trim();
  const condition = parseRuleExpr(expr);
  if (knownMetrics !== undefined) checkMetric(condition.metric, expr, knownMetrics);
  const webhook = optionalText(input.webhook, 'webhook');
  if (webhook !== undefined) checkWebhook(webhook);
  const severity = optionalText(input.severity, 'severity') ?? 'warning';
  if (!(SEVERITIES as readonly string[]).includes(severity))
    throw invalid(`severity "${severity}": expected one of ${SEVERITIES.join(', ')}`);
  const description = optionalText(input.description, 'description');
  if (input.enabled !== undefined && typeof input.enabled !== 'boolean')
    throw invalid('"enabled" must be true or false');
  return {
    name,
    expr,
    ...condition,
    scope: validateScope(input.scope),
    ...(webhook === undefined ? {} : { webhook }),
    severity: severity as Severity,
    ...(description === undefined ? {} : { description }),
    enabled: input.enabled ?? true,
  };
}

/** INVALID_ARGUMENT naming the metric and listing the valid ones, unless `metric` is known. */
export function checkMetric(metric: string, expr: string, knownMetrics: readonly string[]): void {
  if (knownMetrics.includes(metric)) return;
  throw invalid(`unknown metric "${metric}" in "${expr}"; valid metrics: ${[...knownMetrics].sort().join(', ')}`, {
    metric,
    knownMetrics,
  });
}

/** A scope with its keys in a fixed order, so its JSON text is stable. */
export function validateScope(value: unknown): AlertScope {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) throw invalid('"scope" must be an object with model, version and/or deployment');
  const unknown = Object.keys(value).filter((key) => !(SCOPE_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) throw invalid(`unknown scope field "${unknown[0] ?? ''}"; expected ${SCOPE_KEYS.join(', ')}`);
  const scope: { -readonly [K in keyof AlertScope]: string } = {};
  for (const key of SCOPE_KEYS) {
    const text = optionalText(value[key], `scope.${key}`);
    if (text === '') throw invalid(`"scope.${key}" must not be empty`);
    if (text !== undefined) scope[key] = text;
  }
  if (scope.version !== undefined && scope.model === undefined) throw invalid('"scope.version" needs "scope.model"');
  return scope;
}

/** `model=fraud version=1.2.0`, or `all` for an empty scope. */
export function describeScope(scope: AlertScope): string {
  const parts = Object.entries(scope).map(([key, value]) => `${key}=${String(value)}`);
  return parts.length === 0 ? 'all' : parts.join(' ');
}

function checkWebhook(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(`webhook "${url}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw invalid(`webhook "${url}": expected an http:// or https:// URL`);
}

function requiredText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw invalid(`"${field}" is required and must be a non-empty string`);
  return value;
}

function optionalText(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(`"${field}" must be a string`);
  return value;
}
