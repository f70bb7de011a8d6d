// The `deployments` group: what routing through a deployment costs. One `slipway serve` with
// breast_cancer 1.0.0 and 1.1.0 (the retrained model, a minor bump) and one deployment per
// scenario; each is measured against the pinned version URL (`direct`) in alternating rounds,
// so drift in the machine's speed hits all alike. Then the propagation time of a change made
// with `slipway deploy` to the running server (bench/deployments/propagation.mjs).
import { join } from 'node:path';
import { MODELS_DIR } from '../lib/config.mjs';
import { modelByName } from '../lib/models.mjs';
import { labelFromV2, referenceLabel } from '../lib/payloads.mjs';
import { httpScenario } from '../scenarios.mjs';
import { runSlipway, startSlipway } from '../servers/slipway.mjs';
import { measurePropagation } from './propagation.mjs';

const SMALL = modelByName('breast_cancer');
const RETRAINED_FILE = join(MODELS_DIR, 'breast_cancer_retrained.onnx');
const V1 = '1.0.0';
const V2 = '1.1.0';
const STICKY_KEY = '42';
export const FLIP = 'flip'; // the deployment whose changes are timed

/** The scenarios: `deploy` is the `slipway deploy` arguments after the name (none for `direct`). */
const SCENARIOS = [
  {
    name: 'direct',
    path: `/v2/models/${SMALL.name}/versions/${V1}/infer`,
    versions: [V1],
    spec: `pinned version URL, ${V1}`,
  },
  { name: 'one-route', deploy: ['--route', `${V1}=100`], versions: [V1], spec: `${V1}=100` },
  {
    name: 'canary',
    deploy: ['--route', `${V1}=90`, '--route', `${V2}=10`],
    versions: [V1, V2],
    spec: `${V1}=90 ${V2}=10`,
  },
  {
    name: 'sticky',
    deploy: ['--route', `${V1}=90`, '--route', `${V2}=10`, '--sticky', 'header:x-user-id'],
    versions: [V1, V2],
    headers: { 'x-user-id': STICKY_KEY },
    spec: `${V1}=90 ${V2}=10, sticky header:x-user-id (wrk sends x-user-id: ${STICKY_KEY})`,
  },
  {
    name: 'shadow',
    deploy: ['--route', `${V1}=100`, '--shadow', `${V2}=100`],
    versions: [V1],
    shadow: V2,
    spec: `${V1}=100, shadow ${V2}=100%`,
  },
].map((s) => ({ ...s, path: s.path ?? `/v2/models/${s.name}/infer` }));

/** After the pushes: the retrained model as 1.1.0, then every scenario's deployment and `flip`. */
async function setup(env) {
  const pushed = await runSlipway(['push', RETRAINED_FILE, '--name', SMALL.name], env);
  if (!pushed.stdout.includes(`${SMALL.name}@${V2}`))
    throw new Error(`expected the retrained model to become ${V2}:\n${pushed.stdout}`);
  for (const s of SCENARIOS.filter((x) => x.deploy))
    await runSlipway(['deploy', s.name, '--model', SMALL.name, ...s.deploy], env);
  await runSlipway(['deploy', FLIP, '--model', SMALL.name, '--route', `${V1}=100`], env);
}

/**
 * A response check: 200, a `model_version` among the scenario's versions and the label that
 * version gives for the row (ONNX Runtime's own answer). Records the versions seen.
 */
function versionCheck(scenario, labels, seen) {
  return (body) => {
    const version = JSON.parse(body.toString('utf8')).model_version;
    if (!scenario.versions.includes(version))
      return `answered by version ${version}, expected ${scenario.versions.join(' or ')}`;
    const label = labelFromV2(body, null);
    if (label !== labels[version]) return `wrong answer from ${version}: label ${label}, expected ${labels[version]}`;
    seen.add(version);
    return undefined;
  };
}

/** Shadow counters of `deployment` (all time): { compared, errors, dropped } of `version`. */
async function shadowCounts(server, deployment, version) {
  const res = await fetch(server.url(`/api/v1/deployments/${deployment}/shadow?results=0`), {
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`GET shadow report of ${deployment}: HTTP ${res.status}`);
  const v = (await res.json()).versions.find((x) => x.shadowVersion === version);
  return { compared: v?.compared ?? 0, errors: v?.errors ?? 0, dropped: v?.dropped ?? 0 };
}

/** Wait until the shadow counters stop moving (queued copies run after the load ends), at most 60 s. */
async function settledShadowCounts(server, deployment, version) {
  const total = (c) => c.compared + c.errors + c.dropped;
  let last = await shadowCounts(server, deployment, version);
  for (let waited = 0; waited < 60_000; waited += 1000) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const now = await shadowCounts(server, deployment, version);
    if (total(now) === total(last)) return now;
    last = now;
  }
  return last;
}

