// The models the benchmark serves, and the one-row request each scenario sends.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MODELS_DIR } from './config.mjs';

/**
 * `row()` returns one row of input as a Float32Array (batch dimension excluded from `shape`).
 * Small: breast_cancer (30 floats). Heavy compute: digits_mlp_wide (1.1M parameters).
 * Large tensor: digits_image (3x224x224 = 150,528 floats, 602 KB raw).
 */
export const MODELS = [
  { name: 'breast_cancer', kind: 'small', input: 'input', shape: [30], row: () => expectedRow('breast_cancer') },
  { name: 'digits_mlp_wide', kind: 'heavy', input: 'input', shape: [64], row: () => expectedRow('digits_mlp_wide') },
  { name: 'digits_image', kind: 'large tensor', input: 'image', shape: [3, 224, 224], row: noisyImage },
].map((m) => ({ ...m, file: join(MODELS_DIR, `${m.name}.onnx`), rowSize: m.shape.reduce((a, b) => a * b, 1) }));

export const modelByName = (name) => MODELS.find((m) => m.name === name);

function expected(name) {
  return JSON.parse(readFileSync(join(MODELS_DIR, `${name}.expected.json`), 'utf8'));
}

/** Row 0 of the fixture's held-out inputs (already float32-rounded). */
function expectedRow(name) {
  const input = expected(name).inputs[0];
  const size = input.shape.slice(1).reduce((a, b) => a * b, 1);
  return Float32Array.from(input.data.slice(0, size));
}

/**
 * Row 0 of digits_image's held-out images plus small deterministic noise (uniform +-0.05), so
 * the JSON body carries realistic float32 values (about 18 characters each, 2.9 MB per image)
 * rather than small integers. The noise averages out in the 28x28 pooling: same label.
 */
function noisyImage() {
  const clean = expectedRow('digits_image');
  let seed = 20240601;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return clean.map((v) => v + (rand() - 0.5) * 0.1);
}
