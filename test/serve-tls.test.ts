/**
 * `slipway serve --tls-cert --tls-key --tls-client-ca` as a process, alone and with `--workers 2`:
 * the primary hands raw TCP connections to the workers and each worker does its own TLS handshake,
 * so HTTPS and gRPC over mutual TLS work the same in both; bad files stop the start before anything
 * is opened, with a message naming the flag.
 */
import https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inferenceServiceDefinition } from '../src/server/grpc/proto.js';
import { makeTestPki, type TestPki } from '../src/server/tls-certificates.test-support.js';
import {
  cancerPayload,
  distIsBuilt,
  printed,
  pushCancer,
  spawnServe,
  waitFor,
  workerPids,
  type ServeProcess,
} from './serve-harness.js';

interface ClientCert {
  readonly key: Buffer;
  readonly cert: Buffer;
}

function request(
  url: string,
  ca: Buffer,
  client: ClientCert | undefined,
  body?: string,
): Promise<{ status: number; body: string } | string> {
  return new Promise((resolve) => {
    const call = https.request(
      url,
      {
        method: body === undefined ? 'GET' : 'POST',
        ca,
        ...(client ?? {}),
        agent: false,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    call.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    call.end(body);
  });
}

function grpcLive(address: string, ca: Buffer, client?: ClientCert): Promise<boolean | number> {
  const channel = new Client(address, credentials.createSsl(ca, client?.key ?? null, client?.cert ?? null));
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

describe('slipway serve over mutual TLS', () => {
  let home: string;
  let pki: TestPki;
  const running: ServeProcess[] = [];
  beforeAll(async () => {
    expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
    pki = makeTestPki();
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-tls-'));
    await pushCancer(home);
  });
  afterEach(() => {
    for (const server of running.splice(0)) server.cleanup();
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
    await rm(pki.dir, { recursive: true, force: true });
  });

  const tlsFlags = () => [
    '--tls-cert',
    pki.files.serverCert,
    '--tls-key',
    pki.files.serverKey,
    '--tls-client-ca',
    pki.files.caCert,
  ];

  for (const workers of [1, 2]) {
    it(`serves HTTPS and gRPC to clients with a certificate only (--workers ${workers})`, async () => {
      const server = spawnServe(['--port', '0', '--grpc-port', '0', '--workers', String(workers), ...tlsFlags()], {
        SLIPWAY_HOME: home,
      });
      running.push(server);
      const url = await printed(server, /serving on (https:\/\/[0-9.:]+)/, 60_000);
      const grpcAddress = await printed(server, /gRPC on ([0-9.]+:\d+) \(TLS\)/, 60_000);
      if (workers === 2) await waitFor('2 workers serving', () => workerPids(server).length === 2, 60_000);
      const ca = pki.read('caCert');
      const good = { key: pki.read('clientKey'), cert: pki.read('clientCert') };
      const infer = await request(`${url}/v2/models/cancer/infer`, ca, good, cancerPayload());
      expect(typeof infer === 'string' ? infer : infer.status).toBe(200);
      expect(await grpcLive(grpcAddress, ca, good)).toBe(true);
      // Enough requests for both workers to take some, each over a new connection.
      const statuses = await Promise.all(
        Array.from({ length: 8 }, () =>
          request(`${url}/v2/health/live`, ca, good).then((r) => (typeof r === 'string' ? r : r.status)),
        ),
      );
      expect(statuses).toEqual(Array(8).fill(200));
      const refused = await request(`${url}/v2/health/live`, ca, undefined);
      expect(typeof refused).toBe('string');
      expect(await grpcLive(grpcAddress, ca)).toBe(14);
    }, 120_000);
  }

  it("refuses to start with a key that is not the certificate's, naming both files", async () => {
    const server = spawnServe(
      ['--port', '0', '--no-grpc', '--tls-cert', pki.files.serverCert, '--tls-key', pki.files.clientKey],
      { SLIPWAY_HOME: home },
    );
    running.push(server);
    const exit = await server.exited;
    expect(exit.code).not.toBe(0);
    expect(server.output()).toContain(
      `--tls-key ${pki.files.clientKey} is not the private key of the certificate in --tls-cert ${pki.files.serverCert} (CN=localhost)`,
    );
    expect(server.output()).not.toContain('serving on');
  }, 60_000);
});
