/**
 * What one optimize or distill run is asked to do, the same from the CLI's flags and from the API's
 * JSON body: the parent (`model@selector`), the passes in order with their settings, the tables it
 * reads, the gates and the batch sizes of the latency comparison. Checked whole before anything
 * runs, every problem named.
 */
import { SlipwayError, invalid } from '../core/errors.js';
import { parseGate } from './gates.js';

export const PASS_NAMES = [
  'graph',
  'quantize-dynamic',
  'quantize-static',
  'prune-magnitude',
  'prune-neurons',
  'fp16',
  'distill',
] as const;
export type PassName = (typeof PASS_NAMES)[number];

/** One pass as asked for: its name and its settings (the pass refuses any it does not know). */
export interface PassSpec {
  readonly pass: PassName;
  readonly settings: Readonly<Record<string, unknown>>;
}

export interface OptimizeSpec {
  readonly kind: 'optimize' | 'distill';
  /** The parent: `model@selector` (a version, an alias, `latest`). */
  readonly model: string;
  readonly passes: readonly PassSpec[];
  /** Held-out rows both models are compared on (required). */
  readonly eval: string;
  readonly labelColumn?: string;
  readonly calibration?: string;
  readonly train?: string;
  /** Distillation: the unlabeled rows the teacher labels. */
  readonly data?: string;
  /** `metric op value`, e.g. `accuracy>=-0.005`; none given = DEFAULT_GATES. */
  readonly gates: readonly string[];
  readonly dryRun: boolean;
  readonly description?: string;
  /** Latency comparison batch sizes; default [1, 64]. */
  readonly batchSizes: readonly number[];
  /** Seconds of timed runs per model and batch size at least; default 2. */
  readonly minSeconds: number;
}

/** What a run is held to when it names no gate: the candidate answers like its parent on 97% of rows. */
export const DEFAULT_GATES = ['agreement>=0.97'] as const;

export const SPEC_LIMITS = { batchSize: [1, 4096], minSeconds: [0.05, 60], passes: 8 } as const;

const BODY_KEYS = [
  'passes',
  'eval',
  'labelColumn',
  'calibration',
  'train',
  'data',
  'gates',
  'dryRun',
  'description',
  'batchSizes',
  'minSeconds',
] as const;

/** `mlp:128,64` → the student's hidden layer widths; INVALID_ARGUMENT for anything else. */
export function parseStudent(text: unknown): number[] {
  const match = typeof text === 'string' ? /^mlp:(\d+(?:,\d+)*)$/.exec(text.trim()) : null;
  const hidden = match === null ? [] : match[1]!.split(',').map(Number);
  if (hidden.length === 0 || hidden.length > 8 || hidden.some((n) => n < 1 || n > 8192))
    throw invalid(
      `student must be "mlp:<width>[,<width>...]" (1 to 8 hidden layers of 1 to 8192 units), e.g. "mlp:128,64"; got ${JSON.stringify(text)}`,
    );
  return hidden;
}

/** The tables a spec reads, by the field that names them (for data-root checks and messages). */
export function specFiles(spec: OptimizeSpec): Array<{ field: string; file: string }> {
  const files = [{ field: 'eval', file: spec.eval }];
  for (const field of ['calibration', 'train', 'data'] as const) {
    const file = spec[field];
    if (file !== undefined) files.push({ field, file });
  }
  return files;
}

/**
 * A spec from an API body (`POST /api/v1/models/{m}/versions/{v}/optimize` or `.../distill`):
 * `{ passes: [{ pass: 'quantize-dynamic', perChannel: true }, ...], eval, labelColumn?, calibration?,
 * train?, data?, gates?, dryRun?, description?, batchSizes?, minSeconds? }`. For distill the body's
 * `student`, `epochs`, ... are the one distill pass's settings.
 */
export function parseSpecBody(kind: 'optimize' | 'distill', model: string, body: unknown): OptimizeSpec {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid(
      'the body must be a JSON object, e.g. {"passes": [{"pass": "quantize-dynamic"}], "eval": "held-out.csv"}',
    );
  const fields = body as Record<string, unknown>;
  const problems: string[] = [];
  let passes: PassSpec[] = [];
  if (kind === 'distill') {
    const { student, epochs, temperature, batchSize: trainBatch, learningRate, seed, ...rest } = fields;
    const hidden = student === undefined ? undefined : parseStudent(student);
    const settings = Object.fromEntries(
      Object.entries({ hidden, epochs, temperature, batchSize: trainBatch, learningRate, seed }).filter(
        ([, v]) => v !== undefined,
      ),
    );
    passes = [{ pass: 'distill', settings }];
    return buildSpec(kind, model, rest, passes, problems, [
      'student',
      'epochs',
      'temperature',
      'batchSize',
      'learningRate',
      'seed',
    ]);
  }
  const raw = fields.passes;
  if (!Array.isArray(raw) || raw.length === 0)
    problems.push('passes must be a non-empty list, e.g. [{"pass": "graph", "level": "all"}]');
  else
    raw.forEach((entry, i) => {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        problems.push(`passes[${i}] must be an object with "pass"`);
        return;
      }
      const { pass, ...settings } = entry as Record<string, unknown>;
      if (pass === 'distill') problems.push(`passes[${i}]: distill has its own endpoint (.../distill)`);
      else if (!(PASS_NAMES as readonly unknown[]).includes(pass))
        problems.push(
          `passes[${i}].pass must be one of ${PASS_NAMES.filter((p) => p !== 'distill').join(', ')}, got ${JSON.stringify(pass)}`,
        );
      else passes.push({ pass: pass as PassName, settings });
    });
  const rest = { ...fields };
  delete rest.passes;
  return buildSpec(kind, model, rest, passes, problems, []);
}

