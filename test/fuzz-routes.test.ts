import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { status as grpcStatus, type Client } from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../src/server/serve.js';
import { fixtureBytes, openTestPlatform } from '../src/testing/fixtures.js';
import { httpRequests, parseRouteTree, type FuzzRequest, type RouteEntry, type Seeds } from './fuzz-inputs.js';
import { grpcCalls, grpcClient, sendGrpc } from './fuzz-grpc.js';
import { judgeRaw, rawHttpRequests, sendRaw } from './fuzz-raw-http.js';
import { bin, cancerPayload, childPids, distIsBuilt, isAlive, waitFor } from './serve-harness.js';

/**
 * Issue 15 §4: every public HTTP route (as the app lists them) and every gRPC RPC (as the service
 * definition lists them) against a real `slipway serve` child: random and mutated bodies, lying
 * binary headers, huge and negative shapes, 10k-deep JSON, unicode and path-like names. Every answer
 * is 2xx or 4xx with `{error, code}` (5xx only as 503 + Retry-After, or 501 UNIMPLEMENTED for what
 * Slipway refuses to implement), the process never exits, its RSS stays bounded.
 * FUZZ_RUNS (default 2000) and FUZZ_SEED (default 15) make `npm run fuzz` a longer run; FUZZ_BIN
 * fuzzes another build's bin/slipway.js (default this checkout's, over dist/).
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const SEED = Number(process.env.FUZZ_SEED ?? 15);
const CONCURRENCY = 6;
const REQUEST_TIMEOUT_MS = 15_000;
/**
 * Growth allowed over the run: the server starts near 235 MB and peaked ~40 MB higher over 2,000
 * requests and ~150 MB higher over 50,000 (versions pushed and loaded, caches); a leak of the fuzzed
 * bodies (10k-deep JSON, megabyte shapes) would pass this quickly.
 */
const RSS_GROWTH_LIMIT_BYTES = 512 * 1024 * 1024;
const GRPC_SHARE = 0.2;
const RAW_SHARE = 0.05;
/** gRPC's 5xx: a server fault, a lost message, or no answer in time. */
const GRPC_FAILURES = new Set<number>([
  grpcStatus.UNKNOWN,
  grpcStatus.INTERNAL,
  grpcStatus.DATA_LOSS,
  grpcStatus.DEADLINE_EXCEEDED,
]);
const UNIMPLEMENTED_ROUTES = /sharedmemory|\/trace\/setting|\/logging/;

interface Violation {
  readonly what: string;
  readonly request: string;
}

function treeRss(pid: number): number {
  let total = 0;
  const visit = (p: number): void => {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (match) total += Number(match[1]) * 1024;
    } catch {
      return;
    }
    for (const child of childPids(p)) visit(child);
  };
  visit(pid);
  return total;
}

/** The app's routes, listed by Fastify from the app `slipway serve` starts (server/serve.ts). */
async function listRoutes(): Promise<RouteEntry[]> {
  const platform = await openTestPlatform();
  try {
    const running = await startServer(platform, { host: '127.0.0.1', port: 0, background: false });
    const routes = parseRouteTree(running.app.printRoutes({ commonPrefix: false }));
    await running.stop();
    return routes;
  } finally {
    await platform.dispose();
  }
}

interface HttpOutcome {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly failure?: string;
}

function send(base: URL, agent: http.Agent, request: FuzzRequest): Promise<HttpOutcome> {
  return new Promise((resolve) => {
    let req: http.ClientRequest;
    try {
      req = http.request(
        {
          host: base.hostname,
          port: base.port,
          method: request.method,
          path: request.path,
          agent,
          // An explicit length: Node sends a DELETE or OPTIONS body with neither a length nor
          // chunking, which the server rightly reads as the start of the next request.
          headers:
            request.body === undefined
              ? request.headers
              : { ...request.headers, 'content-length': String(request.body.length) },
          timeout: REQUEST_TIMEOUT_MS,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          response.on('error', (error) => resolve({ status: 0, headers: {}, body: '', failure: error.message }));
        },
      );
    } catch (error) {
      // Node refused to send it (a header or path it will not put on the wire): not a server answer.
      resolve({ status: -1, headers: {}, body: '', failure: (error as Error).message });
      return;
    }
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (error) => resolve({ status: 0, headers: {}, body: '', failure: error.message }));
    req.end(request.body);
  });
}

