import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { invalid, toSlipwayError } from '../../core/errors.js';
import { isPlainObject } from '../../tensor/format.js';
import { validateRule } from './rule.js';
import type { AlertRule } from './rule.js';

/**
 * Read alert rules from a YAML or JSON file (JSON is YAML): a list of rules, or an object with a
 * `rules` list. Every rule is validated and every problem reported at once; with `knownMetrics`
 * metric names are checked too (the AlertService checks them again when it stores the rules).
 *
 * @example
 * # alerts.yaml
 * - name: fraud-p99
 *   expr: p99_ms > 50 for 5m
 *   scope: { model: fraud }
 *   severity: critical
 *   webhook: https://hooks.example.com/slipway
 * - name: fraud-drift
 *   expr: drift_share >= 0.5
 *   scope: { model: fraud }
 */
export async function loadRuleFile(
  file: string,
  options: { knownMetrics?: readonly string[] } = {},
): Promise<AlertRule[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw invalid(`cannot read alert rule file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return parseRuleFile(text, file, options.knownMetrics);
}

/** `loadRuleFile` without the file system; `source` names the file in messages. */
export function parseRuleFile(text: string, source: string, knownMetrics?: readonly string[]): AlertRule[] {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw invalid(`alert rule file ${source} is not valid YAML or JSON: ${toSlipwayError(error).message}`);
  }
  const entries = isPlainObject(document) && 'rules' in document ? document.rules : (document ?? []);
  if (!Array.isArray(entries))
    throw invalid(`alert rule file ${source}: expected a list of rules (or an object with a "rules" list)`);

  const rules: AlertRule[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  entries.forEach((entry: unknown, i) => {
    const label = `rule ${i + 1}${isPlainObject(entry) && typeof entry.name === 'string' ? ` (${entry.name})` : ''}`;
    try {
      const rule = validateRule(entry, knownMetrics);
      if (seen.has(rule.name)) throw invalid(`duplicate rule name "${rule.name}"`);
      seen.add(rule.name);
      rules.push(rule);
    } catch (error) {
      problems.push(`${label}: ${toSlipwayError(error).message}`);
    }
  });
  if (problems.length > 0) throw invalid(`invalid alert rule file ${source}:\n  ${problems.join('\n  ')}`, problems);
  return rules;
}
