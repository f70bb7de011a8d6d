import cluster from 'node:cluster';
import type { Command } from 'commander';
import { loadConfig, type SlipwayConfig } from '../core/config.js';
import { SlipwayError } from '../core/errors.js';
import { openPlatform } from '../platform.js';
import { createGrpcServer } from '../server/grpc/grpc-server.js';
import { startServer } from '../server/serve.js';
import type { CliIo } from './io.js';

interface ServeOptions {
  host?: string;
  port?: string;
  grpcPort?: string;
  grpc: boolean;
  workers?: string;
  drainTimeout?: string;
}

function integer(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new SlipwayError('INVALID_ARGUMENT', `${flag} ${value}: expected an integer from ${min} to ${max}`);
  return n;
}

/** `slipway serve`: HTTP (OIP v2, :predict, /api/v1, /docs) and gRPC, until SIGINT/SIGTERM, then a graceful drain. */
export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('Serve every registered model over HTTP (Open Inference Protocol v2, :predict, /api/v1, /docs) and gRPC')
    .option('--host <host>', 'address to listen on (SLIPWAY_HOST, default 127.0.0.1)')
    .option('--port <port>', 'HTTP port (SLIPWAY_PORT, default 8080)')
    .option('--grpc-port <port>', 'gRPC port (SLIPWAY_GRPC_PORT, default 8081)')
    .option('--no-grpc', 'do not start the gRPC server')
    .option('--workers <n>', 'server processes sharing the ports, via node:cluster (SLIPWAY_WORKERS, default 1)')
    .option('--drain-timeout <ms>', 'how long a SIGTERM/SIGINT drain may take (SLIPWAY_DRAIN_MS, default 30000)')
    .action(async (options: ServeOptions) => {
      const port = integer('--port', options.port, 0, 65535);
      const grpcPort = integer('--grpc-port', options.grpcPort, 0, 65535);
      const workers = integer('--workers', options.workers, 1, 64);
      const drainMs = integer('--drain-timeout', options.drainTimeout, 0, 3_600_000);
      const config = loadConfig(io.env, {
        ...(options.host ? { host: options.host } : {}),
        ...(port !== undefined ? { port } : {}),
        ...(grpcPort !== undefined ? { grpcPort } : {}),
        ...(workers !== undefined ? { workers } : {}),
        ...(drainMs !== undefined ? { drainMs } : {}),
      });
      if (config.workers > 1 && cluster.isPrimary) return superviseWorkers(config, io);
      await serveUntilSignal(config, options.grpc, io);
    });
}

async function serveUntilSignal(config: SlipwayConfig, grpcEnabled: boolean, io: CliIo): Promise<void> {
  const log = (line: string) => io.stderr(line + '\n');
  const platform = await openPlatform(config, { log });
  const grpc = grpcEnabled ? createGrpcServer({ inference: platform.inference, features: platform.features, maxMessageBytes: config.grpcMaxMessageBytes, log }) : undefined;
  const server = await startServer(platform, { host: config.host, port: config.port, log, alsoClose: grpc ? [(ms) => grpc.close(ms)] : [] });
  const grpcPort = grpc ? await grpc.listen(config.host, config.grpcPort) : undefined;
  const who = cluster.isWorker ? `worker ${process.pid} ` : '';
  io.stdout(`slipway ${who}serving on ${server.url}${grpcPort === undefined ? '' : `, gRPC on ${config.host}:${grpcPort}`}  (home ${config.home}${config.databaseUrl ? ', PostgreSQL metadata' : ''})\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    // `on`, not `once`: with Ctrl-C a worker gets the terminal's SIGINT and the primary's, and a
    // second signal must not kill it mid-drain.
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      io.stderr(`${signal}: draining (up to ${config.drainMs} ms) and stopping\n`);
      server.stop(config.drainMs).then(
        () => resolve(),
        (error: unknown) => {
          io.stderr(`error while stopping: ${String(error)}\n`);
          resolve();
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  // A worker's IPC channel to the primary keeps it alive; let go of it so the process can exit.
  cluster.worker?.disconnect();
}

/** The cluster primary: fork the workers, replace one that dies unexpectedly, and pass SIGTERM/SIGINT on. */
async function superviseWorkers(config: SlipwayConfig, io: CliIo): Promise<void> {
  let stopping = false;
  for (let i = 0; i < config.workers; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    io.stderr(`worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
    cluster.fork();
  });
  io.stdout(`slipway primary ${process.pid}: ${config.workers} workers on http://${config.host}:${config.port}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      const workers = Object.values(cluster.workers ?? {});
      let alive = workers.length;
      if (alive === 0) resolve();
      for (const worker of workers) {
        worker?.once('exit', () => {
          alive -= 1;
          if (alive === 0) resolve();
        });
        worker?.process.kill(signal);
      }
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}
