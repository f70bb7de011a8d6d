// Child processes: free ports, start a server and wait until it answers, stop it.
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';

const running = new Set(); // long-running servers, stopped by stopAll()
const commands = new Set(); // short commands (wrk, load generators), killed by stopAll()

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Spawn a long-running child and wait until `ready()` resolves true (polled every 100 ms).
 * Keeps the last 8 KB of its output for error messages. Returns { name, child, stop(), log() }.
 */
export async function startProcess({ name, command, args, env, cwd, ready, timeoutMs = 60_000 }) {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-8192);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const proc = {
    name,
    child,
    log: () => output,
    async stop() {
      running.delete(proc);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(proc);

  const deadline = Date.now() + timeoutMs;
  let exitedEarly;
  exited.then((how) => {
    exitedEarly = how;
  });
  while (Date.now() < deadline) {
    if (exitedEarly) throw new Error(`${name} exited (${JSON.stringify(exitedEarly)}) before it was ready:\n${output}`);
    if (await ready().catch(() => false)) return proc;
    await sleep(100);
  }
  await proc.stop();
  throw new Error(`${name} was not ready after ${timeoutMs} ms:\n${output}`);
}

/** Run a command to completion; resolves { code, stdout, stderr }. */
export function runCommand(command, args, { env, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    commands.add(child);
    child.once('exit', () => commands.delete(child));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** True when GET `url` answers 2xx. */
export async function httpOk(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.ok;
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function tcpOpen(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Stop every child still running (on failure or Ctrl-C). */
export async function stopAll() {
  for (const child of commands) child.kill('SIGTERM');
  await Promise.all([...running].map((p) => p.stop()));
}
