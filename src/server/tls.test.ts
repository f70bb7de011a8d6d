/**
 * TLS and mutual TLS on both transports (README "Security", TLS): HTTPS and gRPC over TLS answer; with a
 * client CA, a client without a certificate, or with one from another CA, is refused on both, and
 * one with a certificate from the CA is served. Bad PEM files are refused at start by name.
 */
import https from 'node:https';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.js';
import { SlipwayError } from '../core/errors.js';
import { openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';
import { createGrpcServer, type GrpcServer } from './grpc/grpc-server.js';
import { inferenceServiceDefinition } from './grpc/proto.js';
import { makeTestPki, type TestPki } from './tls-certificates.test-support.js';
import { httpServerOptions, loadTlsMaterial, type TlsMaterial } from './transport.js';

type Platform = Awaited<ReturnType<typeof openTestPlatform>>;

interface ClientCert {
  readonly key: Buffer;
  readonly cert: Buffer;
}

/** GET `url` over HTTPS trusting `ca`; the status, or the error's code when the handshake fails. */
function httpsGet(url: string, ca: Buffer, client?: ClientCert): Promise<number | string> {
  return new Promise((resolve) => {
    const request = https.get(url, { ca, ...(client ?? {}), agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** ServerLive over gRPC with TLS trusting `ca`: true, or the status code of the failure. */
function grpcLive(port: number, ca: Buffer, client?: ClientCert): Promise<boolean | number> {
  const channel = new Client(`127.0.0.1:${port}`, credentials.createSsl(ca, client?.key ?? null, client?.cert ?? null));
  const method = inferenceServiceDefinition().ServerLive!;
  return new Promise<boolean | number>((resolve) => {
    channel.makeUnaryRequest(
      method.path,
      (value: unknown) => method.requestSerialize(value),
      (bytes: Buffer) => method.responseDeserialize(bytes) as { live: boolean },
      {},
      { deadline: Date.now() + 5000 },
      (error: ServiceError | null, response?: { live: boolean }) =>
        resolve(error ? error.code : (response?.live ?? false)),
    );
  }).finally(() => channel.close());
}

describe('TLS on HTTP and gRPC', () => {
  let pki: TestPki;
  let platform: Platform;
  const started: Array<{ app: FastifyInstance; grpc: GrpcServer }> = [];

  /** HTTPS app and gRPC server with `tls`; their URL and port. */
  async function serve(tls: TlsMaterial): Promise<{ url: string; grpcPort: number }> {
    const app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      transport: { limits: platform.config, tls },
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const grpc = createGrpcServer({ serving: platform.serving, limits: platform.config, tls });
    const grpcPort = await grpc.listen('127.0.0.1', 0);
    started.push({ app, grpc });
    return { url, grpcPort };
  }

  beforeAll(async () => {
    pki = makeTestPki();
    platform = await openTestPlatform();
  });
  afterAll(async () => {
    for (const { app, grpc } of started) await Promise.all([app.close(), grpc.close(0)]);
    await platform.dispose();
    rmSync(pki.dir, { recursive: true, force: true });
  });

  it('serves HTTPS and gRPC over TLS with a certificate and key', async () => {
    const tls = loadTlsMaterial({ tlsCert: pki.files.serverCert, tlsKey: pki.files.serverKey, tlsClientCa: undefined });
    expect(httpServerOptions(platform.config, tls).https).toMatchObject({
      handshakeTimeout: 10_000,
      maxHeaderSize: 16_384,
    });
    const { url, grpcPort } = await serve(tls!);
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await httpsGet(`${url}/v2/health/live`, pki.read('caCert'))).toBe(200);
    expect(await grpcLive(grpcPort, pki.read('caCert'))).toBe(true);
    // A client that does not trust the server's CA does not get through.
    expect(await httpsGet(`${url}/v2/health/live`, pki.read('otherCaCert'))).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(await grpcLive(grpcPort, pki.read('otherCaCert'))).toBe(14); // UNAVAILABLE
  });

  it('with a client CA, refuses clients without a certificate or with one from another CA, on both', async () => {
    const tls = loadTlsMaterial({
      tlsCert: pki.files.serverCert,
      tlsKey: pki.files.serverKey,
      tlsClientCa: pki.files.caCert,
    });
    const { url, grpcPort } = await serve(tls!);
    const ca = pki.read('caCert');
    const good = { key: pki.read('clientKey'), cert: pki.read('clientCert') };
    const intruder = { key: pki.read('otherClientKey'), cert: pki.read('otherClientCert') };

    expect(await httpsGet(`${url}/v2/health/live`, ca, good)).toBe(200);
    expect(await grpcLive(grpcPort, ca, good)).toBe(true);

    const noCert = await httpsGet(`${url}/v2/health/live`, ca);
    expect(typeof noCert).toBe('string');
    expect(['ECONNRESET', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED']).toContain(noCert);
    const wrongCa = await httpsGet(`${url}/v2/health/live`, ca, intruder);
    expect(typeof wrongCa).toBe('string');
    expect(['ECONNRESET', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA']).toContain(wrongCa);
    expect(await grpcLive(grpcPort, ca)).toBe(14);
    expect(await grpcLive(grpcPort, ca, intruder)).toBe(14);
  });

  it('refuses unreadable, non-PEM and mismatched files at start, naming the flag and the file', () => {
    const missing = path.join(pki.dir, 'nope.pem');
    const notPem = path.join(pki.dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    const refusal = (settings: Parameters<typeof loadTlsMaterial>[0]): string => {
      try {
        loadTlsMaterial(settings);
      } catch (error) {
        expect(error).toBeInstanceOf(SlipwayError);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    const { serverCert, serverKey, clientKey } = pki.files;
    expect(refusal({ tlsCert: missing, tlsKey: serverKey, tlsClientCa: undefined })).toBe(
      `--tls-cert (SLIPWAY_TLS_CERT) ${missing}: cannot read the file (ENOENT)`,
    );
    expect(refusal({ tlsCert: serverCert, tlsKey: notPem, tlsClientCa: undefined })).toBe(
      `--tls-key (SLIPWAY_TLS_KEY) ${notPem}: not a PEM file (no "-----BEGIN" line)`,
    );
    expect(refusal({ tlsCert: serverCert, tlsKey: clientKey, tlsClientCa: undefined })).toBe(
      `--tls-key ${clientKey} is not the private key of the certificate in --tls-cert ${serverCert} (CN=localhost)`,
    );
    expect(refusal({ tlsCert: serverCert, tlsKey: serverKey, tlsClientCa: serverKey })).toMatch(
      /^--tls-client-ca .*server\.key: not a PEM CA certificate/,
    );
    expect(loadTlsMaterial({ tlsCert: undefined, tlsKey: undefined, tlsClientCa: undefined })).toBeUndefined();
  });

  it('refuses half a TLS configuration in the environment or from flags', () => {
    expect(() => loadConfig({ SLIPWAY_TLS_CERT: pki.files.serverCert })).toThrow(
      'TLS needs both a certificate and its key: give --tls-cert and --tls-key (SLIPWAY_TLS_CERT, SLIPWAY_TLS_KEY) together',
    );
    expect(() => loadConfig({}, { tlsClientCa: pki.files.caCert })).toThrow(
      '--tls-client-ca (SLIPWAY_TLS_CLIENT_CA) asks for mutual TLS, which needs --tls-cert and --tls-key',
    );
    const config = loadConfig({ SLIPWAY_TLS_KEY: pki.files.serverKey }, { tlsCert: pki.files.serverCert });
    expect([config.tlsCert, config.tlsKey, config.tlsClientCa]).toEqual([
      pki.files.serverCert,
      pki.files.serverKey,
      undefined,
    ]);
  });
});
