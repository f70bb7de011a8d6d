/**
 * The 'distill' pass (issue 16, part 2): the teacher (the parent model) labels the distillation
 * rows (`--data`) in ONNX Runtime, an MLP student is trained on its outputs (train/student.ts:
 * soft targets at a temperature for classifiers, the values for regressors) and written as ONNX
 * with the teacher's exact signature (train/export-student.ts), string inputs included.
 */
import ort from 'onnxruntime-node';
import { invalid, SlipwayError } from '../../core/errors.js';
import type { Datatype, Signature, TensorSpec } from '../../tensor/datatypes.js';
import { verifyCandidate } from '../onnx/check-model.js';
import { decodeModel } from '../onnx/model-proto.js';
import { buildFeatureModel, exportStudent, type StudentHead } from '../train/export-student.js';
import { trainStudent, type StudentSettings, type StudentTargets } from '../train/student.js';
import type { EvalSet, FeedTensor, OptimizationPass, PassContext } from '../types.js';

export type DistillationSettings = Partial<StudentSettings>;

export const DISTILLATION_DEFAULTS: StudentSettings = {
  hidden: [128, 64],
  epochs: 30,
  temperature: 2,
  batchSize: 64,
  learningRate: 1e-3,
  seed: 0,
};

/** Rows per ONNX Runtime run when the teacher labels the data. */
const LABEL_BATCH = 256;

const ORT_TYPE: Partial<Record<Datatype, ort.Tensor.Type>> = {
  FP32: 'float32',
  FP64: 'float64',
  INT64: 'int64',
  INT32: 'int32',
  INT16: 'int16',
  INT8: 'int8',
  UINT8: 'uint8',
  UINT16: 'uint16',
  BOOL: 'bool',
  BYTES: 'string',
};

function positiveInteger(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max)
    throw invalid(`distill: ${name} must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
  return value;
}

function positiveNumber(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max)
    throw invalid(`distill: ${name} must be a number above 0 and at most ${max}, got ${JSON.stringify(value)}`);
  return value;
}

/** Settings with defaults filled in; INVALID_ARGUMENT naming an unknown or out-of-range setting. */
export function distillationSettings(given: DistillationSettings = {}): StudentSettings {
  const unknown = Object.keys(given).filter((k) => !(k in DISTILLATION_DEFAULTS));
  if (unknown.length > 0)
    throw invalid(
      `distill: unknown setting${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${Object.keys(DISTILLATION_DEFAULTS).join(', ')}`,
    );
  const merged = { ...DISTILLATION_DEFAULTS, ...given };
  if (!Array.isArray(merged.hidden) || merged.hidden.length === 0 || merged.hidden.length > 8)
    throw invalid(
      `distill: hidden must list 1 to 8 layer widths (e.g. mlp:128,64), got ${JSON.stringify(merged.hidden)}`,
    );
  merged.hidden.forEach((w, i) => positiveInteger(`hidden layer ${i + 1}'s width`, w, 4096));
  if (typeof merged.seed !== 'number' || !Number.isInteger(merged.seed) || merged.seed < 0 || merged.seed > 0xffffffff)
    throw invalid(`distill: seed must be an integer from 0 to 4294967295, got ${JSON.stringify(merged.seed)}`);
  return {
    hidden: [...(merged.hidden as readonly number[])],
    epochs: positiveInteger('epochs', merged.epochs, 10_000),
    temperature: positiveNumber('temperature', merged.temperature, 100),
    batchSize: positiveInteger('batchSize', merged.batchSize, 65_536),
    learningRate: positiveNumber('learningRate', merged.learningRate, 1),
    seed: merged.seed,
  };
}

const isFloat = (spec: TensorSpec) => spec.datatype === 'FP32' || spec.datatype === 'FP64';
const isLabel = (spec: TensorSpec) =>
  ['INT64', 'INT32', 'BYTES'].includes(spec.datatype) &&
  (spec.shape.length === 1 || (spec.shape.length === 2 && spec.shape[1] === 1));

/**
 * What the student reproduces: a classifier (a label output plus a float [batch, k] probability
 * output) or a regressor (one float output, [batch] or [batch, m]). Anything else is refused.
 */
export function studentRoles(
  signature: Signature,
): { kind: 'classification'; label: string; probabilities: string } | { kind: 'regression'; output: string } {
  const outputs = signature.outputs;
  const labels = outputs.filter(isLabel);
  const floats = outputs.filter((o) => isFloat(o) && o.shape.length === 2);
  if (outputs.length === 2 && labels.length === 1 && floats.length === 1)
    return { kind: 'classification', label: labels[0]!.name, probabilities: floats[0]!.name };
  if (outputs.length === 1 && isFloat(outputs[0]!) && outputs[0]!.shape.length <= 2)
    return { kind: 'regression', output: outputs[0]!.name };
  throw invalid(
    `distill: the teacher's outputs (${outputs.map((o) => `${o.name} ${o.datatype} [${o.shape.join(', ')}]`).join('; ')}) are neither a label plus [batch, k] probabilities nor one float regression output`,
  );
}

/** Rows [start, end) of one input as an ONNX Runtime tensor. */
function feedSlice(name: string, feed: FeedTensor, start: number, end: number): ort.Tensor {
  const type = ORT_TYPE[feed.datatype];
  if (type === undefined)
    throw invalid(`distill: input "${name}" is ${feed.datatype}, which the teacher cannot be fed`);
  const width = feed.dims.slice(1).reduce((a, b) => a * b, 1);
  const data = feed.data.slice(start * width, end * width);
  return new ort.Tensor(type, data, [end - start, ...feed.dims.slice(1)]);
}

/** Run `model` over every row of `data` in batches; each wanted output's values, rows in order. */
async function runOverRows(
  model: Uint8Array,
  signature: Signature,
  data: EvalSet,
  outputs: readonly string[],
): Promise<Map<string, { values: unknown[]; width: number }>> {
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const collected = new Map(outputs.map((o) => [o, { values: [] as unknown[], width: 0 }]));
  try {
    for (let start = 0; start < data.rowCount; start += LABEL_BATCH) {
      const end = Math.min(data.rowCount, start + LABEL_BATCH);
      const feeds: Record<string, ort.Tensor> = {};
      for (const spec of signature.inputs) feeds[spec.name] = feedSlice(spec.name, data.inputs[spec.name]!, start, end);
      const result = await session.run(feeds, [...outputs]);
      for (const name of outputs) {
        const tensor = result[name]!;
        const entry = collected.get(name)!;
        entry.width = tensor.dims.slice(1).reduce((a, b) => a * b, 1);
        for (const v of tensor.data as Iterable<unknown>) entry.values.push(typeof v === 'bigint' ? Number(v) : v);
      }
    }
  } finally {
    await session.release();
  }
  return collected;
}

/**
 * The label value of each class index: the teacher's label for the rows whose probabilities' argmax
 * is that index (the most frequent one); an index no row picks takes the parent's class label when
 * known, or its own number when every index seen labels itself.
 */
export function classLabelValues(
  probabilities: Float32Array,
  classes: number,
  labels: readonly unknown[],
  known?: readonly string[],
): (number | string)[] {
  const votes = Array.from({ length: classes }, () => new Map<number | string, number>());
  for (let r = 0; r < labels.length; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++)
      if (probabilities[r * classes + c]! > probabilities[r * classes + best]!) best = c;
    const label = labels[r] as number | string;
    votes[best]!.set(label, (votes[best]!.get(label) ?? 0) + 1);
  }
  const chosen = votes.map((v) => [...v.entries()].sort((a, b) => b[1] - a[1])[0]?.[0]);
  const identity = chosen.every((l, i) => l === undefined || l === i);
  return chosen.map((label, index) => {
    if (label !== undefined) return label;
    const fallback = known?.[index];
    if (fallback !== undefined)
      return typeof chosen.find((l) => l !== undefined) === 'number' ? Number(fallback) : fallback;
    if (identity) return index;
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `distill: no row of --data is predicted as class ${index}, so its label value is unknown; add rows of that class or give the parent class labels`,
    );
  });
}

