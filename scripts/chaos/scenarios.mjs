// The fault scenarios of `npm run chaos` (issue 13), each against real `slipway serve` processes.
// A scenario returns { requests, failures, lost, violations, notes }: `failures` counts requests
// that did not succeed (many are expected while a fault lasts); `lost` counts acknowledged writes
// missing afterwards; `violations` are broken promises (lost writes, a dead server, ...), which
// make the run fail.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  MODEL_FILE,
  ROWS,
  brokenBlobs,
  call,
  inferBody,
  pushModel,
  sleep,
  startProxy,
  startServe,
  treeRss,
  variant,
  waitFor,
} from './lib.mjs';

const BASE = readFileSync(MODEL_FILE);
const JSON_HEADERS = { 'content-type': 'application/json' };

function tally() {
  return { requests: 0, failures: 0, lost: 0, violations: [], notes: [] };
}

/** `connections` loops calling `step(loopIndex, n)` until `until()` is true; `step` returns true on success. */
async function loops(connections, until, step, t) {
  await Promise.all(
    Array.from({ length: connections }, async (_, k) => {
      for (let n = 0; !until(); n++) {
        t.requests++;
        if (!(await step(k, n))) t.failures++;
      }
    }),
  );
}

async function prepare(server) {
  const first = await pushModel(server.url, 'cancer', BASE);
  if (first.status !== 201) throw new Error(`pushing the model failed: ${first.status} ${JSON.stringify(first.body)}`);
  await waitFor(
    'pinned inference',
    async () =>
      (
        await call(`${server.url}/v2/models/cancer/versions/1.0.0/infer`, {
          method: 'POST',
          headers: JSON_HEADERS,
          body: inferBody(ROWS[0]),
        })
      ).status === 200,
    60_000,
  );
}

/** Every acknowledged version is listed with its digest and its blob hashes right. */
async function checkVersions(server, storage, model, acknowledged, t) {
  const listed = await call(`${server.url}/api/v1/models/${model}/versions?include_archived=true`);
  const byVersion = new Map((listed.body?.versions ?? []).map((v) => [v.version, v.artifact?.sha256]));
  const missing = acknowledged
    .filter((a) => byVersion.get(a.version) !== a.sha256)
    .map((a) => `${a.version} (not listed)`);
  const broken = await brokenBlobs(
    storage.home,
    acknowledged.filter((a) => byVersion.get(a.version) === a.sha256),
  );
  const lost = [...missing, ...broken];
  t.lost += lost.length;
  if (lost.length > 0)
    t.violations.push(
      `${lost.length} of ${acknowledged.length} acknowledged versions lost: ${lost.slice(0, 5).join(', ')}`,
    );
  t.notes.push(`${acknowledged.length} versions acknowledged`);
}

/** Every acknowledged feedback row is in the database. */
async function checkFeedback(storage, acknowledged, t) {
  const rows = await storage.query('select request_id from feedback');
  const present = new Set(rows.map((r) => r.request_id));
  const lost = acknowledged.filter((id) => !present.has(id));
  t.lost += lost.length;
  if (lost.length > 0)
    t.violations.push(
      `${lost.length} of ${acknowledged.length} acknowledged feedback rows lost: ${lost.slice(0, 3).join(', ')}`,
    );
  t.notes.push(`${acknowledged.length} feedback rows acknowledged`);
}

