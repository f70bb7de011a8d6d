// `npm start`: a fresh demo home with the fixture models, served on http://127.0.0.1:8080.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, openPlatform, startServer } from '../dist/index.js';
import { demoExamples, optimizeDemo, seedDemo, toCurl } from '../dist/demo.js';
import { reportTable } from '../dist/optimize/report-format.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const home = path.join(root, '.slipway-demo');
await rm(home, { recursive: true, force: true });
const config = loadConfig({ ...process.env, SLIPWAY_DATABASE_URL: '' }, { home });
const platform = await openPlatform(config);
const fixtures = path.join(root, 'fixtures', 'models');
const pushed = await seedDemo(platform, fixtures);
// One optimized version next to its parent: the wide MLP quantized to INT8, gated on held-out accuracy.
const optimized = await optimizeDemo(platform, fixtures);
pushed.push(`${optimized.parent.model}@${optimized.parent.version}`);
if (optimized.version)
  pushed.push(`${optimized.version.model}@${optimized.version.version} (INT8 of ${optimized.parent.version})`);
const server = await startServer(platform, { host: config.host, port: config.port, log: (l) => console.error(l) });
await server.preloaded;
const base = `http://${config.host}:${server.app.server.address().port}`;

console.log(`\nSlipway demo: ${pushed.length} versions pushed to ${home}`);
console.log(`  ${pushed.join('\n  ')}`);
console.log(
  `\nslipway optimize digits_wide@${optimized.parent.version} --quantize dynamic --eval fixtures/optimize/digits_test.csv --label-column label --gate 'accuracy>=-0.005' --gate 'size_ratio<=0.3':\n`,
);
console.log(reportTable(optimized.report, optimized.gates));
console.log(
  optimized.version ? `registered as digits_wide@${optimized.version.version}` : `refused: nothing registered`,
);
console.log(`\nServing on ${base}   (API docs: ${base}/docs, Prometheus metrics: ${base}/metrics)\n`);
for (const example of await demoExamples(fixtures)) {
  console.log(`# ${example.title}\n${toCurl(base, example)}\n`);
}
const cliHome = `SLIPWAY_HOME=${path.relative(process.cwd(), home) || '.'}`;
const demoFeatures = path.relative(process.cwd(), path.join(root, 'fixtures', 'features', 'demo')) || '.';
console.log(
  `# The CLI on the same home:\n${cliHome} npx slipway models\n${cliHome} npx slipway show breast_cancer@champion`,
);
console.log(`${cliHome} npx slipway features list`);
console.log(
  `${cliHome} npx slipway optimize digits_wide@1.0.0 --prune neurons:0.5 --fine-tune-epochs 1 --train fixtures/optimize/digits_train.csv --eval fixtures/optimize/digits_test.csv --label-column label --gate 'accuracy>=-0.01' --dry-run`,
);
console.log(
  `${cliHome} npx slipway rollout start cancer-live --candidate 1.1.0 --steps 25,50,100 --interval 30s --gate 'error_rate<0.01' --gate 'p99_ms<50'`,
);
console.log(
  `${cliHome} npx slipway rollout status cancer-live   # the server moves it on while traffic flows; or: slipway rollback cancer-live`,
);
console.log(
  `${cliHome} npx slipway features training-set --service cancer_risk --entities ${demoFeatures}/entities.csv --out train.csv\n`,
);
console.log(
  `# Continuous training (pipeline cancer-retrain, fixtures/pipelines/demo.yaml): make cancer-live's traffic drift,\n# with feedback; the drift trigger fires within ~5 s, trains with Node, gates, canaries and promotes:\nnode scripts/drift-traffic.mjs --url ${base}\n${cliHome} npx slipway pipeline runs cancer-retrain\n${cliHome} npx slipway pipeline status <run id>   # trigger, data, training, champion vs candidate, rollout\n${cliHome} npx slipway pipeline run cancer-retrain --wait   # or by hand, once feedback exists\n`,
);
console.log('Ctrl-C to stop.');

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
