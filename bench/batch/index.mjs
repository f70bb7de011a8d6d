// The `batch` group (issue 6): 10M breast-cancer rows from Parquet, scored by raw onnxruntime-node
// in process (the baseline, bench/batch/raw.mjs) and by `slipway batch run` (the product), each in
// its own child process, with wall time, rows/s and the child's peak RSS.
//
// Budget: Slipway's rows/s >= 80% of the raw single-session baseline's, same machine, same run;
// peak RSS < 1 GiB.
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../lib/config.mjs';
import { otherCpuProbe, waitForQuiet } from '../lib/cpu.mjs';
import { runCommand } from '../lib/processes.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const MODEL_FILE = join(ROOT, 'fixtures', 'models', 'breast_cancer.onnx');
const TIME = '/usr/bin/time';
const DATA_VERSION = 'v1'; // bump when data.mjs changes what it writes, so that cached files are regenerated
const GIB_MB = 1024; // peak RSS is in MiB (maxRSS / 1024)
const TARGET_RATIO = 0.8;

/** Run a child script of this folder; its last stdout line is JSON. */
async function child(script, args, env = {}) {
  const result = await runCommand(process.execPath, [join(HERE, script), ...args], { env, cwd: ROOT });
  if (result.code !== 0)
    throw new Error(`${script} ${args.join(' ')} failed (exit ${result.code}):\n${result.stderr.slice(-4000)}`);
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

/** The input file, generated once per size and kept in the OS temp folder across runs. */
async function inputFile(ctx, rows) {
  const dir = process.env.BENCH_BATCH_CACHE || join(tmpdir(), 'slipway-bench-cache');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `batch-${DATA_VERSION}-${rows}.parquet`);
  if (existsSync(file)) {
    ctx.log(`batch: reusing ${file}`);
    return { file, genSeconds: undefined };
  }
  ctx.log(`batch: generating ${rows.toLocaleString('en-US')} breast-cancer-like rows as Parquet (${file})`);
  const gen = await child('data.mjs', ['gen', file, String(rows)]);
  return { file, genSeconds: gen.seconds };
}

/** Read the whole file once so that every cell finds it in the page cache. */
function warmPageCache(file) {
  return new Promise((res, rej) => {
    createReadStream(file, { highWaterMark: 8 << 20 })
      .on('data', () => {})
      .on('end', res)
      .on('error', rej);
  });
}

/** Measure `work()` after a quiet moment; re-run once when other processes took too much of the machine. */
async function measured(ctx, label, work) {
  let best;
  for (let attempt = 1; attempt <= 1 + Math.min(ctx.config.retries, 1); attempt++) {
    await waitForQuiet({ threshold: ctx.config.quietThreshold, maxSeconds: ctx.config.quietWait, log: ctx.log });
    const probe = otherCpuProbe();
    const result = await work();
    const otherCpu = probe.stop();
    if (best === undefined || otherCpu < best.otherCpu) best = { ...result, otherCpu, attempts: attempt };
    if (otherCpu <= ctx.config.disturbedThreshold) break;
    ctx.log(
      `  ${label}: disturbed (${Math.round(otherCpu * 100)}% other CPU)${attempt === 1 ? '; running it again' : ''}`,
    );
  }
  return best;
}

// ---- Slipway ---------------------------------------------------------------------------------------

function cliPath() {
  return process.env.BENCH_BATCH_CLI ? resolve(ROOT, process.env.BENCH_BATCH_CLI) : join(ROOT, 'bin', 'slipway.js');
}

