import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { blobFiles, variant } from '../src/registry/artifacts.test-support.js';
import { DIALECTS, TEST_POSTGRES_URL } from '../src/testing/databases.js';
import { expectedOutputs, fixtureBytes } from '../src/testing/fixtures.js';
import { bin, distIsBuilt, waitFor } from './serve-harness.js';

/**
 * Issue 15 §4: real kill -9 of `slipway serve` (its whole process group, as a crash or the OOM
 * killer would) during bursts of pushes, alias moves, deploys, feedback and feature pushes, and of
 * `slipway features materialize` mid-run; then a restart. Afterwards: every acknowledged write is
 * there, no version is half there (each listed version's blob is present and hashes right), after
 * `slipway gc` the blob folder holds exactly the referenced digests, the alias and the deployment
 * stand at their last acknowledged (or the in-flight) value, and materialize completes.
 * Everything runs through bin/slipway.js (dist/), so the migrations are the child's own.
 * On SQLite and on PostgreSQL (a fresh schema); `npm run chaos` repeats the push and feedback kills longer.
 */
const CYCLES = 3;
const VIEW_ROWS = 150_000;
const JSON_HEADERS = { 'content-type': 'application/json' };

interface Group {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** kill -9 of the whole process group. */
  crash(): Promise<void>;
}

function startGroup(args: readonly string[], env: Record<string, string>): Group {
  const child = spawn(process.execPath, [bin, ...args], {
    detached: true,
    env: { ...process.env, SLIPWAY_LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  child.stderr.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => output,
    exited,
    async crash() {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
      await waitFor(
        'the process group to be gone',
        () => {
          try {
            process.kill(-child.pid!, 0);
            return false;
          } catch {
            return true;
          }
        },
        10_000,
        20,
      );
    },
  };
}

async function startServer(env: Record<string, string>): Promise<Group & { url: string }> {
  const server = startGroup(['serve', '--host', '127.0.0.1', '--port', '0', '--no-grpc'], env);
  let gone = false;
  void server.exited.then(() => (gone = true));
  const url = await waitFor(
    'the server URL',
    () => {
      if (gone) throw new Error(`slipway serve exited at start-up:\n${server.output()}`);
      return /serving on (http:\/\/[0-9.:]+)/.exec(server.output())?.[1];
    },
    60_000,
  );
  return Object.assign(server, { url });
}

async function runToEnd(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const run = startGroup(args, env);
  const { code } = await run.exited;
  return { code, output: run.output() };
}

/**
 * A request that never throws: the status (0 = no answer, e.g. the server was killed) and the JSON
 * body, typed as the caller expects it on success (`T`).
 */
async function call<T = Record<string, unknown>>(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: T }> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: response.status, body: body as T };
  } catch {
    return { status: 0, body: undefined as T };
  }
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Where the metadata lives: the home's SQLite file, or a fresh PostgreSQL schema (dropped after). */
interface Storage {
  readonly env: Record<string, string>;
  query<T>(sql: string): Promise<T[]>;
  dispose(): Promise<void>;
}

