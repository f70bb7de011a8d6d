/**
 * Test support for the distill pass: fixture tables (fixtures/optimize/*.csv) read into an EvalSet
 * for a single-input model, a pass context, label agreement between two models, and per-row latency
 * of two models at batch 1 measured alternating (one thread each, after warm-up).
 */
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import type { Signature } from '../../tensor/datatypes.js';
import type { EvalSet, FeedTensor, PassContext } from '../types.js';

export const OPTIMIZE_FIXTURES = new URL('../../../fixtures/optimize/', import.meta.url);
const MODEL_FIXTURES = new URL('../../../fixtures/models/', import.meta.url);

/** A fixture model's bytes (testing/fixtures.ts's fixtureBytes imports the whole platform). */
export function modelFixture(file: string): Uint8Array {
  return readFileSync(new URL(file, MODEL_FIXTURES));
}

/** A CSV of input_0..input_k (+ optional label) as rows of the FP32 input `input`. */
export function readTable(file: string): EvalSet {
  const lines = readFileSync(new URL(file, OPTIMIZE_FIXTURES), 'utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const featureColumns = header.map((c, i) => (c.startsWith('input_') ? i : -1)).filter((i) => i >= 0);
  const labelColumn = header.indexOf('label');
  const rows = lines.length - 1;
  const data = new Float32Array(rows * featureColumns.length);
  const labels: number[] = [];
  lines.slice(1).forEach((line, r) => {
    const cells = line.split(',');
    featureColumns.forEach((c, j) => (data[r * featureColumns.length + j] = Number(cells[c])));
    if (labelColumn >= 0) labels.push(Number(cells[labelColumn]));
  });
  const input: FeedTensor = { datatype: 'FP32', dims: [rows, featureColumns.length], data };
  return {
    rowCount: rows,
    inputs: { input },
    source: file,
    ...(labelColumn >= 0 ? { labels, labelColumn: 'label' } : {}),
  };
}

/** A PassContext with `data` and the messages progress() received. */
export function distillContext(signature: Signature, data: EvalSet | undefined, messages: string[] = []): PassContext {
  return { signature, workDir: '/nonexistent', progress: (m) => messages.push(m), ...(data ? { data } : {}) };
}

function feeds(rows: EvalSet, start: number, end: number): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [name, feed] of Object.entries(rows.inputs)) {
    const width = feed.dims.slice(1).reduce((a, b) => a * b, 1);
    const type = feed.datatype === 'BYTES' ? 'string' : 'float32';
    out[name] = new ort.Tensor(type, feed.data.slice(start * width, end * width), [end - start, ...feed.dims.slice(1)]);
  }
  return out;
}

/** Every output of `model` over all rows at once (labels as numbers or strings, floats as numbers). */
export async function runAll(model: Uint8Array, rows: EvalSet): Promise<Record<string, unknown[]>> {
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const result = await session.run(feeds(rows, 0, rows.rowCount));
  await session.release();
  const out: Record<string, unknown[]> = {};
  for (const [name, tensor] of Object.entries(result))
    out[name] = Array.from(tensor.data as Iterable<unknown>, (v) => (typeof v === 'bigint' ? Number(v) : v));
  return out;
}

/** Share of rows where output `label` is equal for both models. */
export async function labelAgreement(teacher: Uint8Array, student: Uint8Array, rows: EvalSet): Promise<number> {
  const a = (await runAll(teacher, rows))['label']!;
  const b = (await runAll(student, rows))['label']!;
  return a.filter((v, i) => v === b[i]).length / a.length;
}

/** Median microseconds per row at batch 1, two sessions alternating row by row after warm-up. */
export async function batchOneLatency(
  teacher: Uint8Array,
  student: Uint8Array,
  rows: EvalSet,
  runs = 2000,
): Promise<{ teacherUs: number; studentUs: number; speedup: number }> {
  const options = { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 as const };
  const sessions = [
    await ort.InferenceSession.create(teacher, options),
    await ort.InferenceSession.create(student, options),
  ];
  const times: number[][] = [[], []];
  for (let i = 0; i < runs + 200; i++) {
    const row = feeds(rows, i % rows.rowCount, (i % rows.rowCount) + 1);
    for (let k = 0; k < 2; k++) {
      const started = performance.now();
      await sessions[k]!.run(row);
      if (i >= 200) times[k]!.push(performance.now() - started);
    }
  }
  await Promise.all(sessions.map((s) => s.release()));
  const median = (t: number[]) => t.sort((x, y) => x - y)[t.length >> 1]! * 1000;
  const [teacherUs, studentUs] = [median(times[0]!), median(times[1]!)];
  return { teacherUs, studentUs, speedup: teacherUs / studentUs };
}