/** kill -9 of the server group while pushes run, again and again; then every acknowledged version. */
export async function pushKill9({ storage, seconds, rng }) {
  const t = tally();
  const acknowledged = [];
  const deadline = Date.now() + seconds * 1000;
  let crashes = 0;
  for (let cycle = 0; cycle === 0 || Date.now() < deadline; cycle++) {
    const server = await startServe(storage.env());
    if (cycle === 0) await prepare(server);
    const killAt = Date.now() + rng.int(300, 1500);
    const killed = sleep(killAt - Date.now()).then(() => server.crash());
    await loops(
      6,
      () => !server.alive() || Date.now() > killAt + 5000,
      async (k, n) => {
        const bytes = variant(BASE, `kill9 c${cycle} l${k} n${n}`);
        const accepted = await pushModel(server.url, 'cancer', bytes);
        if (accepted.status === 201)
          acknowledged.push({ version: accepted.body.version, sha256: accepted.body.artifact.sha256 });
        if (accepted.status !== 201 || rng.next() < 0.5) return accepted.status === 201;
        // The same bytes again, refused (a version lower than the newest): must not take the blob.
        t.requests++;
        const refused = await pushModel(server.url, 'cancer', bytes, '?version=0.0.1&allow_duplicate=true');
        if (refused.status !== 409) t.failures++;
        return true;
      },
      t,
    );
    await killed;
    crashes++;
  }
  const server = await startServe(storage.env());
  try {
    await checkVersions(server, storage, 'cancer', acknowledged, t);
  } finally {
    await server.stop();
  }
  t.notes.push(`${crashes} kill -9`);
  return t;
}

/** kill -9 while predictions get feedback; then every acknowledged feedback row. */
export async function feedbackKill9({ storage, seconds, rng }) {
  const t = tally();
  const acknowledged = [];
  const deadline = Date.now() + seconds * 1000;
  let crashes = 0;
  for (let cycle = 0; cycle === 0 || Date.now() < deadline; cycle++) {
    const server = await startServe(storage.env());
    if (cycle === 0) await prepare(server);
    const killAt = Date.now() + rng.int(500, 2000);
    const killed = sleep(killAt - Date.now()).then(() => server.crash());
    await loops(
      6,
      () => !server.alive(),
      async (k, n) => {
        const id = `chaos-c${cycle}-l${k}-n${n}`;
        const items = [
          { request_id: id, label: String(rng.int(0, 1)) },
          { request_id: `${id}-b`, label: '1' },
        ];
        const answer = await call(`${server.url}/api/v1/feedback`, {
          method: 'POST',
          headers: JSON_HEADERS,
          body: JSON.stringify(items),
        });
        if (answer.status === 200) acknowledged.push(...items.map((i) => i.request_id));
        return answer.status === 200;
      },
      t,
    );
    await killed;
    crashes++;
  }
  await checkFeedback(storage, acknowledged, t);
  t.notes.push(`${crashes} kill -9`);
  return t;
}

/**
 * PostgreSQL connections cut through a proxy every 0.3-1.5 s under mixed load (pinned inference,
 * management reads, pushes, feedback): the server stays up, answers again once the cuts stop, and
 * keeps everything it acknowledged.
 */
export async function postgresCuts({ storage, seconds, rng }) {
  const t = tally();
  const proxy = await startProxy();
  const server = await startServe(storage.env(proxy.port));
  const versions = [];
  const feedback = [];
  try {
    await prepare(server);
    const deadline = Date.now() + seconds * 1000;
    let cuts = 0;
    const cutter = (async () => {
      while (Date.now() < deadline) {
        await sleep(rng.int(300, 1500));
        proxy.cutAll();
        cuts++;
      }
    })();
    const kinds = ['infer', 'infer', 'infer', 'models', 'feedback', 'push'];
    await loops(
      6,
      () => Date.now() > deadline,
      (k, n) => mixed(server, rng.pick(kinds), `cut-l${k}-n${n}`, versions, feedback),
      t,
    );
    await cutter;
    if (!server.alive()) t.violations.push(`the server died:\n${server.output().slice(-1500)}`);
    else {
      const recovered = await waitFor(
        'every kind of request to succeed after the cuts',
        async () => {
          for (const kind of ['infer', 'models', 'feedback', 'push'])
            if (!(await mixed(server, kind, `after-${kind}-${Date.now()}`, versions, feedback))) return false;
          return true;
        },
        30_000,
      ).catch(() => false);
      if (!recovered) t.violations.push('requests still failed 30 s after the last cut');
      await checkVersions(server, storage, 'cancer', versions, t);
      await checkFeedback(storage, feedback, t);
    }
    t.notes.push(`${cuts} cuts`);
  } finally {
    await server.stop();
    await proxy.close();
  }
  return t;
}

