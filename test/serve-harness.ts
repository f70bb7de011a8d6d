/**
 * Helpers for tests that run the real `slipway serve` (bin/slipway.js over dist/): spawn it, read
 * what it prints, wait for conditions with a deadline (never fixed sleeps), and look at processes
 * and ports the way an operator would.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../src/cli/main.js';
import { FIXTURES, expectedOutputs } from '../src/testing/fixtures.js';

export const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const bin = path.join(root, 'bin', 'slipway.js');

export function distIsBuilt(): boolean {
  return existsSync(path.join(root, 'dist', 'main.js'));
}

/** Push the breast-cancer fixture as `cancer` into `home`. */
export async function pushCancer(home: string): Promise<void> {
  const io = { stdout: () => undefined, stderr: () => undefined, env: { SLIPWAY_HOME: home }, cwd: root };
  const code = await runCli(['push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', 'cancer'], io);
  if (code !== 0) throw new Error(`push failed (${code})`);
}

/** One breast-cancer row as an OIP v2 JSON body. */
export function cancerPayload(): string {
  const row = expectedOutputs('breast_cancer').inputs[0]!.data.slice(0, 30);
  return JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] });
}

export interface ServeProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything printed so far, stdout and stderr interleaved. */
  output(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  /** Kill what is left (the wrapper's process group members found by pid) at the end of a test. */
  cleanup(): void;
}

/** `node bin/slipway.js serve ...args` with `env` on top of this process's environment. */
export function spawnServe(args: readonly string[], env: Record<string, string>): ServeProcess {
  const child = spawn(process.execPath, [bin, 'serve', ...args], {
    env: { ...process.env, SLIPWAY_LOG_LEVEL: 'silent', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, atMs: Date.now() })),
  );
  const seen = new Set<number>();
  const remember = () => {
    if (child.pid !== undefined) for (const pid of descendants(child.pid)) seen.add(pid);
  };
  const timer = setInterval(remember, 200);
  timer.unref();
  return {
    child,
    output: () => output,
    exited,
    cleanup() {
      clearInterval(timer);
      remember();
      for (const pid of [child.pid, ...seen]) if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL');
    },
  };
}

/** Poll `probe` until it returns something other than undefined/false, or fail after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** The first capture group of `pattern` in the output, once it is printed. */
export function printed(server: ServeProcess, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  return waitFor(`${pattern} in the output`, () => pattern.exec(server.output())?.[1], timeoutMs).catch(
    (error: unknown) => {
      throw new Error(`${(error as Error).message}; output so far:\n${server.output()}`);
    },
  );
}

/** The pids of `slipway worker <pid> serving on` lines printed so far. */
export function workerPids(server: ServeProcess): number[] {
  return [...server.output().matchAll(/slipway worker (\d+) serving on/g)].map((m) => Number(m[1]));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped by its parent) still answers kill(0).
  try {
    return !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Children of `pid` (Linux /proc). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const child of childPids(pid)) out.push(child, ...descendants(child));
  return out;
}

/** Whether a new server could listen on `host:port` right now. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Occupy a free port on 127.0.0.1 with a plain TCP listener. */
export async function occupyPort(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  const { port } = server.address() as net.AddressInfo;
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A GET on a fresh connection (so the cluster's round robin picks the worker): status and body. */
export function getFresh(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

/** A POST on a fresh connection: status and body. */
export function postFresh(url: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
