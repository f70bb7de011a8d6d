/**
 * `slipway serve` and `slipway token` as the CLI runs them (src/main.ts): a network bind with no
 * token refuses to start and says how to fix it; tokens are created, listed and revoked on the
 * store, the secret printed once; the server's logs never carry a secret.
 */
import { execFile } from 'node:child_process';
import fs, { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Authenticator } from '../auth/authenticator.js';
import { noTokenMessage } from '../auth/auth-mode.js';
import { openAuth } from '../auth/open-auth.js';
import { loadConfig } from '../core/config.js';
import { runSlipway } from '../main.js';
import { expectedOutputs, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';
import { startServer } from './serve.js';

// bin/slipway.js runs dist/main.js: the real process is tested once dist is built with this code.
const BIN = fileURLToPath(new URL('../../bin/slipway.js', import.meta.url));
const BUILT = existsSync(fileURLToPath(new URL('../../dist/auth/open-auth.js', import.meta.url)));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('slipway serve and slipway token', () => {
  let home: string;
  const run = async (args: string[], env: Record<string, string> = {}): Promise<Run> => {
    let stdout = '';
    let stderr = '';
    const code = await runSlipway(args, {
      stdout: (text) => void (stdout += text),
      stderr: (text) => void (stderr += text),
      env: { SLIPWAY_HOME: home, SLIPWAY_LOG_LEVEL: 'silent', ...env },
      cwd: home,
    });
    return { code, stdout, stderr };
  };

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-auth-serve-'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('serve --host 0.0.0.0 without any token exits non-zero saying how to create the first admin token', async () => {
    const result = await run(['serve', '--host', '0.0.0.0', '--port', '0', '--grpc-port', '0']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`error: ${noTokenMessage('0.0.0.0')}\n`);
    expect(result.stderr).toContain('slipway token create admin --role admin');
  });

  it.skipIf(!BUILT)(
    'a real `slipway serve --host 0.0.0.0` process without tokens exits 1 with the message',
    async () => {
      const failed = await promisify(execFile)(
        process.execPath,
        [BIN, 'serve', '--host', '0.0.0.0', '--port', '0', '--grpc-port', '0'],
        { env: { ...process.env, SLIPWAY_HOME: home, SLIPWAY_LOG_LEVEL: 'silent' }, timeout: 60_000 },
      ).then(
        () => undefined,
        (error: unknown) => error as { code: number; stderr: string },
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stderr).toBe(`error: ${noTokenMessage('0.0.0.0')}\n`);
    },
  );

  it('token create prints the secret once; list never shows it; revoke refuses it', async () => {
    const created = await run([
      'token',
      'create',
      'ci',
      '--role',
      'deploy',
      '--models',
      'fraud,risk*',
      '--expires',
      '90d',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const secret = /\n(slw_[0-9a-f]{16}_[A-Za-z0-9_-]{43})\n$/.exec(created.stdout)?.[1];
    expect(secret).toBeDefined();
    expect(created.stdout).toMatch(/^created token "ci": role deploy, models fraud, risk\*, expires \d{4}-/);
    const listed = await run(['token', 'list']);
    expect(listed.stdout).toMatch(/^NAME +ROLE +MODELS +STATUS/);
    expect(listed.stdout).toMatch(/\nci +deploy +fraud,risk\* +active/);
    const json = await run(['token', 'list', '--json']);
    const tokens = JSON.parse(json.stdout) as { name: string; status: string }[];
    expect(tokens.map((t) => [t.name, t.status])).toEqual([['ci', 'active']]);
    for (const output of [listed.stdout, json.stdout]) expect(output).not.toContain(secret!);
    const bad = await run(['token', 'create', 'x', '--role', 'owner']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('error: role "owner": expected one of infer, read, deploy, admin\n');
    expect((await run(['token', 'revoke', 'ci'])).stdout).toBe('revoked token "ci"\n');
    expect((await run(['token', 'revoke', 'ci'])).stderr).toBe('error: no token named "ci" that is not revoked\n');
    // No usable token any more: a network bind still refuses.
    expect((await run(['serve', '--host', '0.0.0.0', '--port', '0', '--no-grpc'])).code).toBe(1);
  });

  it('with a token (or SLIPWAY_BOOTSTRAP_TOKEN), a network bind asks for tokens; SLIPWAY_AUTH=off never does', async () => {
    const platform = await openTestPlatform();
    const lines: string[] = [];
    try {
      const base = { host: '0.0.0.0', authOpenPaths: [] as string[], rateLimits: '', bootstrapToken: undefined };
      await expect(
        openAuth({ config: { ...base, auth: 'auto' }, tokens: platform.tokens, log: (l) => lines.push(l) }),
      ).rejects.toThrow('refusing to serve on 0.0.0.0');
      const bootstrap = 'a-long-random-bootstrap-secret-for-tests';
      const auth = await openAuth({
        config: { ...base, auth: 'auto', bootstrapToken: bootstrap },
        tokens: platform.tokens,
        log: (l) => lines.push(l),
      });
      expect(auth).toBeInstanceOf(Authenticator);
      expect(auth!.enabled).toBe(true);
      expect(lines).toEqual(['auth: bootstrap admin token created from SLIPWAY_BOOTSTRAP_TOKEN']);
      expect(await auth!.check(`Bearer ${bootstrap}`, { role: 'admin', model: 'any' }, undefined)).toMatchObject({
        name: 'bootstrap',
        role: 'admin',
      });
      expect(
        await openAuth({ config: { ...base, auth: 'off' }, tokens: platform.tokens, log: (l) => lines.push(l) }),
      ).toBeUndefined();
      expect(lines.at(-1)).toBe(
        'warning: SLIPWAY_AUTH=off: anyone who can reach 0.0.0.0 may push, deploy and read everything',
      );
    } finally {
      await platform.dispose();
    }
  });

  it('predict, load and unload send --token or SLIPWAY_TOKEN to a server that asks for one', async () => {
    const platform = await openTestPlatform();
    try {
      await platform.registry.push({ name: 'fraud', bytes: fixtureBytes('breast_cancer.onnx') });
      const { secret } = await platform.tokens.create({ name: 'cli', role: 'deploy' });
      const auth = new Authenticator(platform.tokens, { enabled: true });
      const server = await startServer(platform, { host: '127.0.0.1', port: 0, auth });
      try {
        const row = expectedOutputs('breast_cancer').inputs[0]!.data.slice(0, 30);
        await writeFile(path.join(home, 'rows.json'), JSON.stringify([row]));
        const predict = ['predict', 'fraud', '-i', 'rows.json', '--url', server.url];
        const refused = await run(predict);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toBe(
          'error: this server needs a token: send "Authorization: Bearer <token>" (pass a token with --token or SLIPWAY_TOKEN; create one with `slipway token create`)\n',
        );
        const flagged = await run([...predict, '--token', secret]);
        expect(flagged.code, flagged.stderr).toBe(0);
        expect(flagged.stdout).toMatch(/^# fraud@1\.0\.0\n/);
        expect((await run(predict, { SLIPWAY_TOKEN: secret })).code).toBe(0);
        const load = await run(['load', 'fraud', '--url', server.url], { SLIPWAY_TOKEN: secret });
        expect(load.stdout).toBe('loaded fraud@1.0.0\n');
        const reader = await platform.tokens.create({ name: 'reader', role: 'read' });
        const denied = await run(['unload', 'fraud', '--url', server.url, '--token', reader.secret]);
        expect(denied.stderr).toBe('error: token "reader" has role read; this needs role deploy\n');
      } finally {
        await server.stop();
      }
    } finally {
      await platform.dispose().catch(() => undefined);
    }
  });

  it('validates the auth settings by name', () => {
    expect(() => loadConfig({ SLIPWAY_AUTH: 'maybe' })).toThrow('SLIPWAY_AUTH=maybe: expected required, off or auto');
    expect(() => loadConfig({ SLIPWAY_AUTH_OPEN: '/v2/health/live,/api/v1/models' })).toThrow(
      'SLIPWAY_AUTH_OPEN: cannot leave /api/v1/models open',
    );
    expect(() => loadConfig({ SLIPWAY_RATE_LIMITS: 'root=5' })).toThrow('SLIPWAY_RATE_LIMITS: "root=5"');
    expect(() => loadConfig({ SLIPWAY_BOOTSTRAP_TOKEN: 'short' })).toThrow('SLIPWAY_BOOTSTRAP_TOKEN: at least 24');
    const config = loadConfig({ SLIPWAY_AUTH_OPEN: '/metrics', SLIPWAY_RATE_LIMITS: 'infer=100:200' });
    expect([config.auth, config.authOpenPaths, config.rateLimits]).toEqual(['auto', ['/metrics'], 'infer=100:200']);
    expect(loadConfig({}).authOpenPaths).toEqual(['/v2/health/live', '/v2/health/ready']);
  });
});

describe('secrets in logs', () => {
  it('never writes a secret to the server log, refused or accepted', async () => {
    const platform = await openTestPlatform({ logLevel: 'trace' });
    const written: string[] = [];
    const capture = (chunk: unknown) => written.push(Buffer.isBuffer(chunk) ? chunk.toString() : String(chunk));
    const writeSync = vi.spyOn(fs, 'writeSync').mockImplementation((_fd, chunk) => {
      capture(chunk);
      return typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as Buffer).length;
    });
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      capture(chunk);
      return true;
    });
    try {
      await platform.registry.push({ name: 'fraud', bytes: fixtureBytes('breast_cancer.onnx') });
      const { secret } = await platform.tokens.create({ name: 'reader', role: 'read' });
      const auth = new Authenticator(platform.tokens, { enabled: true });
      const app = await buildApp({
        config: platform.config,
        registry: platform.registry,
        serving: platform.serving,
        auth,
      });
      const as = (token: string, url: string, method: 'GET' | 'POST' = 'GET') =>
        app.inject({
          method,
          url,
          headers: { authorization: `Bearer ${token}` },
          payload: method === 'POST' ? '{' : undefined,
        });
      expect((await as(secret, '/v2/models/fraud')).statusCode).toBe(200);
      expect((await as(`${secret}x`, '/v2/models/fraud')).statusCode).toBe(401);
      expect((await as(secret, '/api/v1/models/fraud/versions', 'POST')).statusCode).toBe(403);
      expect((await as(secret, '/v2/models/nothing')).statusCode).toBe(404);
      expect((await as(secret, '/v2/models/fraud/infer', 'POST')).statusCode).toBe(400);
      app.log.error({ probe: true }, 'log capture probe');
      await app.close();
    } finally {
      writeSync.mockRestore();
      stdout.mockRestore();
      await platform.dispose();
    }
    const log = written.join('');
    expect(log).toContain('log capture probe');
    expect(log).not.toContain('slw_');
  });
});
