import cluster from 'node:cluster';
import type { FastifyInstance } from 'fastify';
import type { Platform } from '../platform.js';
import { loadRuleFile } from '../monitor/alerts/index.js';
import { buildApp } from './app.js';

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly url: string;
  /** Resolves when every preloaded model is ready. */
  readonly preloaded: Promise<void>;
  /**
   * Graceful stop: readiness turns false, no new connections, queued and in-flight requests
   * finish, then models and the store are released. Resolves `true` when everything finished
   * within `drainMs` (default 30 s), `false` when the deadline cut the drain short.
   */
  stop(drainMs?: number): Promise<boolean>;
}

export interface StartOptions {
  readonly host: string;
  readonly port: number;
  readonly log?: (line: string) => void;
  /** Extra transports (gRPC) closed with the HTTP server. */
  readonly alsoClose?: ReadonlyArray<(graceMs: number) => Promise<void>>;
}

/**
 * Listen on `host:port`, preload the models most likely to be called, and report ready once they
 * are. Readiness turns false as soon as a stop begins.
 */
export async function startServer(platform: Platform, options: StartOptions): Promise<RunningServer> {
  const app = await buildApp({ config: platform.config, registry: platform.registry, inference: platform.inference, monitor: platform.monitor, observability: platform, alerts: platform.alerts, features: platform.features, jobs: platform.jobs, deployments: platform.deployments });
  const address = await app.listen({ host: options.host, port: options.port });
  const log = options.log ?? (() => undefined);
  const preloaded = platform.inference.preload(platform.config.maxLoadedVersions, (key, error) => {
    log(`warning: could not load ${key}: ${error instanceof Error ? error.message : String(error)}`);
  });
  // Every process follows the deployments in the store and counts its deployment traffic.
  await platform.deployments.startServing();
  await startBackgroundChecks(platform, log);
  let stopping: Promise<boolean> | undefined;
  const drain = async (drainMs: number): Promise<void> => {
    platform.inference.markReady(false);
    await platform.alerts.stop();
    await platform.drift.stop();
    await platform.jobs.stop();
    await platform.deployments.controller.stop();
    // app.close stops accepting, closes idle keep-alive connections, answers requests that arrive
    // on busy ones with 503, and resolves when in-flight requests are done.
    await Promise.all([app.close(), ...(options.alsoClose ?? []).map((close) => close(drainMs))]);
    await preloaded.catch(() => undefined);
    await platform.close();
  };
  return {
    app,
    url: address,
    preloaded,
    stop(drainMs = 30_000) {
      stopping ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), drainMs)));
        const finished = await Promise.race([drain(drainMs).then(() => true as const), deadline]);
        clearTimeout(timer);
        if (!finished) log(`drain deadline of ${drainMs} ms passed; stopping with work unfinished`);
        return finished;
      })();
      return stopping;
    },
  };
}

/**
 * Scheduled drift checks, alert evaluation, the batch job runner and the rollout/experiment controller, as configured. A rules file that fails to load
 * stops the start: a typo must not silently leave a server without its alerts.
 */
async function startBackgroundChecks(platform: Platform, log: (line: string) => void): Promise<void> {
  const { config } = platform;
  if (config.alertRulesFile !== undefined) {
    const rules = await loadRuleFile(config.alertRulesFile, { knownMetrics: platform.alerts.knownMetrics });
    await platform.alerts.setFileRules(rules);
    log(`alerts: ${rules.length} rule(s) from ${config.alertRulesFile}`);
  }
  // With --workers N, one process runs the loops: N would store N copies of each drift result.
  // (Live metrics are per process, so that worker's alert rules see its share of the traffic.)
  if (cluster.isWorker && cluster.worker?.id !== 1) return;
  if (config.alertIntervalMs > 0) platform.alerts.start(config.alertIntervalMs);
  if (config.driftIntervalMs > 0) platform.drift.start(config.driftIntervalMs, config.driftWindowMs);
  // Batch jobs: N workers would each run `batchConcurrency` jobs.
  platform.jobs.start();
  // Rollouts and experiments (their transitions are conditional writes, so several servers may each run one).
  platform.deployments.controller.start();
}
