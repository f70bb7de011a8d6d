import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type SlipwayConfig } from '../core/config.js';
import { openPlatform, type Platform } from '../platform.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/models/', import.meta.url));

export interface ExpectedTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: (number | string | boolean)[];
}

export interface ExpectedOutputs {
  model: string;
  file: string;
  tolerance: number;
  inputs: ExpectedTensor[];
  outputs: ExpectedTensor[];
}

/** The models with held-out rows and scikit-learn's outputs (fixtures/models/manifest.json). */
export const FIXTURE_MODELS = [
  'breast_cancer',
  'digits_mlp',
  'diabetes_ridge',
  'diabetes_ridge_fp64',
  'wine_forest',
  'iris_mixed',
] as const;

export function fixtureBytes(file: string): Buffer {
  return readFileSync(path.join(FIXTURES, file));
}

export function expectedOutputs(model: string): ExpectedOutputs {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${model}.expected.json`), 'utf8')) as ExpectedOutputs;
}

/** |a - b| <= tol * max(1, |b|), element by element; returns the first mismatch or undefined. */
export function firstMismatch(
  actual: readonly unknown[],
  expected: readonly unknown[],
  tolerance: number,
): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (typeof b === 'number' && typeof a === 'number') {
      if (!(Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(b)))) return `element ${i}: ${a} != ${b}`;
    } else if (a !== b) {
      return `element ${i}: ${String(a)} != ${String(b)}`;
    }
  }
  return undefined;
}

/** A platform on a fresh temporary home (SQLite), removed by `dispose`. */
export async function openTestPlatform(
  overrides: Partial<SlipwayConfig> = {},
): Promise<Platform & { home: string; dispose(): Promise<void> }> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'slipway-test-'));
  const config = loadConfig({ SLIPWAY_LOG_LEVEL: 'silent' }, { home, ...overrides });
  const platform = await openPlatform(config);
  return Object.assign(platform, {
    home,
    async dispose() {
      await platform.close();
      await rm(home, { recursive: true, force: true });
    },
  });
}
