import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import { formatAlertLine } from './notifier.js';
import { validateRule } from './rule.js';
import { formatDuration, parseDuration, parseRuleExpr } from './rule-expr.js';
import { loadRuleFile, parseRuleFile } from './rule-file.js';

const METRICS = ['p99_ms', 'error_rate', 'drift_share', 'accuracy'];

function failure(fn: () => unknown): SlipwayError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SlipwayError);
    expect((error as SlipwayError).code).toBe('INVALID_ARGUMENT');
    return error as SlipwayError;
  }
  throw new Error('expected a failure');
}

describe('parseRuleExpr', () => {
  it.each([
    ['p99_ms > 50 for 5m', { metric: 'p99_ms', op: '>', threshold: 50, for: 300_000 }],
    ['error_rate > 0.01', { metric: 'error_rate', op: '>', threshold: 0.01, for: 0 }],
    ['drift_share >= 0.5', { metric: 'drift_share', op: '>=', threshold: 0.5, for: 0 }],
    ['accuracy < 0.9', { metric: 'accuracy', op: '<', threshold: 0.9, for: 0 }],
    ['  accuracy<=.9  for 1h30m ', { metric: 'accuracy', op: '<=', threshold: 0.9, for: 5_400_000 }],
    ['error_rate==0', { metric: 'error_rate', op: '==', threshold: 0, for: 0 }],
    ['p99_ms != -1.5e2 for 30s', { metric: 'p99_ms', op: '!=', threshold: -150, for: 30_000 }],
    ['p99_ms > 50 for 0s', { metric: 'p99_ms', op: '>', threshold: 50, for: 0 }],
  ])('parses %s', (expr, expected) => {
    expect(parseRuleExpr(expr)).toEqual(expected);
  });

  it.each([
    ['', 'expr "": expected a metric name (e.g. p99_ms), found the end'],
    ['> 50', 'expr "> 50": expected a metric name (e.g. p99_ms), found "> 50"'],
    ['p99_ms 50', 'expr "p99_ms 50": expected a comparison (> >= < <= == !=) after "p99_ms", found "50"'],
    ['p99_ms =~ 50', 'expr "p99_ms =~ 50": expected a comparison (> >= < <= == !=) after "p99_ms", found "=~ 50"'],
    ['p99_ms >> 50', 'expr "p99_ms >> 50": expected a number after ">", found "> 50"'],
    ['p99_ms >', 'expr "p99_ms >": expected a number after ">", found the end'],
    ['p99_ms > fifty', 'expr "p99_ms > fifty": expected a number after ">", found "fifty"'],
    ['p99_ms > 1.2.3', 'expr "p99_ms > 1.2.3": expected a number after ">", found "1.2.3"'],
    [
      'p99_ms > 50 during 5m',
      'expr "p99_ms > 50 during 5m": expected "for <duration>" or the end of the expression, found "during 5m"',
    ],
    ['p99_ms > 50 for', 'expr "p99_ms > 50 for": expected a duration like 30s, 5m or 1h after "for", found the end'],
    [
      'p99_ms > 50 for 5 minutes',
      'expr "p99_ms > 50 for 5 minutes": expected a duration like 30s, 5m or 1h after "for", found "5 minutes"',
    ],
    [
      'p99_ms > 50 for 5m and more',
      'expr "p99_ms > 50 for 5m and more": expected the end of the expression, found "and more"',
    ],
  ])('refuses %j, saying what it expected', (expr, message) => {
    expect(failure(() => parseRuleExpr(expr)).message).toBe(message);
  });

  it('parses and formats durations', () => {
    expect([
      parseDuration('30s'),
      parseDuration('5m'),
      parseDuration('1h'),
      parseDuration('1d'),
      parseDuration('250ms'),
      parseDuration('1.5m'),
    ]).toEqual([30_000, 300_000, 3_600_000, 86_400_000, 250, 90_000]);
    expect(failure(() => parseDuration('5')).message).toBe('duration "5": expected e.g. 30s, 5m, 1h or 1h30m');
    expect([formatDuration(0), formatDuration(300_000), formatDuration(5_430_500)]).toEqual([
      '0s',
      '5m',
      '1h30m30s500ms',
    ]);
  });
});