/** What is wrong with an answer, or undefined. */
function judge(request: FuzzRequest, outcome: HttpOutcome): string | undefined {
  if (outcome.status === 0) return `no answer: ${outcome.failure}`;
  const { status } = outcome;
  let parsed: { error?: unknown; code?: unknown; ready?: unknown } | undefined;
  // A readiness probe answers "not ready" as 503 with its own body ({ready: false} for a model;
  // the fuzzer unloads models through the repository API), not as an error.
  if (status === 503 && /\/ready$/.test(request.route)) return undefined;
  if (status >= 400 && request.method !== 'HEAD') {
    try {
      parsed = JSON.parse(outcome.body) as typeof parsed;
    } catch {
      return `${status} without a JSON error body: ${outcome.body.slice(0, 200)}`;
    }
    if (typeof parsed?.error !== 'string' || typeof parsed.code !== 'string')
      return `${status} without {error, code}: ${outcome.body.slice(0, 200)}`;
  }
  if (status < 500) return undefined;
  if (status === 503 && outcome.headers['retry-after'] !== undefined) return undefined;
  if (
    status === 501 &&
    UNIMPLEMENTED_ROUTES.test(request.route) &&
    (parsed === undefined || parsed.code === 'UNIMPLEMENTED')
  )
    return undefined;
  return `${status}: ${outcome.body.slice(0, 300)}`;
}

function describeRequest(request: FuzzRequest): string {
  const body =
    request.body === undefined
      ? ''
      : ` body(${request.body.length})=${request.body.subarray(0, 160).toString('latin1')}`;
  return `${request.method} ${request.path.slice(0, 200)} ${JSON.stringify(request.headers)}${body}`;
}

/** Run `items` with `width` in flight at a time. */
async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

