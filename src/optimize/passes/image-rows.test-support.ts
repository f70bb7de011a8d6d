/**
 * Test helper: the digits image tables of fixtures/optimize/ (make_cnn.py's `image_0..image_255` +
 * `label`) as an EvalSet for digits_cnn.onnx's `image` input, read without the io/ module.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { EvalSet } from '../types.js';

/** `digits_images_test.csv` (450 held-out rows) or `digits_images_calibration.csv` (200 training rows). */
export function imageRows(file: string): EvalSet {
  const path = fileURLToPath(new URL(`../../../fixtures/optimize/${file}`, import.meta.url));
  const [header, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const width = header!.split(',').length - 1;
  const data = new Float32Array(lines.length * width);
  const labels: number[] = [];
  lines.forEach((line, row) => {
    const values = line.split(',').map(Number);
    data.set(values.slice(0, width), row * width);
    labels.push(values[width]!);
  });
  return {
    rowCount: lines.length,
    inputs: { image: { datatype: 'FP32', dims: [lines.length, width], data } },
    labels,
    labelColumn: 'label',
    source: file,
  };
}
