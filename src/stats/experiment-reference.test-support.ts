/**
 * Test support: the committed scipy/numpy reference values for the experiment statistics
 * (fixtures/stats/experiment_reference.json, written by fixtures/stats/make_experiment_reference.py).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('../../fixtures/stats/experiment_reference.json', import.meta.url));

/** The parsed experiment reference file; each test file declares the shape of the parts it reads. */
export function loadExperimentReference<T>(): T {
  return JSON.parse(readFileSync(FIXTURE, 'utf8')) as T;
}

export interface ArmCase {
  n: number;
  mean: number;
  variance: number;
}

export type IntervalCase = [number, number];
