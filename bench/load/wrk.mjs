// Run wrk (one thread, N connections, closed loop) against a POST endpoint and parse its report.
import { join } from 'node:path';
import { BENCH_DIR } from '../lib/config.mjs';
import { runCommand } from '../lib/processes.mjs';

const SCRIPT = join(BENCH_DIR, 'load', 'post.lua');

/**
 * `payload` is { file, contentType, headers? }. Resolves
 * { rps, p50Ms, p99Ms, requests, errors, seconds } (errors = non-2xx responses + socket errors).
 */
export async function runWrk({ url, payload, connections, seconds }) {
  const headers = Object.entries(payload.headers ?? {})
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '--latency', '-s', SCRIPT, url];
  const r = await runCommand('wrk', args, {
    env: { BENCH_BODY: payload.file, BENCH_CONTENT_TYPE: payload.contentType, BENCH_HEADERS: headers },
  });
  if (r.code !== 0) throw new Error(`wrk failed (${r.code}): ${r.stderr}${r.stdout}`);
  return parseWrk(r.stdout);
}

const UNIT_MS = { us: 1e-3, ms: 1, s: 1000, m: 60_000 };

function duration(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) throw new Error(`cannot read wrk duration "${text}"`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

export function parseWrk(out) {
  const grab = (re) => re.exec(out);
  const rps = grab(/Requests\/sec:\s+([\d.]+)/);
  const total = grab(/(\d+) requests in ([\d.]+)(us|ms|s|m)/);
  if (!rps || !total) throw new Error(`cannot read wrk output:\n${out}`);
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    return m ? duration(m[1]) : NaN;
  };
  const non2xx = Number(grab(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0);
  const socket = grab(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const socketErrors = socket
    ? socket
        .slice(1)
        .map(Number)
        .reduce((a, b) => a + b, 0)
    : 0;
  return {
    rps: Number(rps[1]),
    p50Ms: pct(50),
    p99Ms: pct(99),
    requests: Number(total[1]),
    errors: non2xx + socketErrors,
    seconds: duration(`${total[2]}${total[3]}`) / 1000,
  };
}
