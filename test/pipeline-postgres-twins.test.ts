import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPipelinesFile } from '../src/pipelines/definitions/parse-pipelines.js';
import { startServer, type RunningServer } from '../src/server/serve.js';
import { DIALECTS, TEST_POSTGRES_URL } from '../src/testing/databases.js';
import { FIXTURES, openTestPlatform } from '../src/testing/fixtures.js';
import { ROOT } from './slipway-process.js';

/**
 * Issue 17, "two servers on one PostgreSQL never run the same pipeline twice at once": two platforms
 * (two PipelineService instances, two owners) on one fresh PostgreSQL schema and one shared home (the
 * artifacts' volume) tick concurrently while a labels trigger is due. Exactly one run is created, its
 * training command runs once (it appends a line to a file: one line), one owner advances it, and it
 * succeeds with one new version. Under CI=true PostgreSQL is required (src/testing/databases.ts).
 */

const postgres = DIALECTS.find((d) => d.name === 'postgres')!;
const PIPELINE = 'cancer-twins';

interface Row {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}
const shifted = JSON.parse(
  readFileSync(path.join(ROOT, 'fixtures', 'monitor', 'breast_cancer_shifted.json'), 'utf8'),
) as { inputs: Row[]; labels: string[] };

async function postgresQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Lines the training command appended: one per training process started. */
function trainings(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

describe.skipIf(postgres.skipReason !== undefined)(
  'two servers sharing one PostgreSQL schema run a pipeline once',
  () => {
    const schema = `slipway_test_${randomBytes(6).toString('hex')}`;
    let folder: string;
    let first: Awaited<ReturnType<typeof openTestPlatform>>;
    let second: Awaited<ReturnType<typeof openTestPlatform>>;
    let server: RunningServer | undefined;
    let trainedFile: string;

    beforeAll(async () => {
      await postgresQuery(`create schema "${schema}"`);
      const databaseUrl = `${TEST_POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
      folder = await mkdtemp(path.join(os.tmpdir(), 'slipway-pipeline-twins-'));
      trainedFile = path.join(folder, 'trained.log');
      first = await openTestPlatform({ databaseUrl });
      // Metadata in the shared database, artifacts and run folders on a shared volume (one home).
      second = await openTestPlatform({ databaseUrl, home: first.home });
      await first.registry.push({ name: 'cancer', bytes: readFileSync(path.join(FIXTURES, 'breast_cancer.onnx')) });
      await writeFile(
        path.join(folder, 'train-once.mjs'),
        `import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const before = existsSync(process.env.TWINS_TRAINED) ? readFileSync(process.env.TWINS_TRAINED, 'utf8').split('\\n').length - 1 : 0;
appendFileSync(process.env.TWINS_TRAINED, process.env.SLIPWAY_RUN_JSON + '\\n');
// Each training differs a little, so every run's candidate is a new artifact (the same bytes twice are refused).
process.env.EPOCHS = String(400 + 10 * before);
await import(pathToFileURL(process.env.TWINS_TRAIN).href);
`,
      );
      const yaml = path.join(folder, 'pipelines.yaml');
      await writeFile(
        yaml,
        `pipelines:
  - name: ${PIPELINE}
    model: cancer
    triggers:
      - labels: { count: 40 }
    minInterval: 1h
    data:
      labels: feedback
      window: 1d
      split: { train: 0.6, validation: 0.2, test: 0.2 }
    train:
      command: [${process.execPath}, train-once.mjs]
      workdir: .
      timeout: 1m
      env:
        TWINS_TRAINED: ${trainedFile}
        TWINS_TRAIN: ${path.join(ROOT, 'fixtures', 'pipelines', 'train.mjs')}
    evaluate:
      gates: ["accuracy >= 0.6"]
    release: none
`,
      );
      await second.pipelineStores.pipelines.apply(await readPipelinesFile(yaml));
      server = await startServer(first, { host: '127.0.0.1', port: 0, background: false });
      await server.preloaded;
    }, 60_000);

    afterAll(async () => {
      // Stopping the in-process server closes `first`.
      if (server !== undefined) await server.stop();
      else await first?.close();
      await second?.close();
      if (first !== undefined) await rm(first.home, { recursive: true, force: true });
      if (folder !== undefined) await rm(folder, { recursive: true, force: true });
      await postgresQuery(`drop schema if exists "${schema}" cascade`);
    });

    it('concurrent ticks of both services create one run, train once, and one owner finishes it', async () => {
      expect(first.pipelines.owner).not.toBe(second.pipelines.owner);
      // Not due yet: no labels since the pipeline was applied.
      await Promise.all([first.pipelines.tick(), second.pipelines.tick()]);
      expect(await first.pipelines.list({ pipeline: PIPELINE })).toEqual([]);

      for (const [i, input] of shifted.inputs.slice(0, 100).entries()) {
        const r = await server!.app.inject({
          method: 'POST',
          url: '/v2/models/cancer/infer',
          payload: { inputs: [input] },
        });
        expect(r.statusCode, r.body).toBe(200);
        const feedback = await server!.app.inject({
          method: 'POST',
          url: '/api/v1/feedback',
          payload: { request_id: r.json<{ id: string }>().id, label: Number(shifted.labels[i]) },
        });
        expect(feedback.statusCode, feedback.body).toBeLessThan(300);
      }
      await first.log.flush();

      const started = Date.now();
      for (let round = 0; round < 4; round++) await Promise.all([first.pipelines.tick(), second.pipelines.tick()]);
      const elapsedMs = Date.now() - started;

      const runs = await second.pipelines.list({ pipeline: PIPELINE });
      expect(runs).toHaveLength(1);
      const run = runs[0]!;
      expect(run.trigger.kind).toBe('labels');
      expect(run.status, run.reason ?? '').toBe('succeeded');
      expect([first.pipelines.owner, second.pipelines.owner]).toContain(run.owner);
      expect(trainings(trainedFile)).toHaveLength(1);
      expect(run.training).toMatchObject({ exitCode: 0, timedOut: false });
      expect(run.data!.rows).toBe(100);
      const versions = await first.registry.listVersions('cancer');
      expect(versions.map((v) => v.version).sort()).toEqual(['1.0.0', run.candidateVersion].sort());
      const candidate = await second.registry.resolve(`cancer@${run.candidateVersion}`);
      expect(candidate.lineage).toMatchObject({ pipeline: PIPELINE, run: run.id, parentVersion: '1.0.0' });
      console.info(
        `twins: 4 rounds of concurrent ticks in ${elapsedMs} ms; run ${run.id} owned by ${run.owner === first.pipelines.owner ? 'first' : 'second'}, trained once`,
      );
    }, 60_000);

    it('two services driving the same new run at once: one claims and finishes it, the other leaves it alone', async () => {
      const created = await first.pipelines.startRun(PIPELINE, { kind: 'manual', reason: 'twins test' });
      const before = trainings(trainedFile).length;
      const started = Date.now();
      const settled = await Promise.allSettled([first.pipelines.drive(created.id), second.pipelines.drive(created.id)]);
      const elapsedMs = Date.now() - started;
      // Neither lost the run half-way ("lost the run" CONFLICT): the claim itself decided.
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled']);
      const [a, b] = settled.map(
        (s) => (s as PromiseFulfilledResult<Awaited<ReturnType<typeof first.pipelines.drive>>>).value,
      );
      const finished = [a!, b!].filter((run) => run.status === 'succeeded');
      expect(finished, JSON.stringify([a!.status, a!.reason, b!.status, b!.reason])).toHaveLength(1);
      const loser = [a!, b!].find((run) => run.status !== 'succeeded')!;
      // The loser saw the run owned by the winner and did not touch it.
      expect(loser.status).toBe('running');
      expect(loser.owner).toBe(finished[0]!.owner);
      expect(trainings(trainedFile).length - before).toBe(1);
      const run = await second.pipelines.get(created.id);
      expect(run.status).toBe('succeeded');
      expect(await first.pipelines.list({ pipeline: PIPELINE })).toHaveLength(2);
      const candidate = await first.registry.resolve(`cancer@${run.candidateVersion}`);
      expect(candidate.lineage).toMatchObject({ pipeline: PIPELINE, run: run.id });
      console.info(`twins: concurrent drive of one run took ${elapsedMs} ms; trained once`);
    }, 60_000);
  },
);
