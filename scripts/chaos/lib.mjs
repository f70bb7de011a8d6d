// Helpers of `npm run chaos` (scripts/chaos.mjs): real `node bin/slipway.js serve` processes on a
// temporary home (SQLite, or PostgreSQL in a fresh schema), a TCP proxy to cut the database's
// connections, a seeded random source, and the checks of what the server acknowledged.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'slipway.js');
export const POSTGRES_URL = process.env.SLIPWAY_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';
export const MODEL_FILE = path.join(ROOT, 'fixtures', 'models', 'breast_cancer.onnx');
const expected = JSON.parse(readFileSync(path.join(ROOT, 'fixtures', 'models', 'breast_cancer.expected.json'), 'utf8'));
/** The held-out breast-cancer rows (30 floats each). */
export const ROWS = Array.from({ length: expected.inputs[0].shape[0] }, (_, i) =>
  expected.inputs[0].data.slice(i * 30, i * 30 + 30),
);

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** mulberry32: the same sequence for the same seed, so a run can be repeated. */
export function seeded(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (list) => list[Math.floor(next() * list.length)],
  };
}

/** Poll `probe` until it returns something other than undefined/false, or throw after `timeoutMs`. */
export async function waitFor(what, probe, timeoutMs = 60_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The ONNX bytes with an unknown protobuf field appended: a different digest, the same model. */
export function variant(bytes, tag) {
  const text = Buffer.from(tag, 'utf8');
  return Buffer.concat([bytes, Buffer.from([(6 << 3) | 2, text.length]), text]);
}

export const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/**
 * A fresh place to keep metadata: a temporary SLIPWAY_HOME, plus for PostgreSQL a new schema
 * selected by the URL's `options=-c search_path=...` (as test/push-race-process.test.ts does).
 * `databaseUrl(port)` points at another port (a proxy in front of PostgreSQL).
 */
export async function openStorage(dialect) {
  const home = await mkdtemp(path.join(os.tmpdir(), 'slipway-chaos-'));
  if (dialect === 'sqlite')
    return {
      dialect,
      home,
      env: () => ({ SLIPWAY_HOME: home }),
      query: (sql, params) => sqliteQuery(home, sql, params),
      dispose: () => rm(home, { recursive: true, force: true }),
    };
  const schema = `slipway_chaos_${randomBytes(5).toString('hex')}`;
  await postgres((c) => c.query(`create schema "${schema}"`));
  const url = (port) => {
    const u = new URL(POSTGRES_URL);
    if (port !== undefined) u.port = String(port);
    u.searchParams.set('options', `-c search_path=${schema}`);
    return u.toString();
  };
  return {
    dialect,
    home,
    schema,
    env: (port) => ({ SLIPWAY_HOME: home, SLIPWAY_DATABASE_URL: url(port) }),
    query: (sql, params = []) => {
      let i = 0;
      return postgres(
        (c) =>
          c.query(
            sql.replaceAll('?', () => `$${++i}`),
            params,
          ),
        url(),
      ).then((r) => r.rows);
    },
    async dispose() {
      await postgres((c) => c.query(`drop schema if exists "${schema}" cascade`));
      await rm(home, { recursive: true, force: true });
    },
  };
}

async function sqliteQuery(home, sql, params = []) {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(path.join(home, 'slipway.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params);
  } finally {
    db.close();
  }
}

export async function postgres(work, connectionString = POSTGRES_URL) {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Whether PostgreSQL answers; the reason when it does not. */
export async function postgresProblem() {
  try {
    await postgres((c) => c.query('select 1'));
    return undefined;
  } catch (error) {
    return error.message;
  }
}

/**
 * `node bin/slipway.js serve` in its own process group (so kill -9 can take the wrapper, the
 * server and any workers at once, as a crash or the OOM killer would). Resolves once it answers.
 */
export async function startServe(env, args = []) {
  const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--no-grpc', ...args], {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, SLIPWAY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = await waitFor(
    'the server URL',
    async () => {
      if (gone) throw Object.assign(new Error(`slipway serve exited at start-up:\n${output}`), { fatal: true });
      return /serving on (http:\/\/[0-9.:]+)/.exec(output)?.[1];
    },
    90_000,
  ).catch((error) => {
    killGroup(child.pid, 'SIGKILL');
    throw new Error(`${error.message}\n${output}`);
  });
  await waitFor('the server to answer', async () => (await fetch(`${url}/v2/health/live`)).status === 200, 60_000);
  return {
    url,
    pid: child.pid,
    exited,
    alive: () => !gone,
    output: () => output,
    /** kill -9 of the whole process group. */
    async crash() {
      killGroup(child.pid, 'SIGKILL');
      await exited;
      await waitFor('the group to be gone', async () => groupGone(child.pid), 10_000, 20);
    },
    /** SIGTERM to the process an operator started (it forwards to the server and drains). */
    terminate() {
      child.kill('SIGTERM');
    },
    async stop() {
      if (!gone) child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
      if (!done) killGroup(child.pid, 'SIGKILL');
      killGroup(child.pid, 'SIGKILL');
    },
  };
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function groupGone(pid) {
  try {
    process.kill(-pid, 0);
    return false;
  } catch {
    return true;
  }
}

/** Resident memory of a process and its descendants, bytes (Linux /proc). */
export function treeRss(pid) {
  let total = 0;
  const visit = (p) => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
      const kids = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      for (const k of kids) visit(Number(k));
    } catch {
      // exited meanwhile
    }
  };
  visit(pid);
  return total;
}

/** A request that never throws: `{ status }` (0 = no HTTP answer) and the parsed body when JSON. */
export async function call(url, init = {}, timeoutMs = 30_000) {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: response.status, body };
  } catch (error) {
    return { status: 0, body: undefined, error: error.cause?.code ?? error.name ?? String(error) };
  }
}

