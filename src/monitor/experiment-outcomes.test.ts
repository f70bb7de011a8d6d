import { describe, expect, it } from 'vitest';
import type { Tensor } from '../tensor/datatypes.js';
import { outcomeValue, predictedLabel } from './experiment-outcomes.js';
import type { PredictionWithFeedback } from './prediction-store.js';

const row = (outputs: Tensor[], feedback: { label?: string; value?: number }): PredictionWithFeedback => ({
  id: 1,
  requestId: 'r',
  timeMs: 0,
  deployment: 'd',
  model: 'm',
  version: '1.0.0',
  protocol: 'http',
  latencyMs: 1,
  inputs: [],
  outputs,
  shadow: undefined,
  features: undefined,
  label: feedback.label ?? null,
  value: feedback.value ?? null,
});
const label = (v: bigint): Tensor => ({ name: 'label', datatype: 'INT64', shape: [1], data: BigInt64Array.of(v) });
const probabilities = (...p: number[]): Tensor => ({
  name: 'probabilities',
  datatype: 'FP32',
  shape: [1, p.length],
  data: Float32Array.from(p),
});

describe('experiment outcomes', () => {
  it('accuracy: the label output, else the argmax of the probabilities, against the feedback label', () => {
    expect(outcomeValue('accuracy', row([label(1n), probabilities(0.2, 0.8)], { label: '1' }))).toBe(1);
    expect(outcomeValue('accuracy', row([label(0n), probabilities(0.6, 0.4)], { label: '1' }))).toBe(0);
    expect(outcomeValue('accuracy', row([probabilities(0.1, 0.3, 0.6)], { label: '2' }))).toBe(1);
    expect(predictedLabel([probabilities(0.5, 0.2, 0.3)])).toBe('0');
    expect(outcomeValue('accuracy', row([label(1n)], { value: 1 }))).toBeUndefined();
  });

  it('conversion: the feedback value (or a 0/1 label); mae: |first float output - value|', () => {
    expect(outcomeValue('conversion', row([label(1n)], { value: 1 }))).toBe(1);
    expect(outcomeValue('conversion', row([label(1n)], { label: '0' }))).toBe(0);
    expect(outcomeValue('conversion', row([label(1n)], { label: 'yes' }))).toBeUndefined();
    const regression: Tensor = { name: 'variable', datatype: 'FP64', shape: [1, 1], data: Float64Array.of(151.25) };
    expect(outcomeValue('mae', row([regression], { value: 140 }))).toBe(11.25);
    expect(outcomeValue('mae', row([label(1n)], { value: 140 }))).toBeUndefined();
  });
});
