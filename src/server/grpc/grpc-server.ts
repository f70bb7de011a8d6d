/**
 * The Open Inference Protocol gRPC server (package `inference`, service `GRPCInferenceService`),
 * a thin transport adapter over the serving core (serving/).
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Serving } from '../../serving/index.js';
import { SlipwayError } from '../../core/errors.js';
import { createInferenceHandlers, withTolerantDecoding } from './handlers.js';
import { inferenceServiceDefinition } from './proto.js';

/** Default cap on received and sent messages: 64 MiB, Triton's HTTP body cap (gRPC's own default is 4 MiB). */
export const DEFAULT_GRPC_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** How long `close()` lets in-flight calls finish before cancelling them. */
export const DEFAULT_GRPC_GRACE_MS = 10_000;

export interface GrpcServerOptions {
  readonly serving: Serving;
  /** Largest message received or sent, in bytes (default {@link DEFAULT_GRPC_MAX_MESSAGE_BYTES}). */
  readonly maxMessageBytes?: number;
  /** Where unexpected (INTERNAL) errors are reported. */
  readonly log?: (line: string) => void;
  /** Server readiness for `ServerReady` (see HandlerOptions.isServerReady); absent = the inference service's. */
  readonly isServerReady?: () => boolean;
}

export interface GrpcServer {
  /** Bind `host:port` (port 0 picks a free one) and resolve with the bound port. May be called more than once. */
  listen(host: string, port: number): Promise<number>;
  /**
   * Stop accepting calls, let in-flight ones finish for up to `graceMs` (default
   * {@link DEFAULT_GRPC_GRACE_MS}), then cancel the rest. Idempotent.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Create the gRPC server. The proto is loaded here, so a missing `proto/` folder fails at start-up.
 *
 * @example
 * const grpc = createGrpcServer({ serving: platform.serving });
 * const port = await grpc.listen('0.0.0.0', 8081);
 * // ...
 * await grpc.close();
 */
export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_GRPC_MAX_MESSAGE_BYTES;
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes <= 0) {
    throw new SlipwayError('INVALID_ARGUMENT', `maxMessageBytes must be a positive integer, got ${maxMessageBytes}`);
  }
  const server = new Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
  });
  const handlers = createInferenceHandlers(options.serving, { ...(options.log ? { log: options.log } : {}), ...(options.isServerReady ? { isServerReady: options.isServerReady } : {}) });
  server.addService(withTolerantDecoding(inferenceServiceDefinition()), handlers);
  let closing: Promise<void> | undefined;

  return {
    listen(host, port) {
      if (closing) return Promise.reject(new SlipwayError('FAILED_PRECONDITION', 'the gRPC server is closed'));
      const address = `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
      return new Promise<number>((resolve, reject) => {
        server.bindAsync(address, ServerCredentials.createInsecure(), (error, bound) => {
          if (error) reject(new SlipwayError('UNAVAILABLE', `gRPC cannot listen on ${address}: ${error.message}`, { cause: error }));
          else resolve(bound);
        });
      });
    },
    close(graceMs = DEFAULT_GRPC_GRACE_MS) {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}
