import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/server/app.js';
import { fixtureBytes, openTestPlatform } from '../src/testing/fixtures.js';

/** What test/fuzz-routes.test.ts found answering 500, in process, each now a 400 naming the cause. */
describe('bugs the route fuzzer found', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;

  beforeAll(async () => {
    platform = await openTestPlatform();
    app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      monitor: platform.monitor,
      observability: platform,
    });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  it.each([
    ['/api/v1/drift/results?limit=abc', 'limit "abc": expected a whole number from 1 to 1000'],
    ['/api/v1/drift/results?limit=0', 'limit "0": expected a whole number from 1 to 1000'],
    ['/api/v1/drift/results?version=a&version=b', 'query parameter "version" is given more than once'],
    ['/api/v1/predictions?since=1&since=2', 'query parameter "since" is given more than once'],
    ['/api/v1/drift?model=a&model=b', 'query parameter "model" is given more than once'],
    ['/api/v1/performance?model=a&model=b', 'query parameter "model" is given more than once'],
  ])('GET %s answers 400', async (url, error) => {
    const response = await app.inject({ method: 'GET', url });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error, code: 'INVALID_ARGUMENT' });
  });

  it('refuses unknown drift settings by name (a 10k-deep one overflowed the stack when stored: 500)', async () => {
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    const put = (payload: string) =>
      app.inject({
        method: 'PUT',
        url: '/api/v1/models/cancer/drift-settings',
        headers: { 'content-type': 'application/json' },
        payload,
      });
    const deep = await put('{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000));
    expect(deep.statusCode).toBe(400);
    expect(deep.json<{ error: string }>().error).toMatch(/^unknown drift setting "a"; known: ksPValue, /);
    const typo = await put('{"ksPvalue": 0.01, "driftShare": 0.3}');
    expect(typo.statusCode).toBe(400);
    expect(typo.json<{ error: string }>().error).toMatch(/^unknown drift setting "ksPvalue"; known: /);
    const known = await put('{"ksPValue": 0.01, "driftShare": 0.3}');
    expect(known.statusCode).toBe(200);
    expect(known.json()).toEqual({ ksPValue: 0.01, driftShare: 0.3 });
  });

  it('still answers a single limit', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/v1/drift/results?limit=5' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ results: [] });
  });
});

describe('what the HTTP parser refuses', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  let port = 0;

  beforeAll(async () => {
    platform = await openTestPlatform();
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  const raw = (text: string) =>
    new Promise<string>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
      socket.on('close', () => resolve(answer));
      socket.on('error', () => resolve(answer));
      socket.end(text);
    });

  it.each([
    ['a broken request line', 'GET /v2 HTTP/9.9\r\nHost: x\r\n\r\n', 400],
    ['a negative Content-Length', 'POST /api/v1/feedback HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400],
    ['a header without a name', 'GET /v2 HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n', 400],
    ['a head over the size cap', `GET /v2 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
  ])('answers %s in the error shape', async (_what, text, status) => {
    const answer = await raw(text);
    expect(answer.slice(0, 12)).toBe(`HTTP/1.1 ${status}`);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: string; code: string };
    expect(body.code).toBe('INVALID_ARGUMENT');
    expect(body.error).toMatch(status === 431 ? /headers are larger/ : /^malformed HTTP request \(HPE_/);
  });
});
