import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { SlipwayError } from '../core/errors.js';
import type { Platform } from '../platform.js';
import { loadRuleFile } from '../monitor/alerts/index.js';
import { buildApp } from './app.js';
import { startArtifactSweeper, type ArtifactSweeper } from '../registry/artifact-sweeper.js';
import { capConnections, type TlsMaterial } from './transport.js';
import type { Authenticator } from '../auth/authenticator.js';

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly url: string;
  /** Resolves when every preloaded model is ready. */
  readonly preloaded: Promise<void>;
  /**
   * Start the background loops (alerts, drift, batch jobs, the rollout controller) in this
   * process, once; `startServer` does it itself unless told `background: false`.
   */
  startBackground(): void;
  /**
   * Graceful stop: readiness turns false at once and every response from then on carries
   * `Connection: close`; after `delayMs` (default 0) of serving as usual, no new connections, idle
   * keep-alive ones are closed, queued and in-flight requests finish, then models and the store are
   * released. Resolves `true` when everything after the delay finished within `drainMs` (default
   * 30 s), `false` when the deadline cut the drain short.
   */
  stop(drainMs?: number, delayMs?: number): Promise<boolean>;
}

export interface StartOptions {
  readonly host: string;
  readonly port: number;
  readonly log?: (line: string) => void;
  /** Extra transports (gRPC) closed with the HTTP server. */
  readonly alsoClose?: ReadonlyArray<(graceMs: number) => Promise<void>>;
  /** Start the background loops now (default true); false leaves it to `startBackground()`. */
  readonly background?: boolean;
  /** Serve HTTPS with these (transport.ts `loadTlsMaterial`); absent = plain HTTP. */
  readonly tls?: TlsMaterial;
  /** Tokens asked of every request (auth/open-auth.ts); absent = none. */
  readonly auth?: Authenticator;
}

/**
 * A listen failure as a message that says what to do: a port in use names the flag and the
 * variable that choose another one.
 */
export function listenError(what: 'HTTP' | 'gRPC', host: string, port: number, error: unknown): SlipwayError {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const [flag, variable] = what === 'HTTP' ? ['--port', 'SLIPWAY_PORT'] : ['--grpc-port', 'SLIPWAY_GRPC_PORT'];
  const port_ = `${what === 'HTTP' ? '' : 'gRPC '}port ${port} on ${host}`;
  // grpc-js reports the bind error in its message only.
  if (code === 'EADDRINUSE' || /EADDRINUSE/.test(message)) {
    return new SlipwayError('UNAVAILABLE', `${port_} is in use; choose another with ${flag} or ${variable}`, {
      cause: error,
    });
  }
  if (code === 'EACCES' || /EACCES/.test(message)) {
    return new SlipwayError(
      'UNAVAILABLE',
      `${port_}: permission denied (ports below 1024 need privileges); choose another with ${flag} or ${variable}`,
      { cause: error },
    );
  }
  return new SlipwayError('UNAVAILABLE', `${what} cannot listen on ${host}:${port}: ${message}`, { cause: error });
}

/**
 * Fail fast, before opening the store and loading models (or forking workers), when `port` is
 * taken; the real listen still reports a port taken in between.
 */
