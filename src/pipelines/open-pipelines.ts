/**
 * Continuous training for one process: the definition and run stores, the trigger loop over the real
 * monitoring services, and the pipeline service that advances runs. What platform.ts opens.
 */
import path from 'node:path';
import type { Deployments } from '../deploy/index.js';
import type { FeatureStore } from '../features/feature-store.js';
import type { DriftService } from '../monitor/drift-service.js';
import type { PerformanceService } from '../monitor/performance-service.js';
import type { PredictionStore } from '../monitor/prediction-store.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { Database } from '../store/database.js';
import type { PipelineStores } from './definitions/overview.js';
import { PipelineService } from './pipeline-service.js';
import { SqlPipelineStore } from './pipeline-store.js';
import { SqlRunStore } from './run-store.js';
import { TriggerLoop } from './triggers/trigger-loop.js';
import { triggerDepsFrom } from './triggers/trigger-deps.js';
import { runNotifications } from './run-notifications.js';
import type { RunRecord } from './types.js';
import type { WebhookAllow } from '../core/exposure-config.js';

export interface OpenPipelinesOptions {
  readonly database: Database;
  readonly registry: RegistryService;
  readonly predictions: PredictionStore;
  readonly features: FeatureStore;
  readonly drift: DriftService;
  readonly performance: PerformanceService;
  readonly deployments: Deployments;
  /** `$SLIPWAY_HOME`: run folders go to `<home>/pipelines/runs/<id>/`. */
  readonly home: string;
  readonly now?: () => Date;
  /** A run whose owner went silent this long is taken over (PipelineService's staleMs). */
  readonly staleMs?: number;
  /** Called after every run transition, besides the pipeline's own `notify` webhook. */
  readonly onTransition?: (run: RunRecord) => Promise<void> | void;
  /** Where `notify` webhooks may point (SLIPWAY_WEBHOOK_ALLOW). */
  readonly webhookAllow?: WebhookAllow;
  readonly log?: (line: string) => void;
}

export interface OpenPipelines {
  readonly stores: PipelineStores;
  readonly service: PipelineService;
  readonly triggers: TriggerLoop;
}

export function openPipelines(options: OpenPipelinesOptions): OpenPipelines {
  const pipelines = new SqlPipelineStore(options.database);
  const runs = new SqlRunStore(options.database);
  const triggers = new TriggerLoop({
    pipelines: () => pipelines.list(),
    deps: triggerDepsFrom({
      registry: options.registry,
      drift: options.drift,
      performance: options.performance,
      predictions: options.predictions,
      deployments: options.deployments.service,
      runs: {
        lastStarted: async (name) => {
          const last = await runs.lastStarted(name);
          return last === undefined ? undefined : new Date(last.createdAt);
        },
      },
    }),
    startRun: (pipeline, firing) => runs.create(pipeline, firing),
    record: (evaluations) => pipelines.recordEvaluations(evaluations),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  const notify = runNotifications({
    pipelines,
    ...(options.webhookAllow === undefined ? {} : { allow: options.webhookAllow }),
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  const service = new PipelineService({
    runs,
    pipelines,
    registry: options.registry,
    data: { predictions: options.predictions, features: options.features },
    release: {
      registry: options.registry,
      deployments: {
        service: options.deployments.service,
        rollouts: options.deployments.rollouts,
        experiments: options.deployments.experiments,
      },
    },
    runsDir: path.join(options.home, 'pipelines', 'runs'),
    ...(options.staleMs === undefined ? {} : { staleMs: options.staleMs }),
    triggerTick: async () => {
      await triggers.tick();
    },
    ...(options.now === undefined ? {} : { now: options.now }),
    onTransition: async (run) => {
      await notify(run);
      await options.onTransition?.(run);
    },
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  return { stores: { pipelines, runs }, service, triggers };
}
