#!/usr/bin/env node
// `npm run chaos`: the fault scenarios of issue 13, longer than the tests run them, against real
// `node bin/slipway.js serve` processes (dist/ must be built: the npm script builds first), on
// SQLite and on PostgreSQL (a fresh schema per scenario at SLIPWAY_TEST_POSTGRES_URL, default
// postgres://postgres@127.0.0.1:5432/test). Prints one row per scenario and dialect: requests,
// failures (requests that did not succeed; many are expected while a fault lasts), acknowledged
// writes lost, and the verdict. Exits 1 when any acknowledged write was lost, a server died or
// another promise was broken (listed under the table).
//
//   node scripts/chaos.mjs [--seconds 8] [--seed 13] [--only push-kill9,sigterm] [--rss-limit-mb 1280]
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT, openStorage, postgresProblem, seeded } from './chaos/lib.mjs';
import {
  databaseDown,
  feedbackKill9,
  identicalPushes,
  largeBodies,
  postgresCuts,
  pushKill9,
  sigtermUnderLoad,
} from './chaos/scenarios.mjs';

const SCENARIOS = [
  { name: 'push-kill9', what: 'kill -9 during concurrent pushes', run: pushKill9, dialects: ['sqlite', 'postgres'] },
  {
    name: 'feedback-kill9',
    what: 'kill -9 during feedback writes',
    run: feedbackKill9,
    dialects: ['sqlite', 'postgres'],
  },
  { name: 'pg-cuts', what: 'PostgreSQL connections cut under mixed load', run: postgresCuts, dialects: ['postgres'] },
  { name: 'db-down', what: 'database down, pinned inference', run: databaseDown, dialects: ['postgres'] },
  {
    name: 'identical-pushes',
    what: 'accepted + refused pushes of identical bytes',
    run: identicalPushes,
    dialects: ['sqlite', 'postgres'],
  },
  { name: 'large-bodies', what: '8 x 60 MB binary requests at once', run: largeBodies, dialects: ['sqlite'] },
  { name: 'sigterm', what: 'SIGTERM under load', run: sigtermUnderLoad, dialects: ['sqlite'] },
];

function parseArgs(argv) {
  const options = { seconds: 8, seed: 13, only: undefined, rssLimitMb: 1280 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--seconds') options.seconds = Number(value());
    else if (flag === '--seed') options.seed = Number(value());
    else if (flag === '--only') options.only = value().split(',');
    else if (flag === '--rss-limit-mb') options.rssLimitMb = Number(value());
    else throw new Error(`unknown option ${argv[i]}; use --seconds N, --seed N, --only a,b, --rss-limit-mb N`);
  }
  if (!(options.seconds > 0)) throw new Error('--seconds must be a positive number');
  if (!Number.isInteger(options.seed)) throw new Error('--seed must be an integer');
  if (!(options.rssLimitMb > 0)) throw new Error('--rss-limit-mb must be a positive number');
  const unknown = (options.only ?? []).filter((name) => !SCENARIOS.some((s) => s.name === name));
  if (unknown.length > 0)
    throw new Error(`unknown scenario ${unknown.join(', ')}; scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  return options;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (!existsSync(path.join(ROOT, 'dist', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` (npm run chaos does)');
  const pgProblem = await postgresProblem();
  const started = Date.now();
  const rows = [];
  for (const scenario of SCENARIOS.filter((s) => options.only === undefined || options.only.includes(s.name))) {
    for (const dialect of scenario.dialects) {
      const label = `${scenario.name} [${dialect}]`;
      if (dialect === 'postgres' && pgProblem !== undefined) {
        // Like the PostgreSQL tests: skipped locally, a failure in CI.
        rows.push({
          label,
          what: scenario.what,
          requests: 0,
          failures: 0,
          lost: 0,
          violations: process.env.CI === 'true' ? [`PostgreSQL unreachable: ${pgProblem}`] : [],
          notes: [`skipped: PostgreSQL unreachable (${pgProblem})`],
        });
        continue;
      }
      process.stderr.write(`== ${label}: ${scenario.what} (${options.seconds} s)\n`);
      // One random sequence per scenario and dialect: the same run whatever --only selects.
      const rng = seeded(options.seed * 1000 + SCENARIOS.indexOf(scenario) * 10 + scenario.dialects.indexOf(dialect));
      const storage = await openStorage(dialect);
      const t0 = Date.now();
      let result;
      try {
        result = await scenario.run({ storage, seconds: options.seconds, rng, rssLimitMb: options.rssLimitMb });
      } catch (error) {
        result = {
          requests: 0,
          failures: 0,
          lost: 0,
          violations: [`the scenario could not run: ${error instanceof Error ? error.message : String(error)}`],
          notes: [],
        };
      } finally {
        await storage.dispose().catch(() => undefined);
      }
      rows.push({
        label,
        what: scenario.what,
        ...result,
        notes: [...result.notes, `${((Date.now() - t0) / 1000).toFixed(0)} s`],
      });
      process.stderr.write(
        `   ${result.violations.length === 0 ? 'ok' : 'FAIL'}: ${result.requests} requests, ${result.failures} failures, ${result.lost} lost; ${result.notes.join('; ')}\n`,
      );
    }
  }
  printTable(rows, options, Date.now() - started);
  return rows.some((r) => r.violations.length > 0) ? 1 : 0;
}

function printTable(rows, options, ms) {
  const header = ['scenario', 'requests', 'failures', 'acknowledged writes lost', 'verdict', 'notes'];
  const cells = rows.map((r) => [
    r.label,
    String(r.requests),
    String(r.failures),
    String(r.lost),
    r.violations.length === 0 ? (r.notes.some((n) => n.startsWith('skipped')) ? 'skipped' : 'ok') : 'FAIL',
    r.notes.join('; '),
  ]);
  console.log(
    `\nslipway chaos: seed ${options.seed}, ${options.seconds} s per scenario, ${(ms / 1000).toFixed(0)} s in all\n`,
  );
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map((h, i) => (i >= 1 && i <= 3 ? '---:' : '---')).join('|')}|`);
  for (const c of cells) console.log(`| ${c.join(' | ')} |`);
  const broken = rows.filter((r) => r.violations.length > 0);
  if (broken.length > 0) {
    console.log('\nBroken promises:');
    for (const r of broken) for (const v of r.violations) console.log(`- ${r.label}: ${v}`);
  }
}

main().then(
  (code) => (process.exitCode = code),
  (error) => {
    console.error(`chaos: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 2;
  },
);
