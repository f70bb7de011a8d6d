// The scenario groups, in the order they run. Each starts its server(s), measures, stops them,
// and returns its cells. `ctx` = { config, log, payloads, labels }.
import { join } from 'node:path';
import { BENCH_DIR } from './lib/config.mjs';
import { waitForQuiet } from './lib/cpu.mjs';
import { MODELS, modelByName } from './lib/models.mjs';
import { runCommand } from './lib/processes.mjs';
import { S } from './report.mjs';
import { grpcScenario, httpScenario } from './scenarios.mjs';
import {
  startBareStack,
  startFlaskDev,
  startGrpcCeiling,
  startGunicorn,
  startHttpCeiling,
  trainFlaskModel,
} from './servers/baselines.mjs';
import { startSlipway } from './servers/slipway.mjs';

const SMALL = modelByName('breast_cancer');
const LARGE = modelByName('digits_image');
const INFER = (model) => `/v2/models/${model}/infer`;

/** Start a server, run its scenarios, always stop it. */
async function withServer(ctx, start, scenarios) {
  const server = await start();
  ctx.log(`${server.name} up`);
  try {
    return await scenarios(server);
  } finally {
    await server.stop();
  }
}

/** (a) raw onnxruntime-node in process, every model at every batch size (its own process). */
export async function rawOrt({ config, log }) {
  const seconds = Math.max(1, Math.min(3, config.seconds / 3));
  await waitForQuiet({ threshold: config.quietThreshold, maxSeconds: config.quietWait, log });
  log(`raw onnxruntime-node in process: ${seconds}s per batch size`);
  const r = await runCommand(process.execPath, [
    join(BENCH_DIR, 'load', 'ort-raw.mjs'),
    '--seconds',
    String(seconds),
    '--threads',
    String(config.ortThreads),
    '--batches',
    config.rawBatches.join(','),
    ...MODELS.map((m) => `${m.name}=${m.file}:${m.shape.join('x')}`),
  ]);
  if (r.code !== 0) throw new Error(`ort-raw failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

/**
 * (b) the ceilings: the bare stack's route with no inference (HTTP, small model's body), and a
 * grpc-js server with a canned answer (what grpc-js and the gRPC load generator allow at all,
 * for the small model's and the large tensor's raw request).
 */
export async function ceilings(ctx) {
  const http = await withServer(ctx, startHttpCeiling, (s) =>
    httpScenario({
      ...ctx,
      scenario: S.ceiling,
      model: SMALL.name,
      url: s.url(INFER(SMALL.name)),
      payload: ctx.payloads[SMALL.name].json,
      check: () => undefined,
    }),
  );
  const grpc = await withServer(ctx, startGrpcCeiling, async (s) => {
    const cells = [];
    for (const model of [SMALL, LARGE]) {
      cells.push(
        ...(await grpcScenario({
          ...ctx,
          scenario: S.grpcCeiling,
          model: model.name,
          target: s.grpcTarget,
          payload: ctx.payloads[model.name].tensor,
          expectLabel: 1,
        })),
      );
    }
    return cells;
  });
  return [...http, ...grpc];
}

/** (b) the bare stack, JSON, every model. */
export const bare = (ctx) =>
  withServer(
    ctx,
    () => startBareStack(MODELS, ctx.config.ortThreads),
    async (s) => {
      const cells = [];
      for (const model of MODELS) {
        cells.push(
          ...(await httpScenario({
            ...ctx,
            scenario: S.bare,
            model: model.name,
            url: s.url(INFER(model.name)),
            payload: ctx.payloads[model.name].json,
            expectLabel: ctx.labels[model.name],
          })),
        );
      }
      return cells;
    },
  );

/** (c) the seed's Flask app on the dev server (`dev`) or gunicorn -w 2, small model only. */
export async function flask(ctx, { gunicorn }) {
  const modelFile = await trainFlaskModel(ctx.tmp);
  const expectLabel = ctx.labels[SMALL.name];
  const check = (body) => {
    const label = JSON.parse(body.toString('utf8')).label;
    return label === expectLabel ? undefined : `wrong answer: label ${label}, expected ${expectLabel}`;
  };
  return withServer(
    ctx,
    () => (gunicorn ? startGunicorn(modelFile) : startFlaskDev(modelFile)),
    (s) =>
      httpScenario({
        ...ctx,
        scenario: gunicorn ? S.gunicorn : S.flask,
        model: SMALL.name,
        url: s.url('/predict'),
        payload: ctx.payloads[SMALL.name].flask,
        check,
      }),
  );
}

/**
 * (d) Slipway: REST JSON, REST binary and gRPC (raw; typed too for the large tensor) for every
 * model. Sets ctx.slipwayArgs to the serve command line used.
 */
export const slipway = (ctx) =>
  withServer(
    ctx,
    () => startSlipway(MODELS, { workers: process.env.BENCH_SLIPWAY_WORKERS }),
    async (s) => {
      ctx.slipwayArgs = `slipway ${s.args.join(' ')} (detected: --grpc-port ${s.options.grpcPort ? 'yes' : 'no'}, --workers ${s.options.workers ? 'used' : 'not used'})`;
      const cells = [];
      for (const model of MODELS) {
        const p = ctx.payloads[model.name];
        const base = { ...ctx, model: model.name, expectLabel: ctx.labels[model.name] };
        const url = s.url(INFER(model.name));
        cells.push(...(await httpScenario({ ...base, scenario: S.json, url, payload: p.json })));
        cells.push(...(await httpScenario({ ...base, scenario: S.binary, url, payload: p.binary, optional: true })));
        cells.push(...(await grpcScenario({ ...base, scenario: S.grpc, target: s.grpcTarget, payload: p.tensor })));
        if (model.kind === 'large tensor') {
          cells.push(
            ...(await grpcScenario({
              ...base,
              scenario: S.grpcTyped,
              target: s.grpcTarget,
              payload: p.tensor,
              typed: true,
            })),
          );
        }
      }
      return cells;
    },
  );

/**
 * (e) The issue 4 budget: the same server with request metrics and 100% prediction logging on
 * (the default) and off (SLIPWAY_METRICS=off, SLIPWAY_LOG_SAMPLE_RATE=0), small model, JSON, at
 * the highest concurrency, in alternating rounds so drift in the machine's speed hits both.
 */
export async function monitoring(ctx) {
  const c = Math.max(...ctx.config.concurrency.filter((n) => n <= 32));
  const rounds = Number(process.env.BENCH_MONITORING_ROUNDS ?? 3);
  const cells = [];
  const variants = [
    [S.monitoringOff, { SLIPWAY_METRICS: 'off', SLIPWAY_LOG_SAMPLE_RATE: '0' }],
    [S.monitoringOn, {}],
  ];
  for (let round = 0; round < rounds; round++) {
    for (const [scenario, env] of round % 2 === 0 ? variants : [...variants].reverse()) {
      const measured = await withServer(
        ctx,
        () => startSlipway([SMALL], { env }),
        (s) =>
          httpScenario({
            ...ctx,
            config: { ...ctx.config, concurrency: [c] },
            scenario,
            model: SMALL.name,
            url: s.url(INFER(SMALL.name)),
            payload: ctx.payloads[SMALL.name].json,
            expectLabel: ctx.labels[SMALL.name],
          }),
      );
      cells.push(...measured.map((cell) => ({ ...cell, note: `round ${round + 1}` })));
    }
  }
  return cells;
}
