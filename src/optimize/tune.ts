/**
 * `slipway tune`: try a small grid of ONNX Runtime session settings on this machine and keep the
 * fastest that gives the same outputs as the default session (issue 16 part 4). Every grid row is
 * checked on the sample rows (max abs diff <= 1e-5 on float outputs, other outputs equal) and timed
 * at each batch size in rounds alternating with the default session after a warm-up, so machine
 * noise falls on both alike; its speedup is the default's median time per run over its own. A
 * setting wins only by at least TUNE_MIN_GAIN overall and no loss at any batch size: on a shared
 * machine smaller gaps are noise.
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { invalid } from '../core/errors.js';
import type { SessionSettings } from '../runtime/backend.js';
import { ortSessionOptions, resolveSessionSettings } from '../runtime/onnx/session-settings.js';
import type { Signature } from '../tensor/datatypes.js';
import { evalSetSlice } from './eval-set.js';
import type { EvalSet, FeedTensor } from './types.js';

/** Largest difference of a float output that still counts as equal. */
export const TUNE_TOLERANCE = 1e-5;
const WARMUP_RUNS = 3;
/** Runs per timed block: one block of each session makes a round. */
const BLOCK_RUNS = 5;
const SYNTHETIC_ROWS = 128;

export interface TuneOptions {
  /** The model file's bytes. */
  readonly bytes: Uint8Array;
  readonly signature: Signature;
  /** Rows to run (e.g. `--data`); default: deterministic pseudo-random rows made from the signature. */
  readonly sampleFeeds?: EvalSet;
  /** Settings to try; default {@link defaultTuneGrid} for this machine. */
  readonly grid?: readonly SessionSettings[];
  /** Alternating rounds per setting and batch size (each round: a block of runs of the setting, then of the default). */
  readonly rounds: number;
  /** Default [1, 64], capped at the sample's rows. */
  readonly batchSizes?: readonly number[];
  /** What the settings are compared with: the model's session today (default the serving defaults). */
  readonly baseline?: SessionSettings;
  readonly progress?: (message: string) => void;
}

export interface TuneTiming {
  readonly batchSize: number;
  /**
   * Ms per run of this setting and of the default: the median over the rounds of each block's mean
   * (a median, so a round another process took the cores in does not decide).
   */
  readonly msPerRun: number;
  readonly defaultMsPerRun: number;
  /** defaultMsPerRun / msPerRun. */
  readonly speedup: number;
}

/**
 * The least speedup (geometric mean over the batch sizes) that makes a setting the winner rather
 * than the default: below it the difference is within this machine's run-to-run noise.
 */
export const TUNE_MIN_GAIN = 1.05;

export interface TuneRow {
  readonly settings: Required<SessionSettings>;
  /** Largest absolute difference of a float output from the default's (0 when there is none). */
  readonly maxAbsDiff: number;
  /** Every non-float output (labels) equal to the default's. */
  readonly labelsEqual: boolean;
  readonly outputsEqual: boolean;
  readonly timings: readonly TuneTiming[];
  /** Geometric mean of the speedups over the batch sizes. */
  readonly speedup: number;
}

export interface TuneResult {
  readonly baseline: Required<SessionSettings>;
  readonly rows: readonly TuneRow[];
  /**
   * The fastest row whose outputs equal the default's, whose speedup is at least {@link TUNE_MIN_GAIN}
   * and which is no slower than the default at any batch size; otherwise the baseline's own settings
   * (its row when the grid holds it).
   */
  readonly best: TuneRow;
  readonly batchSizes: readonly number[];
  readonly sampleRows: number;
}

/**
 * The grid tried on this machine: intra-op threads 1, 2 and the core count; sequential execution,
 * and parallel with 2 inter-op threads; graph level extended and all; memory pattern on and off.
 */
