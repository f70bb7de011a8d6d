// The header and notes of a report: when, on what, with which versions and settings.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { PYTHON } from './config.mjs';
import { MODELS } from './models.mjs';
import { runCommand } from './processes.mjs';

const require = createRequire(import.meta.url);
const version = (pkg) => JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')).version;
const bytes = (n) => `${n.toLocaleString('en-US')} B`;

export async function describeRun({ config, payloads, slipwayArgs, modelGroups = true }) {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  const date = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
  const stamp = `${date}-${pad(now.getHours())}${pad(now.getMinutes())}`;
  if (!modelGroups) {
    // Only the feature store group ran: no models, wrk or Python involved.
    return {
      date: `${date} ${pad(now.getHours())}:${pad(now.getMinutes())}`,
      stamp,
      lines: [
        `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
        `Node ${process.version}, @duckdb/node-api ${version('@duckdb/node-api')}, better-sqlite3 ${version('better-sqlite3')}, ioredis ${version('ioredis')}`,
        `groups: ${[...config.only].join(', ')}`,
        `load average at the end: ${loadavg()
          .map((l) => l.toFixed(2))
          .join(', ')} (1, 5, 15 min)`,
      ],
      notes: [],
    };
  }
  const wrk = (await runCommand('wrk', ['--version'])).stdout.split('\n')[0].split(' Copyright')[0];
  const py = (
    await runCommand(PYTHON, [
      '-c',
      'import sklearn, flask, sys; print(sys.version.split()[0], sklearn.__version__, flask.__version__)',
    ])
  ).stdout
    .trim()
    .split(' ');
  const sizes = MODELS.map(
    (m) => `${m.name} JSON ${bytes(payloads[m.name].json.bytes)} / binary ${bytes(payloads[m.name].binary.bytes)}`,
  );
  return {
    date: `${date} ${pad(now.getHours())}:${pad(now.getMinutes())}`,
    stamp,
    lines: [
      `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; load generator and server share it`,
      `Node ${process.version}, onnxruntime-node ${version('onnxruntime-node')}, fastify ${version('fastify')}, @grpc/grpc-js ${version('@grpc/grpc-js')}; ` +
        `${wrk}; Python ${py[0]}, scikit-learn ${py[1]}, Flask ${py[2]}`,
      `${config.seconds}s per cell after a ${config.warmupSeconds}s warm-up per server and payload; concurrency ${config.concurrency.join(', ')}; ` +
        `ORT intra-op threads ${config.ortThreads} (raw and bare stack); before each cell, waited up to ${config.quietWait}s for other ` +
        `processes to drop below ${Math.round(config.quietThreshold * 100)}% of the machine, and re-measured (up to ${config.retries}×) ` +
        `a cell they took more than ${Math.round(config.disturbedThreshold * 100)}% of`,
      `Slipway: ${slipwayArgs ?? 'not run'}`,
      `request bodies (one row): ${sizes.join('; ')}`,
      `load average at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(', ')} (1, 5, 15 min)`,
    ],
    notes: [
      '"× bare" = req/s divided by the bare Fastify+ORT server\'s (JSON, one session.run per request) for the same model and concurrency; ' +
        '"× gunicorn" = divided by the seed\'s Flask app on gunicorn -w 2 (breast_cancer only, same concurrency).',
      "HTTP cells: wrk -t1 -cN --latency (closed loop, keep-alive; gunicorn's sync workers close each connection, as in the seed). " +
        'gRPC cells: bench/grpc-load.mjs, N calls in flight on one channel; a Node load generator costs more CPU than wrk, so gRPC figures are conservative.',
      '"other CPU" = share of the whole machine (all cores) used by processes outside this benchmark during the cell (compilers, tests, ...); ' +
        "above a few percent, treat that row's figures as disturbed.",
      "digits_image's JSON body carries realistic float32 values (about 18 characters each); binary sends the same 602 KB of FP32 with the " +
        'outputs asked back as binary; gRPC raw uses raw_input_contents, gRPC typed uses contents.fp32_contents.',
    ],
  };
}