describe('fuzzing every public route and RPC of a real slipway serve (issue 15 §4)', () => {
  let root = '';
  let serverPid = 0;
  let output = '';
  let exited: { code: number | null; signal: string | null } | undefined;
  let url = '';
  let grpcAddress = '';
  let client: Client | undefined;
  let kill: () => void = () => undefined;

  beforeAll(async () => {
    expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
    root = await mkdtemp(path.join(os.tmpdir(), 'slipway-fuzz-'));
    // The server runs five folders deep, so relative paths a fuzzed job or reference names
    // ('../../x') stay inside this temporary folder whatever the server does with them.
    const home = path.join(root, 'h1', 'h2', 'h3', 'h4', 'home');
    const cwd = path.join(root, 'c1', 'c2', 'c3', 'c4', 'c5');
    await mkdir(home, { recursive: true });
    await mkdir(cwd, { recursive: true });
    await writeFile(path.join(cwd, 'in.csv'), 'a,b\n1,2\n');
    const child = spawn(process.execPath, [process.env.FUZZ_BIN ?? bin, 'serve', '--port', '0', '--grpc-port', '0'], {
      cwd,
      env: { ...process.env, SLIPWAY_HOME: home, SLIPWAY_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    serverPid = child.pid!;
    child.stdout.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
    child.stderr.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
    child.on('exit', (code, signal) => (exited = { code, signal }));
    kill = () => {
      for (const pid of [...childPids(serverPid), serverPid]) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    };
    const address = (pattern: RegExp) =>
      waitFor(
        `${pattern} in the output`,
        () => {
          if (exited !== undefined) throw new Error(`slipway serve exited at start-up:\n${output}`);
          return pattern.exec(output)?.[1];
        },
        60_000,
      );
    url = await address(/serving on (http:\/\/[0-9.:]+)/);
    grpcAddress = await address(/gRPC on ([0-9.]+:\d+)/);
    client = grpcClient(grpcAddress);
    // Pushed over HTTP, not in-process: the child's migrations (dist/) must be the ones that ran.
    const pushed = await fetch(`${url}/api/v1/models/cancer/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: fixtureBytes('breast_cancer.onnx'),
    });
    expect(pushed.status, await pushed.clone().text()).toBe(201);
    const put = (p: string, body: unknown) =>
      fetch(`${url}${p}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await put('/api/v1/models/cancer/aliases/champion', { version: '1.0.0' })).status).toBe(200);
    const deployed = await put('/api/v1/deployments/live', { model: 'cancer', routes: { '1.0.0': 100 } });
    expect(deployed.status, await deployed.clone().text()).toBeLessThan(300);
  }, 120_000);

  afterAll(async () => {
    client?.close();
    kill();
    if (root !== '') await rm(root, { recursive: true, force: true });
  });

  it(
    `answers ${RUNS} fuzzed requests (seed ${SEED}) with 2xx/4xx and the error shape, never crashing`,
    async () => {
      const routes = await listRoutes();
      expect(routes.length).toBeGreaterThan(60);
      const row = (JSON.parse(cancerPayload()) as { inputs: { data: number[] }[] }).inputs[0]!.data;
      const infer = JSON.parse(cancerPayload()) as unknown;
      const predict = { instances: [row] };
      const seeds: Seeds = {
        params: {
          model: ['cancer', 'live', 'nope'],
          name: ['cancer', 'live', 'r1'],
          version: ['1.0.0', 'champion', 'latest', '9.9.9'],
          alias: ['champion', 'staging'],
          ref: ['cancer:predict', 'cancer@1.0.0:predict', 'live:predict', 'cancer@champion:predict'],
          view: ['b'],
          region: ['r'],
          id: ['j1'],
          action: ['pause', 'resume', 'promote', 'abort'],
        },
        bodies: {
          'POST /v2/models/:model/infer': infer,
          'POST /v2/models/:model/versions/:version/infer': infer,
          'POST /v1/models/:ref': predict,
          'POST /v1/deployments/:ref': predict,
          'POST /api/v1/models/:name/versions': {
            artifact_base64: fixtureBytes('breast_cancer.onnx').toString('base64'),
            description: 'x',
          },
          'PUT /api/v1/models/:name/aliases/:alias': { version: '1.0.0' },
          'PUT /api/v1/models/:name/serving': { max_batch_size: 8 },
          'PUT /api/v1/models/:name/reference': { file: 'in.csv', ignore: ['b'] },
          'PUT /api/v1/models/:name/drift-settings': { threshold: 0.2 },
          'POST /api/v1/models/:name/versions/:version/archive': {},
          'POST /api/v1/feedback': [{ request_id: 'a', label: 1 }],
          'POST /api/v1/features/push': { view: 'b', rows: [{ k1: 1, event_ts: 0, b_val: 1 }] },
          'POST /api/v1/features:get': { service: 's', entities: [{ k1: 1 }] },
          'PUT /api/v1/deployments/:name': { model: 'cancer', routes: { '1.0.0': 100 } },
          'POST /api/v1/deployments/:name/rollback': { revision: 1 },
          'POST /api/v1/deployments/:name/rollout': { version: '1.0.0', steps: [10, 50] },
          'POST /api/v1/deployments/:name/experiment': { challenger: '1.0.0' },
          'POST /api/v1/alerts/rules': {
            name: 'r1',
            expr: 'p99_ms > 50 for 5m',
            scope: { model: 'cancer' },
            webhook: 'http://127.0.0.1:9/hook',
          },
          'POST /api/v1/jobs': { jobId: 'j1', model: 'cancer', input: 'in.csv', output: 'out/out.csv' },
          'POST /v2/repository/index': { ready: true },
          'POST /v2/repository/models/:model/load': { parameters: {} },
          'POST /v2/repository/models/:model/unload': { parameters: {} },
        },
        onnx: fixtureBytes('breast_cancer.onnx'),
        row,
      };
      const grpcRuns = Math.round(RUNS * GRPC_SHARE);
      const rawRuns = Math.round(RUNS * RAW_SHARE);
      const httpSample = fc.sample(httpRequests(routes, seeds), { seed: SEED, numRuns: RUNS - grpcRuns - rawRuns });
      const rawSample = fc.sample(rawHttpRequests, { seed: SEED, numRuns: rawRuns });
      const grpc = grpcCalls(row);
      const grpcSample = fc.sample(grpc.arbitrary, { seed: SEED, numRuns: grpcRuns });

      const violations: Violation[] = [];
      const statuses = new Map<number, number>();
      const grpcCodes = new Map<number, number>();
      const leaks: string[] = [];
      let sent = 0;
      let unsendable = 0;
      let peakRss = treeRss(serverPid);
      const startRss = peakRss;
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, treeRss(serverPid))), 200);
      const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
      const base = new URL(url);
      const started = Date.now();
      try {
        await pool(httpSample, CONCURRENCY, async (request) => {
          const outcome = await send(base, agent, request);
          if (outcome.status === -1) {
            unsendable++;
            return;
          }
          sent++;
          statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
          const wrong = judge(request, outcome);
          if (wrong !== undefined) violations.push({ what: wrong, request: describeRequest(request) });
          if (outcome.status >= 400 && outcome.body.includes(root)) leaks.push(`${request.method} ${request.route}`);
        });
        await pool(rawSample, CONCURRENCY, async (bytes) => {
          const answer = await sendRaw(base, bytes);
          sent++;
          const wrong = judgeRaw(answer);
          if (wrong !== undefined)
            violations.push({ what: `raw HTTP: ${wrong}`, request: bytes.subarray(0, 200).toString('latin1') });
        });
        await pool(grpcSample, CONCURRENCY, async (call) => {
          const outcome = await sendGrpc(client!, call, REQUEST_TIMEOUT_MS);
          sent++;
          grpcCodes.set(outcome.code, (grpcCodes.get(outcome.code) ?? 0) + 1);
          if (GRPC_FAILURES.has(outcome.code))
            violations.push({
              what: `gRPC ${call.method} ended ${outcome.code}: ${outcome.details.slice(0, 200)}`,
              request: call.messages.map((m) => m.toString('base64').slice(0, 120)).join(' | '),
            });
          if (outcome.details.includes(root)) leaks.push(`gRPC ${call.method}`);
        });
      } finally {
        clearInterval(sampler);
        agent.destroy();
      }
      const live = await fetch(`${url}/v2/health/live`);
      const endRss = treeRss(serverPid);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const fivexx = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
      console.log(
        `fuzz seed ${SEED}: ${sent} requests sent (${RUNS - grpcRuns - rawRuns - unsendable} HTTP over ${routes.length} routes, ${rawRuns} raw HTTP/1.1, ` +
          `${grpcRuns} gRPC over ${grpc.methods.length} RPCs; ${unsendable} refused by the client) in ${seconds} s; ` +
          `HTTP statuses ${JSON.stringify(Object.fromEntries(statuses))}, gRPC codes ${JSON.stringify(Object.fromEntries(grpcCodes))}; ` +
          `${fivexx} 5xx, ${violations.length} violations, crashes: ${exited === undefined ? 0 : 1}; ` +
          `RSS ${(startRss / 2 ** 20).toFixed(0)} MB at start, peak ${(peakRss / 2 ** 20).toFixed(0)} MB, ` +
          `${(endRss / 2 ** 20).toFixed(0)} MB at the end; ${leaks.length} error answers naming a server path`,
      );
      for (const v of violations.slice(0, 20)) console.log(`VIOLATION ${v.what}\n  <- ${v.request}`);
      expect(exited, `the server exited:\n${output}`).toBeUndefined();
      expect(live.status).toBe(200);
      expect(violations.slice(0, 20)).toEqual([]);
      expect(peakRss - startRss).toBeLessThan(RSS_GROWTH_LIMIT_BYTES);
      expect(sent).toBeGreaterThan(RUNS * 0.9);
    },
    Math.max(90_000, RUNS * 100),
  );
});