/** The last JSON object printed on stdout (one line, or pretty-printed over several). */
export function parseSummary(stdout) {
  const text = stdout.trim();
  try {
    return JSON.parse(text);
  } catch {
    // fall through: progress or other lines before the summary
  }
  const starts = [...text.matchAll(/(^|\n)\{/g)].map((m) => m.index + m[1].length).reverse();
  for (const start of starts) {
    try {
      return JSON.parse(text.slice(start));
    } catch {
      // not the start of the last object
    }
  }
  return undefined;
}

const kib = (status, field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);

/** Pids of `pid` and all its descendants. */
function tree(pid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch {
      // gone
    }
  }
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * Run `slipway batch run` under /usr/bin/time -v. Peak RSS = time's "Maximum resident set size"
 * (the CLI process's ru_maxrss: Node, its worker threads, ORT and DuckDB). A poll every 100 ms also
 * records the largest VmHWM seen and the largest sum of VmRSS over the process tree (which would
 * show helper processes, if the engine ever used any).
 */
function runCli(args, env) {
  const useTime = existsSync(TIME);
  const command = useTime ? TIME : process.execPath;
  const fullArgs = useTime ? ['-v', process.execPath, ...args] : args;
  return new Promise((res, rej) => {
    const started = performance.now();
    const proc = spawn(command, fullArgs, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => {
      stdout += c;
    });
    proc.stderr.on('data', (c) => {
      stderr = (stderr + c).slice(-65536);
    });
    let hwmKb = 0;
    let treeRssKb = 0;
    let pids = 1;
    const poll = setInterval(() => {
      let sum = 0;
      const all = tree(proc.pid);
      for (const pid of all) {
        try {
          const status = readFileSync(`/proc/${pid}/status`, 'utf8');
          sum += kib(status, 'VmRSS');
          if (pid !== proc.pid || !useTime) hwmKb = Math.max(hwmKb, kib(status, 'VmHWM'));
        } catch {
          // exited
        }
      }
      treeRssKb = Math.max(treeRssKb, sum);
      pids = Math.max(pids, all.length - (useTime ? 1 : 0));
    }, 100);
    proc.on('error', (error) => {
      clearInterval(poll);
      rej(error);
    });
    proc.on('close', (code) => {
      clearInterval(poll);
      const seconds = (performance.now() - started) / 1000;
      const maxRssKb = useTime ? Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1] ?? 0) : 0;
      res({
        code,
        stdout,
        stderr,
        seconds,
        peakRssMb: Math.round((maxRssKb || hwmKb) / 1024),
        polledHwmMb: Math.round(hwmKb / 1024),
        polledTreeRssMb: Math.round(treeRssKb / 1024),
        processes: pids,
        rssSource: maxRssKb ? '/usr/bin/time -v' : 'VmHWM polled',
      });
    });
  });
}

/** A fresh SLIPWAY_HOME with breast_cancer pushed (one per run, so that no run resumes an earlier job). */
async function freshHome() {
  const home = mkdtempSync(join(tmpdir(), 'slipway-bench-batch-home-'));
  const push = await runCommand(process.execPath, [cliPath(), 'push', MODEL_FILE, '--name', 'breast_cancer'], {
    cwd: ROOT,
    env: { SLIPWAY_HOME: home },
  });
  if (push.code !== 0) {
    rmSync(home, { recursive: true, force: true });
    throw new Error(`slipway push breast_cancer failed:\n${push.stderr}${push.stdout}`);
  }
  return home;
}

