/** A hand-built OptimizationReport for the gate and format tests. */
import type { LatencyFigures, OptimizationReport } from './types.js';

function figures(meanMs: number, batch: number): LatencyFigures {
  return { p50Ms: meanMs * 0.9, p99Ms: meanMs * 2, meanMs, rowsPerSecond: (batch * 1000) / meanMs };
}

/** A binary report: the candidate loses 0.4 points of accuracy, is 1.5x faster at batch 64, 4x smaller. */
export const REPORT: OptimizationReport = {
  rows: 143,
  source: 'held-out.csv',
  task: 'binary',
  agreement: 0.993,
  maxAbsDiff: 0.0021,
  meanAbsDiff: 0.0004,
  metrics: {
    parent: { accuracy: 0.958, f1: 0.9667, auc: 0.995 },
    candidate: { accuracy: 0.954, f1: 0.9631, auc: 0.994 },
    delta: { accuracy: -0.004, f1: -0.0036, auc: -0.001 },
  },
  size: { parentBytes: 4000, candidateBytes: 1000, ratio: 0.25 },
  loadMs: { parent: 10, candidate: 8 },
  latency: [
    { batchSize: 1, parent: figures(0.2, 1), candidate: figures(0.25, 1), speedup: 0.8 },
    { batchSize: 64, parent: figures(3, 64), candidate: figures(2, 64), speedup: 1.5 },
  ],
};
