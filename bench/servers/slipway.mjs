// Slipway itself, as a user runs it: a temporary SLIPWAY_HOME, models pushed with the CLI, then
// `slipway serve --port P [--grpc-port G] [--workers N]`. Options are detected from `serve --help`,
// so the bench works before and after they land.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../lib/config.mjs';
import { freePort, httpOk, runCommand, startProcess } from '../lib/processes.mjs';

const CLI = join(ROOT, 'bin', 'slipway.js');

/** Run `slipway <args>` with `env` (SLIPWAY_HOME); resolves { code, stdout, stderr }, throws on a non-zero exit. */
export async function runSlipway(args, env) {
  const r = await runCommand(process.execPath, [CLI, ...args], { cwd: ROOT, env });
  if (r.code !== 0) throw new Error(`slipway ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return r;
}

/** Which `serve` options this build has: { grpcPort, workers } (booleans) and the raw help text. */
export async function detectServeOptions() {
  const r = await runCommand(process.execPath, [CLI, 'serve', '--help'], { cwd: ROOT });
  if (r.code !== 0) throw new Error(`slipway serve --help failed (did \`npm run build\` run?):\n${r.stderr}`);
  return { grpcPort: r.stdout.includes('--grpc-port'), workers: r.stdout.includes('--workers'), help: r.stdout };
}

/**
 * Push `models` into a fresh home and serve them. `workers` is passed only when supported.
 * `setup(env)`, when given, runs after the pushes and before `serve` (e.g. more pushes or
 * `slipway deploy`, through `runSlipway(args, env)` with the same SLIPWAY_HOME); the server is
 * ready once every model and every name in `readyNames` (e.g. deployments) answers
 * `/v2/models/<name>/ready`. Returns { url(path), grpcTarget (or null), options, env, stop() };
 * stop() also deletes the home.
 */
export async function startSlipway(models, { workers, env: extraEnv = {}, setup, readyNames = [] } = {}) {
  const options = await detectServeOptions();
  const home = mkdtempSync(join(tmpdir(), 'slipway-bench-home-'));
  const env = { SLIPWAY_HOME: home, ...extraEnv };
  try {
    for (const model of models) await runSlipway(['push', model.file, '--name', model.name], env);
    if (setup) await setup(env);
  } catch (error) {
    rmSync(home, { recursive: true, force: true });
    throw error;
  }

  const port = await freePort();
  const args = [CLI, 'serve', '--host', '127.0.0.1', '--port', String(port)];
  let grpcTarget = null;
  if (options.grpcPort) {
    const grpcPort = await freePort();
    args.push('--grpc-port', String(grpcPort));
    grpcTarget = `127.0.0.1:${grpcPort}`;
  }
  if (workers && options.workers) args.push('--workers', String(workers));

  const base = `http://127.0.0.1:${port}`;
  const ready = async () => {
    if (!(await httpOk(`${base}/v2/health/ready`))) return false;
    for (const name of [...models.map((m) => m.name), ...readyNames])
      if (!(await httpOk(`${base}/v2/models/${name}/ready`))) return false;
    return true;
  };
  let proc;
  try {
    proc = await startProcess({
      name: 'slipway',
      command: process.execPath,
      args,
      cwd: ROOT,
      env,
      ready,
      timeoutMs: 120_000,
    });
  } catch (error) {
    rmSync(home, { recursive: true, force: true });
    throw error;
  }
  return {
    name: 'slipway',
    url: (path) => base + path,
    grpcTarget,
    options: { ...options, workers: Boolean(workers && options.workers) },
    args: args.slice(1),
    env,
    async stop() {
      await proc.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
