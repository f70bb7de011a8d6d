import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { PredictionLog } from '../monitor/prediction-log.js';
import { ModelPool } from '../runtime/model-pool.js';
import { FIXTURES } from '../testing/fixtures.js';
import { cliRunner } from './cli.test-support.js';

/**
 * Registry commands open the registry only (registry/open-registry.ts): with the online store on a
 * Redis nobody listens on, they still work, and no prediction log or model pool is created (every
 * prediction log, worker thread or inline, starts in `PredictionLog.open`).
 */
describe('registry commands without the platform', () => {
  let home: string;
  let redisDown = false;
  const cli = cliRunner(() => ({
    env: { SLIPWAY_HOME: home, ...(redisDown ? { SLIPWAY_ONLINE_STORE: 'redis://127.0.0.1:1' } : {}) },
    cwd: home,
  }));

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-read-only-'));
    redisDown = false;
    expect((await cli('push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', 'cancer')).out).toBe(
      'pushed cancer@1.0.0  (first version)\n',
    );
    expect((await cli('push', path.join(FIXTURES, 'breast_cancer_retrained.onnx'), '--name', 'cancer')).code).toBe(0);
    redisDown = true;
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('lists, shows, moves aliases and archives with Redis unreachable, opening no prediction log or model pool', async () => {
    const logOpens = vi.spyOn(PredictionLog, 'open');
    const poolCloses = vi.spyOn(ModelPool.prototype, 'close');

    const models = await cli('models', '--json');
    expect(models.err).toBe('');
    expect(models.code).toBe(0);
    expect(
      (JSON.parse(models.out) as Array<{ name: string; latestVersion: string; versionCount: number }>).map((m) => [
        m.name,
        m.latestVersion,
        m.versionCount,
      ]),
    ).toEqual([['cancer', '1.1.0', 2]]);

    const versions = await cli('versions', 'cancer', '--json');
    expect(versions.code).toBe(0);
    expect((JSON.parse(versions.out) as Array<{ version: string }>).map((v) => v.version)).toEqual(['1.1.0', '1.0.0']);

    const shown = await cli('show', 'cancer@1.0.0', '--json');
    expect(shown.code).toBe(0);
    expect((JSON.parse(shown.out) as { model: string; version: string }).version).toBe('1.0.0');

    expect(await cli('alias', 'set', 'cancer', 'champion', '1.1.0')).toEqual({
      code: 0,
      out: 'cancer@champion -> 1.1.0\n',
      err: '',
    });
    expect((await cli('alias', 'history', 'cancer', '--json')).code).toBe(0);
    expect(await cli('archive', 'cancer@1.0.0')).toEqual({ code: 0, out: 'archived cancer@1.0.0\n', err: '' });
    expect(await cli('alias', 'rm', 'cancer', 'champion')).toEqual({
      code: 0,
      out: 'removed cancer@champion (was 1.1.0)\n',
      err: '',
    });
    expect((await cli('gc')).code).toBe(0);

    expect(logOpens).not.toHaveBeenCalled();
    expect(poolCloses).not.toHaveBeenCalled();
  });

  it('a command that needs the whole platform still fails on the unreachable Redis (the check above can fail)', async () => {
    const logOpens = vi.spyOn(PredictionLog, 'open');
    const pushed = await cli('push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', 'other');
    expect(pushed.code).not.toBe(0);
    expect(pushed.err).toContain('cannot connect to Redis for the online store');
    // The platform failed before its prediction log; what it had opened (the database) was closed.
    expect(logOpens).not.toHaveBeenCalled();
  });
});