export async function assertPortFree(what: 'HTTP' | 'gRPC', host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  const error = await new Promise<Error | undefined>((resolve) => {
    probe.once('error', resolve);
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
  if (error !== undefined) throw listenError(what, host, port, error);
}

/**
 * Listen on `host:port`, preload the models most likely to be called, and report ready once they
 * are. Readiness turns false as soon as a stop begins. A listen failure closes `platform` and
 * throws the {@link listenError}.
 */
export async function startServer(platform: Platform, options: StartOptions): Promise<RunningServer> {
  const app = await buildApp({
    config: platform.config,
    registry: platform.registry,
    serving: platform.serving,
    monitor: platform.monitor,
    observability: platform,
    alerts: platform.alerts,
    features: platform.features,
    jobs: platform.jobs,
    optimizeJobs: platform.optimizeJobs,
    pipelines: platform.pipelineStores,
    pipelineRuns: platform.pipelines,
    deployments: platform.deployments,
    database: platform.database,
    transport: { limits: platform.config, ...(options.tls ? { tls: options.tls } : {}) },
    ...(options.auth ? { auth: options.auth } : {}),
    tokens: platform.tokens,
    corsOrigins: platform.config.corsOrigins,
    audit: platform.audit,
  });
  capConnections(app.server, platform.config);
  let address: string;
  try {
    address = await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await app.close().catch(() => undefined);
    await platform.close().catch(() => undefined);
    throw listenError('HTTP', options.host, options.port, error);
  }
  const log = options.log ?? (() => undefined);
  const preloaded = platform.serving.lifecycle.preload(platform.config.maxLoadedVersions, (key, error) => {
    log(`warning: could not load ${key}: ${error instanceof Error ? error.message : String(error)}`);
  });
  // This server is the one owner of what runs in the background: it starts it here and in
  // `startBackground`, and stops all of it in `drain`, before `platform.close` closes what
  // `openPlatform` opened (each exactly once).
  try {
    // Every process follows the deployments in the store and counts its deployment traffic.
    await platform.deployments.startServing();
    await loadAlertRules(platform, log);
  } catch (error) {
    // Nothing may keep the process alive after a failed start.
    await app.close().catch(() => undefined);
    await preloaded.catch(() => undefined);
    await platform.deployments.stopServing().catch(() => undefined);
    await platform.close().catch(() => undefined);
    throw error;
  }
  let stopping: Promise<boolean> | undefined;
  let background: BackgroundLoops | undefined;
  const startBackground = () => {
    if (background !== undefined || stopping) return;
    background = startBackgroundLoops(platform, options.log ?? ((line) => process.stderr.write(`${line}\n`)));
  };
  if (options.background !== false) startBackground();

  const drain = async (drainMs: number): Promise<void> => {
    await background?.stop();
    // A running optimize job's process is this server's child: stopped, its job recorded as interrupted.
    await platform.optimizeJobs.stop();
    // app.close stops accepting, closes idle keep-alive connections (their clients were told
    // `Connection: close` by their last answer since the stop began), answers requests that
    // arrive on busy ones with 503, and resolves when in-flight requests are done.
    await Promise.all([app.close(), ...(options.alsoClose ?? []).map((close) => close(drainMs))]);
    await preloaded.catch(() => undefined);
    // After the last request: its traffic counters are in the final write.
    await platform.deployments.stopServing();
    await platform.close();
  };
  return {
    app,
    url: address,
    preloaded,
    startBackground,
    stop(drainMs = 30_000, delayMs = 0) {
      stopping ??= (async () => {
        platform.serving.lifecycle.markReady(false);
        // From now on every answer ends its connection, so keep-alive clients reconnect (through
        // their load balancer, which sees readiness 503, to another server) instead of sending
        // on a socket this server will close. A listener added only now costs nothing before.
        app.server.prependListener('request', closeAfterResponse);
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
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

function closeAfterResponse(_request: IncomingMessage, response: ServerResponse): void {
  response.setHeader('connection', 'close');
}

/** A rules file that fails to load stops the start: a typo must not silently leave a server without its alerts. */
async function loadAlertRules(platform: Platform, log: (line: string) => void): Promise<void> {
  const { config } = platform;
  if (config.alertRulesFile === undefined) return;
  const rules = await loadRuleFile(config.alertRulesFile, { knownMetrics: platform.alerts.knownMetrics });
  await platform.alerts.setFileRules(rules);
  log(`alerts: ${rules.length} rule(s) from ${config.alertRulesFile}`);
}

/** The loops `startBackgroundLoops` started, stopped together. */
interface BackgroundLoops {
  /** Stop every loop and wait for its current pass; running batch jobs go back to the queue. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Scheduled drift checks, alert evaluation, the batch job runner, the rollout/experiment
 * controller and the artifact sweeper, as configured. With `--workers N` one worker runs them,
 * chosen by the primary (`cluster-primary.ts`): N would store N copies of each drift result and
 * run N × the batch concurrency.
 */
function startBackgroundLoops(platform: Platform, log: (line: string) => void): BackgroundLoops {
  const { config } = platform;
  if (config.alertIntervalMs > 0) platform.alerts.start(config.alertIntervalMs);
  if (config.driftIntervalMs > 0) platform.drift.start(config.driftIntervalMs, config.driftWindowMs);
  platform.jobs.start();
  // Continuous training: trigger evaluations and runs (one owner per run, so several servers may each run it).
  if (config.pipelineIntervalMs > 0) platform.pipelines.start(config.pipelineIntervalMs);
  // Rollouts and experiments (their transitions are conditional writes, so several servers may each run one).
  platform.deployments.controller.start();
  const sweeper: ArtifactSweeper = startArtifactSweeper(platform.registry, { log });
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        sweeper.stop();
        await platform.alerts.stop();
        await platform.drift.stop();
        await platform.jobs.stop();
        await platform.pipelines.stop();
        await platform.deployments.controller.stop();
      })();
      return stopped;
    },
  };
}
