/**
 * Pass names to the passes themselves. A spec's settings go to the pass's factory as given; each
 * factory refuses settings it does not know and fills in its defaults (`pass.settings`).
 */
import { distillationPass } from './passes/distill.js';
import { fp16Pass } from './passes/fp16.js';
import { graphOptimizationPass } from './passes/graph-optimize.js';
import { magnitudePruningPass } from './passes/prune-magnitude.js';
import { neuronPruningPass } from './passes/prune-neurons.js';
import { dynamicQuantizationPass } from './passes/quantize-dynamic.js';
import { staticQuantizationPass } from './passes/quantize-static.js';
import type { PassName, PassSpec } from './optimize-spec.js';
import type { OptimizationPass } from './types.js';

type Factory = (settings: Readonly<Record<string, unknown>>) => OptimizationPass;

const FACTORIES: Readonly<Record<PassName, Factory>> = {
  graph: graphOptimizationPass,
  'quantize-dynamic': dynamicQuantizationPass,
  'quantize-static': staticQuantizationPass,
  'prune-magnitude': magnitudePruningPass as unknown as Factory,
  'prune-neurons': neuronPruningPass as unknown as Factory,
  fp16: fp16Pass,
  distill: distillationPass,
};

/** The passes of a spec, in order; INVALID_ARGUMENT from the first pass whose settings are wrong. */
export function buildPasses(specs: readonly PassSpec[]): OptimizationPass[] {
  return specs.map((spec) => FACTORIES[spec.pass](spec.settings));
}
