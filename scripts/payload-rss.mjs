#!/usr/bin/env node
// Measures issue 13 items 6 and 7 on the built server (dist/): memory and storage of large
// requests through the prediction log, a `log export` of large rows, and GET /api/v1/predictions
// on them. Usage: node scripts/payload-rss.mjs [--export-rows 20] [--mb 60] [--concurrent 8]
// Prints one JSON object of figures. Not a test: it asserts nothing, it reports.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bin = path.join(root, 'bin', 'slipway.js');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const MB = arg('mb', 60);
const CONCURRENT = arg('concurrent', 8);
const EXPORT_ROWS = arg('export-rows', 20);
const EXPORT_MB = arg('export-mb', 4);

// ---- a ReduceSum model over x FP32 [N, M] (ONNX protobuf written by hand, as tiny-onnx.test-support.ts does)
const varint = (value) => {
  const out = [];
  let v = BigInt(value);
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return out;
};
const cat = (...parts) => Buffer.concat(parts.map((p) => Buffer.from(p)));
const int = (field, value) => Uint8Array.from([...varint(field << 3), ...varint(value)]);
const msg = (field, payload) => cat(Uint8Array.from([...varint((field << 3) | 2), ...varint(payload.length)]), payload);
const text = (field, value) => msg(field, Buffer.from(value, 'utf8'));
const dims = (shape) => msg(2, cat(...shape.map((d) => msg(1, typeof d === 'number' ? int(1, d) : text(2, d)))));
const value = (name, shape) => cat(text(1, name), msg(2, msg(1, cat(int(1, 1), dims(shape)))));
export function reduceSumModel() {
  const node = cat(text(1, 'x'), text(2, 'y'), text(4, 'ReduceSum'));
  const graph = cat(msg(1, node), text(2, 'tiny'), msg(11, value('x', ['N', 'M'])), msg(12, value('y', [1, 1])));
  return cat(int(1, 8), text(2, 'slipway-bench'), msg(7, graph), msg(8, cat(text(1, ''), int(2, 13))));
}

/** VmHWM (peak) and VmRSS (now) in MB of a pid and its descendants (the serve wrapper re-executes itself). */
async function memory(pid) {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    try {
      const children = await readFile(`/proc/${pids[i]}/task/${pids[i]}/children`, 'utf8');
      pids.push(...children.trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      /* gone */
    }
  }
  let peak = 0;
  let rss = 0;
  for (const p of pids) {
    try {
      const status = await readFile(`/proc/${p}/status`, 'utf8');
      peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    } catch {
      /* gone */
    }
  }
  return { peak: Math.round(peak), rss: Math.round(rss) };
}

function run(args, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let peak = 0;
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const poll = setInterval(async () => {
      peak = Math.max(peak, (await memory(child.pid)).peak);
    }, 50);
    child.on('exit', (code) => {
      clearInterval(poll);
      resolve({ code, out, peakMb: peak });
    });
  });
}

const binaryBody = (floats) => {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, floats], parameters: { binary_data_size: floats * 4 } }],
    }),
  );
  const data = Buffer.alloc(floats * 4);
  for (let i = 0; i < floats; i += 997) data.writeFloatLE(i % 7, i * 4);
  return { header, body: Buffer.concat([header, data]) };
};

