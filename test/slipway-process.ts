import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Helpers for tests that run the built CLI as users do: `node bin/slipway.js ...` (needs `npm run build`). */
export const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const BIN = path.join(ROOT, 'bin', 'slipway.js');

export function distIsBuilt(): boolean {
  return existsSync(path.join(ROOT, 'dist', 'main.js'));
}

/** A running `slipway` process with its output so far. */
export interface SlipwayProcess {
  readonly child: ChildProcess;
  /** stdout and stderr as they came. */
  output(): string;
  stdout(): string;
  /** Resolves with the exit code (null) and signal once it exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startSlipway(args: readonly string[], env: Record<string, string>, cwd = ROOT): SlipwayProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, SLIPWAY_LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => output, stdout: () => stdout, exited };
}

/** Runs `slipway args` to its end. */
export async function runSlipway(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; output: string; stdout: string }> {
  const run = startSlipway(args, env);
  const { code } = await run.exited;
  return { code, output: run.output(), stdout: run.stdout() };
}

/** Polls `read` until `check` passes; fails with the last value after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  read: () => Promise<T> | T,
  check: (value: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * `slipway serve` on free ports, as users start it (`bin/slipway.js` and whatever it does to pass
 * its V8 flag); resolves once the URL is printed and /v2/health/live answers.
 */
export async function startServer(
  env: Record<string, string>,
): Promise<SlipwayProcess & { url: string; stop(): Promise<void> }> {
  const server = startSlipway(['serve', '--port', '0', '--grpc-port', '0'], { SLIPWAY_PORT: '0', ...env });
  const url = await waitFor(
    'the server URL',
    () =>
      /serving on (http:\/\/[0-9.:]+)/.exec(server.output())?.[1] ??
      (server.child.exitCode !== null ? 'exited' : undefined),
    (value) => value !== undefined,
    60_000,
  );
  if (url === 'exited') throw new Error(`slipway serve exited: ${server.output()}`);
  await waitFor(
    'the server to answer',
    () =>
      fetch(`${url}/v2/health/live`).then(
        (r) => r.status,
        () => 0,
      ),
    (status) => status === 200,
  );
  return {
    ...server,
    url: url as string,
    async stop() {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGTERM');
      await server.exited;
    },
  };
}
