/**
 * Canary gates: `error_rate<0.01`, `p99_ms<50`, `metric:accuracy>=-0.01` (the candidate's metric
 * minus the baseline's, from ground-truth feedback), and the sample ratio check that every rollout
 * runs (chi-square of the two versions' request counts against the step's weights, p < 0.001 fails).
 */
import { invalid } from '../core/errors.js';
import { sampleRatioMismatch } from '../stats/index.js';
import type { VersionTraffic } from './traffic-stats.js';

export type GateOp = '<' | '<=' | '>' | '>=';

export interface Gate {
  /** `error_rate`, `p50_ms`, `p99_ms`, or `metric:<performance metric>`. */
  readonly metric: string;
  readonly op: GateOp;
  readonly threshold: number;
}

/** One gate's verdict at one look. `wait`: not enough data to judge yet. */
export interface GateCheck {
  readonly gate: string;
  readonly verdict: 'pass' | 'fail' | 'wait';
  readonly candidate: number | null;
  readonly baseline: number | null;
  readonly detail: string;
}

const LIVE_GATES = new Set(['error_rate', 'p50_ms', 'p99_ms']);

export function parseGate(text: string): Gate {
  const match = /^\s*([a-z][a-z0-9_]*(?::[a-z][a-z0-9_]*)?)\s*(<=|>=|<|>)\s*(\S+)\s*$/.exec(text);
  if (match === null)
    throw invalid(`gate "${text}" must look like error_rate<0.01, p99_ms<50 or metric:accuracy>=-0.01`);
  const metric = match[1] as string;
  const threshold = Number(match[3]);
  if (!Number.isFinite(threshold)) throw invalid(`gate "${text}": "${match[3]}" is not a number`);
  if (!LIVE_GATES.has(metric) && !metric.startsWith('metric:'))
    throw invalid(
      `gate "${text}": unknown metric "${metric}"; use error_rate, p50_ms, p99_ms or metric:<name> (e.g. metric:accuracy)`,
    );
  return { metric, op: match[2] as GateOp, threshold };
}

export function formatGate(gate: Gate): string {
  return `${gate.metric}${gate.op}${gate.threshold}`;
}

export interface GateInputs {
  readonly candidate: VersionTraffic;
  readonly baseline: VersionTraffic;
  /** The candidate's share of traffic in percent during the window. */
  readonly candidatePercent: number;
  /** Fewest candidate requests before live gates are judged. */
  readonly minRequests: number;
  /** A performance metric per version over the rollout so far; undefined without feedback. */
  readonly metric: (name: string, version: 'candidate' | 'baseline') => Promise<number | undefined>;
}

/** Every gate plus the sample ratio check, judged on one window. */
export async function evaluateGates(gates: readonly Gate[], inputs: GateInputs): Promise<GateCheck[]> {
  const { candidate, baseline, minRequests } = inputs;
  const checks: GateCheck[] = [];
  const enough = candidate.requests >= minRequests;
  const waiting = `waiting for traffic: the candidate has ${candidate.requests} of ${minRequests} requests`;
  for (const gate of gates) {
    const name = formatGate(gate);
    if (gate.metric.startsWith('metric:')) {
      const metric = gate.metric.slice('metric:'.length);
      const [c, b] = await Promise.all([inputs.metric(metric, 'candidate'), inputs.metric(metric, 'baseline')]);
      if (c === undefined || b === undefined) {
        checks.push({
          gate: name,
          verdict: 'pass',
          candidate: c ?? null,
          baseline: b ?? null,
          detail: `no feedback yet for ${c === undefined ? 'the candidate' : 'the baseline'}; not judged`,
        });
        continue;
      }
      const delta = c - b;
      checks.push({
        gate: name,
        verdict: compare(delta, gate) ? 'pass' : 'fail',
        candidate: c,
        baseline: b,
        detail: `${metric} ${fmt(c)} vs ${fmt(b)}: difference ${fmt(delta)} ${gate.op} ${gate.threshold} is ${compare(delta, gate)}`,
      });
      continue;
    }
    const c = live(gate.metric, candidate);
    const b = live(gate.metric, baseline);
    if (!enough || c === null) {
      checks.push({ gate: name, verdict: 'wait', candidate: c, baseline: b, detail: waiting });
      continue;
    }
    const ok = compare(c, gate);
    checks.push({
      gate: name,
      verdict: ok ? 'pass' : 'fail',
      candidate: c,
      baseline: b,
      detail: `candidate ${gate.metric} ${fmt(c)} (baseline ${b === null ? '-' : fmt(b)}) ${ok ? 'meets' : 'breaks'} ${name}`,
    });
  }
  const total = candidate.requests + baseline.requests;
  const share = inputs.candidatePercent / 100;
  if (share > 0 && share < 1 && total > 0 && !enough) {
    // Judged once, with the live gates: looked at on every tick while traffic trickles in, each
    // look would be one more chance (p < 0.001 each) of calling a fair split a mismatch.
    checks.push({
      gate: 'sample_ratio',
      verdict: 'wait',
      candidate: candidate.requests / total,
      baseline: baseline.requests / total,
      detail: waiting,
    });
  } else if (share > 0 && share < 1 && total > 0) {
    const srm = sampleRatioMismatch([baseline.requests, candidate.requests], [1 - share, share]);
    checks.push({
      gate: 'sample_ratio',
      verdict: srm.mismatch ? 'fail' : 'pass',
      candidate: candidate.requests / total,
      baseline: baseline.requests / total,
      detail: `${candidate.requests} of ${total} requests on the candidate (expected ${inputs.candidatePercent}%): chi-square ${fmt(srm.chiSquare)}, p ${srm.pValue.toPrecision(3)}${srm.mismatch ? ' < 0.001: the split is not what was set' : ''}`,
    });
  }
  return checks;
}

function live(metric: string, t: VersionTraffic): number | null {
  if (metric === 'error_rate') return t.errorRate;
  if (metric === 'p50_ms') return t.p50Ms;
  return t.p99Ms;
}

function compare(value: number, gate: Gate): boolean {
  switch (gate.op) {
    case '<':
      return value < gate.threshold;
    case '<=':
      return value <= gate.threshold;
    case '>':
      return value > gate.threshold;
    case '>=':
      return value >= gate.threshold;
  }
}

function fmt(x: number): string {
  return Math.abs(x) >= 100 ? x.toFixed(0) : Number(x.toPrecision(3)).toString();
}