function checkData(signature: Signature, data: EvalSet): void {
  for (const spec of signature.inputs) {
    const feed = data.inputs[spec.name];
    if (feed === undefined)
      throw invalid(`distill: the --data rows (${data.source}) have no values for input "${spec.name}"`);
    if (feed.datatype !== spec.datatype)
      throw invalid(`distill: input "${spec.name}" is ${spec.datatype} but the --data rows give ${feed.datatype}`);
  }
}

/**
 * Knowledge distillation into an MLP student: `apply(teacherBytes, context)` returns the student's
 * ONNX bytes, with the teacher's exact signature, checked by verifyCandidate.
 */
export function distillationPass(given: DistillationSettings = {}): OptimizationPass {
  const settings = distillationSettings(given);
  return {
    name: 'distill',
    settings: { ...settings, hidden: [...settings.hidden] },
    async apply(teacherBytes: Uint8Array, context: PassContext): Promise<Uint8Array> {
      const data = context.data;
      if (data === undefined || data.rowCount === 0)
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          'distill needs rows for the teacher to label: pass --data <file>',
        );
      const signature = context.signature;
      checkData(signature, data);
      const roles = studentRoles(signature);
      const teacher = decodeModel(teacherBytes);

      context.progress(`distill: the teacher labels ${data.rowCount} rows`);
      const featureRun = await runOverRows(buildFeatureModel(teacher, signature), signature, data, [
        'student_features',
      ]);
      const features = featureRun.get('student_features')!;
      const wanted = roles.kind === 'classification' ? [roles.probabilities, roles.label] : [roles.output];
      const teacherRun = await runOverRows(teacherBytes, signature, data, wanted);

      let targets: StudentTargets;
      let head: StudentHead;
      if (roles.kind === 'classification') {
        const p = teacherRun.get(roles.probabilities)!;
        const probabilities = Float32Array.from(p.values as number[]);
        targets = { kind: 'soft', probabilities, classes: p.width };
        const labels = teacherRun.get(roles.label)!.values;
        head = { ...roles, classLabels: classLabelValues(probabilities, p.width, labels, context.classLabels) };
      } else {
        const out = teacherRun.get(roles.output)!;
        targets = { kind: 'regression', values: Float32Array.from(out.values as number[]), width: out.width };
        head = roles;
      }

      const student = await trainStudent(
        Float32Array.from(features.values as number[]),
        data.rowCount,
        features.width,
        targets,
        settings,
        (epoch, loss) => context.progress(`distill: epoch ${epoch}/${settings.epochs}, loss ${loss.toFixed(4)}`),
      );
      const bytes = exportStudent(teacher, signature, head, student);
      await verifyCandidate('distill', bytes, decodeModel(bytes), signature);
      return bytes;
    },
  };
}
