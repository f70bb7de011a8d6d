import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  calibrate,
  entropyThreshold,
  HISTOGRAM_BINS,
  parseCalibrationMethod,
  percentileThreshold,
} from './calibrate.js';
import { imageRows } from './image-rows.test-support.js';
import { modelBytes } from './passes.test-support.js';

const bytes = modelBytes('digits_cnn.onnx');
const rows = imageRows('digits_images_calibration.csv');
const TENSORS = ['image', 'conv1', 'relu1', 'pool1', 'relu2', 'features', 'logits', 'probabilities'];

function minMax(values: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    min = Math.min(min, values[i]!);
    max = Math.max(max, values[i]!);
  }
  return { min, max };
}

describe('calibrate', () => {
  it('minmax: the graph input range and a graph output range equal min/max of the tensors computed directly', async () => {
    const ranges = await calibrate(bytes, ['image', 'probabilities', 'relu1'], rows, 'minmax');
    const image = rows.inputs.image!.data as Float32Array;
    expect(ranges.get('image')).toEqual(minMax(image));
    expect(ranges.get('image')).toEqual({ min: 0, max: 16 });
    // The whole set in one run, without the exposed outputs: the batched calibration saw the same values.
    const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
    const out = await session.run({ image: new ort.Tensor('float32', image, [rows.rowCount, 256]) });
    await session.release();
    const direct = minMax(out.probabilities!.data as Float32Array);
    expect(ranges.get('probabilities')!.min).toBeCloseTo(direct.min, 6);
    expect(ranges.get('probabilities')!.max).toBeCloseTo(direct.max, 6);
    // relu1 is a Relu output: never below 0, and some unit fires
    expect(ranges.get('relu1')!.min).toBe(0);
    expect(ranges.get('relu1')!.max).toBeGreaterThan(1);
  });

  it('percentile and entropy ranges lie within the minmax ranges; percentile:100 reaches the largest |x|', async () => {
    const minmax = await calibrate(bytes, TENSORS, rows, 'minmax');
    for (const method of ['percentile:99.99', 'percentile:99', 'entropy', 'percentile:100']) {
      const ranges = await calibrate(bytes, TENSORS, rows, method);
      for (const name of TENSORS) {
        const r = ranges.get(name)!;
        const m = minmax.get(name)!;
        expect(r.min, `${method} ${name}`).toBeGreaterThanOrEqual(m.min);
        expect(r.max, `${method} ${name}`).toBeLessThanOrEqual(m.max);
        expect(r.max, `${method} ${name}`).toBeGreaterThan(r.min);
      }
      if (method === 'percentile:100')
        for (const name of TENSORS) {
          const m = minmax.get(name)!;
          const edge = Math.max(-m.min, m.max);
          expect(ranges.get(name)!.max).toBeCloseTo(Math.min(m.max, edge), 5);
        }
    }
    // A Relu output's 99th percentile clips its long tail: strictly inside the observed maximum.
    const p99 = await calibrate(bytes, ['relu2'], rows, 'percentile:99');
    expect(p99.get('relu2')!.max).toBeLessThan(minmax.get('relu2')!.max * 0.9);
    expect(p99.get('relu2')!.min).toBe(0);
  });

  it('refuses unknown tensors, initializers, missing inputs and unknown methods by name', async () => {
    await expect(calibrate(bytes, ['nope'], rows)).rejects.toThrow(/no tensor "nope"/);
    await expect(calibrate(bytes, ['conv1_w'], rows)).rejects.toThrow(/"conv1_w" is an initializer/);
    await expect(calibrate(bytes, ['relu1'], { ...rows, inputs: {} })).rejects.toThrow(
      /no values for model input "image"/,
    );
    expect(() => parseCalibrationMethod('percentile:0')).toThrow(/percentile:<p>/);
    expect(() => parseCalibrationMethod('kl')).toThrow(/calibration method "kl"/);
    expect(parseCalibrationMethod('percentile:99.99')).toEqual({ kind: 'percentile', percentile: 99.99 });
  });
});

describe('histogram thresholds', () => {
  it('percentileThreshold returns the upper edge of the bin where the cumulative share is reached', () => {
    const histogram = new Float64Array(HISTOGRAM_BINS);
    histogram[0] = 90;
    histogram[99] = 9;
    histogram[2047] = 1;
    expect(percentileThreshold(histogram, 2048, 90)).toBe(1);
    expect(percentileThreshold(histogram, 2048, 99)).toBe(100);
    expect(percentileThreshold(histogram, 2048, 99.5)).toBe(2048);
  });

  it('entropyThreshold clips a lone far outlier but keeps a dense body', () => {
    const histogram = new Float64Array(HISTOGRAM_BINS);
    for (let i = 0; i < 1000; i++) histogram[i] = 1000 - i; // a decaying body over the first 1000 bins
    histogram[2047] = 1; // one value far out
    const threshold = entropyThreshold(histogram, 2048);
    expect(threshold).toBeGreaterThanOrEqual(600);
    expect(threshold).toBeLessThanOrEqual(1001);
    // Without the outlier the body is kept in full.
    histogram[2047] = 0;
    expect(entropyThreshold(histogram, 2048)).toBeGreaterThanOrEqual(900);
  });
});
