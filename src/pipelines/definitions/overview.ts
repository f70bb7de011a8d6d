import type { SqlPipelineStore } from '../pipeline-store.js';
import type { SqlRunStore } from '../run-store.js';
import type { RunRecord, StoredPipeline, TriggerEvaluation } from '../types.js';

/** The two stores `slipway pipelines list|show` and `GET /api/v1/pipelines[/:name]` read. */
export interface PipelineStores {
  readonly pipelines: SqlPipelineStore;
  readonly runs: SqlRunStore;
}

/** Trigger evaluations and runs `pipelines show` lists. */
export const OVERVIEW_EVALUATIONS = 10;
export const OVERVIEW_RUNS = 5;

/** One pipeline as `pipelines show` prints it: its active definition, latest trigger evaluations and runs. */
export interface PipelineOverview {
  readonly pipeline: StoredPipeline;
  /** Newest first, at most OVERVIEW_EVALUATIONS. */
  readonly evaluations: readonly TriggerEvaluation[];
  /** Newest first, at most OVERVIEW_RUNS. */
  readonly runs: readonly RunRecord[];
}

/** An active pipeline with its newest run, as `pipelines list` prints it. */
export interface PipelineSummary extends StoredPipeline {
  readonly lastRun: Pick<RunRecord, 'id' | 'status' | 'step' | 'createdAt' | 'reason'> | null;
}

/** What `pipelines show <name>` and `GET /api/v1/pipelines/:name` return; NOT_FOUND naming an unknown pipeline. */
export async function pipelineOverview(stores: PipelineStores, name: string): Promise<PipelineOverview> {
  const pipeline = await stores.pipelines.get(name);
  const [evaluations, runs] = await Promise.all([
    stores.pipelines.evaluations(name, OVERVIEW_EVALUATIONS),
    stores.runs.list({ pipeline: name, limit: OVERVIEW_RUNS }),
  ]);
  return { pipeline, evaluations, runs };
}

/** What `pipelines list` and `GET /api/v1/pipelines` return: every active pipeline, by name. */
export async function pipelineSummaries(stores: PipelineStores): Promise<PipelineSummary[]> {
  const pipelines = await stores.pipelines.list();
  return Promise.all(
    pipelines.map(async (pipeline) => {
      const run = await stores.runs.lastStarted(pipeline.name);
      return {
        ...pipeline,
        lastRun:
          run === undefined
            ? null
            : { id: run.id, status: run.status, step: run.step, createdAt: run.createdAt, reason: run.reason },
      };
    }),
  );
}