async function mixed(server, kind, id, versions, feedback) {
  if (kind === 'infer')
    return (
      (
        await call(`${server.url}/v2/models/cancer/versions/1.0.0/infer`, {
          method: 'POST',
          headers: JSON_HEADERS,
          body: inferBody(ROWS[id.length % ROWS.length]),
        })
      ).status === 200
    );
  if (kind === 'models') return (await call(`${server.url}/api/v1/models`)).status === 200;
  if (kind === 'feedback') {
    const answer = await call(`${server.url}/api/v1/feedback`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ request_id: id, label: '1' }),
    });
    if (answer.status === 200) feedback.push(id);
    return answer.status === 200;
  }
  const answer = await pushModel(server.url, 'cancer', variant(BASE, id.slice(0, 100)));
  if (answer.status === 201) versions.push({ version: answer.body.version, sha256: answer.body.artifact.sha256 });
  return answer.status === 201;
}

/** PostgreSQL refuses every connection: pinned, loaded versions keep answering; then it comes back. */
export async function databaseDown({ storage, seconds }) {
  const t = tally();
  const proxy = await startProxy();
  const server = await startServe(storage.env(proxy.port));
  try {
    await prepare(server);
    await proxy.pause();
    const deadline = Date.now() + seconds * 1000;
    const started = Date.now();
    const management = await call(`${server.url}/api/v1/models`, {}, 60_000);
    t.notes.push(`management call while down: ${management.status} in ${Date.now() - started} ms`);
    const statuses = new Map();
    await loops(
      4,
      () => Date.now() > deadline,
      async () => {
        const answer = await call(`${server.url}/v2/models/cancer/versions/1.0.0/infer`, {
          method: 'POST',
          headers: JSON_HEADERS,
          body: inferBody(ROWS[1]),
        });
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        return answer.status === 200;
      },
      t,
    );
    if (t.failures > 0)
      t.violations.push(
        `${t.failures} pinned inferences failed while the database was down (statuses ${JSON.stringify(Object.fromEntries(statuses))})`,
      );
    const ready = await call(`${server.url}/v2/health/ready`);
    t.notes.push(`ready while down: ${ready.status}`);
    await proxy.resume();
    const back = await waitFor(
      'management calls after the database is back',
      async () => (await call(`${server.url}/api/v1/models`)).status === 200,
      30_000,
    ).catch(() => false);
    if (!back) t.violations.push('management calls still failed 30 s after the database came back');
    if (!server.alive()) t.violations.push('the server died');
  } finally {
    await server.stop();
    await proxy.close();
  }
  return t;
}

/**
 * Rounds of concurrent pushes of identical bytes to `serve --workers 2`, some accepted and some
 * refused (a version lower than the newest): no accepted version may lose its blob.
 */
export async function identicalPushes({ storage, seconds }) {
  const t = tally();
  const server = await startServe(storage.env(), ['--workers', '2']);
  const acknowledged = [];
  try {
    await prepare(server);
    const deadline = Date.now() + seconds * 1000;
    for (let round = 0; round === 0 || Date.now() < deadline; round++) {
      const fresh = variant(BASE, `identical ${round}`);
      const requests = [];
      for (let k = 0; k < 3; k++)
        requests.push(
          ['accept', fresh, '?allow_duplicate=true'],
          ['refuse', fresh, '?version=0.0.1&allow_duplicate=true'],
        );
      requests.push(['accept', BASE, '?allow_duplicate=true'], ['refuse', BASE, '?version=0.0.1&allow_duplicate=true']);
      const answers = await Promise.all(
        requests.map(([, bytes, query]) => pushModel(server.url, 'cancer', bytes, query)),
      );
      answers.forEach((answer, i) => {
        t.requests++;
        if (answer.status === 201)
          acknowledged.push({ version: answer.body.version, sha256: answer.body.artifact.sha256 });
        if (answer.status !== (requests[i][0] === 'accept' ? 201 : 409)) t.failures++;
      });
    }
    await checkVersions(server, storage, 'cancer', acknowledged, t);
    if (!server.alive()) t.violations.push('the server died');
  } finally {
    await server.stop();
  }
  return t;
}

