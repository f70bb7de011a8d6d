import path from 'node:path';
import { Option, type Command } from 'commander';
import { invalid } from '../core/errors.js';
import { SqlOptimizeJobStore } from '../optimize/job-store.js';
import { checkSpec, parseStudent, type OptimizeSpec, type PassSpec } from '../optimize/optimize-spec.js';
import { reportTable } from '../optimize/report-format.js';
import { runStoredJob } from '../optimize/run-job.js';
import { refusalError, runOptimization, type OptimizationOutcome } from '../optimize/run-optimization.js';
import { auditedCliChange, cliActorName } from './cli-audit.js';
import { collect, jsonText } from './format.js';
import type { CliIo } from './io.js';
import { withRegistry } from './registry-commands.js';

interface CommonOptions {
  eval: string;
  labelColumn?: string;
  gate: string[];
  batchSizes?: string;
  minSeconds?: string;
  description?: string;
  dryRun?: boolean;
  json?: boolean;
}

interface OptimizeOptions extends CommonOptions {
  graph?: string;
  quantize?: string;
  perChannel?: boolean;
  opTypes?: string;
  includeNodes?: string;
  excludeNodes?: string;
  calibrate?: string;
  calibration?: string;
  prune?: string;
  fineTuneEpochs?: string;
  train?: string;
  fp16?: boolean;
}

interface DistillOptions extends CommonOptions {
  data: string;
  student: string;
  epochs?: string;
  temperature?: string;
  batchSize?: string;
  learningRate?: string;
  seed?: string;
}

/** The pass flags, in the order a user may compose them. */
const PASS_FLAGS = ['graph', 'quantize', 'prune', 'fp16'] as const;

const list = (text: string | undefined): string[] | undefined =>
  text === undefined
    ? undefined
    : text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');

function number(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw invalid(`--${flag} must be a number, got "${text}"`);
  return n;
}

/** `magnitude:0.5` / `neurons:0.5` → the pass and its amount. */
function prunePass(text: string, options: OptimizeOptions): PassSpec {
  const match = /^(magnitude|neurons):([0-9.]+)$/.exec(text.trim());
  if (match === null)
    throw invalid(`--prune must be magnitude:<sparsity> or neurons:<fraction>, e.g. magnitude:0.5; got "${text}"`);
  const amount = Number(match[2]);
  if (match[1] === 'magnitude') return { pass: 'prune-magnitude', settings: { sparsity: amount } };
  const epochs = number('fine-tune-epochs', options.fineTuneEpochs);
  return {
    pass: 'prune-neurons',
    settings: { fraction: amount, ...(epochs === undefined ? {} : { fineTuneEpochs: epochs }) },
  };
}

function quantizePass(mode: string, options: OptimizeOptions): PassSpec {
  const selection = {
    ...(options.perChannel === true ? { perChannel: true } : {}),
    ...(options.opTypes === undefined ? {} : { opTypes: list(options.opTypes) }),
    ...(options.includeNodes === undefined ? {} : { includeNodes: list(options.includeNodes) }),
    ...(options.excludeNodes === undefined ? {} : { excludeNodes: list(options.excludeNodes) }),
  };
  if (mode === 'dynamic') {
    if (options.calibrate !== undefined) throw invalid('--calibrate applies to --quantize static only');
    return { pass: 'quantize-dynamic', settings: selection };
  }
  if (mode === 'static')
    return { pass: 'quantize-static', settings: { ...selection, method: options.calibrate ?? 'minmax' } };
  throw invalid(`--quantize must be dynamic or static, got "${mode}"`);
}

/** The passes in the order their flags appear on the command line. */
function passesInOrder(order: readonly string[], options: OptimizeOptions): PassSpec[] {
  return order.map((flag) => {
    if (flag === 'graph') return { pass: 'graph', settings: { level: options.graph } };
    if (flag === 'quantize') return quantizePass(options.quantize!, options);
    if (flag === 'prune') return prunePass(options.prune!, options);
    return { pass: 'fp16', settings: {} };
  });
}

function commonSpec(io: CliIo, options: CommonOptions) {
  const file = (name: string | undefined): string | undefined =>
    name === undefined ? undefined : path.resolve(io.cwd, name);
  return {
    eval: file(options.eval)!,
    ...(options.labelColumn === undefined ? {} : { labelColumn: options.labelColumn }),
    gates: options.gate,
    dryRun: options.dryRun === true,
    ...(options.description === undefined ? {} : { description: options.description }),
    batchSizes: (list(options.batchSizes) ?? ['1', '64']).map((b) => Number(b)),
    minSeconds: number('min-seconds', options.minSeconds) ?? 2,
    file,
  };
}

function addCommonOptions(command: Command): Command {
  return command
    .requiredOption('--eval <file>', 'held-out rows (CSV, Parquet, JSONL) both models are compared on')
    .option('--label-column <name>', 'the true labels in --eval (and --train): adds accuracy/f1/auc or mae/rmse/r2')
    .option('--gate <metric op value>', "a condition to register, e.g. 'accuracy>=-0.005' (repeatable)", collect, [])
    .option('--batch-sizes <list>', 'latency comparison batch sizes', '1,64')
    .option('--min-seconds <s>', 'timed seconds per model and batch size at least', '2')
    .option('--description <text>', "the new version's description")
    .option('--dry-run', 'measure and report, store nothing')
    .option('--json', 'machine-readable outcome');
}

