/**
 * Triton's extensions Slipway deliberately does not serve (system and CUDA shared memory, trace
 * and log settings): their REST endpoints answer 400 naming the extension (unsupported-extensions.ts)
 * rather than a bare 404 that reads as a wrong URL.
 */
import type { FastifyInstance } from 'fastify';
import { unsupportedOverHttp, type UnsupportedExtension } from '../unsupported-extensions.js';

const METHODS = ['GET', 'POST'];

export function registerUnsupportedRoutes(app: FastifyInstance): void {
  const refuse = (url: string, extension: UnsupportedExtension): void => {
    app.route({
      method: METHODS,
      url,
      schema: { tags: ['inference'], summary: `Not supported: Triton's ${extension} extension (400)` },
      handler: () => {
        throw unsupportedOverHttp(extension);
      },
    });
  };
  for (const [prefix, extension] of [
    ['/v2/systemsharedmemory', 'system_shared_memory'],
    ['/v2/cudasharedmemory', 'cuda_shared_memory'],
  ] as const) {
    for (const action of ['status', 'register', 'unregister']) {
      refuse(`${prefix}/${action}`, extension);
      refuse(`${prefix}/region/:region/${action}`, extension);
    }
  }
  refuse('/v2/trace/setting', 'trace');
  refuse('/v2/models/:model/trace/setting', 'trace');
  refuse('/v2/logging', 'logging');
}