/**
 * The group. Returns { concurrency, rounds, cells (one per scenario and round, with `round` and,
 * for `shadow`, `shadowCopies`), seen (versions that answered each scenario's check), propagation }.
 */
export async function deployments(ctx) {
  const c = Math.max(...ctx.config.concurrency.filter((n) => n <= 32));
  const rounds = Number(process.env.BENCH_DEPLOYMENTS_ROUNDS ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`BENCH_DEPLOYMENTS_ROUNDS=${process.env.BENCH_DEPLOYMENTS_ROUNDS}: expected a positive integer`);
  const row = ctx.payloads[SMALL.name].row;
  const labels = { [V1]: ctx.labels[SMALL.name], [V2]: await referenceLabel({ ...SMALL, file: RETRAINED_FILE }, row) };
  const server = await startSlipway([SMALL], {
    setup,
    readyNames: [...SCENARIOS.filter((s) => s.deploy).map((s) => s.name), FLIP],
  });
  ctx.log('slipway (deployments) up');
  ctx.slipwayArgs ??= `slipway ${server.args.join(' ')}`;
  const cells = [];
  const seen = Object.fromEntries(SCENARIOS.map((s) => [s.name, new Set()]));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const scenario of round % 2 === 0 ? SCENARIOS : [...SCENARIOS].reverse()) {
        const before = scenario.shadow ? await settledShadowCounts(server, scenario.name, scenario.shadow) : undefined;
        const json = ctx.payloads[SMALL.name].json;
        const measured = await httpScenario({
          ...ctx,
          config: { ...ctx.config, concurrency: [c] },
          scenario: `deployments: ${scenario.name}`,
          model: SMALL.name,
          url: server.url(scenario.path),
          payload: scenario.headers ? { ...json, headers: scenario.headers } : json,
          check: versionCheck(scenario, labels, seen[scenario.name]),
        });
        const cell = { ...measured[0], scenario: scenario.name, round: round + 1 };
        if (before) {
          const after = await settledShadowCounts(server, scenario.name, scenario.shadow);
          cell.shadowCopies = {
            compared: after.compared - before.compared,
            errors: after.errors - before.errors,
            dropped: after.dropped - before.dropped,
          };
          ctx.log(`  shadow copies this round: ${JSON.stringify(cell.shadowCopies)}`);
        }
        cells.push(cell);
      }
    }
    const propagation = await measurePropagation(ctx, {
      server,
      deployment: FLIP,
      model: SMALL.name,
      versions: [V1, V2],
    });
    return {
      concurrency: c,
      rounds,
      cells,
      seen: Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, [...v]])),
      propagation,
    };
  } finally {
    await server.stop();
  }
}

// ---- tables ----

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmtMs = (ms) =>
  ms === undefined || Number.isNaN(ms) ? '—' : ms < 1 ? `${Math.round(ms * 1000)} µs` : `${ms.toFixed(2)} ms`;
const fmtRate = (n) => Math.round(n).toLocaleString('en-US');

export const DEPLOYMENT_HEADER = [
  'scenario',
  'traffic',
  'req/s',
  'p50',
  'p99',
  '× direct',
  'errors',
  'shadow compared',
  'shadow dropped',
  'other CPU',
  'req/s by round',
];

/**
 * One row per scenario: medians over the rounds of req/s, p50 and p99; "× direct" = the median
 * over rounds of req/s ÷ `direct`'s req/s in the same round; shadow copies summed over rounds.
 */
