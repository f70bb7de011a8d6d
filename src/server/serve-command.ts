import cluster from 'node:cluster';
import type { Command } from 'commander';
import { loadConfig, type SlipwayConfig } from '../core/config.js';
import { SlipwayError, toSlipwayError } from '../core/errors.js';
import type { RegistryJson } from '../monitor/metrics.js';
import type { StatsPart, StatsQuery } from '../monitor/live-stats.js';
import type { ModelStat } from '../monitor/model-statistics.js';
import { openPlatform, type Platform } from '../platform.js';
import { poolEventLine, type PoolEvent } from '../runtime/model-pool.js';
import { superviseWorkers } from './cluster-primary.js';
import { joinCluster } from './cluster-worker.js';
import { createGrpcServer } from './grpc/grpc-server.js';
import { healthReport } from './http/health-routes.js';
import { assertPortFree, listenError, startServer, type RunningServer } from './serve.js';
import { loadTlsMaterial } from './transport.js';
import { openAuth } from '../auth/open-auth.js';
import type { Authenticator } from '../auth/authenticator.js';

/**
 * Where `serve` writes and reads its environment: the part of the CLI's `CliIo` (`cli/io.ts`) it
 * uses, declared here because `server/` must not import `cli/` (`src/main.ts` joins the two).
 */
export interface ServeCommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

interface ServeOptions {
  host?: string;
  port?: string;
  grpcPort?: string;
  grpc: boolean;
  workers?: string;
  drainTimeout?: string;
  shutdownDelay?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
}

function integer(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new SlipwayError('INVALID_ARGUMENT', `${flag} ${value}: expected an integer from ${min} to ${max}`);
  return n;
}

/**
 * `slipway serve`: HTTP (OIP v2, :predict, /api/v1, /docs) and gRPC, until SIGINT/SIGTERM, then a
 * graceful drain. Registered on the CLI's program by `src/main.ts`, since `cli/` may not import `server/`.
 */
export function registerServeCommand(program: Command, io: ServeCommandIo): void {
  program
    .command('serve')
    .description(
      'Serve every registered model over HTTP (Open Inference Protocol v2, :predict, /api/v1, /docs) and gRPC',
    )
    .option('--host <host>', 'address to listen on (SLIPWAY_HOST, default 127.0.0.1)')
    .option('--port <port>', 'HTTP port (SLIPWAY_PORT, default 8080)')
    .option('--grpc-port <port>', 'gRPC port (SLIPWAY_GRPC_PORT, default 8081)')
    .option('--no-grpc', 'do not start the gRPC server')
    .option('--workers <n>', 'server processes sharing the ports, via node:cluster (SLIPWAY_WORKERS, default 1)')
    .option('--drain-timeout <ms>', 'how long a SIGTERM/SIGINT drain may take (SLIPWAY_DRAIN_MS, default 30000)')
    .option(
      '--shutdown-delay <ms>',
      'on SIGTERM, keep serving this long with readiness 503 before refusing connections (SLIPWAY_SHUTDOWN_DELAY_MS, default 1000)',
    )
    .option('--tls-cert <file>', 'PEM certificate: HTTPS and gRPC over TLS (SLIPWAY_TLS_CERT; with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert (SLIPWAY_TLS_KEY)')
    .option(
      '--tls-client-ca <file>',
      'PEM CA: mutual TLS on both ports, clients need a certificate it signed (SLIPWAY_TLS_CLIENT_CA)',
    )
    .action(async (options: ServeOptions) => {
      const port = integer('--port', options.port, 0, 65535);
      const grpcPort = integer('--grpc-port', options.grpcPort, 0, 65535);
      const workers = integer('--workers', options.workers, 1, 64);
      const drainMs = integer('--drain-timeout', options.drainTimeout, 0, 3_600_000);
      const shutdownDelayMs = integer('--shutdown-delay', options.shutdownDelay, 0, 600_000);
      const config = loadConfig(io.env, {
        ...(options.host ? { host: options.host } : {}),
        ...(port !== undefined ? { port } : {}),
        ...(grpcPort !== undefined ? { grpcPort } : {}),
        ...(workers !== undefined ? { workers } : {}),
        ...(drainMs !== undefined ? { drainMs } : {}),
        ...(shutdownDelayMs !== undefined ? { shutdownDelayMs } : {}),
        ...(options.tlsCert !== undefined ? { tlsCert: options.tlsCert } : {}),
        ...(options.tlsKey !== undefined ? { tlsKey: options.tlsKey } : {}),
        ...(options.tlsClientCa !== undefined ? { tlsClientCa: options.tlsClientCa } : {}),
      });
      if (cluster.isPrimary) {
        // Unreadable or mismatched PEM files stop the start here, before any worker is forked.
        loadTlsMaterial(config);
        await assertPortFree('HTTP', config.host, config.port);
        if (options.grpc) await assertPortFree('gRPC', config.host, config.grpcPort);
      }
      if (config.workers > 1 && cluster.isPrimary) {
        io.stdout(
          `slipway primary ${process.pid}: ${config.workers} workers on http://${config.host}:${config.port}\n`,
        );
        return superviseWorkers({ workers: config.workers, log: (line) => io.stderr(line + '\n') });
      }
      await serveUntilSignal(config, options.grpc, io);
    });
}

