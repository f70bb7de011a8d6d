/**
 * TLS and connection limits for both transports (README "Security"): the PEM files read and checked
 * once at start, what Fastify's HTTP(S) server and the gRPC server are created with.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server as NetServer } from 'node:net';
import type { ServerOptions as HttpServerOptions } from 'node:http';
import { ServerCredentials } from '@grpc/grpc-js';
import type { FastifyServerOptions } from 'fastify';
import { TRANSPORT_ENV, type TransportConfig } from '../core/transport-config.js';
import { SlipwayError } from '../core/errors.js';

/** The PEM material of a TLS server, checked: the key is the certificate's, the CA parses. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Client certificates must chain to this (mutual TLS); undefined = no client certificate asked. */
  readonly clientCa: Buffer | undefined;
}

type TlsSettings = Pick<TransportConfig, 'tlsCert' | 'tlsKey' | 'tlsClientCa'>;

/**
 * Read the TLS files `config` names, or undefined when TLS is off. An unreadable file, a file that
 * is not PEM, or a key that does not belong to the certificate is refused here, at start, with a
 * message naming the flag and the file, not at the first handshake.
 */
export function loadTlsMaterial(config: TlsSettings): TlsMaterial | undefined {
  if (config.tlsCert === undefined || config.tlsKey === undefined) return undefined;
  const cert = readPem('--tls-cert', TRANSPORT_ENV.tlsCert, config.tlsCert);
  const key = readPem('--tls-key', TRANSPORT_ENV.tlsKey, config.tlsKey);
  const certificate = parse('--tls-cert', config.tlsCert, 'a PEM certificate', () => new X509Certificate(cert));
  const privateKey: KeyObject = parse('--tls-key', config.tlsKey, 'a PEM private key', () => createPrivateKey(key));
  if (!certificate.checkPrivateKey(privateKey))
    throw tlsError(
      `--tls-key ${config.tlsKey} is not the private key of the certificate in --tls-cert ${config.tlsCert} (${certificate.subject.replace(/\n/g, ', ')})`,
    );
  if (Date.parse(certificate.validTo) < Date.now())
    throw tlsError(`--tls-cert ${config.tlsCert} expired on ${certificate.validTo}`);
  let clientCa: Buffer | undefined;
  if (config.tlsClientCa !== undefined) {
    clientCa = readPem('--tls-client-ca', TRANSPORT_ENV.tlsClientCa, config.tlsClientCa);
    parse('--tls-client-ca', config.tlsClientCa, 'a PEM CA certificate', () => new X509Certificate(clientCa!));
  }
  return { cert, key, clientCa };
}

function tlsError(message: string, cause?: unknown): SlipwayError {
  return new SlipwayError('INVALID_ARGUMENT', message, cause === undefined ? {} : { cause });
}

function readPem(flag: string, variable: string, file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw tlsError(`${flag} (${variable}) ${file}: cannot read the file (${reason})`, error);
  }
  if (!bytes.toString('latin1').includes('-----BEGIN '))
    throw tlsError(`${flag} (${variable}) ${file}: not a PEM file (no "-----BEGIN" line)`);
  return bytes;
}

function parse<T>(flag: string, file: string, what: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw tlsError(`${flag} ${file}: not ${what} (${error instanceof Error ? error.message : String(error)})`, error);
  }
}

export type HttpLimits = Pick<
  TransportConfig,
  'maxHeaderBytes' | 'requestTimeoutMs' | 'headersTimeoutMs' | 'keepAliveTimeoutMs' | 'maxConnections'
>;

/**
 * Fastify's server options for `limits` and `tls`: HTTPS (client certificates required and checked
 * when there is a client CA) or HTTP, with the header size cap and the timeouts Node enforces.
 */
export function httpServerOptions(
  limits: HttpLimits,
  tls: TlsMaterial | undefined,
): Pick<FastifyServerOptions, 'requestTimeout' | 'keepAliveTimeout'> & {
  readonly https?: HttpServerOptions & Record<string, unknown>;
  readonly http?: HttpServerOptions;
} {
  const server: HttpServerOptions = {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // Node looks for expired heads and requests this often (default 30 s): a slow client could
    // hold its connection open that much past the limit.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  };
  const fastify = { requestTimeout: limits.requestTimeoutMs, keepAliveTimeout: limits.keepAliveTimeoutMs };
  if (tls === undefined) return { ...fastify, http: server };
  return {
    ...fastify,
    https: {
      ...server,
      cert: tls.cert,
      key: tls.key,
      // A client that opens a connection and stalls the handshake is cut as soon as one stalling its headers.
      handshakeTimeout: limits.headersTimeoutMs,
      ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
    },
  };
}

/** Cap the connections a listening server accepts; Node closes the ones beyond it at once. */
export function capConnections(server: NetServer, limits: Pick<TransportConfig, 'maxConnections'>): void {
  server.maxConnections = limits.maxConnections;
}

export type GrpcLimits = Pick<
  TransportConfig,
  'grpcMaxConcurrentStreams' | 'grpcKeepaliveTimeMs' | 'grpcKeepaliveTimeoutMs' | 'grpcMaxConnectionIdleMs'
>;

/** The gRPC channel options for `limits`. */
export function grpcServerLimits(limits: GrpcLimits): Record<string, number> {
  return {
    'grpc.max_concurrent_streams': limits.grpcMaxConcurrentStreams,
    'grpc.keepalive_time_ms': limits.grpcKeepaliveTimeMs,
    'grpc.keepalive_timeout_ms': limits.grpcKeepaliveTimeoutMs,
    'grpc.max_connection_idle_ms': limits.grpcMaxConnectionIdleMs,
  };
}

/** gRPC credentials: plaintext, TLS, or mutual TLS (a client without a certificate from the CA is refused). */
export function grpcCredentials(tls: TlsMaterial | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    tls.clientCa ?? null,
    [{ private_key: tls.key, cert_chain: tls.cert }],
    tls.clientCa !== undefined,
  );
}
