import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner } from '../cli/cli.test-support.js';
import { loadConfig } from '../core/config.js';
import { ALIAS_MAX_LENGTH, NAME_MAX_LENGTH } from '../core/names.js';
import { openPlatform, type Platform } from '../platform.js';
import { FIXTURES, expectedOutputs, fixtureBytes } from '../testing/fixtures.js';
import { startServer, type RunningServer } from './serve.js';

const longest = `m${'x'.repeat(NAME_MAX_LENGTH - 2)}9`; // 128 characters
const tooLong = `${longest}z`; // 129
const deployment = `d${'y'.repeat(NAME_MAX_LENGTH - 1)}`;
const alias = `a${'b'.repeat(ALIAS_MAX_LENGTH - 1)}`;

/**
 * Issue 13 item 16: one name rule everywhere. A name of the maximum length is accepted by the
 * CLI and reachable on every HTTP route that carries it; one character more is refused, with the
 * same message, by the CLI and the API.
 */
describe('names at the length limit', () => {
  let home: string;
  let platform: Platform;
  let server: RunningServer;
  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-names-'));
    const pushed = await cli('push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', longest);
    expect(pushed.err).toBe('');
    expect((await cli('alias', 'set', longest, alias, '1.0.0')).code).toBe(0);
    const deployed = await cli('deploy', deployment, '--model', longest, '--route', '1.0.0=100');
    expect(deployed.err).toBe('');
    platform = await openPlatform(loadConfig({ SLIPWAY_LOG_LEVEL: 'silent' }, { home }), {
      predictionLogThread: false,
    });
    server = await startServer(platform, { host: '127.0.0.1', port: 0 });
  }, 60_000);
  afterAll(async () => {
    await server?.stop(5000);
    await rm(home, { recursive: true, force: true });
  });

  const row = (): number[] => expectedOutputs('breast_cancer').inputs[0]!.data.slice(0, 30) as number[];
  const v2 = () => JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row() }] });
  const call = async (
    method: string,
    route: string,
    body?: string,
  ): Promise<{ status: number; json: Record<string, unknown> }> => {
    const response = await fetch(`${server.url}${route}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body }),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };

  it('serves a 128-character model, alias and deployment on every route', async () => {
    expect(longest).toHaveLength(128);
    const meta = await call('GET', `/v2/models/${longest}`);
    expect(meta.status, JSON.stringify(meta.json)).toBe(200);
    expect(meta.json.name).toBe(longest);
    expect((await call('GET', `/v2/models/${longest}/versions/${alias}`)).status).toBe(200);
    const infer = await call('POST', `/v2/models/${longest}/infer`, v2());
    expect(infer.status, JSON.stringify(infer.json)).toBe(200);
    expect(infer.json.model_version).toBe('1.0.0');
    const predict = await call(
      'POST',
      `/v1/models/${longest}@${alias}:predict`,
      JSON.stringify({ instances: [row()] }),
    );
    expect(predict.status, JSON.stringify(predict.json)).toBe(200);
    expect(predict.json.model_version).toBe('1.0.0');
    expect((await call('GET', `/api/v1/models/${longest}`)).json.name).toBe(longest);
    expect((await call('GET', `/api/v1/deployments/${deployment}`)).status).toBe(200);
    const routed = await call('POST', `/v2/models/${deployment}/infer`, v2());
    expect(routed.status, JSON.stringify(routed.json)).toBe(200);
    expect(
      (await call('POST', `/v1/deployments/${deployment}:predict`, JSON.stringify({ instances: [row()] }))).status,
    ).toBe(200);
  });

  it('refuses a 129-character name with the same message from the CLI and the API', async () => {
    const message = `invalid model name "${tooLong.slice(0, 40)}…" (129 characters): use letters, digits, "_", "-" and ".", starting with a letter or digit (1 to 128 characters)`;
    const pushed = await cli('push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', tooLong);
    expect(pushed).toEqual({ code: 1, out: '', err: `error: ${message}\n` });
    const upload = await fetch(`${server.url}/api/v1/models/${tooLong}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: fixtureBytes('breast_cancer.onnx'),
    });
    expect(upload.status).toBe(400);
    expect(await upload.json()).toEqual({ error: message, code: 'INVALID_ARGUMENT' });
    expect(await call('POST', `/v2/models/${tooLong}/infer`, v2())).toEqual({
      status: 400,
      json: { error: message, code: 'INVALID_ARGUMENT' },
    });
    expect(await call('GET', `/v2/models/${tooLong}`)).toEqual({
      status: 400,
      json: { error: message, code: 'INVALID_ARGUMENT' },
    });

    const deployMessage = message.replace('model name', 'deployment name');
    expect((await cli('deploy', tooLong, '--model', longest, '--route', '1.0.0=100')).err).toBe(
      `error: ${deployMessage}\n`,
    );
    expect(
      await call('PUT', `/api/v1/deployments/${tooLong}`, JSON.stringify({ model: longest, routes: ['1.0.0=100'] })),
    ).toEqual({
      status: 400,
      json: { error: deployMessage, code: 'INVALID_ARGUMENT' },
    });
    const aliasRefused = await cli('alias', 'set', longest, `${alias}c`, '1.0.0');
    expect(aliasRefused.err).toMatch(
      /^error: invalid alias "a.*…" \(65 characters\): use a letter, then letters, digits, "_" or "-" \(1 to 64 characters\)\n$/,
    );

    // Far past any name: the router's own limit answers in the same error model.
    const huge = await call('GET', `/v2/models/${'q'.repeat(400)}`);
    expect(huge).toEqual({
      status: 400,
      json: {
        error: 'a path segment is longer than 281 characters; names are at most 128 characters',
        code: 'INVALID_ARGUMENT',
      },
    });
  });
});
