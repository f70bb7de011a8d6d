/**
 * HTTP limits (README "Security", Limits): a client sending its headers byte by byte is cut at the
 * headers timeout while other clients are served; an oversized head is 431; connections beyond the
 * cap are dropped; gRPC gets its stream and keepalive limits; the settings are validated by name.
 */
import net from 'node:net';
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.js';
import { TRANSPORT_DEFAULTS } from '../core/transport-config.js';
import { openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';
import { createGrpcServer } from './grpc/grpc-server.js';
import { inferenceServiceDefinition } from './grpc/proto.js';
import { capConnections, grpcServerLimits, httpServerOptions } from './transport.js';

type Platform = Awaited<ReturnType<typeof openTestPlatform>>;

/** Resolves when `socket` is closed by the server, with how long after `since` and what it sent. */
function closed(socket: net.Socket, since: number): Promise<{ afterMs: number; received: string }> {
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  return new Promise((resolve) => socket.on('close', () => resolve({ afterMs: Date.now() - since, received })));
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

describe('HTTP limits', () => {
  let platform: Platform;
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    platform = await openTestPlatform();
    const config = loadConfig(
      {
        SLIPWAY_HEADERS_TIMEOUT: '600ms',
        SLIPWAY_REQUEST_TIMEOUT: '5s',
        SLIPWAY_MAX_HEADER_BYTES: '4096',
        SLIPWAY_MAX_CONNECTIONS: '8',
      },
      { home: platform.home },
    );
    app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      transport: { limits: config },
    });
    capConnections(app.server, config);
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  it('cuts a client sending its headers byte by byte at the headers timeout while others are served', async () => {
    const slow = await connect(port);
    const start = Date.now();
    const done = closed(slow, start);
    const head = 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200);
    let sent = 0;
    const drip = setInterval(() => {
      if (slow.destroyed || sent >= head.length) return;
      slow.write(head[sent++]!);
    }, 50);
    // Meanwhile other clients get their answers.
    const answers: number[] = [];
    while (Date.now() - start < 400) {
      const response = await fetch(`http://127.0.0.1:${port}/v2/health/live`);
      answers.push(response.status);
    }
    const { afterMs, received } = await done;
    clearInterval(drip);
    expect(answers.length).toBeGreaterThan(2);
    expect(new Set(answers)).toEqual(new Set([200]));
    // Cut at 600 ms, checked every 150 ms; never as late as the 200 bytes would take (10 s).
    expect(afterMs).toBeGreaterThanOrEqual(550);
    expect(afterMs).toBeLessThan(2000);
    expect(sent).toBeLessThan(head.length);
    expect(received.startsWith('HTTP/1.1 408 Request Timeout')).toBe(true);
  });

  it('answers 431 to a request head larger than the cap', async () => {
    const small = await fetch(`http://127.0.0.1:${port}/v2/health/live`, { headers: { 'x-pad': 'a'.repeat(3000) } });
    expect(small.status).toBe(200);
    const big = await fetch(`http://127.0.0.1:${port}/v2/health/live`, { headers: { 'x-pad': 'a'.repeat(5000) } });
    expect(big.status).toBe(431);
  });

  it('drops connections beyond the cap and accepts again once some close', async () => {
    const held: net.Socket[] = [];
    // fetch's keep-alive pool may hold some; fill the cap with idle raw connections.
    for (let i = 0; i < 8; i++) held.push(await connect(port));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const open = await new Promise<number>((resolve) => app.server.getConnections((_e, n) => resolve(n)));
    expect(open).toBe(8);
    const extra = await connect(port);
    const cut = closed(extra, Date.now());
    extra.write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
    const { received } = await cut;
    expect(received).toBe('');
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await fetch(`http://127.0.0.1:${port}/v2/health/live`, { headers: { connection: 'close' } });
    expect(again.status).toBe(200);
  });
});