async function serveUntilSignal(config: SlipwayConfig, grpcEnabled: boolean, io: ServeCommandIo): Promise<void> {
  const log = (line: string) => io.stderr(line + '\n');
  const member = joinCluster();
  let started: Started;
  try {
    started = await start(config, grpcEnabled, log);
  } catch (error) {
    if (member === undefined) throw error;
    // The primary prints the reason once and stops the server rather than forking a replacement
    // that would fail the same way; this worker only has to leave.
    await member.fatal(toSlipwayError(error).message);
    if (process.connected) cluster.worker?.disconnect();
    return;
  }
  const { server, platform, grpcPort } = started;
  if (member === undefined) {
    server.startBackground();
  } else {
    // Any worker answers /metrics, /api/v1/stats and Triton's statistics (HTTP and gRPC) for all of them (cluster-primary.ts relays).
    const { metrics, stats, statistics } = platform.monitor;
    member.answer('metrics', () => metrics.local());
    member.answer('stats', (query) => stats.part(query as StatsQuery));
    member.answer('statistics', () => statistics.all());
    metrics.aggregateWith(() => member.gather<RegistryJson>('metrics'));
    stats.aggregateWith((query) => member.gather<StatsPart>('stats', query));
    statistics.aggregateWith(() => member.gather<ModelStat[]>('statistics'));
    member.onBackground(() => {
      server.startBackground();
      log(`background work (jobs, alerts, drift, rollouts) runs in worker ${process.pid}`);
    });
    member.ready();
  }
  const who = cluster.isWorker ? `worker ${process.pid} ` : '';
  io.stdout(
    `slipway ${who}serving on ${server.url}${grpcPort === undefined ? '' : `, gRPC on ${config.host}:${grpcPort}${config.tlsCert === undefined ? '' : ' (TLS)'}`}  (home ${config.home}${config.databaseUrl ? ', PostgreSQL metadata' : ''})\n`,
  );
  await new Promise<void>((resolve) => {
    let stopping = false;
    // `on`, not `once`: with Ctrl-C a worker gets the terminal's SIGINT and the primary's, and a
    // second signal must not kill it mid-drain.
    const stop = (signal: NodeJS.Signals | 'primary gone') => {
      if (stopping) return;
      stopping = true;
      // SIGTERM is how an orchestrator stops a server behind a load balancer: keep serving while
      // it notices readiness 503. SIGINT is a person at a terminal: no one to wait for; and
      // without its primary a worker gets no new connections (the primary held the listeners).
      const delayMs = signal === 'SIGTERM' ? config.shutdownDelayMs : 0;
      io.stderr(
        `${signal}: draining (readiness 503 now, new connections refused in ${delayMs} ms; up to ${config.drainMs} ms more) and stopping\n`,
      );
      server.stop(config.drainMs, delayMs).then(
        () => resolve(),
        (error: unknown) => {
          io.stderr(`error while stopping: ${String(error)}\n`);
          resolve();
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    const worker = cluster.worker;
    if (worker !== undefined) {
      // The primary died (kill -9): Node's cluster would end this worker at once on the closed
      // channel, cutting its in-flight requests and unflushed prediction log. Marking the
      // disconnect as expected (before Node's own listener reads the flag) lets it drain instead.
      process.prependListener('disconnect', () => {
        if (stopping) return;
        worker.exitedAfterDisconnect = true;
        stop('primary gone');
      });
    }
  });
  // A worker's IPC channel to the primary keeps it alive; let go of it so the process can exit
  // (unless the primary is gone and the channel with it).
  if (process.connected) cluster.worker?.disconnect();
}

/** Open the platform and bind both ports; a port in use says which and how to choose another. */
interface Started {
  readonly server: RunningServer;
  readonly platform: Platform;
  readonly grpcPort: number | undefined;
}

async function start(config: SlipwayConfig, grpcEnabled: boolean, log: (line: string) => void): Promise<Started> {
  // Failed loads and a skipped generated warm-up reach the operator (runtime/model-pool.ts poolEventLine).
  // Read before the platform opens: a bad file must not leave models loading. Each worker reads
  // its own copy; the primary hands workers TCP connections, the TLS handshake happens in them.
  const tls = loadTlsMaterial(config);
  const platform = await openPlatform(config, { log, onPoolEvent: (event) => logPoolEvent(event, log) });
  // Tokens: the bootstrap token, then the mode; a non-loopback bind with no token stops here (auth/auth-mode.ts).
  let auth: Authenticator | undefined;
  try {
    auth = await openAuth({
      config,
      tokens: platform.tokens,
      log,
      deploymentModel: (name) => platform.deployments.router.get(name)?.model,
    });
  } catch (error) {
    await platform.close().catch(() => undefined);
    throw error;
  }
  // gRPC's ServerReady answers what /v2/health/ready answers (the database under SLIPWAY_READY_REQUIRES_DATABASE).
  const isServerReady = () =>
    healthReport(platform.serving.lifecycle, {
      database: platform.database,
      readyRequiresDatabase: config.readyRequiresDatabase,
    }).ready;
  const grpc = grpcEnabled
    ? createGrpcServer({
        serving: platform.serving,
        maxMessageBytes: config.grpcMaxMessageBytes,
        compression: config.grpcCompression,
        log,
        isServerReady,
        modelConfig: { lifecycle: platform.serving.lifecycle, registry: platform.registry },
        statistics: { statistics: platform.monitor.statistics, models: platform.registry },
        repository: { registry: platform.registry, audit: platform.audit },
        limits: config,
        ...(tls ? { tls } : {}),
        ...(auth ? { auth } : {}),
      })
    : undefined;
  // Background loops start once both ports are bound (and, with workers, in one of them).
  const server = await startServer(platform, {
    host: config.host,
    port: config.port,
    log,
    background: false,
    ...(tls ? { tls } : {}),
    ...(auth ? { auth } : {}),
    alsoClose: grpc ? [(ms) => grpc.close(ms)] : [],
  });
  if (grpc === undefined) return { server, platform, grpcPort: undefined };
  try {
    return { server, platform, grpcPort: await grpc.listen(config.host, config.grpcPort) };
  } catch (error) {
    await server.stop(config.drainMs);
    throw listenError('gRPC', config.host, config.grpcPort, error);
  }
}

function logPoolEvent(event: PoolEvent, log: (line: string) => void): void {
  const line = poolEventLine(event);
  if (line !== undefined) log(line);
}
