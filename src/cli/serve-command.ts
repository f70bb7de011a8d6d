import type { Command } from 'commander';
import { loadConfig } from '../core/config.js';
import { SlipwayError } from '../core/errors.js';
import { openPlatform } from '../platform.js';
import { startServer } from '../server/serve.js';
import type { CliIo } from './io.js';

/** `slipway serve`: the Open Inference Protocol server plus the management API, until SIGINT/SIGTERM. */
export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('Serve every registered model over HTTP (Open Inference Protocol v2, :predict, /api/v1, /docs)')
    .option('--host <host>', 'address to listen on (SLIPWAY_HOST, default 127.0.0.1)')
    .option('--port <port>', 'port (SLIPWAY_PORT, default 8080)')
    .action(async (options: { host?: string; port?: string }) => {
      const port = options.port === undefined ? undefined : Number(options.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
        throw new SlipwayError('INVALID_ARGUMENT', `--port ${options.port}: expected an integer from 0 to 65535`);
      }
      const config = loadConfig(io.env, { ...(options.host ? { host: options.host } : {}), ...(port !== undefined ? { port } : {}) });
      const platform = await openPlatform(config);
      const server = await startServer(platform, { host: config.host, port: config.port, log: (line) => io.stderr(line + '\n') });
      io.stdout(`slipway serving on ${server.url}  (home ${config.home}${config.databaseUrl ? ', PostgreSQL metadata' : ''})\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          io.stderr(`${signal}: draining and stopping\n`);
          server.stop().then(resolve, (error: unknown) => {
            io.stderr(`error while stopping: ${String(error)}\n`);
            resolve();
          });
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
