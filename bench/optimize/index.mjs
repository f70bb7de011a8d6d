// The `optimize` group (issue 16): each optimization budget measured as the optimize command
// measures it — the pass run on a fixture model, then parent and candidate compared in this
// process on held-out rows (same rows, alternating rounds after warm-up, one intra-op thread),
// the budget checked with the same gate language users write (`speedup_b64>=1.3`).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPasses, evaluateCandidate, readEvalSet, readOnnxModel } from '../../dist/index.js';
import { checkGates, parseGate } from '../../dist/optimize/gates.js';
import { BENCH_DIR } from '../lib/config.mjs';

const MODELS = join(BENCH_DIR, '..', 'fixtures', 'models');
const TABLES = join(BENCH_DIR, '..', 'fixtures', 'optimize');

export const SCENARIOS = [
  {
    name: 'dynamic INT8, 1.13M-parameter MLP',
    parent: 'digits_mlp_wide.onnx',
    passes: [{ pass: 'quantize-dynamic', settings: {} }],
    eval: 'digits_test.csv',
    budgets: ['size_ratio<=0.2857', 'speedup_b64>=1.3', 'accuracy>=-0.005'],
  },
  {
    name: 'static INT8, small CNN',
    parent: 'digits_cnn.onnx',
    passes: [{ pass: 'quantize-static', settings: { method: 'minmax' } }],
    eval: 'digits_images_test.csv',
    calibration: 'digits_images_calibration.csv',
    budgets: ['speedup_b1>=1.5', 'accuracy>=-0.01'],
  },
  {
    name: 'prune 50% of hidden units + fine-tune',
    parent: 'digits_mlp_wide.onnx',
    passes: [{ pass: 'prune-neurons', settings: { fraction: 0.5, fineTuneEpochs: 2 } }],
    eval: 'digits_test.csv',
    train: 'digits_train.csv',
    budgets: ['speedup_b64>=1.6', 'accuracy>=-0.01'],
  },
  {
    name: 'distill forest (>=100 trees) to mlp:128,64',
    parent: 'breast_cancer_forest.onnx',
    passes: [{ pass: 'distill', settings: { hidden: [128, 64] } }],
    eval: 'breast_cancer_test.csv',
    data: 'breast_cancer_unlabeled.csv',
    budgets: ['speedup_b1>=5', 'agreement>=0.97'],
  },
  {
    name: 'graph optimizations saved offline (all)',
    parent: 'digits_mlp_wide.onnx',
    passes: [{ pass: 'graph', settings: { level: 'all' } }],
    eval: 'digits_test.csv',
    budgets: ['load_ratio<=1'],
  },
];

/** Run every scenario (BENCH_OPTIMIZE_ONLY=<substring> picks some); returns one row per scenario. */
export async function optimize({ log, config }) {
  const minSeconds = config.quick ? 1 : 3;
  const only = process.env.BENCH_OPTIMIZE_ONLY;
  const rows = [];
  for (const scenario of SCENARIOS.filter((s) => !only || s.name.includes(only))) {
    log(`optimize: ${scenario.name}`);
    const parent = new Uint8Array(await readFile(join(MODELS, scenario.parent)));
    const { signature } = readOnnxModel(parent);
    const table = (file, purpose, labelled) =>
      file === undefined
        ? undefined
        : readEvalSet(join(TABLES, file), signature, { purpose, ...(labelled ? { labelColumn: 'label' } : {}) });
    const evalSet = await table(scenario.eval, 'eval', true);
    const context = {
      signature,
      workDir: await mkdtemp(join(tmpdir(), 'slipway-bench-optimize-')),
      progress: () => undefined,
      ...(scenario.calibration ? { calibration: await table(scenario.calibration, 'calibration', false) } : {}),
      ...(scenario.train ? { training: await table(scenario.train, 'train', true) } : {}),
      ...(scenario.data ? { data: await table(scenario.data, 'data', false) } : {}),
    };
    try {
      const started = performance.now();
      let candidate = parent;
      for (const pass of buildPasses(scenario.passes)) candidate = await pass.apply(candidate, context);
      const passSeconds = (performance.now() - started) / 1000;
      const report = await evaluateCandidate({
        parent,
        candidate,
        signature,
        evalSet,
        batchSizes: [1, 64],
        minSeconds,
      });
      const gates = checkGates(report, scenario.budgets.map(parseGate));
      rows.push({ scenario, report, gates, passSeconds });
    } finally {
      await rm(context.workDir, { recursive: true, force: true });
    }
  }
  return { minSeconds, rows };
}

export const OPTIMIZE_HEADER = [
  'scenario',
  'size',
  'load ms',
  'b1 ms p50 (parent → cand.)',
  'b64 ms p50',
  'speedup b1 / b64',
  'accuracy / agreement',
  'budget',
];

const f = (v, digits = 3) => (v === undefined || v === null ? 'n/a' : Number(v.toPrecision(digits)).toString());

export function optimizeRows({ rows }) {
  return rows.map(({ scenario, report, gates }) => {
    const [b1, b64] = report.latency;
    const accuracy = report.metrics
      ? `${f(report.metrics.parent.accuracy, 4)} → ${f(report.metrics.candidate.accuracy, 4)}`
      : 'n/a';
    return [
      scenario.name,
      `x${f(report.size.ratio)}`,
      `${f(report.loadMs.parent)} → ${f(report.loadMs.candidate)}`,
      `${f(b1?.parent.p50Ms)} → ${f(b1?.candidate.p50Ms)}`,
      `${f(b64?.parent.p50Ms)} → ${f(b64?.candidate.p50Ms)}`,
      `x${f(b1?.speedup)} / x${f(b64?.speedup)}`,
      `${accuracy} / ${f(report.agreement, 4)}`,
      gates.map((g) => `${g.passed ? 'PASS' : 'FAIL'} ${g.text} (${f(g.actual)})`).join('; '),
    ];
  });
}

export function markdownOptimize(result, markdownTable) {
  if (!result) return '';
  return `## Optimization (issue 16)\n\nParent and candidate in one process, ${result.minSeconds} s of alternating rounds per batch size, intra-op threads 1; speedup = parent mean time per run / candidate's.\n\n${markdownTable(OPTIMIZE_HEADER, optimizeRows(result))}\n`;
}
