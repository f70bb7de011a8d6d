import type { PipelineSpec } from '../types.js';

/** A complete spec (as parsePipelinesYaml returns it) with the fields a test varies. */
export function pipelineSpec(name: string, overrides: Partial<PipelineSpec> = {}): PipelineSpec {
  return {
    name,
    model: 'digits_mlp',
    triggers: [{ kind: 'manual' }],
    minIntervalMs: 3_600_000,
    data: {
      labels: { kind: 'feedback' },
      windowMs: 86_400_000,
      split: { train: 0.7, validation: 0.15, test: 0.15 },
      labelColumn: 'label',
    },
    train: { command: ['node', 'train.mjs'], workdir: '/tmp', timeoutMs: 3_600_000, env: {} },
    evaluate: { gates: [] },
    release: { kind: 'none' },
    allowMajor: false,
    ...overrides,
  };
}
