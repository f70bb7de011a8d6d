/**
 * Deployments and progressive delivery, wired: the router the inference service consults, the
 * follower that keeps it equal to the store, per-version traffic counters, shadows, rollouts and
 * experiments. `openDeployments` is called by the composition root (platform.ts).
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { RegistryService } from '../registry/registry-service.js';
import type { Database } from '../store/database.js';
import { SqlControllerStore } from './controller-store.js';
import { DeploymentController } from './controller.js';
import { DeploymentService } from './deployment-service.js';
import { SqlDeploymentStore } from './deployment-store.js';
import {
  ExperimentService,
  type ExperimentServiceOptions,
  type ExperimentSpec,
  type ExperimentState,
} from './experiment-service.js';
import { RolloutService, type RolloutServiceOptions, type RolloutSpec, type RolloutState } from './rollout-service.js';
import { DeploymentRouter } from './router.js';
import { ShadowQueue, type ShadowQueueOptions } from './shadow-queue.js';
import { SqlShadowStore } from './shadow-store.js';
import { DeploymentSync } from './sync.js';
import { SqlTrafficStatsStore, TrafficRecorder } from './traffic-stats.js';
import { deploymentAnnouncer, followDeploymentChanges } from './sync-notify.js';
import type { ChangeFeed } from '../store/change-feed.js';

export interface DeploymentsOptions {
  readonly database: Database;
  readonly registry: RegistryService;
  /** Load and warm versions (the model pool). */
  readonly prepare: (model: string, versions: readonly string[]) => Promise<void>;
  /** Runs a shadow copy (the inference service, unobserved). */
  readonly runShadow: ShadowQueueOptions['run'];
  /** A performance metric of a version since a time (rollout `metric:` gates). */
  readonly metric: RolloutServiceOptions['metric'];
  /** Per-request outcomes with feedback (experiments). */
  readonly outcomes: ExperimentServiceOptions['outcomes'];
  readonly log: (line: string) => void;
  /**
   * Announces committed revisions and wakes every server's sync at once (PostgreSQL LISTEN/NOTIFY,
   * store/change-feed.ts); absent or not live (SQLite) = the poll alone.
   */
  readonly changes?: ChangeFeed;
  /** How often servers look for changed revisions (default 500 ms). */
  readonly syncIntervalMs?: number;
  readonly shadowQueueCapacity?: number;
  /** Shadow results older than this are deleted (default 7 days; the prediction log's retention). */
  readonly shadowRetentionMs?: number;
}

export interface Deployments {
  readonly service: DeploymentService;
  readonly router: DeploymentRouter;
  readonly sync: DeploymentSync;
  readonly traffic: SqlTrafficStatsStore;
  readonly recorder: TrafficRecorder;
  readonly shadows: ShadowQueue;
  readonly shadowStore: SqlShadowStore;
  readonly rollouts: RolloutService;
  readonly experiments: ExperimentService;
  readonly controller: DeploymentController;
  /** Follow the store and write traffic counters (every serving process); `stopServing` undoes it. */
  startServing(): Promise<void>;
  /** Stop following the store and write the last traffic counters. The caller stops `controller` it started. */
  stopServing(): Promise<void>;
  /** Run or drop queued shadows and write traffic counters; loops started by the caller are stopped by it first. */
  close(): Promise<void>;
}

export function openDeployments(options: DeploymentsOptions): Deployments {
  const { database, log } = options;
  const source = `${os.hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
  const store = new SqlDeploymentStore(database);
  const router = new DeploymentRouter();
  const onError = (error: unknown) => log(`deployments: ${error instanceof Error ? error.message : String(error)}`);
  const sync = new DeploymentSync({
    store,
    router,
    prepare: options.prepare,
    onError,
    ...(options.syncIntervalMs === undefined ? {} : { intervalMs: options.syncIntervalMs }),
  });
  const rolloutStore = new SqlControllerStore<RolloutSpec, RolloutState>(database, 'rollouts');
  const experimentStore = new SqlControllerStore<ExperimentSpec, ExperimentState>(database, 'experiments');
  const changes = options.changes?.live === true ? options.changes : undefined;
  const service = new DeploymentService({
    store,
    ...(changes === undefined ? {} : { announce: deploymentAnnouncer(changes, onError) }),
    registry: options.registry,
    prepare: options.prepare,
    rollouts: rolloutStore,
    experiments: experimentStore,
    sync,
  });
  const traffic = new SqlTrafficStatsStore(database);
  const recorder = new TrafficRecorder(traffic, source, onError);
  const shadowStore = new SqlShadowStore(database);
  const shadows = new ShadowQueue({
    run: options.runShadow,
    store: shadowStore,
    source,
    onError,
    ...(options.shadowQueueCapacity === undefined ? {} : { capacity: options.shadowQueueCapacity }),
  });
  const rollouts = new RolloutService({
    rollouts: rolloutStore,
    deployments: service,
    deploymentStore: store,
    traffic,
    metric: options.metric,
  });
  const experiments = new ExperimentService({
    experiments: experimentStore,
    deployments: service,
    traffic,
    outcomes: options.outcomes,
  });
  const controller = new DeploymentController({
    rollouts,
    experiments,
    traffic,
    shadows: shadowStore,
    shadowRetentionMs: options.shadowRetentionMs ?? 7 * 86_400_000,
    log,
  });
  let following: Promise<(() => Promise<void>) | undefined> | undefined;
  return {
    service,
    router,
    sync,
    traffic,
    recorder,
    shadows,
    shadowStore,
    rollouts,
    experiments,
    controller,
    async startServing() {
      await sync.refresh();
      sync.start();
      recorder.start();
      // Not awaited: a database that is down at start must not hold serving up; the feed reconnects.
      if (changes !== undefined)
        following = followDeploymentChanges(sync, changes).catch((error: unknown) => {
          onError(error);
          return undefined;
        });
    },
    async stopServing() {
      const unfollow = await following;
      following = undefined;
      await unfollow?.().catch(onError);
      await sync.stop();
      await recorder.stop();
    },
    async close() {
      await shadows.close();
      await recorder.flush();
    },
  };
}

export { parseDeploymentSpec, type DeploymentSpec } from './spec.js';
export type { Revision } from './deployment-store.js';