async function slipwayCell(ctx, { file, rows, chunkRows, workers, home, out }) {
  const cli = cliPath();
  const args = [
    cli,
    'batch',
    'run',
    '--model',
    'breast_cancer',
    '--input',
    file,
    '--output',
    out,
    '--chunk-rows',
    String(chunkRows),
    '--json',
  ];
  if (workers) args.push('--workers', String(workers));
  rmSync(out, { force: true });
  const r = await runCli(args, { SLIPWAY_HOME: home });
  if (r.code !== 0)
    throw new Error(
      `slipway ${args.slice(1).join(' ')} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`,
    );
  const summary = parseSummary(r.stdout);
  const check = await child('data.mjs', ['check', out]);
  rmSync(out, { force: true });
  return {
    kind: 'slipway',
    variant: `slipway batch run${workers ? ` --workers ${workers}` : ''}`,
    rows,
    seconds: r.seconds,
    rowsPerSec: rows / r.seconds,
    summaryRowsPerSec: summary?.rowsPerSecond,
    summarySeconds: summary?.seconds,
    summaryStatus: summary?.status,
    summaryRows: summary?.rows,
    peakRssMb: r.peakRssMb,
    polledHwmMb: r.polledHwmMb,
    polledTreeRssMb: r.polledTreeRssMb,
    processes: r.processes,
    rssSource: r.rssSource,
    outputRows: check.rows,
    outputLabel1: check.label1,
    outputColumns: check.columns,
    args: `slipway batch run --model breast_cancer --input <cached file> --output <tmp>/predictions.parquet --chunk-rows ${chunkRows} --json${workers ? ` --workers ${workers}` : ''}`,
  };
}

async function availability(home) {
  const help = await runCommand(process.execPath, [cliPath(), 'batch', 'run', '--help'], {
    cwd: ROOT,
    env: { SLIPWAY_HOME: home },
  });
  if (help.code !== 0) return `slipway batch run --help failed: ${(help.stderr || help.stdout).trim().split('\n')[0]}`;
  const missing = ['--model', '--input', '--output', '--json'].filter((o) => !help.stdout.includes(o));
  return missing.length ? `slipway batch run has no ${missing.join(', ')}` : undefined;
}

// ---- the group ----------------------------------------------------------------------------------------

