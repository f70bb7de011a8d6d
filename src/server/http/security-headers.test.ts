/**
 * Security headers on /api/v1 and /docs, none on the inference routes; CORS off by default (no
 * Access-Control-* header, preflights refused) and an exact allow-list when configured.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator } from '../../auth/authenticator.js';
import type { TokenService } from '../../auth/token-service.js';
import { openTestPlatform } from '../../testing/fixtures.js';
import { buildApp } from '../app.js';
import { CORS_EXPOSED, CORS_HEADERS, CORS_MAX_AGE, CORS_METHODS } from './cors.js';
import { DOCS_CSP } from './security-headers.js';

type Platform = Awaited<ReturnType<typeof openTestPlatform>>;

function accessControl(response: LightMyRequestResponse): Record<string, unknown> {
  return Object.fromEntries(Object.entries(response.headers).filter(([name]) => name.startsWith('access-control-')));
}

describe('security headers and CORS', () => {
  let platform: Platform;
  let plain: FastifyInstance;
  let withCors: FastifyInstance;
  let withCorsAndAuth: FastifyInstance;

  beforeAll(async () => {
    platform = await openTestPlatform();
    const parts = { config: platform.config, registry: platform.registry, serving: platform.serving };
    plain = await buildApp(parts);
    withCors = await buildApp({ ...parts, corsOrigins: ['https://app.example.com'] });
    // Requests here carry no token: they are refused before any token is looked up.
    const auth = new Authenticator({} as TokenService, { enabled: true });
    withCorsAndAuth = await buildApp({ ...parts, corsOrigins: ['https://app.example.com'], auth });
  });
  afterAll(async () => {
    await plain.close();
    await withCors.close();
    await withCorsAndAuth.close();
    await platform.dispose();
  });

  it('sets nosniff, DENY, no-referrer and no-store on the management API, errors included', async () => {
    for (const url of ['/api/v1/models', '/api/v1/models/missing']) {
      const response = await plain.inject({ url });
      expect(response.headers['x-content-type-options'], url).toBe('nosniff');
      expect(response.headers['x-frame-options'], url).toBe('DENY');
      expect(response.headers['referrer-policy'], url).toBe('no-referrer');
      expect(response.headers['cache-control'], url).toBe('no-store');
    }
    expect((await plain.inject({ url: '/api/v1/models/missing' })).statusCode).toBe(404);
  });

  it('sets a Content-Security-Policy on /docs that allows swagger-ui its own files', async () => {
    const page = await plain.inject({ url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toBe(DOCS_CSP);
    expect(page.headers['x-frame-options']).toBe('DENY');
    // Every script the page loads is a file under /docs ('self'), none inline.
    const scripts = [...page.body.matchAll(/<script([^>]*)>([^<]*)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, inline] of scripts) {
      expect(attributes).toMatch(/src="\.\//);
      expect(inline!.trim()).toBe('');
    }
    const initializer = await plain.inject({ url: '/docs/static/swagger-initializer.js' });
    expect(initializer.statusCode).toBe(200);
    expect(initializer.headers['content-security-policy']).toBe(DOCS_CSP);
    const spec = await plain.inject({ url: '/docs/json' });
    expect(spec.statusCode).toBe(200);
    expect(spec.headers['x-content-type-options']).toBe('nosniff');
  });

  it('adds none of them to the inference and health routes', async () => {
    for (const url of ['/v2/health/live', '/v2']) {
      const response = await plain.inject({ url });
      expect(response.statusCode, url).toBe(200);
      for (const name of ['x-content-type-options', 'x-frame-options', 'referrer-policy', 'content-security-policy'])
        expect(response.headers[name], `${url} ${name}`).toBeUndefined();
    }
  });

  it('has CORS off by default: no Access-Control-* header, preflights refused', async () => {
    const get = await plain.inject({ url: '/api/v1/models', headers: { origin: 'https://evil.example.com' } });
    expect(get.statusCode).toBe(200);
    expect(accessControl(get)).toEqual({});
    const preflight = await plain.inject({
      method: 'OPTIONS',
      url: '/api/v1/models/cancer/versions',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' },
    });
    expect(preflight.statusCode).toBe(404);
    expect(accessControl(preflight)).toEqual({});
  });

  it('with an allow-list, answers listed origins and nothing else', async () => {
    const preflight = await withCors.inject({
      method: 'OPTIONS',
      url: '/api/v1/models/cancer/versions',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(accessControl(preflight)).toEqual({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-methods': CORS_METHODS,
      'access-control-allow-headers': CORS_HEADERS,
      'access-control-max-age': CORS_MAX_AGE,
    });
    const get = await withCors.inject({ url: '/v2/health/live', headers: { origin: 'https://app.example.com' } });
    expect(get.statusCode).toBe(200);
    expect(get.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(get.headers['access-control-expose-headers']).toBe(CORS_EXPOSED);
    expect(get.headers.vary).toBe('Origin');

    const other = await withCors.inject({
      method: 'OPTIONS',
      url: '/api/v1/models/cancer/versions',
      headers: { origin: 'https://app.example.com.evil.net', 'access-control-request-method': 'POST' },
    });
    expect(other.statusCode).toBe(403);
    expect(other.json()).toEqual({
      error: 'cross-origin request from an origin not allowed',
      code: 'PERMISSION_DENIED',
    });
    expect(accessControl(other)).toEqual({});
    const otherGet = await withCors.inject({ url: '/v2/health/live', headers: { origin: 'https://evil.example.com' } });
    expect(accessControl(otherGet)).toEqual({});
  });

  it('with tokens required, answers preflights without one and keeps the headers on a 401', async () => {
    const preflight = await withCorsAndAuth.inject({
      method: 'OPTIONS',
      url: '/api/v1/models',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example.com');
    const refused = await withCorsAndAuth.inject({
      url: '/api/v1/models',
      headers: { origin: 'https://app.example.com' },
    });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(refused.headers['x-content-type-options']).toBe('nosniff');
    expect(refused.headers['cache-control']).toBe('no-store');
  });
});
