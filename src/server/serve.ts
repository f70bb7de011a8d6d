import type { FastifyInstance } from 'fastify';
import type { Platform } from '../platform.js';
import { buildApp } from './app.js';

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly url: string;
  /** Resolves when every preloaded model is ready. */
  readonly preloaded: Promise<void>;
  /** Stop accepting, let in-flight requests finish, release models and the store. */
  stop(): Promise<void>;
}

/**
 * Listen on `host:port`, preload the models most likely to be called, and report ready once they
 * are. Readiness turns false as soon as a stop begins.
 */
export async function startServer(platform: Platform, options: { host: string; port: number; log?: (line: string) => void }): Promise<RunningServer> {
  const app = await buildApp({ config: platform.config, registry: platform.registry, inference: platform.inference });
  const address = await app.listen({ host: options.host, port: options.port });
  const log = options.log ?? (() => undefined);
  const preloaded = platform.inference.preload(platform.config.maxLoadedVersions, (key, error) => {
    log(`warning: could not load ${key}: ${error instanceof Error ? error.message : String(error)}`);
  });
  let stopping: Promise<void> | undefined;
  return {
    app,
    url: address,
    preloaded,
    stop() {
      stopping ??= (async () => {
        platform.inference.markReady(false);
        await app.close();
        await preloaded.catch(() => undefined);
        await platform.close();
      })();
      return stopping;
    },
  };
}
