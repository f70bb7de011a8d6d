/**
 * The Open Inference Protocol gRPC server (package `inference`, service `GRPCInferenceService`),
 * a thin transport adapter over the serving core (serving/).
 */
import { Server } from '@grpc/grpc-js';
import type { Serving } from '../../serving/index.js';
import { SlipwayError } from '../../core/errors.js';
import { createInferenceHandlers } from './handlers.js';
import { withTolerantDecoding } from './unary-call.js';
import { inferenceServiceDefinition } from './proto.js';
import { responseCompression } from './response-compression.js';
import type { GrpcCompression } from '../../core/config.js';
import { createModelConfigHandlers, type ModelConfigHandlerDeps } from './model-config-handlers.js';
import { createUnsupportedHandlers } from './unsupported-handlers.js';
import { createStatisticsHandlers } from './statistics-handlers.js';
import { createRepositoryHandlers, type RepositoryHandlerDeps } from './repository-handlers.js';
import type { ModelStatistics, StatisticsModels } from '../../monitor/model-statistics.js';
import type { Authenticator } from '../../auth/authenticator.js';
import { withAuth } from './grpc-auth.js';
import { grpcCredentials, grpcServerLimits, type GrpcLimits, type TlsMaterial } from '../transport.js';

/** Default cap on received and sent messages: 64 MiB, Triton's HTTP body cap (gRPC's own default is 4 MiB). */
export const DEFAULT_GRPC_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** How long `close()` lets in-flight calls finish before cancelling them. */
export const DEFAULT_GRPC_GRACE_MS = 10_000;

export interface GrpcServerOptions {
  readonly serving: Serving;
  /** Largest message received or sent, in bytes (default {@link DEFAULT_GRPC_MAX_MESSAGE_BYTES}). */
  readonly maxMessageBytes?: number;
  /**
   * Response compression (SLIPWAY_GRPC_COMPRESSION; default `none`: a response is compressed only
   * when its request was, with the same algorithm). Compressed requests are always accepted.
   */
  readonly compression?: GrpcCompression;
  /** Where unexpected (INTERNAL) errors are reported. */
  readonly log?: (line: string) => void;
  /** Server readiness for `ServerReady` (see HandlerOptions.isServerReady); absent = the inference service's. */
  readonly isServerReady?: () => boolean;
  /** Triton's model configuration extension (`ModelConfig`): the described version and its serving config; absent = UNIMPLEMENTED. */
  readonly modelConfig?: Omit<ModelConfigHandlerDeps, 'log'>;
  /** Triton's statistics extension (`ModelStatistics`): the monitor's statistics and the registry; absent = UNIMPLEMENTED. */
  readonly statistics?: { readonly statistics: ModelStatistics; readonly models: StatisticsModels };
  /** Triton's repository extension (`RepositoryIndex`, `RepositoryModelLoad/Unload`): the registry a load's config is stored in; absent = UNIMPLEMENTED. */
  readonly repository?: {
    readonly registry: RepositoryHandlerDeps['registry'];
    /** Where loads and unloads are recorded (the audit trail); absent = not recorded. */
    readonly audit?: RepositoryHandlerDeps['audit'];
  };
  /** Concurrent streams and keepalive (transport.ts); absent = grpc-js's defaults. */
  readonly limits?: GrpcLimits;
  /** TLS, mutual when it has a client CA (transport.ts); absent = plaintext. */
  readonly tls?: TlsMaterial;
  /** Tokens (src/auth/): every RPC checked against its permission (grpc-auth.ts); absent = none asked. */
  readonly auth?: Authenticator;
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
  const compression = responseCompression(options.compression ?? 'none');
  const server = new Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    ...(options.limits ? grpcServerLimits(options.limits) : {}),
    interceptors: [compression.interceptor],
  });
  compression.attach(server);
  const handlers = createInferenceHandlers(options.serving, {
    ...(options.log ? { log: options.log } : {}),
    ...(options.isServerReady ? { isServerReady: options.isServerReady } : {}),
  });
  const statistics = options.statistics
    ? createStatisticsHandlers(options.statistics.statistics, options.statistics.models, options.log)
    : {};
  const modelConfig = options.modelConfig
    ? createModelConfigHandlers({ ...options.modelConfig, ...(options.log ? { log: options.log } : {}) })
    : {};
  const repository = options.repository
    ? createRepositoryHandlers({
        lifecycle: options.serving.lifecycle,
        registry: options.repository.registry,
        ...(options.repository.audit ? { audit: options.repository.audit } : {}),
        ...(options.log ? { log: options.log } : {}),
      })
    : {};
  const implementation = {
    ...handlers,
    ...statistics,
    ...modelConfig,
    ...repository,
    ...createUnsupportedHandlers(),
  };
  server.addService(
    withTolerantDecoding(inferenceServiceDefinition()),
    options.auth ? withAuth(implementation, options.auth, options.log) : implementation,
  );
  let closing: Promise<void> | undefined;

  return {
    listen(host, port) {
      if (closing) return Promise.reject(new SlipwayError('FAILED_PRECONDITION', 'the gRPC server is closed'));
      const address = `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
      return new Promise<number>((resolve, reject) => {
        server.bindAsync(address, grpcCredentials(options.tls), (error, bound) => {
          if (error)
            reject(
              new SlipwayError('UNAVAILABLE', `gRPC cannot listen on ${address}: ${error.message}`, { cause: error }),
            );
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