export function defaultTuneGrid(cores = availableParallelism()): SessionSettings[] {
  const grid: SessionSettings[] = [];
  for (const intraOpThreads of [...new Set([1, 2, cores])])
    for (const [executionMode, interOpThreads] of [
      ['sequential', 1],
      ['parallel', 2],
    ] as const)
      for (const graphOptimizationLevel of ['extended', 'all'] as const)
        for (const enableMemPattern of [true, false])
          grid.push({ intraOpThreads, interOpThreads, executionMode, graphOptimizationLevel, enableMemPattern });
  return grid;
}

/**
 * Try every grid setting against the baseline session on the sample rows and return the table and
 * the fastest setting whose outputs equal the baseline's.
 *
 * @throws INVALID_ARGUMENT for rounds or batch sizes out of range, or a model the sample cannot run
 */
export async function tuneSessionSettings(options: TuneOptions): Promise<TuneResult> {
  const { bytes, signature, rounds } = options;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 1000)
    throw invalid(`rounds must be an integer from 1 to 1000, got ${rounds}`);
  const sample = options.sampleFeeds ?? syntheticRows(signature, SYNTHETIC_ROWS);
  const requested = options.batchSizes ?? [1, 64];
  for (const b of requested)
    if (!Number.isInteger(b) || b < 1) throw invalid(`batch sizes must be positive integers, got ${b}`);
  const batchSizes = [...new Set(requested.map((b) => Math.min(b, sample.rowCount)))];
  const baseline = resolveSessionSettings(options.baseline);
  const grid = (options.grid ?? defaultTuneGrid()).map((s) => resolveSessionSettings(s, baseline));
  if (grid.length === 0) throw invalid('grid must hold at least one setting');
  const outputNames = signature.outputs.map((o) => o.name);
  const all = evalSetSlice(sample, 0, sample.rowCount);
  const slices = batchSizes.map((b) => evalSetSlice(sample, 0, b));

  const reference = await openSession(bytes, baseline);
  try {
    const expected = await reference.run(all, outputNames);
    const rows: TuneRow[] = [];
    for (const [i, settings] of grid.entries()) {
      options.progress?.(`setting ${i + 1}/${grid.length}: ${describeSettings(settings)}`);
      const session = await openSession(bytes, settings);
      try {
        const comparison = compareOutputs(expected, await session.run(all, outputNames));
        const timings: TuneTiming[] = [];
        for (const [j, feeds] of slices.entries())
          timings.push(await alternate(session, reference, feeds, outputNames, rounds, batchSizes[j] as number));
        const speedup = Math.exp(timings.reduce((sum, t) => sum + Math.log(t.speedup), 0) / timings.length);
        rows.push({ settings, ...comparison, timings, speedup });
      } finally {
        await session.release();
      }
    }
    const own = rows.find((r) => r.outputsEqual && sameSettings(r.settings, baseline));
    const faster = rows.filter(
      (r) => r.outputsEqual && r.speedup >= TUNE_MIN_GAIN && r.timings.every((t) => t.speedup >= 1),
    );
    const fastest = faster.reduce<TuneRow | undefined>(
      (a, r) => (a === undefined || r.speedup > a.speedup ? r : a),
      undefined,
    );
    const best = fastest ??
      own ?? { settings: baseline, maxAbsDiff: 0, labelsEqual: true, outputsEqual: true, timings: [], speedup: 1 };
    return { baseline, rows, best, batchSizes, sampleRows: sample.rowCount };
  } finally {
    await reference.release();
  }
}

/** One line for a setting: `intra=2 inter=1 sequential graph=all arena=on pattern=off`. */
export function describeSettings(s: Required<SessionSettings>): string {
  const onOff = (b: boolean) => (b ? 'on' : 'off');
  return `intra=${s.intraOpThreads} inter=${s.interOpThreads} ${s.executionMode} graph=${s.graphOptimizationLevel} arena=${onOff(s.enableCpuMemArena)} pattern=${onOff(s.enableMemPattern)}`;
}

function openSession(bytes: Uint8Array, settings: Required<SessionSettings>): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { ...ortSessionOptions(settings, 3), executionProviders: ['cpu'] });
}

