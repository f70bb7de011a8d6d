// One scenario = one server + one payload: a correctness check, a warm-up, then one measured
// cell per concurrency level. A scenario whose check fails yields "not available" / "FAILED" rows.
import { readFileSync } from 'node:fs';
import { runGrpcLoad, grpcCheck } from './load/grpc.mjs';
import { runWrk } from './load/wrk.mjs';
import { otherCpuProbe, waitForQuiet } from './lib/cpu.mjs';
import { labelFromV2 } from './lib/payloads.mjs';

/**
 * HTTP scenario. `check(response)` returns an error message or undefined; by default the
 * response's v2 `label` must equal `expectLabel`. `optional` marks features that may not exist
 * yet (binary): their failure reads "not available" rather than "FAILED".
 */
export async function httpScenario({ scenario, model, url, payload, expectLabel, check, optional, config, log }) {
  const failure = await checkHttp({ url, payload, expectLabel, check });
  if (failure) return unavailable({ scenario, model, config, optional, reason: failure, log });
  log(`  ${scenario} · ${model}: warm-up ${config.warmupSeconds}s`);
  const warmC = Math.max(...config.concurrency);
  await runWrk({ url, payload, connections: warmC, seconds: config.warmupSeconds });
  const cells = [];
  for (const c of config.concurrency) {
    const result = await measureCell({ config, log }, () =>
      runWrk({ url, payload, connections: c, seconds: config.seconds }),
    );
    cells.push({ scenario, model, concurrency: c, ...result });
    logCell(log, cells.at(-1));
  }
  return cells;
}

async function checkHttp({ url, payload, expectLabel, check }) {
  try {
    const res = await fetch(url, {
      method: 'POST',
      body: readFileSync(payload.file),
      headers: { 'content-type': payload.contentType, ...(payload.headers ?? {}) },
      signal: AbortSignal.timeout(30_000),
    });
    const body = Buffer.from(await res.arrayBuffer());
    if (!res.ok) return `HTTP ${res.status}: ${body.toString('utf8').slice(0, 160)}`;
    if (check) return check(body);
    const label = labelFromV2(body, res.headers.get('inference-header-content-length'));
    if (label !== expectLabel) return `wrong answer: label ${label}, expected ${expectLabel}`;
    return undefined;
  } catch (error) {
    return `request failed: ${error.message}`;
  }
}

/** gRPC scenario through bench/grpc-load.mjs (its own process). */
export async function grpcScenario({ scenario, model, target, payload, typed, expectLabel, config, log }) {
  if (!target)
    return unavailable({ scenario, model, config, optional: true, reason: 'slipway serve has no --grpc-port', log });
  const base = { target, model, payload, typed };
  try {
    const label = await grpcCheck(base);
    if (label !== expectLabel) throw new Error(`wrong answer: label ${label}, expected ${expectLabel}`);
  } catch (error) {
    return unavailable({ scenario, model, config, optional: true, reason: error.message, log });
  }
  log(`  ${scenario} · ${model}: warm-up ${config.warmupSeconds}s`);
  await runGrpcLoad({ ...base, connections: Math.max(...config.concurrency), seconds: config.warmupSeconds });
  const cells = [];
  for (const c of config.concurrency) {
    const result = await measureCell({ config, log }, () =>
      runGrpcLoad({ ...base, connections: c, seconds: config.seconds }),
    );
    cells.push({ scenario, model, concurrency: c, ...result });
    logCell(log, cells.at(-1));
  }
  return cells;
}

/**
 * Measure one cell once the machine is quiet; if other processes took more than
 * `config.disturbedThreshold` of it meanwhile, measure again (up to `config.retries` times) and
 * keep the least disturbed result. Adds `otherCpu` to the result.
 */
async function measureCell({ config, log }, measure) {
  let best;
  for (let attempt = 0; attempt <= config.retries; attempt += 1) {
    await waitForQuiet({ threshold: config.quietThreshold, maxSeconds: config.quietWait, log });
    const probe = otherCpuProbe();
    const result = await measure();
    result.otherCpu = probe.stop();
    if (!best || result.otherCpu < best.otherCpu) best = result;
    if (result.otherCpu <= config.disturbedThreshold) break;
    if (attempt < config.retries) log(`  disturbed (${Math.round(result.otherCpu * 100)}% other CPU); measuring again`);
  }
  return best;
}

function logCell(log, cell) {
  log(
    `  ${cell.scenario} · ${cell.model} · c${cell.concurrency}: ${Math.round(cell.rps)} req/s, p50 ${cell.p50Ms.toFixed(3)} ms, ` +
      `p99 ${cell.p99Ms.toFixed(3)} ms, errors ${cell.errors}${cell.firstError ? ` (${cell.firstError})` : ''}, other CPU ${Math.round(cell.otherCpu * 100)}%`,
  );
}

function unavailable({ scenario, model, config, optional, reason, log }) {
  const note = `${optional ? 'not available' : 'FAILED'}: ${reason.split('\n')[0].slice(0, 140)}`;
  log(`  ${scenario} · ${model}: ${note}`);
  return config.concurrency.map((c) => ({ scenario, model, concurrency: c, note }));
}
