// `npm start`: a fresh demo home with the fixture models, served on http://127.0.0.1:8080.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, openPlatform, startServer } from '../dist/index.js';
import { demoExamples, seedDemo, toCurl } from '../dist/demo.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const home = path.join(root, '.slipway-demo');
await rm(home, { recursive: true, force: true });
const config = loadConfig({ ...process.env, SLIPWAY_DATABASE_URL: '' }, { home });
const platform = await openPlatform(config);
const fixtures = path.join(root, 'fixtures', 'models');
const pushed = await seedDemo(platform, fixtures);
const server = await startServer(platform, { host: config.host, port: config.port, log: (l) => console.error(l) });
await server.preloaded;
const base = `http://${config.host}:${server.app.server.address().port}`;

console.log(`\nSlipway demo: ${pushed.length} versions pushed to ${home}`);
console.log(`  ${pushed.join('\n  ')}`);
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
  `${cliHome} npx slipway rollout start cancer-live --candidate 1.1.0 --steps 25,50,100 --interval 30s --gate 'error_rate<0.01' --gate 'p99_ms<50'`,
);
console.log(
  `${cliHome} npx slipway rollout status cancer-live   # the server moves it on while traffic flows; or: slipway rollback cancer-live`,
);
console.log(
  `${cliHome} npx slipway features training-set --service cancer_risk --entities ${demoFeatures}/entities.csv --out train.csv\n`,
);
console.log('Ctrl-C to stop.');

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