/** Print the outcome; a refusal throws (exit 1) after the report was printed. */
function printOutcome(io: CliIo, outcome: OptimizationOutcome, json: boolean | undefined): void {
  if (json === true) {
    const { parent, version, ...rest } = outcome;
    io.stdout(jsonText({ ...rest, parent: `${parent.model}@${parent.version}`, version: version?.version ?? null }));
  } else {
    io.stdout(reportTable(outcome.report, outcome.gates));
    if (outcome.status === 'registered' && outcome.version !== undefined)
      io.stdout(
        `registered ${outcome.version.model}@${outcome.version.version} from ${outcome.parent.version} (${outcome.passes.map((p) => p.name).join(' + ')})\n`,
      );
    if (outcome.status === 'dry-run') io.stdout('dry run: nothing was stored\n');
  }
  if (outcome.status === 'refused') throw refusalError(outcome);
}

async function runAndPrint(io: CliIo, spec: OptimizeSpec, json: boolean | undefined): Promise<void> {
  const outcome = await withRegistry(io, async ({ registry, database }) => {
    const run = () =>
      runOptimization(spec, {
        registry,
        actor: `cli:${cliActorName()}`,
        progress: (line) => io.stderr(`${line}\n`),
      });
    if (spec.dryRun) return run();
    return auditedCliChange(
      database,
      {
        action: `model.${spec.kind}`,
        target: (done) => (done?.version ? `${done.version.model}@${done.version.version}` : spec.model),
        details: { passes: spec.passes.map((p) => p.pass) },
      },
      run,
    );
  });
  printOutcome(io, outcome, json);
}

/** `slipway optimize`, `slipway distill`, and the job runner the server starts. */
export function registerOptimizeCommands(program: Command, io: CliIo): void {
  const order: string[] = [];
  const optimize = program
    .command('optimize')
    .description('Make a faster version of a model (graph optimization, INT8, pruning, FP16), gated on held-out rows')
    .argument('<model@version>', 'the parent version')
    .option('--graph <level>', "ONNX Runtime's graph optimizations saved offline: basic, extended or all")
    .option('--quantize <mode>', 'INT8: dynamic (weights; activations at run time) or static (with --calibration)')
    .option('--per-channel', 'quantize weights per output channel')
    .option('--op-types <list>', 'operator types to quantize (default MatMul,Gemm; static adds Conv)')
    .option('--include-nodes <list>', 'quantize only these nodes')
    .option('--exclude-nodes <list>', 'leave these nodes in float')
    .option('--calibrate <method>', 'static calibration: minmax, percentile:99.99 or entropy', undefined)
    .option('--calibration <file>', 'rows static quantization collects activation ranges from')
    .option(
      '--prune <kind:amount>',
      'magnitude:<sparsity> (weights zeroed) or neurons:<fraction> (hidden units removed)',
    )
    .option('--fine-tune-epochs <n>', 'after neurons pruning: train this many epochs on --train rows')
    .option('--train <file>', 'labelled rows for the fine-tune (with --label-column)')
    .addOption(new Option('--fp16', 'weights and compute in FP16, inputs and outputs unchanged'));
  addCommonOptions(optimize);
  for (const flag of PASS_FLAGS) optimize.on(`option:${flag}`, () => order.push(flag));
  optimize.action(async (model: string, options: OptimizeOptions) => {
    const common = commonSpec(io, options);
    const { file, ...rest } = common;
    const spec = checkSpec({
      kind: 'optimize',
      model,
      passes: passesInOrder(order, options),
      ...rest,
      ...(options.calibration === undefined ? {} : { calibration: file(options.calibration)! }),
      ...(options.train === undefined ? {} : { train: file(options.train)! }),
    });
    await runAndPrint(io, spec, options.json);
  });

  const distill = program
    .command('distill')
    .description(
      "Train a small MLP student on a teacher version's outputs; registered as a new version if it passes the gates",
    )
    .argument('<teacher@version>', 'the teacher version')
    .requiredOption('--data <file>', 'unlabeled rows the teacher labels (CSV, Parquet, JSONL)')
    .option('--student <spec>', 'the student: mlp:<width>,<width>...', 'mlp:128,64')
    .option('--epochs <n>', 'training epochs')
    .option('--temperature <t>', "softens the teacher's probabilities")
    .option('--batch-size <n>', 'training batch size')
    .option('--learning-rate <lr>', 'Adam learning rate')
    .option('--seed <n>', 'weight initialisation and shuffling seed');
  addCommonOptions(distill);
  distill.action(async (teacher: string, options: DistillOptions) => {
    const { file, ...rest } = commonSpec(io, options);
    const settings: Record<string, unknown> = { hidden: parseStudent(options.student) };
    for (const [key, flag] of [
      ['epochs', 'epochs'],
      ['temperature', 'temperature'],
      ['batchSize', 'batch-size'],
      ['learningRate', 'learning-rate'],
      ['seed', 'seed'],
    ] as const) {
      const value = number(flag, options[key]);
      if (value !== undefined) settings[key] = value;
    }
    const spec = checkSpec({
      kind: 'distill',
      model: teacher,
      passes: [{ pass: 'distill', settings }],
      ...rest,
      data: file(options.data)!,
    });
    await runAndPrint(io, spec, options.json);
  });

  program
    .command('optimize-job', { hidden: true })
    .description('Run a stored optimize job (what the server starts for POST .../optimize)')
    .argument('<id>')
    .action(async (id: string) => {
      const status = await withRegistry(io, ({ registry, database }) =>
        runStoredJob(id, { registry, jobs: new SqlOptimizeJobStore(database) }),
      );
      io.stdout(`optimize job ${id}: ${status}\n`);
    });
}