/** Eight ~60 MB binary requests at once, round after round: the server's RSS stays under a bound. */
export async function largeBodies({ storage, seconds, rssLimitMb }) {
  const t = tally();
  const server = await startServe(storage.env());
  try {
    await prepare(server);
    const rows = 500_000;
    const raw = Buffer.alloc(rows * 30 * 4);
    const row = Float32Array.from(ROWS[2]);
    for (let r = 0; r < rows; r++) Buffer.from(row.buffer).copy(raw, r * 120);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'input', shape: [rows, 30], datatype: 'FP32', parameters: { binary_data_size: raw.length } }],
        parameters: { binary_data_output: true },
      }),
    );
    const body = Buffer.concat([header, raw]);
    const init = {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
      body,
    };
    const before = treeRss(server.pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, treeRss(server.pid))), 100);
    const deadline = Date.now() + seconds * 1000;
    const statuses = new Map();
    try {
      for (let round = 0; round === 0 || Date.now() < deadline; round++) {
        const answers = await Promise.all(
          Array.from({ length: 8 }, () => call(`${server.url}/v2/models/cancer/versions/1.0.0/infer`, init, 300_000)),
        );
        for (const a of answers) {
          t.requests++;
          statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
          if (a.status !== 200) t.failures++;
        }
      }
    } finally {
      clearInterval(sampler);
    }
    await sleep(2000);
    const after = treeRss(server.pid);
    const mb = (b) => Math.round(b / 1048576);
    const dbBytes = ['slipway.db', 'slipway.db-wal'].reduce(
      (sum, f) => sum + (statSync(path.join(storage.home, f), { throwIfNoEntry: false })?.size ?? 0),
      0,
    );
    t.notes.push(
      `${(body.length / 1e6).toFixed(0)} MB bodies, statuses ${JSON.stringify(Object.fromEntries(statuses))}; RSS ${mb(before)} MB before, peak ${mb(peak)} MB, ${mb(after)} MB 2 s after; slipway.db (+ WAL) ${(dbBytes / 1048576).toFixed(1)} MB`,
    );
    if (peak > rssLimitMb * 1048576) t.violations.push(`peak RSS ${mb(peak)} MB is over the ${rssLimitMb} MB bound`);
    if (!server.alive()) t.violations.push('the server died');
  } finally {
    await server.stop();
  }
  return t;
}

/** SIGTERM while 16 connections send requests: every request started before the signal is answered. */
export async function sigtermUnderLoad({ storage, seconds, rng }) {
  const t = tally();
  const deadline = Date.now() + seconds * 1000;
  let unanswered = 0;
  let cycles = 0;
  for (let cycle = 0; cycle === 0 || Date.now() < deadline; cycle++) {
    const server = await startServe(storage.env());
    if (cycle === 0) await prepare(server);
    let signalAt = Number.POSITIVE_INFINITY;
    const signal = sleep(rng.int(500, 1500)).then(() => {
      signalAt = Date.now();
      server.terminate();
    });
    let refused = false;
    await loops(
      16,
      () => refused,
      async (k, n) => {
        const startedAt = Date.now();
        const answer = await call(`${server.url}/v2/models/cancer/versions/1.0.0/infer`, {
          method: 'POST',
          headers: JSON_HEADERS,
          body: inferBody(ROWS[(k + n) % ROWS.length]),
        });
        if (answer.status === 0 && startedAt < signalAt) unanswered++;
        if (answer.status === 0 && startedAt >= signalAt) refused = true;
        return answer.status === 200;
      },
      t,
    );
    await signal;
    const { code, signal: killedBy } = await server.exited;
    if (code !== 0) t.violations.push(`the server exited with ${code ?? killedBy} after SIGTERM`);
    cycles++;
  }
  if (unanswered > 0) t.violations.push(`${unanswered} requests started before SIGTERM got no answer`);
  t.notes.push(`${cycles} SIGTERM; failures include requests refused after the signal`);
  return t;
}
