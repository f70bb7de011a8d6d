/**
 * A run's evaluation step: the candidate against the champion on the run's test split, computed by
 * Slipway (src/optimize/evaluate.ts, the champion as the "parent"), then the pipeline's gates.
 */
import { SlipwayError, invalid } from '../../core/errors.js';
import { readEvalSet } from '../../optimize/eval-set.js';
import { evaluateCandidate } from '../../optimize/evaluate.js';
import { signatureDifferences } from '../../optimize/onnx/check-model.js';
import { taskOutputs } from '../../optimize/task-metrics.js';
import { readOnnxModel } from '../../registry/onnx/read-onnx.js';
import type { Signature } from '../../tensor/datatypes.js';
import type { RunEvaluation } from '../types.js';
import { assertPipelineGatesApplicable, checkPipelineGates, parsePipelineGate } from './pipeline-gates.js';

export interface EvaluateRunInput {
  /** The champion's ONNX; absent on the model's first training. */
  readonly championBytes?: Uint8Array;
  /** The champion's version (recorded in the evaluation); null or absent without a champion. */
  readonly champion?: string | null;
  readonly candidateBytes: Uint8Array;
  /** The champion's signature (the one the data was shaped for); the candidate's own when there is no champion. */
  readonly signature: Signature;
  /** The test split (CSV, Parquet or JSONL). */
  readonly testFile: string;
  readonly labelColumn: string;
  /** The champion's class labels, to map text labels in the file. */
  readonly classLabels?: readonly string[];
  readonly gates: readonly string[];
  /** Seconds each model runs per batch size when timing (default 0.5). */
  readonly minSeconds?: number;
  /**
   * The pipeline allows a major bump (PipelineSpec.allowMajor): a candidate whose signature differs
   * from the champion's is judged by absolute gates only instead of being refused.
   */
  readonly allowSignatureChange?: boolean;
  readonly progress?: (message: string) => void;
}

/**
 * Evaluate a run's candidate: readEvalSet on the test split, evaluateCandidate with the champion as
 * the parent, checkPipelineGates; `passed` when every gate passed. A candidate whose signature
 * differs from the champion's is refused (FAILED_PRECONDITION naming the differences) unless
 * `allowSignatureChange`; then, as without a champion, the candidate is compared with itself so its
 * own figures are measured, and relative or comparison gates are refused by name (INVALID_ARGUMENT).
 */
export async function evaluateRun(input: EvaluateRunInput): Promise<RunEvaluation> {
  const gates = input.gates.map(parsePipelineGate);
  const candidateSignature = readOnnxModel(input.candidateBytes).signature;
  let comparable = input.championBytes !== undefined;
  let why = 'the model has no version yet';
  if (input.championBytes !== undefined) {
    const differences = signatureDifferences(input.signature, candidateSignature);
    if (differences.length > 0) {
      if (input.allowSignatureChange !== true)
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `the candidate's signature differs from the champion${input.champion ? ` ${input.champion}` : ''}'s: ${differences.join('; ')}; the pipeline does not allow a major bump (allowMajor: false)`,
          { details: differences },
        );
      comparable = false;
      why = `the candidate's signature differs from the champion's (${differences.join('; ')})`;
    }
  }
  const signature = comparable ? input.signature : candidateSignature;
  assertPipelineGatesApplicable(gates, {
    task: taskOutputs(signature).task,
    labelled: true,
    hasChampion: comparable,
    why,
  });
  const minSeconds = input.minSeconds ?? 0.5;
  if (!(minSeconds >= 0)) throw invalid(`minSeconds must be a number >= 0, got ${minSeconds}`);
  const evalSet = await readEvalSet(input.testFile, signature, { labelColumn: input.labelColumn, purpose: 'eval' });
  const report = await evaluateCandidate({
    parent: comparable ? input.championBytes! : input.candidateBytes,
    candidate: input.candidateBytes,
    signature,
    evalSet,
    ...(input.classLabels === undefined ? {} : { classLabels: input.classLabels }),
    minSeconds,
    ...(input.progress === undefined ? {} : { progress: input.progress }),
  });
  const results = checkPipelineGates(report, gates, { hasChampion: comparable, why });
  return {
    champion: comparable ? (input.champion ?? null) : null,
    report,
    gates: results,
    passed: results.every((g) => g.passed),
  };
}