describe('validateRule', () => {
  it('fills the parsed condition and the defaults', () => {
    expect(validateRule({ name: 'fraud-p99', expr: 'p99_ms > 50 for 5m', scope: { model: 'fraud' } }, METRICS)).toEqual(
      {
        name: 'fraud-p99',
        expr: 'p99_ms > 50 for 5m',
        metric: 'p99_ms',
        op: '>',
        threshold: 50,
        for: 300_000,
        scope: { model: 'fraud' },
        severity: 'warning',
        enabled: true,
      },
    );
    const full = validateRule(
      {
        name: 'a.b_c-1',
        expr: 'accuracy < 0.9',
        scope: { deployment: 'd', version: '1.0.0', model: 'm' },
        webhook: 'https://h.example/x',
        severity: 'critical',
        description: 'why',
        enabled: false,
      },
      METRICS,
    );
    expect(full).toMatchObject({
      webhook: 'https://h.example/x',
      severity: 'critical',
      description: 'why',
      enabled: false,
    });
    expect(Object.keys(full.scope)).toEqual(['model', 'version', 'deployment']);
  });

  it('names an unknown metric and lists the valid ones', () => {
    const error = failure(() => validateRule({ name: 'x', expr: 'p999_ms > 50' }, METRICS));
    expect(error.message).toBe(
      'unknown metric "p999_ms" in "p999_ms > 50"; valid metrics: accuracy, drift_share, error_rate, p99_ms',
    );
  });

  it.each([
    [null, 'an alert rule must be a JSON object with "name" and "expr"'],
    [{ expr: 'p99_ms > 1' }, '"name" is required and must be a non-empty string'],
    [{ name: 'x' }, '"expr" is required and must be a non-empty string'],
    [
      { name: 'Upper', expr: 'p99_ms > 1' },
      'rule name "Upper": expected 1 to 64 of a-z, 0-9, "_", "." and "-", starting with a letter or digit',
    ],
    [
      { name: '.x', expr: 'p99_ms > 1' },
      'rule name ".x": expected 1 to 64 of a-z, 0-9, "_", "." and "-", starting with a letter or digit',
    ],
    [
      { name: 'x', expr: 'p99_ms > 1', for: '5m' },
      'unknown alert rule field "for" (put the duration in expr: "p99_ms > 50 for 5m"); expected name, expr, scope, webhook, severity, description, enabled',
    ],
    [{ name: 'x', expr: 'p99_ms > 1', severity: 'page' }, 'severity "page": expected one of info, warning, critical'],
    [
      { name: 'x', expr: 'p99_ms > 1', webhook: 'ftp://h/x' },
      'webhook "ftp://h/x": expected an http:// or https:// URL',
    ],
    [{ name: 'x', expr: 'p99_ms > 1', webhook: 'nope' }, 'webhook "nope" is not a URL'],
    [
      { name: 'x', expr: 'p99_ms > 1', scope: { team: 'a' } },
      'unknown scope field "team"; expected model, version, deployment',
    ],
    [{ name: 'x', expr: 'p99_ms > 1', scope: { version: '1.0.0' } }, '"scope.version" needs "scope.model"'],
    [{ name: 'x', expr: 'p99_ms > 1', enabled: 'yes' }, '"enabled" must be true or false'],
  ])('refuses %j', (input, message) => {
    expect(failure(() => validateRule(input, METRICS)).message).toBe(message);
  });
});

describe('rule files', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'slipway-alert-rules-'));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('reads a YAML list and a JSON object with "rules"', async () => {
    const yamlFile = path.join(folder, 'alerts.yaml');
    await writeFile(
      yamlFile,
      '- name: fraud-p99\n  expr: p99_ms > 50 for 5m\n  scope: { model: fraud }\n  severity: critical\n- name: drift\n  expr: drift_share >= 0.5\n',
    );
    const rules = await loadRuleFile(yamlFile, { knownMetrics: METRICS });
    expect(rules.map((rule) => [rule.name, rule.for, rule.severity, rule.scope])).toEqual([
      ['fraud-p99', 300_000, 'critical', { model: 'fraud' }],
      ['drift', 0, 'warning', {}],
    ]);
    const jsonFile = path.join(folder, 'alerts.json');
    await writeFile(jsonFile, JSON.stringify({ rules: [{ name: 'acc', expr: 'accuracy < 0.9' }] }));
    expect((await loadRuleFile(jsonFile)).map((rule) => rule.metric)).toEqual(['accuracy']);
    expect(parseRuleFile('', 'empty.yaml')).toEqual([]);
  });

  it('reports every problem at once', () => {
    const text =
      '- name: a\n  expr: p99_ms >\n- name: a\n  expr: error_rate > 1\n- name: a\n  expr: error_rate > 2\n- name: b\n  expr: nope > 1\n';
    expect(failure(() => parseRuleFile(text, 'alerts.yaml', METRICS)).message).toBe(
      'invalid alert rule file alerts.yaml:\n' +
        '  rule 1 (a): expr "p99_ms >": expected a number after ">", found the end\n' +
        '  rule 3 (a): duplicate rule name "a"\n' +
        '  rule 4 (b): unknown metric "nope" in "nope > 1"; valid metrics: accuracy, drift_share, error_rate, p99_ms',
    );
    expect(failure(() => parseRuleFile('name: a', 'x.yaml')).message).toBe(
      'alert rule file x.yaml: expected a list of rules (or an object with a "rules" list)',
    );
    expect(failure(() => parseRuleFile('- [unclosed', 'x.yaml')).message).toMatch(
      /^alert rule file x\.yaml is not valid YAML or JSON: /,
    );
  });

  it('names a file it cannot read', async () => {
    await expect(loadRuleFile(path.join(folder, 'missing.yaml'))).rejects.toThrow(
      `cannot read alert rule file ${path.join(folder, 'missing.yaml')}: ENOENT`,
    );
  });
});

describe('formatAlertLine', () => {
  it('writes one line per transition', () => {
    const base = {
      id: 1,
      rule: 'fraud-p99',
      value: 63.2,
      threshold: 50,
      expr: 'p99_ms > 50 for 5m',
      scope: { model: 'fraud' },
      severity: 'critical' as const,
      description: null,
      startsAt: '2024-05-01T12:05:00.000Z',
      delivery: null,
    };
    expect(formatAlertLine({ ...base, state: 'firing', endsAt: null, at: '2024-05-01T12:05:00.000Z' })).toBe(
      'alert fraud-p99 firing: value 63.2 (p99_ms > 50 for 5m) scope model=fraud severity critical',
    );
    expect(
      formatAlertLine({
        ...base,
        state: 'resolved',
        value: 41,
        endsAt: '2024-05-01T12:20:00.000Z',
        at: '2024-05-01T12:20:00.000Z',
      }),
    ).toBe('alert fraud-p99 resolved after 15m: value 41 (p99_ms > 50 for 5m) scope model=fraud severity critical');
  });
});
