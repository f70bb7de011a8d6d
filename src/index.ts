/**
 * Slipway's public surface. Everything else under src/ is internal.
 */
export { loadConfig, type SlipwayConfig } from './core/config.js';
export { SlipwayError, ERROR_CODES, type ErrorCode } from './core/errors.js';
export type { Datatype, Signature, Tensor, TensorSpec } from './tensor/datatypes.js';
export type {
  VersionRecord,
  ModelSummary,
  AliasEvent,
  SchemaDifference,
  SchemaChange,
  Bump,
} from './registry/types.js';
export { RegistryService, type PushInput, type PushPlan } from './registry/registry-service.js';
export { readOnnxModel, type OnnxModelInfo } from './registry/onnx/read-onnx.js';
export { diffSignatures, formatSchemaDiff } from './registry/schema-diff.js';
export { planVersion } from './registry/semver-policy.js';
export {
  createServing,
  tensorRequest,
  type Serving,
  type InferenceRequest,
  type InferResult,
  type RequestBody,
} from './serving/index.js';
export { buildApp } from './server/app.js';
export { startServer, type RunningServer } from './server/serve.js';
export { openPlatform, type Platform } from './platform.js';
// The whole CLI, `serve` included (`cli/main.ts`'s own `runCli` has every command but `serve`).
export { runSlipway as runCli } from './main.js';
export { SLIPWAY_VERSION } from './version.js';
// Optimization (issue 16): runs, their specs and reports; the bench and the demo use these.
export { runOptimization, refusalError, type OptimizationOutcome } from './optimize/run-optimization.js';
export { checkSpec, type OptimizeSpec, type PassSpec } from './optimize/optimize-spec.js';
export { buildPasses } from './optimize/pass-catalog.js';
export { readEvalSet } from './optimize/eval-set.js';
export { evaluateCandidate } from './optimize/evaluate.js';
export { reportTable, reportMarkdown } from './optimize/report-format.js';
export type { OptimizationReport, GateResult, EvalSet, OptimizationPass } from './optimize/types.js';
