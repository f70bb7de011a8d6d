// How long a change made with `slipway deploy` (its own CLI process, same SLIPWAY_HOME) takes to
// reach a running server: from the CLI's exit to the first answer from the new version, polling
// the deployment every 10 ms. Servers poll the store every 500 ms, so expect up to that plus the swap.
import { readFileSync } from 'node:fs';
import { otherCpuProbe, waitForQuiet } from '../lib/cpu.mjs';
import { runSlipway } from '../servers/slipway.mjs';

const POLL_MS = 10;
const GIVE_UP_MS = 10_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The version that answers one request to `deployment` (x-slipway-version). */
async function answeringVersion(server, deployment, body) {
  const res = await fetch(server.url(`/v2/models/${deployment}/infer`), {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`POST /v2/models/${deployment}/infer: HTTP ${res.status}`);
  return res.headers.get('x-slipway-version');
}

/**
 * `changes` (BENCH_DEPLOYMENTS_CHANGES, default 10) changes of `deployment`, each to 100% of the
 * other of `versions`. Returns { versions, changes: [{ to, cliMs, propagationMs, polls, timedOut }], otherCpu }
 * (a change not seen after 10 s is `timedOut`).
 */
export async function measurePropagation(ctx, { server, deployment, model, versions }) {
  const count = Number(process.env.BENCH_DEPLOYMENTS_CHANGES ?? 10);
  const body = readFileSync(ctx.payloads[model].json.file);
  let current = await answeringVersion(server, deployment, body);
  if (!versions.includes(current))
    throw new Error(`${deployment} answers with ${current}, expected one of ${versions.join(', ')}`);
  ctx.log(`deployments: propagation of ${count} changes of ${deployment} (${versions.join(' <-> ')})`);
  await waitForQuiet({ threshold: ctx.config.quietThreshold, maxSeconds: ctx.config.quietWait, log: ctx.log });
  const probe = otherCpuProbe();
  const changes = [];
  for (let i = 0; i < count; i++) {
    const to = versions.find((v) => v !== current);
    const started = performance.now();
    await runSlipway(
      ['deploy', deployment, '--model', model, '--route', `${to}=100`, '--why', `bench propagation ${i + 1}`],
      server.env,
    );
    const returned = performance.now();
    let polls = 0;
    let answered;
    for (;;) {
      polls += 1;
      answered = await answeringVersion(server, deployment, body);
      if (answered === to || performance.now() - returned > GIVE_UP_MS) break;
      await sleep(POLL_MS);
    }
    // A change that never arrives is recorded (timedOut), not thrown: the load figures stay.
    const change = {
      to,
      cliMs: returned - started,
      propagationMs: performance.now() - returned,
      polls,
      timedOut: answered !== to,
    };
    ctx.log(
      `  -> ${to}: deploy ${Math.round(change.cliMs)} ms, then ${change.timedOut ? `still ${answered} after` : ''} ${Math.round(change.propagationMs)} ms${change.timedOut ? '' : ' until answered'} (${polls} polls)`,
    );
    changes.push(change);
    current = answered;
  }
  return { versions, changes, otherCpu: probe.stop() };
}