describe('gRPC limits', () => {
  it('lets a connection run at most grpcMaxConcurrentStreams calls at once', async () => {
    const platform = await openTestPlatform();
    const grpc = createGrpcServer({
      serving: platform.serving,
      limits: loadConfig({ SLIPWAY_GRPC_MAX_CONCURRENT_STREAMS: '1' }, { home: platform.home }),
    });
    const channel = new Client(`127.0.0.1:${await grpc.listen('127.0.0.1', 0)}`, credentials.createInsecure());
    const definitions = inferenceServiceDefinition();
    const live = (deadlineMs: number) =>
      new Promise<boolean | number>((resolve) =>
        channel.makeUnaryRequest(
          definitions.ServerLive!.path,
          (value: unknown) => definitions.ServerLive!.requestSerialize(value),
          (bytes: Buffer) => definitions.ServerLive!.responseDeserialize(bytes) as { live: boolean },
          {},
          { deadline: Date.now() + deadlineMs },
          (error: ServiceError | null, response?: { live: boolean }) =>
            resolve(error ? error.code : (response?.live ?? false)),
        ),
      );
    try {
      expect(await live(5000)).toBe(true);
      // An open ModelStreamInfer holds the connection's one stream: the next call waits for it.
      const stream = channel.makeBidiStreamRequest(
        definitions.ModelStreamInfer!.path,
        (value: unknown) => definitions.ModelStreamInfer!.requestSerialize(value),
        (bytes: Buffer): unknown => definitions.ModelStreamInfer!.responseDeserialize(bytes) as unknown,
      );
      stream.on('error', () => undefined);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await live(500)).toBe(4); // DEADLINE_EXCEEDED
      const ended = new Promise((resolve) => stream.on('status', resolve));
      stream.end();
      await ended;
      expect(await live(5000)).toBe(true);
    } finally {
      channel.close();
      await grpc.close(0);
      await platform.dispose();
    }
  });
});

describe('transport settings', () => {
  it('has defaults, and passes them to Node and gRPC', () => {
    const config = loadConfig({});
    expect({
      maxHeaderBytes: config.maxHeaderBytes,
      requestTimeoutMs: config.requestTimeoutMs,
      headersTimeoutMs: config.headersTimeoutMs,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
      maxConnections: config.maxConnections,
      grpcMaxConcurrentStreams: config.grpcMaxConcurrentStreams,
      grpcKeepaliveTimeMs: config.grpcKeepaliveTimeMs,
      grpcKeepaliveTimeoutMs: config.grpcKeepaliveTimeoutMs,
      grpcMaxConnectionIdleMs: config.grpcMaxConnectionIdleMs,
    }).toEqual(TRANSPORT_DEFAULTS);
    expect(config.corsOrigins).toEqual([]);
    expect(httpServerOptions(config, undefined)).toEqual({
      requestTimeout: 300_000,
      keepAliveTimeout: 72_000,
      http: {
        maxHeaderSize: 16_384,
        headersTimeout: 10_000,
        requestTimeout: 300_000,
        connectionsCheckingInterval: 1000,
      },
    });
    const grpc = loadConfig({
      SLIPWAY_GRPC_MAX_CONCURRENT_STREAMS: '64',
      SLIPWAY_GRPC_KEEPALIVE_TIME: '30s',
      SLIPWAY_GRPC_KEEPALIVE_TIMEOUT: '5s',
      SLIPWAY_GRPC_MAX_CONNECTION_IDLE: '10m',
    });
    expect(grpcServerLimits(grpc)).toEqual({
      'grpc.max_concurrent_streams': 64,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 5000,
      'grpc.max_connection_idle_ms': 600_000,
    });
  });

  it('refuses bad values by name, every problem at once', () => {
    expect(() =>
      loadConfig({
        SLIPWAY_MAX_HEADER_BYTES: '10',
        SLIPWAY_HEADERS_TIMEOUT: '10m',
        SLIPWAY_REQUEST_TIMEOUT: '1m',
        SLIPWAY_MAX_CONNECTIONS: '0',
        SLIPWAY_GRPC_KEEPALIVE_TIME: 'soon',
        SLIPWAY_CORS_ORIGINS: '*,https://ok.example.com,https://app.example.com/path',
      }),
    ).toThrow(
      [
        'invalid configuration:',
        '  SLIPWAY_MAX_HEADER_BYTES=10: expected an integer from 1024 to 1048576',
        '  SLIPWAY_MAX_CONNECTIONS=0: expected an integer from 1 to 1000000',
        '  SLIPWAY_GRPC_KEEPALIVE_TIME "soon": expected e.g. 30s, 5m, 1h or 1h30m',
        '  SLIPWAY_CORS_ORIGINS: "*" is refused; list each origin allowed (https://app.example.com)',
        '  SLIPWAY_CORS_ORIGINS: "https://app.example.com/path" is not an origin (scheme://host[:port], no path), e.g. https://app.example.com',
        '  SLIPWAY_HEADERS_TIMEOUT (600000 ms) must not exceed SLIPWAY_REQUEST_TIMEOUT (60000 ms)',
      ].join('\n'),
    );
    expect(loadConfig({ SLIPWAY_CORS_ORIGINS: 'https://a.example.com, http://localhost:3000/' }).corsOrigins).toEqual([
      'https://a.example.com',
      'http://localhost:3000',
    ]);
  });
});
