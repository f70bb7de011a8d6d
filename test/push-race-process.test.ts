import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { blobFiles, variant } from '../src/registry/artifacts.test-support.js';
import { DIALECTS, TEST_POSTGRES_URL } from '../src/testing/databases.js';
import { expectedOutputs, fixtureBytes } from '../src/testing/fixtures.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bin = path.join(root, 'bin', 'slipway.js');
const ROUNDS = 8;

interface Version {
  model: string;
  version: string;
  artifact: { sha256: string };
}

/**
 * Issue 13 item 1 as it was found: concurrent HTTP pushes to a real `slipway serve --workers 2`
 * (two processes on one SQLite file, or on one PostgreSQL schema), some refused, of the same and
 * of different bytes. Afterwards every version's blob is there and hashes right, latest serves,
 * and after `slipway gc` the blob folder holds exactly the referenced digests.
 */
for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skipReason !== undefined)(
    `concurrent pushes over HTTP to two server processes [${dialect.name}]`,
    () => {
      let home = '';
      let schema: string | undefined;
      let stop: (() => Promise<void>) | undefined;
      afterEach(async () => {
        await stop?.();
        await rm(home, { recursive: true, force: true });
        if (schema !== undefined) await postgres((client) => client.query(`drop schema if exists "${schema}" cascade`));
      });

      it("keeps every accepted version's blob and leaves none unreferenced", async () => {
        expect(existsSync(path.join(root, 'dist', 'cli', 'main.js')), 'dist/ is missing: run `npm run build`').toBe(
          true,
        );
        home = await mkdtemp(path.join(os.tmpdir(), 'slipway-push-race-'));
        const env: Record<string, string> = { SLIPWAY_HOME: home, SLIPWAY_LOG_LEVEL: 'silent' };
        if (dialect.name === 'postgres') {
          schema = `slipway_test_${randomBytes(6).toString('hex')}`;
          await postgres((client) => client.query(`create schema "${schema}"`));
          env.SLIPWAY_DATABASE_URL = `${TEST_POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
        }
        const server = await serve(env);
        stop = () => server.stop();
        const push = (name: string, bytes: Buffer, query = '') =>
          fetch(`${server.url}/api/v1/models/${name}/versions${query}`, {
            method: 'POST',
            headers: { 'content-type': 'application/octet-stream' },
            body: bytes,
          });

        const base = fixtureBytes('breast_cancer.onnx');
        expect((await push('race', base)).status).toBe(201);
        const statuses: number[] = [];
        const unexpected: string[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const fresh = variant(base, `http round ${round}`);
          const requests: Promise<Response>[] = [];
          for (let k = 0; k < 3; k++) {
            requests.push(push('race', fresh, '?allow_duplicate=true'), push('race', fresh, '?version=0.0.1'));
          }
          requests.push(
            push('race', base, '?allow_duplicate=true'),
            push('race', base, '?version=0.0.1'),
            push('race', variant(base, `refused ${round}`), '?version=0.0.2'),
          );
          for (const response of await Promise.all(requests)) {
            statuses.push(response.status);
            if (response.status !== 201 && response.status !== 409)
              unexpected.push(`${response.status} ${await response.text()}`);
          }
        }
        // An accepted push whose blob a refused one deleted under it failed to load: not a 201.
        expect(unexpected).toEqual([]);
        expect(statuses.filter((s) => s === 201)).toHaveLength(ROUNDS * 4);
        expect(statuses.filter((s) => s === 409)).toHaveLength(ROUNDS * 5);

        const versions = (await (
          await fetch(`${server.url}/api/v1/models/race/versions?include_archived=true`)
        ).json()) as { versions: Version[] };
        expect(versions.versions).toHaveLength(1 + ROUNDS * 4);
        const lost: string[] = [];
        for (const v of versions.versions) {
          const file = path.join(home, 'blobs', 'sha256', v.artifact.sha256.slice(0, 2), v.artifact.sha256);
          const bytes = await readFile(file).catch(() => undefined);
          if (bytes === undefined) lost.push(v.version);
          else expect(createHash('sha256').update(bytes).digest('hex')).toBe(v.artifact.sha256);
        }
        expect(lost, `${lost.length} of ${versions.versions.length} versions lost their artifact`).toEqual([]);
        const row = expectedOutputs('breast_cancer').inputs[0]!.data.slice(0, 30);
        const infer = await fetch(`${server.url}/v2/models/race/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] }),
        });
        expect(infer.status, await infer.clone().text()).toBe(200);
        expect(((await infer.json()) as { model_version: string }).model_version).toBe(`1.${ROUNDS * 4}.0`);

        const io = { stdout: () => undefined, stderr: () => undefined, env, cwd: root };
        expect(await runCli(['gc'], io)).toBe(0);
        expect(await blobFiles(path.join(home, 'blobs'))).toEqual(
          [...new Set(versions.versions.map((v) => v.artifact.sha256))].sort(),
        );
      }, 120_000);
    },
  );
}

async function postgres(work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

/** `slipway serve --workers 2` on a free port; resolves once both workers answer. */
async function serve(env: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--no-grpc', '--workers', '2'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 60_000;
  let url: string | undefined;
  while (Date.now() < deadline) {
    const workers = [...output.matchAll(/serving on (http:\/\/[0-9.:]+)/g)];
    url = workers[0]?.[1];
    if (url !== undefined && workers.length >= 2) {
      const ready = await fetch(`${url}/v2/health/live`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) return { url, stop };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  throw new Error(`the server did not start: ${output}`);
}