export const inferBody = (row) =>
  JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] });

export function pushModel(url, name, bytes, query = '') {
  return call(
    `${url}/api/v1/models/${name}/versions${query}`,
    { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes },
    120_000,
  );
}

/** Every version of `name` whose blob is missing or does not hash to its digest. */
export async function brokenBlobs(home, versions) {
  const broken = [];
  for (const v of versions) {
    const file = path.join(home, 'blobs', 'sha256', v.sha256.slice(0, 2), v.sha256);
    if (!existsSync(file)) broken.push(`${v.version} (blob missing)`);
    else if (sha256(await readFile(file)) !== v.sha256) broken.push(`${v.version} (blob hashes wrong)`);
  }
  return broken;
}

/**
 * A minimal TCP proxy (src/testing/tcp-proxy.ts is TypeScript and not in dist/): `cutAll()`
 * destroys every open connection; `pause()` also closes the port, so new connections are refused
 * (ECONNREFUSED, a database that is down); `resume()` listens on the same port again.
 */
export async function startProxy(
  target = { host: new URL(POSTGRES_URL).hostname, port: Number(new URL(POSTGRES_URL).port || 5432) },
) {
  const sockets = new Set();
  const forward = (client) => {
    const upstream = net.connect(target);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ]) {
      sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  };
  const listen = (port) =>
    new Promise((resolve, reject) => {
      const server = net.createServer(forward);
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve(server));
    });
  let server = await listen(0);
  const port = server.address().port;
  const cutAll = () => {
    const n = sockets.size / 2;
    for (const s of sockets) s.destroy();
    sockets.clear();
    return n;
  };
  const closeServer = () =>
    new Promise((resolve) => {
      const closing = server;
      server = undefined;
      if (closing === undefined) resolve();
      else closing.close(() => resolve());
      cutAll();
    });
  return {
    port,
    cutAll,
    pause: closeServer,
    async resume() {
      server ??= await listen(port);
    },
    close: closeServer,
  };
}
