/**
 * The transport part of the configuration (README "Security": TLS and limits): certificates for
 * HTTPS and gRPC over TLS, the HTTP server's header, timeout and connection limits, gRPC's stream
 * and keepalive limits, and the CORS allow-list. `config.ts` spreads these into `SlipwayConfig`.
 */
import { parseDuration } from './duration.js';

export interface TransportConfig {
  /** PEM certificate (chain) served on HTTP and gRPC; with `tlsKey`, both speak TLS. */
  readonly tlsCert: string | undefined;
  /** PEM private key of `tlsCert`. */
  readonly tlsKey: string | undefined;
  /** PEM CA bundle: when set, both transports require a client certificate it signed (mutual TLS). */
  readonly tlsClientCa: string | undefined;
  /** Largest request head (request line + headers) an HTTP client may send, in bytes; more is 431. */
  readonly maxHeaderBytes: number;
  /** The whole HTTP request (head and body) must arrive within this (ms); later is 408 and the connection closed. */
  readonly requestTimeoutMs: number;
  /** The request head must arrive within this (ms): a client sending headers byte by byte is cut. */
  readonly headersTimeoutMs: number;
  /** An idle keep-alive HTTP connection is closed after this (ms). */
  readonly keepAliveTimeoutMs: number;
  /** HTTP connections open at once per server process; more are dropped on accept. */
  readonly maxConnections: number;
  /** Concurrent gRPC calls (HTTP/2 streams) per connection. */
  readonly grpcMaxConcurrentStreams: number;
  /** gRPC: the server pings a connection after this long without activity (ms)... */
  readonly grpcKeepaliveTimeMs: number;
  /** ...and closes it when the ping gets no answer within this (ms). */
  readonly grpcKeepaliveTimeoutMs: number;
  /** gRPC: a connection with no call for this long is closed (ms). */
  readonly grpcMaxConnectionIdleMs: number;
  /** Origins (`https://app.example.com`) a browser may call the API from; empty = CORS off. */
  readonly corsOrigins: readonly string[];
}

export const TRANSPORT_ENV = {
  tlsCert: 'SLIPWAY_TLS_CERT',
  tlsKey: 'SLIPWAY_TLS_KEY',
  tlsClientCa: 'SLIPWAY_TLS_CLIENT_CA',
  maxHeaderBytes: 'SLIPWAY_MAX_HEADER_BYTES',
  requestTimeoutMs: 'SLIPWAY_REQUEST_TIMEOUT',
  headersTimeoutMs: 'SLIPWAY_HEADERS_TIMEOUT',
  keepAliveTimeoutMs: 'SLIPWAY_KEEP_ALIVE_TIMEOUT',
  maxConnections: 'SLIPWAY_MAX_CONNECTIONS',
  grpcMaxConcurrentStreams: 'SLIPWAY_GRPC_MAX_CONCURRENT_STREAMS',
  grpcKeepaliveTimeMs: 'SLIPWAY_GRPC_KEEPALIVE_TIME',
  grpcKeepaliveTimeoutMs: 'SLIPWAY_GRPC_KEEPALIVE_TIMEOUT',
  grpcMaxConnectionIdleMs: 'SLIPWAY_GRPC_MAX_CONNECTION_IDLE',
  corsOrigins: 'SLIPWAY_CORS_ORIGINS',
} as const satisfies Record<keyof TransportConfig, string>;

/** The defaults, exported for the README and tests. */
export const TRANSPORT_DEFAULTS = {
  maxHeaderBytes: 16 * 1024,
  // Long enough for a 64 MiB model push on a slow link; the head has its own, short limit.
  requestTimeoutMs: 300_000,
  headersTimeoutMs: 10_000,
  // Above the 60 s idle timeout of common load balancers, so the balancer closes first.
  keepAliveTimeoutMs: 72_000,
  maxConnections: 10_000,
  grpcMaxConcurrentStreams: 1000,
  grpcKeepaliveTimeMs: 7_200_000,
  grpcKeepaliveTimeoutMs: 20_000,
  grpcMaxConnectionIdleMs: 3_600_000,
} as const;

