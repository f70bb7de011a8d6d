import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPipelinesFile } from '../src/pipelines/definitions/parse-pipelines.js';
import { SqlRunStore } from '../src/pipelines/run-store.js';
import { groupMembers, isAlive } from '../src/pipelines/train/process-group.js';
import type { RunRecord } from '../src/pipelines/types.js';
import { startServer as startInProcessServer } from '../src/server/serve.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { FIXTURES, openTestPlatform } from '../src/testing/fixtures.js';
import { ROOT, distIsBuilt, startServer, startSlipway, waitFor } from './slipway-process.js';

/**
 * Issue 17, "a restart during training resumes or fails the run cleanly (no orphan process, no half
 * version)", on real processes sharing one SQLite home:
 * - `slipway pipeline run --wait` is killed with SIGKILL while its training command runs: the
 *   training process survives it (its own process group, an orphan) and the run stays `running` at
 *   `training`. A `slipway serve` started afterwards takes the run over once its owner's heartbeat is
 *   stale, kills the orphan, trains again and the run succeeds with exactly one new version whose
 *   lineage names the run.
 * - SIGTERM to a `slipway serve` that is training stops the training process group before it exits
 *   and leaves the run resumable: the next `slipway serve` finishes it.
 *
 * The training command is a Node script written here: it appends `<run> <pid>` to starts.log, sleeps
 * (60 s on a run's first start, so only a kill ends that attempt; 4 s on later starts), then runs
 * fixtures/pipelines/train.mjs, which writes a real candidate (EPOCHS differs per run: the same bytes
 * twice would be refused as not new).
 */

const PIPELINE = 'cancer-restart';
const FAST = { SLIPWAY_PIPELINE_STALE: '2s', SLIPWAY_PIPELINE_INTERVAL: '500ms' };

interface Row {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}
const shifted = JSON.parse(
  readFileSync(path.join(ROOT, 'fixtures', 'monitor', 'breast_cancer_shifted.json'), 'utf8'),
) as { inputs: Row[]; labels: string[] };

let folder: string;
let home: string;
let database: Database;
let runs: SqlRunStore;
const servers: { stop(): Promise<void> }[] = [];

/** `<run> <pid>` lines the training script wrote, complete lines only. */
function starts(): { run: string; pid: number }[] {
  const file = path.join(folder, 'starts.log');
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [run, pid] = line.split(' ');
      return { run: run!, pid: Number(pid) };
    });
}

/** Versions of `cancer` with their lineage, read from the shared database. */
async function versions(): Promise<{ version: string; lineage: Record<string, unknown> }[]> {
  const rows = await database.db.selectFrom('model_versions').select(['version', 'lineage']).orderBy('id').execute();
  return rows.map((row) => ({ version: row.version, lineage: JSON.parse(row.lineage) as Record<string, unknown> }));
}

const latestRun = async (): Promise<RunRecord> => (await runs.list({ pipeline: PIPELINE, limit: 1 }))[0]!;

const TRAIN_WRAPPER = `import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const startsFile = process.env.FAULT_STARTS;
const run = JSON.parse(readFileSync(process.env.SLIPWAY_RUN_JSON, 'utf8')).run;
const lines = existsSync(startsFile) ? readFileSync(startsFile, 'utf8').split('\\n').filter(Boolean) : [];
const before = lines.filter((line) => line.startsWith(run + ' ')).length;
appendFileSync(startsFile, run + ' ' + process.pid + '\\n');
await new Promise((resolve) => setTimeout(resolve, before === 0 ? 60000 : 4000));
// Each run trains a little differently, so its candidate is a new artifact (the same bytes twice are refused).
process.env.EPOCHS = String(400 + 10 * new Set(lines.map((line) => line.split(' ')[0])).size);
await import(pathToFileURL(process.env.FAULT_TRAIN).href);
`;

beforeAll(async () => {
  expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
  folder = await mkdtemp(path.join(os.tmpdir(), 'slipway-pipeline-restart-'));
  home = path.join(folder, 'home');
  await writeFile(path.join(folder, 'train-wrapper.mjs'), TRAIN_WRAPPER);
  // The home's model, traffic with feedback and pipeline, written by a platform opened here then closed.
  const platform = await openTestPlatform({ home });
  try {
    await platform.registry.push({ name: 'cancer', bytes: readFileSync(path.join(FIXTURES, 'breast_cancer.onnx')) });
    const yaml = path.join(folder, 'pipelines.yaml');
    await writeFile(
      yaml,
      `pipelines:
  - name: ${PIPELINE}
    model: cancer
    triggers: [manual]
    minInterval: 0s
    data:
      labels: feedback
      window: 1d
      split: { train: 0.6, validation: 0.2, test: 0.2 }
    train:
      command: [${process.execPath}, train-wrapper.mjs]
      workdir: .
      timeout: 2m
      env:
        FAULT_STARTS: ${path.join(folder, 'starts.log')}
        FAULT_TRAIN: ${path.join(ROOT, 'fixtures', 'pipelines', 'train.mjs')}
    evaluate:
      gates: ["accuracy >= 0.6"]
    release: none
`,
    );
    await platform.pipelineStores.pipelines.apply(await readPipelinesFile(yaml));
    const server = await startInProcessServer(platform, { host: '127.0.0.1', port: 0, background: false });
    try {
      await server.preloaded;
      for (const [i, input] of shifted.inputs.slice(0, 120).entries()) {
        const r = await server.app.inject({
          method: 'POST',
          url: '/v2/models/cancer/infer',
          payload: { inputs: [input] },
        });
        expect(r.statusCode, r.body).toBe(200);
        const feedback = await server.app.inject({
          method: 'POST',
          url: '/api/v1/feedback',
          payload: { request_id: r.json<{ id: string }>().id, label: Number(shifted.labels[i]) },
        });
        expect(feedback.statusCode, feedback.body).toBeLessThan(300);
      }
      await platform.log.flush();
    } finally {
      // Closes the platform too.
      await server.stop();
    }
  } catch (error) {
    await platform.close().catch(() => undefined);
    throw error;
  }
  database = await openDatabase({ sqlitePath: path.join(home, 'slipway.db') });
  runs = new SqlRunStore(database);
}, 60_000);