function buildSpec(
  kind: 'optimize' | 'distill',
  model: string,
  fields: Record<string, unknown>,
  passes: PassSpec[],
  problems: string[],
  extraKeys: readonly string[],
): OptimizeSpec {
  for (const key of Object.keys(fields))
    if (!(BODY_KEYS as readonly string[]).includes(key) && !extraKeys.includes(key))
      problems.push(
        `unknown field "${key}" (known: ${[...BODY_KEYS.filter((k) => k !== 'passes'), ...extraKeys].join(', ')})`,
      );
  const text = (key: string, required = false): string | undefined => {
    const v = fields[key];
    if (v === undefined || v === null) {
      if (required) problems.push(`${key} is required: the table of held-out rows both models are compared on`);
      return undefined;
    }
    if (typeof v !== 'string' || v.trim() === '') {
      problems.push(`${key} must be a non-empty string`);
      return undefined;
    }
    return v;
  };
  const gates = fields.gates ?? [];
  if (!Array.isArray(gates) || gates.some((g) => typeof g !== 'string'))
    problems.push('gates must be a list of strings such as "accuracy>=-0.005"');
  const dryRun = fields.dryRun ?? false;
  if (typeof dryRun !== 'boolean') problems.push('dryRun must be true or false');
  const spec = {
    kind,
    model,
    passes,
    eval: text('eval', true) ?? '',
    labelColumn: text('labelColumn'),
    calibration: text('calibration'),
    train: text('train'),
    data: text('data'),
    gates: Array.isArray(gates) ? (gates as string[]) : [],
    dryRun: dryRun === true,
    description: text('description'),
    batchSizes: (fields.batchSizes as number[] | undefined) ?? [1, 64],
    minSeconds: (fields.minSeconds as number | undefined) ?? 2,
  };
  return checkSpec(spec, problems);
}

/** Check a spec built by the CLI or the API; INVALID_ARGUMENT listing every problem. */
export function checkSpec(spec: OptimizeSpec, problems: string[] = []): OptimizeSpec {
  if (spec.passes.length === 0 && problems.length === 0)
    problems.push('name at least one pass (e.g. --quantize dynamic)');
  if (spec.passes.length > SPEC_LIMITS.passes) problems.push(`at most ${SPEC_LIMITS.passes} passes in one run`);
  const [lo, hi] = SPEC_LIMITS.batchSize;
  if (!Array.isArray(spec.batchSizes) || spec.batchSizes.length === 0 || spec.batchSizes.length > 4)
    problems.push('batchSizes must list 1 to 4 batch sizes');
  else
    for (const b of spec.batchSizes)
      if (!Number.isInteger(b) || b < lo || b > hi)
        problems.push(`batch sizes must be integers from ${lo} to ${hi}, got ${JSON.stringify(b)}`);
  const [slo, shi] = SPEC_LIMITS.minSeconds;
  if (typeof spec.minSeconds !== 'number' || !(spec.minSeconds >= slo && spec.minSeconds <= shi))
    problems.push(`minSeconds must be a number from ${slo} to ${shi}`);
  for (const gate of spec.gates) {
    try {
      parseGate(gate);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  const uses = new Set(spec.passes.map((p) => p.pass));
  if (uses.has('quantize-static') && spec.calibration === undefined)
    problems.push('quantize-static needs calibration rows (--calibration <file>)');
  if (uses.has('distill') && spec.data === undefined)
    problems.push('distill needs unlabeled rows for the teacher to label (--data <file>)');
  if (spec.kind === 'distill' && spec.passes.some((p) => p.pass !== 'distill'))
    problems.push('a distill run has only the distill pass');
  if (problems.length > 0)
    throw new SlipwayError('INVALID_ARGUMENT', `invalid ${spec.kind} request: ${problems.join('; ')}`, {
      details: problems,
    });
  return spec;
}
