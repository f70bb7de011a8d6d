/**
 * Side-by-side timing of a parent and a candidate in this process: session load times and run
 * latency per batch size, alternating the two so that machine noise falls on both alike.
 */
import * as ort from 'onnxruntime-node';
import { invalid } from '../core/errors.js';
import { evalSetSlice } from './eval-set.js';
import type { EvalSet, LatencyComparison, LatencyFigures } from './types.js';

/** The session settings serving uses (runtime/onnx/ort-backend.ts with one thread each). */
export const SERVING_SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
};

/** Minimum alternating rounds per batch size. */
export const MIN_ROUNDS = 20;
/** Distinct input slices a model cycles through at one batch size. */
const MAX_SLICES = 8;
const WARMUP_RUNS = 3;

function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/**
 * Median time (ms) of creating a session from the bytes, over `times` creations of each model after
 * one untimed creation of each (the first load pays for code and allocator warm-up), alternating
 * parent and candidate and swapping which goes first each time; each session is released at once.
 */
export async function medianLoadMs(
  parent: Uint8Array,
  candidate: Uint8Array,
  times = 3,
): Promise<{ parent: number; candidate: number }> {
  const samples = { parent: [] as number[], candidate: [] as number[] };
  const load = async (side: 'parent' | 'candidate'): Promise<number> => {
    const start = process.hrtime.bigint();
    const session = await ort.InferenceSession.create(side === 'parent' ? parent : candidate, SERVING_SESSION_OPTIONS);
    const ms = elapsedMs(start);
    await session.release();
    return ms;
  };
  await load('parent');
  await load('candidate');
  for (let i = 0; i < times; i++) {
    const order = i % 2 === 0 ? (['parent', 'candidate'] as const) : (['candidate', 'parent'] as const);
    for (const side of order) samples[side].push(await load(side));
  }
  return { parent: median(samples.parent), candidate: median(samples.candidate) };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Requested batch sizes capped at the set's rows, duplicates dropped, in the order given. */
export function effectiveBatchSizes(batchSizes: readonly number[], rowCount: number): number[] {
  if (batchSizes.length === 0) throw invalid('batchSizes must name at least one batch size');
  for (const b of batchSizes)
    if (!Number.isInteger(b) || b < 1) throw invalid(`batch sizes must be positive integers, got ${b}`);
  return [...new Set(batchSizes.map((b) => Math.min(b, rowCount)))];
}

export interface LatencyOptions {
  readonly batchSizes: readonly number[];
  /** Each model runs at least this long in total per batch size. */
  readonly minSeconds: number;
  readonly progress?: (message: string) => void;
}

/**
 * Latency of both sessions at each batch size on the same slices of `set`: a warm-up, then
 * alternating rounds (parent, candidate, parent, ...), each round a block of runs lasting about
 * minSeconds / MIN_ROUNDS, until each model has run >= minSeconds in total and >= MIN_ROUNDS rounds.
 * Every run is timed with process.hrtime.bigint.
 */
export async function measureLatency(
  parent: ort.InferenceSession,
  candidate: ort.InferenceSession,
  set: EvalSet,
  options: LatencyOptions,
): Promise<LatencyComparison[]> {
  if (!(options.minSeconds >= 0)) throw invalid(`minSeconds must be a number >= 0, got ${options.minSeconds}`);
  const results: LatencyComparison[] = [];
  for (const batchSize of effectiveBatchSizes(options.batchSizes, set.rowCount)) {
    const count = Math.max(1, Math.min(MAX_SLICES, Math.floor(set.rowCount / batchSize)));
    const slices = Array.from({ length: count }, (_, i) => evalSetSlice(set, i * batchSize, (i + 1) * batchSize));
    for (let i = 0; i < WARMUP_RUNS; i++)
      for (const feeds of slices) {
        await parent.run(feeds);
        await candidate.run(feeds);
      }
    const budgetMs = options.minSeconds * 1000;
    const roundMs = budgetMs / MIN_ROUNDS;
    const times = { parent: [] as number[], candidate: [] as number[] };
    const totals = { parent: 0, candidate: 0 };
    let next = 0;
    let round = 0;
    while (round < MIN_ROUNDS || totals.parent < budgetMs || totals.candidate < budgetMs) {
      round++;
      const cursor = next;
      for (const side of ['parent', 'candidate'] as const) {
        const session = side === 'parent' ? parent : candidate;
        let spent = 0;
        let k = cursor;
        // At least one run per round, so a zero budget still alternates MIN_ROUNDS times.
        do {
          const feeds = slices[k % count]!;
          k++;
          const start = process.hrtime.bigint();
          await session.run(feeds);
          const ms = elapsedMs(start);
          times[side].push(ms);
          spent += ms;
        } while (spent < roundMs);
        totals[side] += spent;
        next = Math.max(next, k);
      }
      options.progress?.(`latency batch ${batchSize}: round ${round}`);
    }
    const parentFigures = figures(times.parent, batchSize);
    const candidateFigures = figures(times.candidate, batchSize);
    results.push({
      batchSize,
      parent: parentFigures,
      candidate: candidateFigures,
      speedup: parentFigures.meanMs / candidateFigures.meanMs,
    });
  }
  return results;
}

/**
 * p50 and p99 by nearest rank (the value at ceil(p * n) in sorted order), mean time per run, and
 * rows per second = batch size / mean time.
 */
export function figures(timesMs: readonly number[], batchSize: number): LatencyFigures {
  const sorted = [...timesMs].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
  const meanMs = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return { p50Ms: rank(0.5), p99Ms: rank(0.99), meanMs, rowsPerSecond: (batchSize * 1000) / meanMs };
}
