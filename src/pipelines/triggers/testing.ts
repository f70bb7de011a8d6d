/**
 * Test helpers for the trigger modules: a stored pipeline with given triggers and sources made of
 * plain functions.
 */
import type { PipelineSpec, StoredPipeline, TriggerSpec } from '../types.js';
import type { TriggerDeps } from './evaluate-triggers.js';

const HOUR = 3_600_000;

/** A stored `cancer-retrain` pipeline (version 3) on breast_cancer with these triggers. */
export function pipelineWith(
  triggers: TriggerSpec[],
  overrides: Partial<PipelineSpec> = {},
  createdAt = '2026-12-01T00:00:00.000Z',
): StoredPipeline {
  const spec: PipelineSpec = {
    name: 'cancer-retrain',
    model: 'breast_cancer',
    triggers,
    minIntervalMs: HOUR,
    data: {
      labels: { kind: 'feedback' },
      windowMs: 30 * 24 * HOUR,
      split: { train: 0.7, validation: 0.15, test: 0.15 },
      labelColumn: 'label',
    },
    train: { command: ['/usr/bin/python3', 'train.py'], workdir: '.', timeoutMs: 600_000, env: {} },
    evaluate: { gates: [] },
    release: { kind: 'none' },
    allowMajor: false,
    ...overrides,
  };
  return { name: spec.name, version: 3, spec, active: true, createdAt };
}

/** Sources where nothing happens (no run yet, version 1.2.0 serves, no drift, good accuracy, no labels), overridable. */
export function quietDeps(overrides: Partial<TriggerDeps> = {}): TriggerDeps {
  return {
    lastRunStartedAt: () => Promise.resolve(undefined),
    servingVersion: () => Promise.resolve('1.2.0'),
    drift: () => Promise.resolve({ datasetDrift: false, share: 0, threshold: 0.5, rows: 100, features: [] }),
    performance: () => Promise.resolve({ value: 0.95, rows: 100 }),
    feedbackSince: () => Promise.resolve(0),
    ...overrides,
  };
}
