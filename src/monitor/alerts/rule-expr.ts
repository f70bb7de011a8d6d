import { formatDuration, parseDuration as parseCoreDuration } from '../../core/duration.js';
import { invalid } from '../../core/errors.js';

export const COMPARISON_OPS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type ComparisonOp = (typeof COMPARISON_OPS)[number];

/** A parsed rule expression: `<metric> <op> <number> [for <duration>]`. */
export interface RuleCondition {
  readonly metric: string;
  readonly op: ComparisonOp;
  readonly threshold: number;
  /** How long the condition must hold before the rule fires, in ms; 0 = at once. */
  readonly for: number;
}

const METRIC = /^[A-Za-z_][A-Za-z0-9_.]*/;
// Longest operators first, so `>=` is not read as `>` followed by `=`.
const OP = /^(>=|<=|==|!=|>|<)/;
const NUMBER = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_.])/;
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+(?![A-Za-z0-9_.])/;
const FOR = /^for(?![A-Za-z0-9_])/;

/**
 * Parse a rule expression. Spaces between tokens are optional (`error_rate>0.01` is fine);
 * durations are `30s`, `5m`, `1h`, `1d`, `250ms` or a sum like `1h30m`.
 * A mistake is an INVALID_ARGUMENT naming what was expected and what was found.
 *
 * @example
 * parseRuleExpr('p99_ms > 50 for 5m'); // { metric: 'p99_ms', op: '>', threshold: 50, for: 300000 }
 */
export function parseRuleExpr(expr: string): RuleCondition {
  const scanner = new Scanner(expr);
  const metric = scanner.take(METRIC, 'a metric name (e.g. p99_ms)');
  const op = scanner.take(OP, `a comparison (${COMPARISON_OPS.join(' ')}) after "${metric}"`) as ComparisonOp;
  const threshold = Number(scanner.take(NUMBER, `a number after "${op}"`));
  let forMs = 0;
  if (!scanner.done()) {
    scanner.take(FOR, '"for <duration>" or the end of the expression');
    forMs = parseDuration(scanner.take(DURATION, 'a duration like 30s, 5m or 1h after "for"'));
    if (!scanner.done()) throw scanner.error('the end of the expression');
  }
  return { metric, op, threshold, for: forMs };
}

/** Alert rules use Slipway's one duration syntax; `for 0s` is allowed. */
export function parseDuration(text: string): number {
  return parseCoreDuration(text, 'duration', { allowZero: true });
}

export { formatDuration };

/** Whether `value op threshold` holds. */
export function holds(op: ComparisonOp, value: number, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
  }
}

class Scanner {
  #rest: string;

  constructor(readonly text: string) {
    this.#rest = text.trim();
  }

  done(): boolean {
    return this.#rest === '';
  }

  take(pattern: RegExp, expected: string): string {
    const match = pattern.exec(this.#rest);
    if (match === null) throw this.error(expected);
    this.#rest = this.#rest.slice(match[0].length).trimStart();
    return match[0];
  }

  error(expected: string): Error {
    const found = this.#rest === '' ? 'the end' : `"${this.#rest}"`;
    return invalid(`expr "${this.text}": expected ${expected}, found ${found}`, { expected });
  }
}