/** Read and check the transport settings; every problem is appended to `problems`. */
export function loadTransportConfig(env: NodeJS.ProcessEnv, problems: string[]): TransportConfig {
  const int = (key: keyof typeof TRANSPORT_DEFAULTS, min: number, max: number): number => {
    const raw = env[TRANSPORT_ENV[key]];
    if (raw === undefined || raw === '') return TRANSPORT_DEFAULTS[key];
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${TRANSPORT_ENV[key]}=${raw}: expected an integer from ${min} to ${max}`);
      return TRANSPORT_DEFAULTS[key];
    }
    return value;
  };
  const duration = (key: keyof typeof TRANSPORT_DEFAULTS, minMs: number, maxMs: number): number => {
    const raw = env[TRANSPORT_ENV[key]];
    if (raw === undefined || raw === '') return TRANSPORT_DEFAULTS[key];
    try {
      const ms = parseDuration(raw, TRANSPORT_ENV[key], { bareMilliseconds: true });
      if (ms >= minMs && ms <= maxMs) return ms;
      problems.push(`${TRANSPORT_ENV[key]}=${raw}: expected from ${minMs} ms to ${maxMs} ms`);
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
    return TRANSPORT_DEFAULTS[key];
  };
  const file = (key: 'tlsCert' | 'tlsKey' | 'tlsClientCa'): string | undefined => env[TRANSPORT_ENV[key]] || undefined;
  const config: TransportConfig = {
    tlsCert: file('tlsCert'),
    tlsKey: file('tlsKey'),
    tlsClientCa: file('tlsClientCa'),
    maxHeaderBytes: int('maxHeaderBytes', 1024, 1024 * 1024),
    requestTimeoutMs: duration('requestTimeoutMs', 1000, 86_400_000),
    headersTimeoutMs: duration('headersTimeoutMs', 100, 600_000),
    keepAliveTimeoutMs: duration('keepAliveTimeoutMs', 100, 3_600_000),
    maxConnections: int('maxConnections', 1, 1_000_000),
    grpcMaxConcurrentStreams: int('grpcMaxConcurrentStreams', 1, 100_000),
    grpcKeepaliveTimeMs: duration('grpcKeepaliveTimeMs', 1000, 86_400_000),
    grpcKeepaliveTimeoutMs: duration('grpcKeepaliveTimeoutMs', 100, 600_000),
    grpcMaxConnectionIdleMs: duration('grpcMaxConnectionIdleMs', 1000, 86_400_000),
    corsOrigins: corsOrigins(env[TRANSPORT_ENV.corsOrigins], problems),
  };
  return config;
}

/** Rules between settings; `loadConfig` checks them after flags have overridden the environment. */
export function transportProblems(config: TransportConfig): string[] {
  const problems: string[] = [];
  // Node refuses a head deadline past the whole request's.
  if (config.headersTimeoutMs > config.requestTimeoutMs)
    problems.push(
      `${TRANSPORT_ENV.headersTimeoutMs} (${config.headersTimeoutMs} ms) must not exceed ${TRANSPORT_ENV.requestTimeoutMs} (${config.requestTimeoutMs} ms)`,
    );
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined))
    problems.push(
      `TLS needs both a certificate and its key: give --tls-cert and --tls-key (${TRANSPORT_ENV.tlsCert}, ${TRANSPORT_ENV.tlsKey}) together`,
    );
  if (config.tlsClientCa !== undefined && config.tlsCert === undefined)
    problems.push(
      `--tls-client-ca (${TRANSPORT_ENV.tlsClientCa}) asks for mutual TLS, which needs --tls-cert and --tls-key`,
    );
  return problems;
}

/**
 * `SLIPWAY_CORS_ORIGINS`: a comma-separated list of exact origins (scheme, host, optional port).
 * `*` is refused: an allow-list that allows everyone lets any web page drive the API.
 */
function corsOrigins(raw: string | undefined, problems: string[]): readonly string[] {
  if (raw === undefined || raw.trim() === '') return [];
  const origins: string[] = [];
  for (const entry of raw.split(',').map((part) => part.trim())) {
    if (entry === '') continue;
    if (entry === '*') {
      problems.push(`${TRANSPORT_ENV.corsOrigins}: "*" is refused; list each origin allowed (https://app.example.com)`);
      continue;
    }
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      url = undefined;
    }
    if (url === undefined || !['http:', 'https:'].includes(url.protocol) || url.origin !== entry.replace(/\/$/, '')) {
      problems.push(
        `${TRANSPORT_ENV.corsOrigins}: "${entry}" is not an origin (scheme://host[:port], no path), e.g. https://app.example.com`,
      );
      continue;
    }
    origins.push(url.origin);
  }
  return Object.freeze(origins);
}
