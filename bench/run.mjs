#!/usr/bin/env node
// Slipway benchmark suite: raw ONNX Runtime, the bare Fastify + ORT stack, the HTTP ceiling,
// the seed's Flask app (dev server and gunicorn) and Slipway (REST JSON, REST binary, gRPC),
// side by side on this machine with the same load generator; the feature store (point-in-time
// training sets, online retrieval); and batch scoring (10M rows from Parquet). See bench/README.md.
//
//   npm run bench            (= npm run build && node bench/run.mjs)
//   BENCH_QUICK=1 node bench/run.mjs
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as groups from './groups.mjs';
import { BATCH_HEADER, batch, batchNotes, batchRows, batchTargets, markdownBatch } from './batch/index.mjs';
import {
  DEPLOYMENT_HEADER,
  PROPAGATION_HEADER,
  deploymentNotes,
  deploymentRows,
  deployments,
  markdownDeployments,
  propagationRows,
} from './deployments/index.mjs';
import {
  features,
  markdownFeatures,
  ONLINE_HEADER,
  onlineRows,
  PIT_HEADER,
  pitRows,
  featureNotes,
} from './features/index.mjs';
import { OPTIMIZE_HEADER, markdownOptimize, optimize, optimizeRows } from './optimize/index.mjs';
import { BENCH_DIR, MODEL_GROUPS, config } from './lib/config.mjs';
import { ensureDependencies } from './lib/install.mjs';
import { MODELS } from './lib/models.mjs';
import { referenceLabel, writePayloads } from './lib/payloads.mjs';
import { stopAll } from './lib/processes.mjs';
import { describeRun } from './lib/run-info.mjs';
import {
  HTTP_HEADER,
  RAW_HEADER,
  httpRows,
  markdownReport,
  markdownTable,
  rawRows,
  targetRows,
  textTable,
} from './report.mjs';

const require = createRequire(import.meta.url);
const ortVersion = () => JSON.parse(readFileSync(require.resolve('onnxruntime-node/package.json'), 'utf8')).version;
const log = (line) => process.stderr.write(`${line}\n`);

async function main() {
  const wanted = (group) => config.only.has(group);
  const modelGroups = MODEL_GROUPS.some(wanted);
  const servesModels = modelGroups || wanted('deployments'); // needs wrk, the models and their payloads
  if (servesModels) await ensureDependencies(log);
  const tmp = mkdtempSync(join(tmpdir(), 'slipway-bench-'));
  const cleanup = () => rmSync(tmp, { recursive: true, force: true });
  process.once('SIGINT', () =>
    stopAll().finally(() => {
      cleanup();
      process.exit(130);
    }),
  );

  const ctx = { config, log, tmp, payloads: {}, labels: {} };
  if (servesModels) {
    for (const model of MODELS) {
      ctx.payloads[model.name] = writePayloads(model, tmp);
      ctx.labels[model.name] = await referenceLabel(model, ctx.payloads[model.name].row);
    }
  }

  const raw = wanted('raw') ? await groups.rawOrt(ctx) : [];
  const cells = [];
  if (wanted('ceiling')) cells.push(...(await groups.ceilings(ctx)));
  if (wanted('bare')) cells.push(...(await groups.bare(ctx)));
  if (wanted('flask')) cells.push(...(await groups.flask(ctx, { gunicorn: false })));
  if (wanted('gunicorn')) cells.push(...(await groups.flask(ctx, { gunicorn: true })));
  if (wanted('slipway')) cells.push(...(await groups.slipway(ctx)));
  if (wanted('monitoring')) cells.push(...(await groups.monitoring(ctx)));
  const deploymentCost = wanted('deployments') ? await deployments(ctx) : undefined;
  const featureStore = wanted('features') ? await features(ctx) : undefined;
  const batchScoring = wanted('batch') ? await batch(ctx) : undefined;
  const optimization = wanted('optimize') ? await optimize(ctx) : undefined;
  cleanup();

  if (modelGroups) {
    console.log(`\nRaw onnxruntime-node (in process, intra-op threads ${config.ortThreads})\n`);
    console.log(textTable(RAW_HEADER, rawRows(raw)));
    console.log(`\nServers (${config.seconds}s per cell)\n`);
    console.log(textTable(HTTP_HEADER, httpRows(cells)));
    console.log('\nTargets\n');
    console.log(
      textTable(
        ['verdict', 'measured', 'target'],
        targetRows(cells, config.concurrency).map((t) => [t.verdict, t.measured, t.target]),
      ),
    );
  }
  if (deploymentCost) {
    console.log(
      `\nDeployments: routing cost, single-row JSON, c${deploymentCost.concurrency}, ${deploymentCost.rounds} alternating rounds\n`,
    );
    console.log(textTable(DEPLOYMENT_HEADER, deploymentRows(deploymentCost)));
    console.log(`\n${textTable(PROPAGATION_HEADER, propagationRows(deploymentCost))}`);
    console.log(
      `\n${deploymentNotes(deploymentCost)
        .map((n) => `- ${n}`)
        .join('\n')}`,
    );
  }
  if (featureStore) {
    console.log('\nFeature store: point-in-time training set (issue 5)\n');
    console.log(textTable(PIT_HEADER, pitRows(featureStore)));
    console.log(
      `\nFeature store: online retrieval, 1 entity x ${featureStore.onlineSettings.features} features (issue 5)\n`,
    );
    console.log(textTable(ONLINE_HEADER, onlineRows(featureStore)));
    console.log(
      `\n${featureNotes(featureStore)
        .map((n) => `- ${n}`)
        .join('\n')}`,
    );
  }
  if (batchScoring) {
    console.log(
      `\nBatch scoring: ${batchScoring.settings.rows.toLocaleString('en-US')} rows through breast_cancer (issue 6)\n`,
    );
    console.log(textTable(BATCH_HEADER, batchRows(batchScoring)));
    console.log(
      `\n${textTable(
        ['verdict', 'measured', 'target'],
        batchTargets(batchScoring).map((t) => [t.verdict, t.measured, t.target]),
      )}`,
    );
    console.log(
      `\n${batchNotes(batchScoring)
        .map((n) => `- ${n}`)
        .join('\n')}`,
    );
  }

  if (optimization) {
    console.log(
      `\nOptimization (issue 16): parent vs candidate in one process, ${optimization.minSeconds} s of alternating rounds per batch size\n`,
    );
    console.log(textTable(OPTIMIZE_HEADER, optimizeRows(optimization)));
  }

  const meta = await describeRun({
    config,
    payloads: ctx.payloads,
    slipwayArgs: ctx.slipwayArgs,
    modelGroups: servesModels,
  });
  if (batchScoring && !servesModels) meta.lines.splice(2, 0, `onnxruntime-node ${ortVersion()} (batch group)`);
  const markdown = markdownReport({
    meta,
    raw,
    cells,
    concurrency: config.concurrency,
    modelGroups,
    deployments: markdownDeployments(deploymentCost, markdownTable),
    features: markdownFeatures(featureStore, markdownTable),
    batch: markdownBatch(batchScoring, markdownTable),
    optimize: markdownOptimize(optimization, markdownTable),
  });
  const dir = join(BENCH_DIR, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${meta.stamp}.md`), markdown);
  writeFileSync(join(dir, 'latest.md'), markdown);
  console.log(`\nwrote bench/results/${meta.stamp}.md and bench/results/latest.md`);
}

main().catch(async (error) => {
  log(`bench failed: ${error.stack ?? error}`);
  await stopAll();
  process.exit(1);
});