const home = await mkdtemp(path.join(os.tmpdir(), 'slipway-rss-'));
const env = {
  ...process.env,
  SLIPWAY_HOME: home,
  SLIPWAY_LOG_LEVEL: 'silent',
  SLIPWAY_DRIFT_INTERVAL: '0',
  SLIPWAY_MAX_BODY_BYTES: String(128 * 1024 * 1024),
};
const result = {};
try {
  await writeFile(path.join(home, 'sum.onnx'), reduceSumModel());
  const pushed = await run(['push', path.join(home, 'sum.onnx'), '--name', 'sum'], env);
  if (pushed.code !== 0) throw new Error(pushed.out);
  const server = spawn(process.execPath, [bin, 'serve', '--port', '0', '--grpc-port', '0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  server.stderr.on('data', (c) => (output += c));
  const url = await new Promise((resolve, reject) => {
    server.stdout.on('data', (c) => {
      output += c;
      const m = /serving on (http:\/\/[0-9.:]+)/.exec(output);
      if (m) resolve(m[1]);
    });
    setTimeout(() => reject(new Error(`no URL: ${output}`)), 30_000);
  });
  const infer = async (floats) => {
    const { header, body } = binaryBody(floats);
    const r = await fetch(`${url}/v2/models/sum/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
      body,
    });
    if (r.status !== 200) throw new Error(`infer ${r.status}: ${await r.text()}`);
    await r.arrayBuffer();
  };
  await infer(4);
  const settle = async () => {
    for (let i = 0; i < 600; i++) {
      const r = await (await fetch(`${url}/api/v1/predictions?limit=1&model=none`)).json();
      if (r.log.pending === 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
  };
  const dbSize = async () => {
    let n = 0;
    for (const f of ['slipway.db', 'slipway.db-wal']) {
      try {
        n += (await stat(path.join(home, f))).size;
      } catch {
        /* none */
      }
    }
    return Math.round(n / 1e6);
  };
  await settle();
  const base = await memory(server.pid);
  const dbBefore = await dbSize();
  const floats = Math.floor((MB * 1e6) / 4);
  await Promise.all(Array.from({ length: CONCURRENT }, () => infer(floats)));
  await settle();
  const during = await memory(server.pid);
  await new Promise((res) => setTimeout(res, 5_000));
  const after = await memory(server.pid);
  result.concurrentLarge = {
    requests: CONCURRENT,
    mbEach: MB,
    rssBeforeMb: base.rss,
    peakMb: during.peak,
    rssAfter5sMb: after.rss,
    dbGrowthMb: (await dbSize()) - dbBefore,
  };

  // GET /api/v1/predictions on the large rows while small requests keep coming.
  const largeUntil = Date.now();
  let small = 0;
  let stop = false;
  let slowest = 0;
  const smallLoop = (async () => {
    while (!stop) {
      const t = Date.now();
      await infer(4);
      slowest = Math.max(slowest, Date.now() - t);
      small++;
    }
  })();
  for (const limit of [1, 2]) {
    const t = Date.now();
    const r = await fetch(`${url}/api/v1/predictions?limit=${limit}&model=sum&until=${largeUntil}`);
    const body = Buffer.from(await r.arrayBuffer());
    const bytes = body.byteLength;
    if (r.status !== 200) result[`getPredictionsLimit${limit}Error`] = body.toString('utf8', 0, 300);
    result[`getPredictionsLimit${limit}`] = { status: r.status, mb: Math.round(bytes / 1e5) / 10, ms: Date.now() - t };
  }
  stop = true;
  await smallLoop;
  result.smallDuringGet = { answered: small, slowestMs: slowest };

  const exportFloats = Math.floor((EXPORT_MB * 1e6) / 4);
  for (let i = 0; i < EXPORT_ROWS; i++) await infer(exportFloats);
  await settle();
  server.kill('SIGTERM');
  await new Promise((res) => server.on('exit', res));
  for (const ext of ['csv', 'parquet']) {
    const out = path.join(home, `preds.${ext}`);
    const exported = await run(['log', 'export', '--out', out, '--since', '1h'], env);
    let size = 0;
    try {
      size = (await stat(out)).size;
    } catch {
      /* none */
    }
    result[`export_${ext}`] = {
      code: exported.code,
      peakMb: exported.peakMb,
      fileMb: Math.round(size / 1e6),
      out: exported.out.trim().slice(0, 200),
    };
  }
} finally {
  console.log(JSON.stringify(result, null, 2));
  await rm(home, { recursive: true, force: true });
}