/** Warm-up, then `rounds` rounds of a block of runs of `session` then of `reference`; mean ms per run of each. */
async function alternate(
  session: ort.InferenceSession,
  reference: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  outputNames: readonly string[],
  rounds: number,
  batchSize: number,
): Promise<TuneTiming> {
  for (let i = 0; i < WARMUP_RUNS; i++) {
    await session.run(feeds, [...outputNames]);
    await reference.run(feeds, [...outputNames]);
  }
  const own: number[] = [];
  const base: number[] = [];
  for (let round = 0; round < rounds; round++) {
    own.push((await timeBlock(session, feeds, outputNames)) / BLOCK_RUNS);
    base.push((await timeBlock(reference, feeds, outputNames)) / BLOCK_RUNS);
  }
  const msPerRun = median(own);
  const defaultMsPerRun = median(base);
  return { batchSize, msPerRun, defaultMsPerRun, speedup: defaultMsPerRun / msPerRun };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function timeBlock(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  outputNames: readonly string[],
): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < BLOCK_RUNS; i++) await session.run(feeds, [...outputNames]);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function compareOutputs(
  expected: ort.InferenceSession.ReturnType,
  actual: ort.InferenceSession.ReturnType,
): { maxAbsDiff: number; labelsEqual: boolean; outputsEqual: boolean } {
  let maxAbsDiff = 0;
  let labelsEqual = true;
  for (const [name, want] of Object.entries(expected)) {
    const got = actual[name];
    if (!(want instanceof ort.Tensor) || !(got instanceof ort.Tensor) || got.size !== want.size) {
      labelsEqual = false;
      continue;
    }
    const a = want.data as ArrayLike<number | bigint | string>;
    const b = got.data as ArrayLike<number | bigint | string>;
    const float = want.type === 'float32' || want.type === 'float64';
    for (let i = 0; i < a.length; i++) {
      if (float) maxAbsDiff = Math.max(maxAbsDiff, Math.abs((a[i] as number) - (b[i] as number)));
      else if (a[i] !== b[i]) labelsEqual = false;
    }
  }
  return { maxAbsDiff, labelsEqual, outputsEqual: labelsEqual && maxAbsDiff <= TUNE_TOLERANCE };
}

function sameSettings(a: Required<SessionSettings>, b: Required<SessionSettings>): boolean {
  return (Object.keys(a) as (keyof SessionSettings)[]).every((k) => a[k] === b[k]);
}

/**
 * `rows` deterministic rows for every input: floats in [0, 1) from a fixed-seed generator, integers
 * and booleans 0, strings empty; variable dimensions after the first are 1.
 */
export function syntheticRows(signature: Signature, rows: number): EvalSet {
  let seed = 0x2545f491;
  const next = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const inputs: Record<string, FeedTensor> = {};
  for (const spec of signature.inputs) {
    const dims = [rows, ...spec.shape.slice(1).map((d) => (d < 0 ? 1 : d))];
    const count = dims.reduce((a, b) => a * b, 1);
    let data: FeedTensor['data'];
    switch (spec.datatype) {
      case 'FP32':
        data = Float32Array.from({ length: count }, next);
        break;
      case 'FP64':
        data = Float64Array.from({ length: count }, next);
        break;
      case 'INT64':
        data = new BigInt64Array(count);
        break;
      case 'INT32':
        data = new Int32Array(count);
        break;
      case 'BOOL':
        data = new Uint8Array(count);
        break;
      case 'BYTES':
        data = new Array<string>(count).fill('');
        break;
      case 'FP16':
      case 'INT8':
      case 'INT16':
      case 'UINT8':
      case 'UINT16':
      case 'UINT32':
      case 'UINT64':
        throw invalid(
          `input "${spec.name}" is ${spec.datatype}; tune makes rows only for FP32, FP64, INT64, INT32, BOOL and BYTES inputs: give --data`,
        );
    }
    inputs[spec.name] = { datatype: spec.datatype, dims, data };
  }
  return { rowCount: rows, inputs, source: 'synthetic rows' };
}
