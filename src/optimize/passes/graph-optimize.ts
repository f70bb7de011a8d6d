/**
 * ONNX Runtime's own graph optimizations, saved offline: a session is created with
 * `optimizedModelFilePath` and the chosen `graphOptimizationLevel`, and the file ORT writes becomes
 * the candidate, so serving loads the already-optimized graph.
 *
 * 'basic' writes only semantics-preserving rewrites in standard ONNX ops (constant folding, redundant
 * node removal, MatMul+Add -> Gemm...). 'extended' and 'all' can write ONNX Runtime's com.microsoft
 * fused ops (FusedGemm, FusedConv, ...) and, for 'all', layouts chosen for this machine's CPU; ORT's
 * documentation says such files are meant for the hardware and ORT build that wrote them. The settings
 * record it as `portable: level === 'basic'`.
 */
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { invalid, SlipwayError } from '../../core/errors.js';
import { decodeModel } from '../onnx/model-proto.js';
import { verifyCandidate } from '../onnx/check-model.js';
import type { OptimizationPass, PassContext } from '../types.js';
import { refuseUnknownSettings } from './pass-settings.js';

export const GRAPH_LEVELS = ['basic', 'extended', 'all'] as const;
export type GraphLevel = (typeof GRAPH_LEVELS)[number];

export interface GraphOptimizationSettings {
  readonly level?: GraphLevel;
}

const PASS = 'graph';

/** A pass writing the model as ONNX Runtime optimizes it at `level` (default 'all'). */
export function graphOptimizationPass(given: GraphOptimizationSettings = {}): OptimizationPass {
  refuseUnknownSettings(PASS, given, ['level']);
  const level = given.level ?? 'all';
  if (!(GRAPH_LEVELS as readonly string[]).includes(level))
    throw invalid(`the ${PASS} pass's "level" must be one of ${GRAPH_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  return {
    name: PASS,
    settings: { level, portable: level === 'basic' },
    async apply(bytes: Uint8Array, context: PassContext): Promise<Uint8Array> {
      const file = path.join(context.workDir, `graph-${level}-${randomUUID()}.onnx`);
      try {
        let session: ort.InferenceSession;
        try {
          session = await ort.InferenceSession.create(bytes, {
            graphOptimizationLevel: level,
            optimizedModelFilePath: file,
            logSeverityLevel: 3,
          });
        } catch (error) {
          throw new SlipwayError(
            'FAILED_PRECONDITION',
            `the ${PASS} pass cannot optimize the model: ONNX Runtime refuses to load it: ${(error as Error).message.split('\n')[0]}`,
            { cause: error },
          );
        }
        await session.release();
        const optimized = new Uint8Array(await readFile(file));
        context.progress(`${PASS}: ONNX Runtime's '${level}' optimizations saved (${optimized.byteLength} bytes)`);
        await verifyCandidate(PASS, optimized, decodeModel(optimized), context.signature);
        return optimized;
      } finally {
        await rm(file, { force: true });
      }
    },
  };
}
