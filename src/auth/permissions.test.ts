import { describe, expect, it } from 'vitest';
import { decideAuthMode, isLoopback, noTokenMessage } from './auth-mode.js';
import { denial, GRPC_PERMISSIONS, httpPermission, modelOfName } from './permissions.js';
import { ANONYMOUS, modelAllowed, roleAtLeast, type Principal } from './principal.js';
import { parseRateLimits, RateLimiter } from './rate-limiter.js';
import { SlipwayError } from '../core/errors.js';
import { inferenceServiceDefinition } from '../server/grpc/proto.js';

const token = (role: Principal['role'], models?: string[]): Principal => ({
  name: 'ci',
  role,
  ...(models ? { models } : {}),
});

describe('roles and model patterns', () => {
  it('orders roles, each including the ones before', () => {
    expect(roleAtLeast('admin', 'infer')).toBe(true);
    expect(roleAtLeast('deploy', 'read')).toBe(true);
    expect(roleAtLeast('read', 'deploy')).toBe(false);
    expect(roleAtLeast('infer', 'read')).toBe(false);
    expect(ANONYMOUS).toEqual({ name: 'anonymous', role: 'admin' });
  });

  it('matches exact names and trailing-* prefixes only', () => {
    const limited = token('read', ['fraud', 'risk*']);
    expect(modelAllowed(limited, 'fraud')).toBe(true);
    expect(modelAllowed(limited, 'fraud2')).toBe(false);
    expect(modelAllowed(limited, 'risk')).toBe(true);
    expect(modelAllowed(limited, 'risk-eu')).toBe(true);
    expect(modelAllowed(limited, 'xrisk')).toBe(false);
    expect(modelAllowed(token('read'), 'anything')).toBe(true);
  });

  it('finds the model a request names: selectors, :predict and deployments', () => {
    expect(modelOfName('fraud@champion:predict')).toBe('fraud');
    expect(modelOfName('fraud:predict')).toBe('fraud');
    expect(modelOfName('fraud-prod', (name) => (name === 'fraud-prod' ? 'fraud' : undefined))).toBe('fraud');
    expect(modelOfName('other', () => undefined)).toBe('other');
  });
});

describe('the permission table', () => {
  it('gives each route group the role the issue names', () => {
    const role = (method: string, url: string) => httpPermission(method, url)?.role;
    expect(role('POST', '/v2/models/:model/infer')).toBe('infer');
    expect(role('HEAD', '/v2/models/:model')).toBe('infer');
    expect(role('GET', '/api/v1/models/:name')).toBe('read');
    expect(role('GET', '/api/v1/predictions')).toBe('read');
    expect(role('POST', '/api/v1/features::get')).toBe('read');
    expect(role('GET', '/api/v1/jobs')).toBe('read');
    expect(role('PUT', '/api/v1/models/:name/aliases/:alias')).toBe('deploy');
    expect(role('POST', '/api/v1/deployments/:name/rollback')).toBe('deploy');
    expect(role('POST', '/api/v1/feedback')).toBe('deploy');
    expect(role('POST', '/api/v1/features/push')).toBe('deploy');
    expect(role('POST', '/api/v1/jobs')).toBe('deploy');
    expect(role('POST', '/v2/repository/models/:model/unload')).toBe('deploy');
    expect(role('POST', '/api/v1/models/:name/versions')).toBe('admin');
    expect(role('POST', '/api/v1/models/:name/versions/:version/archive')).toBe('admin');
    expect(role('POST', '/api/v1/alerts/rules')).toBe('admin');
    expect(role('POST', '/api/v1/tokens')).toBe('admin');
    expect(role('PUT', '/api/v1/models/:name/serving')).toBe('admin');
    expect(httpPermission('PATCH', '/api/v1/models/:name')).toBeUndefined();
  });

  it('has an entry for every RPC of the gRPC service', () => {
    expect(Object.keys(inferenceServiceDefinition()).sort()).toEqual(Object.keys(GRPC_PERMISSIONS).sort());
  });

  it('explains each refusal: the role needed, or the models a token is limited to', () => {
    const push = httpPermission('POST', '/api/v1/models/:name/versions')!;
    expect(denial(token('deploy'), push, 'fraud')).toBe('token "ci" has role deploy; this needs role admin');
    expect(denial(token('admin'), push, 'fraud')).toBeUndefined();
    expect(denial(token('admin', ['fraud']), push, 'risk')).toBe('token "ci" is limited to models fraud; not "risk"');
    const list = httpPermission('GET', '/api/v1/models')!;
    expect(denial(token('admin', ['fraud']), list, undefined)).toBe(
      'token "ci" is limited to models fraud; this request is about every model',
    );
    expect(denial(token('infer', ['fraud']), httpPermission('GET', '/v2/health/live')!, undefined)).toBeUndefined();
  });
});

