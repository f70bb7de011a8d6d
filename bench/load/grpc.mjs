// Run bench/grpc-load.mjs as its own process (so its CPU is not the harness's) and read its report.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, ROOT } from '../lib/config.mjs';
import { runCommand } from '../lib/processes.mjs';

const LOADER = join(BENCH_DIR, 'grpc-load.mjs');
export const GRPC_PROTO = join(ROOT, 'proto', 'grpc_service.proto');
export const grpcProtoPresent = () => existsSync(GRPC_PROTO);

function args({ target, model, payload, typed }) {
  return [
    LOADER,
    '--target',
    target,
    '--model',
    model,
    '--spec',
    payload.spec,
    '--data',
    payload.file,
    ...(typed ? ['--typed'] : []),
  ];
}

/** One call; resolves the label or throws with the server's error. */
export async function grpcCheck(options) {
  const r = await runCommand(process.execPath, [...args(options), '--check']);
  if (r.code !== 0) throw new Error(r.stderr.trim().split('\n').pop());
  return JSON.parse(r.stdout).label;
}

/** Closed-loop load; resolves { rps, p50Ms, p99Ms, requests, errors, seconds, firstError }. */
export async function runGrpcLoad({ connections, seconds, warmup = 0, ...options }) {
  const r = await runCommand(process.execPath, [
    ...args(options),
    '--concurrency',
    String(connections),
    '--seconds',
    String(seconds),
    '--warmup',
    String(warmup),
  ]);
  if (r.code !== 0) throw new Error(`grpc-load failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}