afterAll(async () => {
  for (const server of servers) await server.stop().catch(() => undefined);
  // Whatever a failed assertion left training.
  for (const { pid } of starts()) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await database?.close();
  await rm(folder, { recursive: true, force: true });
});

describe('continuous-training runs across process deaths (real processes, SQLite home)', () => {
  it('kill -9 of `pipeline run --wait` leaves an orphan; serve takes the run over, kills it, retrains once and succeeds', async () => {
    const before = await versions();
    expect(before.map((v) => v.version)).toEqual(['1.0.0']);
    const cli = startSlipway(['pipeline', 'run', PIPELINE, '--wait', '--json'], {
      SLIPWAY_HOME: home,
      SLIPWAY_PIPELINE_STALE: '2s',
    });
    const [first] = await waitFor('the training process to start', starts, (s) => s.length === 1, 30_000).catch(
      (error: unknown) => {
        throw new Error(`${(error as Error).message}\nCLI output: ${cli.output()}`);
      },
    );
    cli.child.kill('SIGKILL');
    expect((await cli.exited).signal).toBe('SIGKILL');
    // kill -9 gives the CLI no chance to stop its training: the group lives on without it.
    const orphan = first!.pid;
    expect(isAlive(orphan)).toBe(true);
    expect(groupMembers(orphan)).toContain(orphan);
    const stranded = await latestRun();
    expect(stranded.id).toBe(first!.run);
    expect(stranded).toMatchObject({ status: 'running', step: 'training', candidateVersion: null });
    expect(await runs.trainingPid(stranded.id)).toBe(orphan);

    const started = Date.now();
    const server = await startServer({ SLIPWAY_HOME: home, ...FAST });
    servers.push(server);
    // The new owner kills the orphan's group before it starts training again.
    const [, again] = await waitFor('training to start again', starts, (s) => s.length === 2, 30_000);
    const retrainedAfterMs = Date.now() - started;
    expect(again!.run).toBe(stranded.id);
    expect(again!.pid).not.toBe(orphan);
    expect(isAlive(orphan)).toBe(false);
    expect(groupMembers(orphan)).toEqual([]);
    const ended = await waitFor('the run to end', latestRun, (run) => run.status !== 'running', 30_000);
    const endedAfterMs = Date.now() - started;
    expect(ended.status, `${ended.reason ?? ''}\n${server.output()}`).toBe('succeeded');
    expect(ended.owner).not.toBe(stranded.owner);
    expect(ended.training).toMatchObject({ exitCode: 0, timedOut: false });
    expect(ended.evaluation!.passed).toBe(true);
    // Exactly one new version, the run's, and nothing half-registered.
    const after = await versions();
    expect(after).toHaveLength(before.length + 1);
    expect(after[after.length - 1]).toMatchObject({
      version: ended.candidateVersion,
      lineage: { pipeline: PIPELINE, run: ended.id, parentVersion: '1.0.0' },
    });
    expect(starts().filter((s) => s.run === ended.id)).toHaveLength(2);
    console.info(
      `kill -9 takeover: serve started → training again in ${retrainedAfterMs} ms, run succeeded in ${endedAfterMs} ms`,
    );
  }, 90_000);

  it('SIGTERM to serve while training stops the training process group and leaves the run for the next serve', async () => {
    const server = servers[0] as Awaited<ReturnType<typeof startServer>>;
    const before = await versions();
    const created = await fetch(`${server.url}/api/v1/pipelines/${PIPELINE}/runs`, { method: 'POST' });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as RunRecord).id;
    const training = await waitFor(
      'serve to start training',
      () => starts().filter((s) => s.run === id),
      (s) => s.length === 1,
      30_000,
    );
    const pid = training[0]!.pid;
    expect(isAlive(pid)).toBe(true);
    const signalled = Date.now();
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    const stopMs = Date.now() - signalled;
    expect(exit, server.output()).toEqual({ code: 0, signal: null });
    expect(isAlive(pid)).toBe(false);
    expect(groupMembers(pid)).toEqual([]);
    const left = await runs.get(id);
    expect(left).toMatchObject({ status: 'running', step: 'training', candidateVersion: null });
    expect(await runs.trainingPid(id)).toBeNull();
    expect(await versions()).toHaveLength(before.length);

    // Resumable: the next serve takes it over once the heartbeat is stale and finishes it.
    const started = Date.now();
    const next = await startServer({ SLIPWAY_HOME: home, ...FAST });
    servers.push(next);
    const ended = await waitFor(
      'the run to end',
      () => runs.get(id),
      (run) => run.status !== 'running',
      40_000,
    );
    const endedAfterMs = Date.now() - started;
    expect(ended.status, `${ended.reason ?? ''}\n${next.output()}`).toBe('succeeded');
    expect(starts().filter((s) => s.run === id)).toHaveLength(2);
    const after = await versions();
    expect(after).toHaveLength(before.length + 1);
    expect(after[after.length - 1]).toMatchObject({ version: ended.candidateVersion, lineage: { run: id } });
    console.info(
      `SIGTERM: serve exited in ${stopMs} ms with no training left; the next serve finished the run in ${endedAfterMs} ms`,
    );
  }, 90_000);
});
