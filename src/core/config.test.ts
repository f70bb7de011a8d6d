import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('loadConfig', () => {
  it('uses the embedded defaults', () => {
    const c = loadConfig({});
    expect(c.home).toBe(path.resolve('.slipway'));
    expect(c.databaseUrl).toBeUndefined();
    expect(c.port).toBe(8080);
    expect(c.intraOpThreads).toBe(1);
    expect(c.onlineStore).toBe('sqlite');
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reports every invalid setting at once', () => {
    let message = '';
    try {
      loadConfig({
        SLIPWAY_PORT: 'x',
        SLIPWAY_DATABASE_URL: 'mysql://a',
        SLIPWAY_LOG_LEVEL: 'loud',
        SLIPWAY_ONLINE_STORE: 'memcached://x',
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^invalid configuration:/);
    expect(message).toContain('SLIPWAY_PORT=x: expected an integer from 0 to 65535');
    expect(message).toContain('SLIPWAY_DATABASE_URL: expected a postgres:// URL, got "mysql://a"');
    expect(message).toContain('SLIPWAY_LOG_LEVEL=loud: expected one of');
    expect(message).toContain('SLIPWAY_ONLINE_STORE: expected sqlite or a redis:// URL, got "memcached://x"');
    expect(loadConfig({ SLIPWAY_ONLINE_STORE: 'redis://127.0.0.1:6379/2' }).onlineStore).toBe(
      'redis://127.0.0.1:6379/2',
    );
  });

  it('lets explicit overrides win over the environment', () => {
    expect(loadConfig({ SLIPWAY_PORT: '9000' }, { port: 9001 }).port).toBe(9001);
  });
});