async function openStorage(dialect: string, home: string): Promise<Storage> {
  if (dialect === 'sqlite')
    return {
      env: { SLIPWAY_HOME: home },
      query<T>(sql: string) {
        const db = new Database(path.join(home, 'slipway.db'), { fileMustExist: true });
        try {
          const statement = db.prepare(sql);
          return Promise.resolve((statement.reader ? statement.all() : (statement.run(), [])) as T[]);
        } finally {
          db.close();
        }
      },
      dispose: () => Promise.resolve(),
    };
  const schema = `slipway_crash_${randomBytes(6).toString('hex')}`;
  const withClient = async <T>(work: (client: pg.Client) => Promise<T>, url = TEST_POSTGRES_URL): Promise<T> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  await withClient((client) => client.query(`create schema "${schema}"`));
  const url = `${TEST_POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  return {
    env: { SLIPWAY_HOME: home, SLIPWAY_DATABASE_URL: url },
    query: <T>(sql: string) => withClient(async (client) => (await client.query(sql)).rows as T[], url),
    dispose: () =>
      withClient((client) => client.query(`drop schema if exists "${schema}" cascade`)).then(() => undefined),
  };
}

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skipReason !== undefined)(
    `kill -9 during writes, then restart (issue 15 §4) [${dialect.name}]`,
    () => {
      let home = '';
      let storage: Storage | undefined;
      const groups: Group[] = [];
      afterAll(async () => {
        for (const group of groups) await group.crash().catch(() => undefined);
        await storage?.dispose();
        if (home !== '') await rm(home, { recursive: true, force: true });
      });

      it('keeps every acknowledged write and a consistent registry', async () => {
        expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
        home = await mkdtemp(path.join(os.tmpdir(), 'slipway-crash-'));
        storage = await openStorage(dialect.name, home);
        const env = storage.env;
        // A feature view over a CSV big enough that materialize is still running when it is killed.
        const csv = ['k1,event_ts,b_val'];
        const t0 = Date.UTC(2026, 0, 1);
        for (let i = 0; i < VIEW_ROWS; i++) csv.push(`${i},${new Date(t0 + i * 1000).toISOString()},${i / 4}`);
        await writeFile(path.join(home, 'b.csv'), csv.join('\n') + '\n');
        await writeFile(
          path.join(home, 'features.yaml'),
          `entities:\n  - name: one\n    join_keys: { k1: int64 }\nfeature_views:\n  - name: b\n    entities: [one]\n` +
            `    source: { path: ${path.join(home, 'b.csv')} }\n    timestamp_field: event_ts\n` +
            `    features:\n      - { name: b_val, type: float64 }\n`,
        );
        const applied = await runToEnd(['features', 'apply', path.join(home, 'features.yaml'), '--yes'], env);
        expect(applied.code, applied.output).toBe(0);

        const base = fixtureBytes('breast_cancer.onnx');
        const row = expectedOutputs('breast_cancer').inputs[0]!.data.slice(0, 30);
        const pushed: { version: string; sha256: string }[] = [];
        const aliasMoves: { version: string; acknowledged: boolean }[] = [];
        const deploys: { version: string; revision?: number }[] = [];
        const feedback: string[] = [];
        const featureRows: { k1: number; value: number }[] = [];
        let crashes = 0;
        let materializeKills = 0;

        for (let cycle = 0; cycle < CYCLES; cycle++) {
          const server = await startServer(env);
          groups.push(server);
          const url = server.url;
          if (cycle === 0) {
            const first = await call<{ version: string; artifact: { sha256: string } }>(
              `${url}/api/v1/models/cancer/versions`,
              {
                method: 'POST',
                headers: { 'content-type': 'application/octet-stream' },
                body: base,
              },
            );
            expect(first.status, JSON.stringify(first.body)).toBe(201);
            pushed.push({ version: first.body.version, sha256: first.body.artifact.sha256 });
          }
          let alive = true;
          void server.exited.then(() => (alive = false));
          const materialize = startGroup(
            ['features', 'materialize', '--view', 'b', '--end', new Date().toISOString()],
            env,
          );
          groups.push(materialize);
          const loop = async (step: (n: number) => Promise<void>) => {
            for (let n = 0; alive; n++) await step(n);
          };
          const killAfterMs = 700 + cycle * 400;
          const killed = new Promise((resolve) => setTimeout(resolve, killAfterMs)).then(async () => {
            // Not before materialize has begun writing (it prints its progress), so the kill lands mid-run.
            await Promise.race([
              waitFor('materialize to start writing', () => / rows/.test(materialize.output()), 15_000, 10),
              materialize.exited,
            ]).catch(() => undefined);
            const materializeDone = await Promise.race([materialize.exited.then(() => true), Promise.resolve(false)]);
            await Promise.all([server.crash(), materialize.crash()]);
            if (!materializeDone) materializeKills++;
            crashes++;
          });
          await Promise.all([
            loop(async (n) => {
              const bytes = variant(base, `crash c${cycle} n${n}`);
              const answer = await call<{ version: string; artifact: { sha256: string } }>(
                `${url}/api/v1/models/cancer/versions`,
                {
                  method: 'POST',
                  headers: { 'content-type': 'application/octet-stream' },
                  body: bytes,
                },
              );
              if (answer.status === 201) pushed.push({ version: answer.body.version, sha256: sha256(bytes) });
            }),
            loop(async (n) => {
              const target = pushed[n % pushed.length]!.version;
              const move = { version: target, acknowledged: false };
              aliasMoves.push(move);
              const answer = await call(`${url}/api/v1/models/cancer/aliases/champion`, {
                method: 'PUT',
                headers: JSON_HEADERS,
                body: JSON.stringify({ version: target }),
              });
              if (answer.status === 200) move.acknowledged = true;
              else if (alive) throw new Error(`alias move refused: ${answer.status} ${JSON.stringify(answer.body)}`);
            }),
            loop(async (n) => {
              const target = pushed[n % pushed.length]!.version;
              const deploy: { version: string; revision?: number } = { version: target };
              deploys.push(deploy);
              const answer = await call<{ revision: number }>(`${url}/api/v1/deployments/live`, {
                method: 'PUT',
                headers: JSON_HEADERS,
                body: JSON.stringify({ model: 'cancer', routes: { [target]: 100 } }),
              });
              if (answer.status < 300 && answer.status > 0) deploy.revision = answer.body.revision;
            }),
            loop(async (n) => {
              const ids = [`c${cycle}-n${n}-a`, `c${cycle}-n${n}-b`];
              const answer = await call(`${url}/api/v1/feedback`, {
                method: 'POST',
                headers: JSON_HEADERS,
                body: JSON.stringify(ids.map((id) => ({ request_id: id, label: '1' }))),
              });
              if (answer.status === 200) feedback.push(...ids);
            }),
            loop(async (n) => {
              const k1 = 1_000_000 + cycle * 10_000 + n;
              const value = cycle * 1000 + n + 0.5;
              const answer = await call(`${url}/api/v1/features/push`, {
                method: 'POST',
                headers: JSON_HEADERS,
                body: JSON.stringify({ view: 'b', rows: [{ k1, event_ts: Date.now(), b_val: value }] }),
              });
              if (answer.status === 200) featureRows.push({ k1, value });
            }),
          ]);
          await killed;
        }

        // Restart: everything acknowledged before the kills must be there.
        const server = await startServer(env);
        groups.push(server);
        const url = server.url;
        const listed = await call<{ versions: { version: string; artifact: { sha256: string } }[] }>(
          `${url}/api/v1/models/cancer/versions?include_archived=true`,
        );
        expect(listed.status).toBe(200);
        const versions = listed.body.versions;
        const byVersion = new Map(versions.map((v) => [v.version, v.artifact.sha256]));
        expect(pushed.filter((p) => byVersion.get(p.version) !== p.sha256)).toEqual([]);
        // No half versions: every listed version's blob is there and hashes right.
        const broken: string[] = [];
        for (const v of versions) {
          const file = path.join(home, 'blobs', 'sha256', v.artifact.sha256.slice(0, 2), v.artifact.sha256);
          const bytes = await readFile(file).catch(() => undefined);
          if (bytes === undefined || sha256(bytes) !== v.artifact.sha256) broken.push(v.version);
        }
        expect(broken).toEqual([]);
        const newest = versions.map((v) => v.version).sort((a, b) => compareSemver(b, a))[0];
        const infer = await call<{ model_version: string }>(`${url}/v2/models/cancer/infer`, {
          method: 'POST',
          headers: JSON_HEADERS,
          body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] }),
        });
        expect(infer.status, JSON.stringify(infer.body)).toBe(200);
        expect(infer.body.model_version).toBe(newest);

        // The alias: its history holds every acknowledged move; it stands at the last acknowledged one or a later in-flight one.
        const aliases = await call<{ aliases: Record<string, string> }>(`${url}/api/v1/models/cancer/aliases`);
        const champion = aliases.body.aliases.champion;
        const lastAcknowledged = aliasMoves.map((m) => m.acknowledged).lastIndexOf(true);
        expect(lastAcknowledged).toBeGreaterThanOrEqual(0);
        expect(aliasMoves.slice(lastAcknowledged).map((m) => m.version)).toContain(champion);
        const history = await call<{ events: { alias: string; toVersion: string | null }[] }>(
          `${url}/api/v1/models/cancer/aliases/history`,
        );
        expect(history.status).toBe(200);
        const moved = history.body.events.filter((e) => e.alias === 'champion').map((e) => e.toVersion);
        // Every acknowledged move is an event, in order (a move to where it already stood may record none).
        const acknowledgedTargets = aliasMoves.filter((m) => m.acknowledged).map((m) => m.version);
        expect(acknowledgedTargets.filter((v) => !moved.includes(v))).toEqual([]);

        // The deployment: every acknowledged revision is in its history with its route; the active one is the newest.
        const revisions = await call<{ revisions: { revision: number; spec: { routes: { version: string }[] } }[] }>(
          `${url}/api/v1/deployments/live/history`,
        );
        expect(revisions.status).toBe(200);
        const stored = revisions.body.revisions;
        const acknowledgedDeploys = deploys.filter((d) => d.revision !== undefined);
        expect(acknowledgedDeploys.length).toBeGreaterThan(0);
        for (const d of acknowledgedDeploys)
          expect(stored.find((r) => r.revision === d.revision)?.spec.routes.map((r) => r.version)).toEqual([d.version]);
        const deployment = await call<{ activeRevision: number }>(`${url}/api/v1/deployments/live`);
        expect(deployment.body.activeRevision).toBe(stored.at(-1)!.revision);
        expect(deployment.body.activeRevision).toBeGreaterThanOrEqual(acknowledgedDeploys.at(-1)!.revision!);

        // Feedback: every acknowledged row is in the database.
        const present = new Set(
          (await storage.query<{ request_id: string }>('select request_id from feedback')).map((r) => r.request_id),
        );
        expect(feedback.filter((id) => !present.has(id))).toEqual([]);

        // Feature pushes: every acknowledged row reads back online with its value.
        const features = await call<{ results: { values: unknown[] }[] }>(`${url}/api/v1/features:get`, {
          method: 'POST',
          headers: JSON_HEADERS,
          body: JSON.stringify({ features: ['b:b_val'], entities: featureRows.map((r) => ({ k1: r.k1 })) }),
        });
        expect(features.status, JSON.stringify(features.body)).toBe(200);
        const values = features.body.results.map((r) => r.values[0]);
        expect(values).toEqual(featureRows.map((r) => r.value));

        // Materialize, killed mid-run, completes on a rerun and serves the source's values.
        const rerun = await runToEnd(
          ['features', 'materialize', '--view', 'b', '--end', new Date().toISOString()],
          env,
        );
        expect(rerun.code, rerun.output).toBe(0);
        const sample = [0, 1, VIEW_ROWS / 2, VIEW_ROWS - 1];
        const materialized = await call<{ results: { values: unknown[] }[] }>(`${url}/api/v1/features:get`, {
          method: 'POST',
          headers: JSON_HEADERS,
          body: JSON.stringify({ features: ['b:b_val'], entities: sample.map((k1) => ({ k1 })) }),
        });
        expect(materialized.body.results.map((r) => r.values[0])).toEqual(sample.map((k) => k / 4));

        // After gc the blob folder holds the digests versions reference, plus only blobs a killed push
        // still holds a lease on and the temporary file of a write it had not finished
        // (registry/artifact-leases.ts, artifact-store.ts: both live an hour, since gc cannot tell a
        // dead pusher from a slow one on another server); an hour later, exactly the referenced ones.
        await server.crash();
        const referenced = [...new Set(versions.map((v) => v.artifact.sha256))].sort();
        const gc = await runToEnd(['gc'], env);
        expect(gc.code, gc.output).toBe(0);
        const leased = new Set(
          (await storage.query<{ sha256: string }>('select sha256 from artifact_leases')).map((r) => r.sha256),
        );
        const kept = (await blobFiles(path.join(home, 'blobs'))).filter((d) => !referenced.includes(d));
        expect(kept.filter((d) => !leased.has(d) && !d.startsWith('.tmp-'))).toEqual([]);
        // The hour passes (lease expiry and temporary files' times moved into the past): gc removes them.
        await storage.query("update artifact_leases set expires_at = '1970-01-01T00:00:00.000Z'");
        const hourAgo = new Date(Date.now() - 2 * 3600_000);
        for (const entry of await readdir(path.join(home, 'blobs', 'sha256'), { recursive: true, withFileTypes: true }))
          if (entry.name.startsWith('.tmp-')) await utimes(path.join(entry.parentPath, entry.name), hourAgo, hourAgo);
        const later = await runToEnd(['gc'], env);
        expect(later.code, later.output).toBe(0);
        expect(await blobFiles(path.join(home, 'blobs'))).toEqual(referenced);

        console.log(
          `crash safety [${dialect.name}]: ${crashes} kill -9 of slipway serve (${materializeKills} of materialize while writing); acknowledged and kept: ` +
            `${pushed.length} versions, ${aliasMoves.filter((m) => m.acknowledged).length} alias moves, ` +
            `${acknowledgedDeploys.length} deploys, ${feedback.length} feedback rows, ${featureRows.length} feature rows; ` +
            `${kept.length} orphan file(s) (leased blobs, unfinished writes) kept by the first gc, none an hour later`,
        );
      }, 90_000);
    },
  );
}

function compareSemver(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return 0;
}