export function deploymentRows(result) {
  return SCENARIOS.map((scenario) => {
    const mine = result.cells.filter((x) => x.scenario === scenario.name);
    const ok = mine.filter((x) => x.rps !== undefined);
    if (ok.length === 0)
      return [scenario.name, scenario.spec, '—', '', '', '', '', '', '', '', mine[0]?.note ?? 'not run'];
    const ratios = ok
      .map((x) => {
        const direct = result.cells.find((d) => d.scenario === 'direct' && d.round === x.round && d.rps !== undefined);
        return direct ? x.rps / direct.rps : undefined;
      })
      .filter((r) => r !== undefined);
    const sum = (key) => ok.reduce((a, x) => a + (x.shadowCopies?.[key] ?? 0), 0);
    return [
      scenario.name,
      scenario.spec,
      fmtRate(median(ok.map((x) => x.rps))),
      fmtMs(median(ok.map((x) => x.p50Ms))),
      fmtMs(median(ok.map((x) => x.p99Ms))),
      ratios.length ? `${median(ratios).toFixed(3)}×` : '—',
      String(ok.reduce((a, x) => a + (x.errors ?? 0), 0)),
      scenario.shadow ? fmtRate(sum('compared')) : '',
      scenario.shadow ? shadowDropped(sum('compared'), sum('dropped'), sum('errors')) : '',
      `${Math.round(Math.max(...ok.map((x) => x.otherCpu ?? 0)) * 100)}%`,
      ok.map((x) => fmtRate(x.rps)).join(' / '),
    ];
  });
}

/** "dropped (share of all copies)", plus failed copies when there were any. */
function shadowDropped(compared, dropped, errors) {
  const all = compared + dropped + errors;
  return `${fmtRate(dropped)} (${all ? Math.round((dropped / all) * 100) : 0}%)${errors ? `, ${fmtRate(errors)} failed` : ''}`;
}

export const PROPAGATION_HEADER = ['measure', 'changes', 'p50', 'max', 'min', 'other CPU'];
export function propagationRows(result) {
  const p = result.propagation;
  const row = (label, values) => [
    label,
    String(values.length),
    fmtMs(median(values)),
    fmtMs(Math.max(...values)),
    fmtMs(Math.min(...values)),
    `${Math.round(p.otherCpu * 100)}%`,
  ];
  const missed = p.changes.filter((x) => x.timedOut).length;
  return [
    row(
      `\`slipway deploy\` returned → server answers with the new version${missed ? ` (${missed} not seen within 10 s, counted as 10 s)` : ''}`,
      p.changes.map((x) => x.propagationMs),
    ),
    row(
      '`slipway deploy` itself (process start to exit)',
      p.changes.map((x) => x.cliMs),
    ),
  ];
}

export function deploymentNotes(result) {
  const p = result.propagation;
  return [
    `breast_cancer 1.0.0 (fixtures/models/breast_cancer.onnx) and 1.1.0 (breast_cancer_retrained.onnx, pushed second: a minor bump), one \`slipway serve\`, ` +
      `one deployment per scenario; single-row JSON, wrk -t1 -c${result.concurrency}, ${result.rounds} rounds in alternating order ` +
      '(forward, then reversed, ...), each scenario checked, warmed up and measured in every round.',
    'req/s, p50 and p99 are medians over the rounds; "× direct" is the median over rounds of req/s ÷ `direct`\'s req/s in the same round; ' +
      '"req/s by round" in measuring order of rounds.',
    `Every answer was checked: 200, a model_version the deployment routes to and that version's label (both versions give label 1 for the row). ` +
      `Versions seen in the checks: ${Object.entries(result.seen)
        .map(([k, v]) => `${k} ${v.join('+') || '—'}`)
        .join(', ')}.`,
    `sticky: wrk sends the same x-user-id on every request, so all of them hash to one version (the cost of reading the key and hashing, not of a spread of users).`,
    'shadow: copies of every answered request (100%) go to 1.1.0 through the bounded queue (SLIPWAY_SHADOW_QUEUE_SIZE, default 1,000); ' +
      '"compared"/"dropped" are the differences of GET /api/v1/deployments/shadow/shadow before and after each round (after the queue drained), summed ' +
      'over rounds, with dropped as a share of all copies; they include the check request, the warm-up and any re-measured (disturbed) attempt, ' +
      'not only the kept cell.',
    `Propagation: ${p.changes.length} changes of deployment \`${FLIP}\` alternating ${p.versions.join('=100 ↔ ')}=100 with \`slipway deploy\` (a separate CLI process, ` +
      "same SLIPWAY_HOME) on an otherwise idle server; from the CLI's exit, POST /v2/models/flip/infer every 10 ms until x-slipway-version is the new version. " +
      'Both versions were already loaded (the other deployments use them), so this is the 500 ms poll plus the swap, not a model load.',
  ];
}

export function markdownDeployments(result, markdownTable) {
  if (result === undefined) return '';
  return `## Deployments (routing cost and propagation)

${markdownTable(DEPLOYMENT_HEADER, deploymentRows(result))}

### Propagation of a change

${markdownTable(PROPAGATION_HEADER, propagationRows(result))}

${deploymentNotes(result)
  .map((n) => `- ${n}`)
  .join('\n')}
`;
}