describe('auth modes', () => {
  it('tells loopback addresses from the rest', () => {
    expect(['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'].map(isLoopback)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'example.com'].map(isLoopback)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it('is off only on loopback without tokens, refuses a network bind without tokens, and obeys SLIPWAY_AUTH', () => {
    expect(decideAuthMode({ setting: 'auto', host: '127.0.0.1', usableTokens: 0 })).toEqual({
      enabled: false,
      watchForTokens: true,
    });
    expect(decideAuthMode({ setting: 'auto', host: '127.0.0.1', usableTokens: 1 })).toEqual({
      enabled: true,
      watchForTokens: false,
    });
    expect(decideAuthMode({ setting: 'auto', host: '0.0.0.0', usableTokens: 2 })).toEqual({
      enabled: true,
      watchForTokens: false,
    });
    expect(decideAuthMode({ setting: 'required', host: '127.0.0.1', usableTokens: 0 })).toEqual({
      enabled: true,
      watchForTokens: false,
    });
    expect(decideAuthMode({ setting: 'off', host: '0.0.0.0', usableTokens: 0 })).toEqual({
      enabled: false,
      watchForTokens: false,
    });
    let refused: unknown;
    try {
      decideAuthMode({ setting: 'auto', host: '0.0.0.0', usableTokens: 0 });
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(SlipwayError);
    expect((refused as SlipwayError).code).toBe('FAILED_PRECONDITION');
    expect((refused as SlipwayError).message).toBe(noTokenMessage('0.0.0.0'));
    expect(noTokenMessage('0.0.0.0')).toContain('slipway token create admin --role admin');
    expect(noTokenMessage('0.0.0.0')).toContain('SLIPWAY_BOOTSTRAP_TOKEN');
  });
});

describe('rate limits', () => {
  it('parses per-role rate[:burst] and refuses unknown roles and bad numbers by name', () => {
    expect(parseRateLimits('infer=100:200, deploy=2')).toEqual({
      infer: { perSecond: 100, burst: 200 },
      deploy: { perSecond: 2, burst: 2 },
    });
    expect(parseRateLimits('')).toEqual({});
    expect(() => parseRateLimits('root=5')).toThrow('SLIPWAY_RATE_LIMITS: unknown role "root"');
    expect(() => parseRateLimits('infer=fast')).toThrow('SLIPWAY_RATE_LIMITS: "infer=fast"');
    expect(() => parseRateLimits('infer=0')).toThrow('rate and burst must be above 0');
  });

  it('refills each token bucket at its role rate and says how long to wait', () => {
    let now = 0;
    const limiter = new RateLimiter(parseRateLimits('read=2:3'), () => now);
    const reader = { name: 'r', role: 'read', tokenId: 'r1' } as const;
    for (let i = 0; i < 3; i++) limiter.take(reader);
    let refusal: SlipwayError | undefined;
    try {
      limiter.take(reader);
    } catch (error) {
      refusal = error as SlipwayError;
    }
    expect(refusal?.code).toBe('RATE_LIMITED');
    expect(refusal?.retryAfterSeconds).toBe(1);
    now = 500; // one request refilled
    limiter.take(reader);
    expect(() => limiter.take(reader)).toThrow('over its rate limit');
    // Other roles and tokens: their own buckets, or none.
    limiter.take({ name: 'w', role: 'deploy', tokenId: 'w1' });
    limiter.take({ name: 'r2', role: 'read', tokenId: 'r2' });
  });
});
