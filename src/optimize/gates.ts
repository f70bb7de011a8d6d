/**
 * `--gate 'metric op value'`: what a candidate must achieve against its parent to be registered,
 * checked on its OptimizationReport, and the report's flat figures stored as the new version's metrics.
 */
import { invalid } from '../core/errors.js';
import type { Gate, GateResult, OptimizationReport, Task } from './types.js';

/** Task metrics, gated as candidate - parent deltas (`accuracy>=-0.005`: loses at most half a point). */
export const TASK_METRICS: Readonly<Record<string, readonly Task[]>> = {
  accuracy: ['binary', 'multiclass'],
  f1: ['binary', 'multiclass'],
  auc: ['binary'],
  mae: ['regression'],
  rmse: ['regression'],
  r2: ['regression'],
};

/** Metrics read from the report as they are. */
export const REPORT_METRICS = ['agreement', 'max_abs_diff', 'mean_abs_diff', 'speedup', 'size_ratio', 'load_ratio'];

const SPEEDUP_AT = /^speedup_b([1-9][0-9]*)$/;
const GATE_TEXT =
  /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*$/;

function knownMetrics(): string {
  return [...Object.keys(TASK_METRICS), ...REPORT_METRICS, 'speedup_b<N>'].join(', ');
}

/**
 * Parse `metric op value` (op one of >=, <=, >, <; spaces allowed; value a number, 1e-3 notation
 * allowed). An unknown metric or malformed text is refused with INVALID_ARGUMENT naming it.
 */
export function parseGate(text: string): Gate {
  const match = GATE_TEXT.exec(text);
  if (match === null)
    throw invalid(
      `gate "${text}" is not 'metric op value' (op one of >=, <=, >, <; e.g. 'accuracy>=-0.005', 'max_abs_diff<=1e-3')`,
    );
  const metric = match[1]!.toLowerCase();
  if (!(metric in TASK_METRICS) && !REPORT_METRICS.includes(metric) && !SPEEDUP_AT.test(metric))
    throw invalid(`gate "${text}": unknown metric "${metric}"; gates know ${knownMetrics()}`);
  const value = Number(match[3]);
  if (!Number.isFinite(value)) throw invalid(`gate "${text}": ${match[3]} is not a finite number`);
  return { metric, op: match[2] as Gate['op'], value, text };
}

/**
 * Refuse gates the report can never answer, before a long evaluation runs: a task metric the task
 * does not have or with no labels in the eval set, a `speedup_b<N>` for a batch size not measured.
 */
export function assertGatesApplicable(
  gates: readonly Gate[],
  context: { readonly task: Task; readonly labelled: boolean; readonly batchSizes: readonly number[] },
): void {
  for (const gate of gates) {
    const tasks = TASK_METRICS[gate.metric];
    if (tasks !== undefined) {
      if (!tasks.includes(context.task))
        throw invalid(
          `gate "${gate.text}": ${gate.metric} is not a metric of a ${context.task} model (${tasks.join(', ')} only)`,
        );
      if (!context.labelled)
        throw invalid(`gate "${gate.text}" needs labels, but the eval set has no label column (give --label-column)`);
    }
    const at = SPEEDUP_AT.exec(gate.metric);
    if (at !== null && !context.batchSizes.includes(Number(at[1])))
      throw invalid(
        `gate "${gate.text}": batch size ${at[1]} is not measured (measured: ${context.batchSizes.join(', ')})`,
      );
  }
}

/** The report's value for a gate's metric; null when the report has no such figure (e.g. no auc). */
function actualValue(report: OptimizationReport, metric: string): number | null {
  if (metric in TASK_METRICS) return report.metrics?.delta[metric] ?? null;
  const largest = report.latency.reduce<OptimizationReport['latency'][number] | undefined>(
    (best, l) => (best === undefined || l.batchSize > best.batchSize ? l : best),
    undefined,
  );
  switch (metric) {
    case 'agreement':
      return report.agreement;
    case 'max_abs_diff':
      return report.maxAbsDiff;
    case 'mean_abs_diff':
      return report.meanAbsDiff;
    case 'size_ratio':
      return report.size.ratio;
    case 'load_ratio':
      return report.loadMs.candidate / report.loadMs.parent;
    case 'speedup':
      return largest?.speedup ?? null;
    default: {
      const size = Number(SPEEDUP_AT.exec(metric)?.[1]);
      return report.latency.find((l) => l.batchSize === size)?.speedup ?? null;
    }
  }
}

function holds(actual: number, op: Gate['op'], value: number): boolean {
  switch (op) {
    case '>=':
      return actual >= value;
    case '<=':
      return actual <= value;
    case '>':
      return actual > value;
    case '<':
      return actual < value;
  }
}

/**
 * Each gate against the report. A gate the report cannot answer by construction (see
 * assertGatesApplicable) is refused with INVALID_ARGUMENT; a figure that could not be computed
 * (a non-finite score leaves no auc) gives actual null and fails.
 */
export function checkGates(report: OptimizationReport, gates: readonly Gate[]): GateResult[] {
  assertGatesApplicable(gates, {
    task: report.task,
    labelled: report.metrics !== undefined,
    batchSizes: report.latency.map((l) => l.batchSize),
  });
  return gates.map((gate) => {
    const actual = actualValue(report, gate.metric);
    return { ...gate, actual, passed: actual !== null && holds(actual, gate.op, gate.value) };
  });
}

/**
 * The report's figures stored as the new version's metrics: `optimize.*` for the comparison
 * (agreement, diffs, ratios, speedups and latencies per batch size, task-metric deltas) and the
 * candidate's own task metrics under their plain names (`accuracy`, `f1`, ...). Finite numbers only.
 */
export function reportMetrics(report: OptimizationReport): Record<string, number> {
  const figures: Record<string, number> = {
    'optimize.rows': report.rows,
    'optimize.agreement': report.agreement,
    'optimize.max_abs_diff': report.maxAbsDiff,
    'optimize.mean_abs_diff': report.meanAbsDiff,
    'optimize.size_ratio': report.size.ratio,
    'optimize.parent_bytes': report.size.parentBytes,
    'optimize.bytes': report.size.candidateBytes,
    'optimize.load_ratio': report.loadMs.candidate / report.loadMs.parent,
    'optimize.load_ms': report.loadMs.candidate,
  };
  const speedup = actualValue(report, 'speedup');
  if (speedup !== null) figures['optimize.speedup'] = speedup;
  for (const l of report.latency) {
    figures[`optimize.speedup_b${l.batchSize}`] = l.speedup;
    figures[`optimize.p50_ms_b${l.batchSize}`] = l.candidate.p50Ms;
    figures[`optimize.p99_ms_b${l.batchSize}`] = l.candidate.p99Ms;
    figures[`optimize.rows_per_second_b${l.batchSize}`] = l.candidate.rowsPerSecond;
  }
  for (const [name, value] of Object.entries(report.metrics?.candidate ?? {})) figures[name] = value;
  for (const [name, value] of Object.entries(report.metrics?.delta ?? {})) figures[`optimize.${name}_delta`] = value;
  return Object.fromEntries(Object.entries(figures).filter(([, value]) => Number.isFinite(value)));
}