/** The whole group: { cells: [...], notes: [...], settings, seconds }. */
export async function batch(ctx) {
  const started = performance.now();
  const { rows, chunkRows, workers, rawWorkers } = ctx.config.batch;
  const { file, genSeconds } = await inputFile(ctx, rows);
  await warmPageCache(file);
  const cells = [];

  const threads = String(ctx.config.ortThreads);
  ctx.log(
    `batch: raw onnxruntime-node, one session (baseline), ${rows.toLocaleString('en-US')} rows, chunks of ${chunkRows.toLocaleString('en-US')}`,
  );
  const base = await measured(ctx, 'raw single session', () =>
    child('raw.mjs', [file, '--chunk-rows', String(chunkRows), '--threads', threads]),
  );
  cells.push({ ...base, kind: 'baseline' });
  if (base.rows !== rows) throw new Error(`raw baseline read ${base.rows} rows, expected ${rows}`);
  if (rawWorkers > 0) {
    ctx.log(`batch: raw onnxruntime-node, ${rawWorkers} worker_threads`);
    const pool = await measured(ctx, 'raw worker_threads', () =>
      child('raw.mjs', [
        file,
        '--chunk-rows',
        String(chunkRows),
        '--threads',
        threads,
        '--workers',
        String(rawWorkers),
      ]),
    );
    cells.push({ ...pool, kind: 'raw' });
  }

  const home = mkdtempSync(join(tmpdir(), 'slipway-bench-batch-home-'));
  const outDir = mkdtempSync(join(tmpdir(), 'slipway-bench-batch-out-'));
  try {
    const unavailable = await availability(home);
    if (unavailable) {
      ctx.log(`batch: Slipway not measured: ${unavailable}`);
      cells.push({ kind: 'slipway', variant: 'slipway batch run', skipped: unavailable });
    } else {
      ctx.log(
        `batch: slipway batch run${workers ? ` --workers ${workers}` : ''}, ${rows.toLocaleString('en-US')} rows`,
      );
      try {
        const cell = await measured(ctx, 'slipway batch run', async () => {
          const runHome = await freshHome();
          try {
            return await slipwayCell(ctx, {
              file,
              rows,
              chunkRows,
              workers,
              home: runHome,
              out: join(outDir, 'predictions.parquet'),
            });
          } finally {
            rmSync(runHome, { recursive: true, force: true });
          }
        });
        if (cell.outputRows !== rows)
          throw new Error(`slipway batch run wrote ${cell.outputRows} rows, expected ${rows}`);
        cells.push(cell);
      } catch (error) {
        // A failing engine gives a row that says so; the rest of the report is kept.
        ctx.log(`batch: slipway batch run failed: ${error.stack ?? error}`);
        cells.push({
          kind: 'slipway',
          variant: 'slipway batch run',
          skipped: `failed: ${String(error.message ?? error).split('\n')[0]}`,
        });
      }
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
    rmSync(outDir, { recursive: true, force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  ctx.log(`batch: done in ${seconds.toFixed(0)} s`);
  return {
    cells,
    settings: { rows, chunkRows, workers, rawWorkers, file, genSeconds, threads: ctx.config.ortThreads },
    seconds,
  };
}

// ---- report ------------------------------------------------------------------------------------------

const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
const pct = (x) => (x === undefined ? '—' : `${Math.round(x * 100)}%`);

export const BATCH_HEADER = [
  'scenario',
  'rows',
  'seconds',
  'rows/s',
  '× baseline',
  'peak RSS',
  'read s',
  'session.run s',
  'other CPU',
  'note',
];
export function batchRows(result) {
  const cells = result?.cells ?? [];
  const base = cells.find((c) => c.kind === 'baseline');
  return cells.map((c) => {
    const name =
      c.kind === 'baseline'
        ? `raw ORT, ${c.variant} (baseline)`
        : c.kind === 'raw'
          ? `raw ORT, ${c.variant}`
          : c.variant;
    if (c.skipped)
      return [
        name,
        '—',
        '',
        '',
        '',
        '',
        '',
        '',
        '',
        c.skipped.startsWith('failed') ? c.skipped : `not available: ${c.skipped}`,
      ];
    const notes = [];
    if (c.attempts > 1) notes.push(`least disturbed of ${c.attempts} runs`);
    if (c.kind === 'slipway') {
      if (c.summaryRowsPerSec)
        notes.push(`summary: ${fmtInt(c.summaryRowsPerSec)} rows/s over ${c.summarySeconds?.toFixed(2)} s`);
      if (base && c.outputLabel1 !== null && c.outputLabel1 !== undefined)
        notes.push(
          c.outputLabel1 === base.label1
            ? 'labels agree with raw'
            : `label=1 rows ${fmtInt(c.outputLabel1)} vs raw ${fmtInt(base.label1)}`,
        );
      if (c.processes > 1) notes.push(`${c.processes} processes, peak summed RSS ${fmtInt(c.polledTreeRssMb)} MiB`);
    } else if (c.label1 !== undefined) {
      notes.push(`label=1 rows ${fmtInt(c.label1)}`);
    }
    return [
      name,
      fmtInt(c.rows),
      c.seconds.toFixed(2),
      fmtInt(c.rowsPerSec),
      base ? `${(c.rowsPerSec / base.rowsPerSec).toFixed(2)}×` : '—',
      `${fmtInt(c.peakRssMb)} MiB`,
      c.readSeconds === undefined ? '' : c.readSeconds.toFixed(2),
      c.runSeconds === undefined ? '' : c.runSeconds.toFixed(2),
      pct(c.otherCpu),
      notes.join('; '),
    ];
  });
}

/** Issue 6's budget, { target, measured, verdict }. */
export function batchTargets(result) {
  const cells = result?.cells ?? [];
  const base = cells.find((c) => c.kind === 'baseline');
  const slip = cells.find((c) => c.kind === 'slipway' && !c.skipped);
  const rows = result ? fmtInt(result.settings.rows) : '10M';
  return [
    {
      target: `${rows} rows through breast_cancer: slipway batch run rows/s >= ${TARGET_RATIO * 100}% of raw onnxruntime-node in-process batched (one session) rows/s`,
      measured:
        slip && base
          ? `${((slip.rowsPerSec / base.rowsPerSec) * 100).toFixed(0)}% (${fmtInt(slip.rowsPerSec)} vs ${fmtInt(base.rowsPerSec)} rows/s)`
          : 'not measured',
      verdict: slip && base ? (slip.rowsPerSec >= TARGET_RATIO * base.rowsPerSec ? 'PASS' : 'MISS') : 'n/a',
    },
    {
      target: `${rows} rows through breast_cancer: slipway batch run peak RSS < 1 GiB`,
      measured: slip ? `${fmtInt(slip.peakRssMb)} MiB` : 'not measured',
      verdict: slip ? (slip.peakRssMb < GIB_MB ? 'PASS' : 'MISS') : 'n/a',
    },
  ];
}

export function batchNotes(result) {
  if (result === undefined) return [];
  const s = result.settings;
  const slip = result.cells.find((c) => c.kind === 'slipway' && !c.skipped);
  return [
    `input: ${fmtInt(s.rows)} rows of Parquet (id BIGINT + 30 FLOAT columns input_0..input_29, training rows of fixtures/monitor/breast_cancer_train.csv ` +
      `scaled by ±5% noise; bench/batch/data.mjs), ${s.genSeconds === undefined ? 'reused from an earlier run' : `generated in ${s.genSeconds.toFixed(0)} s`} ` +
      `(${s.file}); read once before the cells so that each finds it in the page cache`,
    `baseline (the 80% budget's denominator) = raw onnxruntime-node, ONE session on the main thread of its own process (bench/batch/raw.mjs): DuckDB ` +
      `streams the same Parquet file, ${fmtInt(s.chunkRows)} rows at a time are packed into one Float32Array and run, chunk after chunk; labels counted, ` +
      `nothing written. "read s" = reading and packing, "session.run s" = time inside session.run (summed over workers for the worker_threads row); ORT intra-op threads ${s.threads}`,
    ...(s.rawWorkers > 0
      ? [
          `the worker_threads row (${s.rawWorkers} = the core count) reads on the main thread and runs each chunk on one of ${s.rawWorkers} sessions in worker_threads, ` +
            `2 chunks in flight per worker: what raw ORT reaches when reading overlaps inference; shown for reference, not the budget's baseline`,
        ]
      : []),
    `slipway = \`${slip?.args ?? 'slipway batch run --model breast_cancer --input <file> --output <tmp>.parquet --chunk-rows N --json'}\` in its own process, ` +
      `breast_cancer pushed into a temporary SLIPWAY_HOME; same chunk size as the baseline${s.workers ? '' : "; workers = the engine's default"}; ` +
      `"seconds" and "rows/s" = the whole command's wall time (Node start, model load and writing the predictions included), the summary's own figure in the note; ` +
      `the output is checked (every row, label count = raw's)`,
    ...(slip?.outputColumns ? [`slipway's output columns: ${slip.outputColumns.join(', ')}`] : []),
    `peak RSS: maxRSS of each child (= VmHWM: Node, worker threads, ORT and DuckDB together); for slipway from ${slip?.rssSource ?? '/usr/bin/time -v'}` +
      `${slip ? ` (VmHWM polled every 100 ms: ${fmtInt(slip.polledHwmMb)} MiB)` : ''}`,
    '"other CPU" = share of the machine used by processes outside the benchmark during the cell; a cell above 15% is run again once and the less disturbed run kept',
    `batch group took ${result.seconds.toFixed(0)} s in all`,
  ];
}

export function markdownBatch(result, markdownTable) {
  if (result === undefined) return '';
  const targets = batchTargets(result);
  return `## Batch scoring (issue 6)

${markdownTable(BATCH_HEADER, batchRows(result))}

${markdownTable(
  ['target', 'measured', 'verdict'],
  targets.map((t) => [t.target, t.measured, t.verdict]),
)}

${batchNotes(result)
  .map((n) => `- ${n}`)
  .join('\n')}
`;
}
