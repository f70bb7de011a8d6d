import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTable } from '../src/io/read-table.js';
import { startServer, type RunningServer } from '../src/server/serve.js';
import { FIXTURES, openTestPlatform } from '../src/testing/fixtures.js';
import type { RunRecord } from '../src/pipelines/types.js';
import { ROOT } from './slipway-process.js';

/**
 * The continuous-training loop end to end, in one process with a real training process: a model
 * serves traffic whose feature distribution shifts, feedback arrives, the drift trigger fires, the run
 * builds its data from the logged requests and their labels, Debian's scikit-learn trains a candidate
 * (fixtures/pipelines/train.py), Slipway evaluates it against the champion on the newest rows (checked
 * here independently), registers it with lineage and canaries it through a rollout that promotes it.
 * Then the failure paths: a candidate that cannot beat the champion, a failing and a hanging command.
 */

interface Row {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}
const shifted = JSON.parse(
  readFileSync(path.join(ROOT, 'fixtures', 'monitor', 'breast_cancer_shifted.json'), 'utf8'),
) as {
  inputs: Row[];
  labels: string[];
};

let platform: Awaited<ReturnType<typeof openTestPlatform>>;
let server: RunningServer;
let folder: string;
/** A webhook receiver on loopback: the run transitions it was sent. */
let receiver: http.Server;
const notifications: Array<{ pipeline: string; run: string; status: string; step: string }> = [];

const inject = async (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) => {
  const response = await server.app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
};

/** Send every shifted row through the deployment, with its true label as feedback. */
async function trafficWithFeedback(times = 1): Promise<void> {
  for (let t = 0; t < times; t++)
    for (const [i, input] of shifted.inputs.entries()) {
      const r = await inject('POST', '/v2/models/cancer-live/infer', { inputs: [input] });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const fb = await inject('POST', '/api/v1/feedback', { request_id: r.body.id, label: Number(shifted.labels[i]) });
      expect(fb.status, JSON.stringify(fb.body)).toBeLessThan(300);
    }
  await platform.log.flush();
}

/** Pipelines applied so far: each apply names them all (a pipeline left out of the file is removed). */
const applied: string[] = [];

async function applyPipelines(yaml: string): Promise<void> {
  applied.push(yaml.replace(/^\s*pipelines:\n/, ''));
  const file = path.join(folder, `pipelines-${applied.length}.yaml`);
  await writeFile(file, `pipelines:\n${applied.join('')}`);
  const { readPipelinesFile } = await import('../src/pipelines/definitions/parse-pipelines.js');
  await platform.pipelineStores.pipelines.apply(await readPipelinesFile(file));
}

/** Accuracy of a model on a split file, computed here with ONNX Runtime directly. */
async function accuracyOn(
  modelPath: string,
  split: string,
  features: readonly string[],
  label: string,
): Promise<number> {
  const session = await ort.InferenceSession.create(modelPath);
  let right = 0;
  let rows = 0;
  for await (const chunk of readTable(split)) {
    const columns = features.map((f) => chunk.columns.get(f)!.values as Float64Array);
    const labels = chunk.columns.get(label)!.values as Float64Array;
    const data = new Float32Array(chunk.rows * features.length);
    for (let r = 0; r < chunk.rows; r++)
      for (let c = 0; c < features.length; c++) data[r * features.length + c] = columns[c]![r]!;
    const out = await session.run({ input: new ort.Tensor('float32', data, [chunk.rows, features.length]) });
    const predicted = out.label!.data as BigInt64Array;
    for (let r = 0; r < chunk.rows; r++) if (Number(predicted[r]) === labels[r]) right++;
    rows += chunk.rows;
  }
  await session.release();
  return right / rows;
}

const BASE = (name: string, extra: string) => `
pipelines:
  - name: ${name}
    model: cancer
    deployment: cancer-live
    minInterval: 0s
    data:
      labels: feedback
      window: 1d
      split: { train: 0.6, validation: 0.2, test: 0.2 }
${extra}`;

beforeAll(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'slipway-pipeline-loop-'));
  receiver = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      notifications.push(JSON.parse(body) as (typeof notifications)[number]);
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  // Webhooks may reach this test's loopback receiver (refused by default: SLIPWAY_WEBHOOK_ALLOW).
  platform = await openTestPlatform({ webhookAllow: { targets: [], private: false, loopback: true } });
  await platform.registry.push({ name: 'cancer', bytes: readFileSync(path.join(FIXTURES, 'breast_cancer.onnx')) });
  await platform.drift.setReferenceFromFile(
    'cancer',
    '1.0.0',
    path.join(ROOT, 'fixtures', 'monitor', 'breast_cancer_train.csv'),
    ['target'],
  );
  await platform.deployments.service.deploy('cancer-live', { model: 'cancer', routes: ['1.0.0=100'] }, { why: 'test' });
  server = await startServer(platform, { host: '127.0.0.1', port: 0, background: false });
  await server.preloaded;
}, 60_000);

afterAll(async () => {
  receiver?.close();
  await server?.stop();
  await platform?.dispose();
  await rm(folder, { recursive: true, force: true });
});

describe('drift → retrain → evaluate → register → canary → promote', () => {
  let run: RunRecord;

  it('fires on drift, trains with scikit-learn, evaluates, registers with lineage and starts a rollout', async () => {
    await trafficWithFeedback(2);
    await applyPipelines(
      BASE(
        'cancer-retrain',
        `    triggers:
      - drift: { window: 1h }
    train:
      command: /usr/bin/python3 ${path.join(ROOT, 'fixtures', 'pipelines', 'train.py')}
      timeout: 2m
    evaluate:
      gates: ["accuracy >= champion + 0.02", "auc >= 0.9"]
    release: { rollout: { steps: [50, 100], interval: 1s, gates: ["error_rate<0.5"] } }
`,
      ),
    );
    await platform.pipelines.tick();
    const [latest] = await platform.pipelines.list({ pipeline: 'cancer-retrain' });
    run = latest!;
    expect(run.trigger.kind).toBe('drift');
    expect(run.trigger.reason).toMatch(/drift/);
    expect(run.status, run.reason ?? '').toBe('running');
    expect(run.step).toBe('releasing');
    // Data: every request with feedback, split by time.
    expect(run.data!.rows).toBe(400);
    // 60/20/20 by event time; requests logged in the same millisecond go to the earlier split.
    const { train, validation, test } = run.data!.splits;
    expect(train + validation + test).toBe(400);
    expect(train).toBeGreaterThanOrEqual(240);
    expect(test).toBeGreaterThanOrEqual(60);
    expect(test).toBeLessThanOrEqual(80);
    expect(run.training!.exitCode).toBe(0);
    // The evaluation agrees with an independent computation on the test split.
    const champion = await platform.registry.resolve('cancer@1.0.0');
    const features = run.data!.featureColumns;
    const championAccuracy = await accuracyOn(
      platform.registry.artifactPath(champion),
      run.data!.files.test,
      features,
      run.data!.labelColumn,
    );
    const candidateAccuracy = await accuracyOn(
      run.training!.candidatePath!,
      run.data!.files.test,
      features,
      run.data!.labelColumn,
    );
    expect(run.evaluation!.report.metrics!.parent.accuracy).toBeCloseTo(championAccuracy, 12);
    expect(run.evaluation!.report.metrics!.candidate.accuracy).toBeCloseTo(candidateAccuracy, 12);
    expect(candidateAccuracy).toBeGreaterThan(championAccuracy + 0.02);
    // Registered with lineage.
    const candidate = await platform.registry.resolve(`cancer@${run.candidateVersion}`);
    expect(candidate.lineage).toMatchObject({
      parentVersion: '1.0.0',
      pipeline: 'cancer-retrain',
      run: run.id,
      dataSha256: run.data!.sha256,
    });
    expect(run.release!.summary).toMatch(/rollout/);
  }, 120_000);

  it('the rollout promotes the candidate and the run succeeds', async () => {
    const deployments = platform.deployments;
    for (let look = 0; look < 10; look++) {
      await new Promise((resolve) => setTimeout(resolve, 1100));
      for (const input of shifted.inputs.slice(0, 80))
        await inject('POST', '/v2/models/cancer-live/infer', { inputs: [input] });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await deployments.recorder.flush();
      await deployments.rollouts.tick();
      const status = (await deployments.rollouts.status('cancer-live')).status;
      if (status !== 'running') break;
    }
    expect((await deployments.rollouts.status('cancer-live')).status).toBe('promoted');
    await platform.pipelines.tick();
    const done = await platform.pipelines.get(run.id);
    expect(done.status, done.reason ?? '').toBe('succeeded');
    const view = await deployments.service.view('cancer-live');
    expect(JSON.stringify(view)).toContain(`${run.candidateVersion}`);
  }, 60_000);
});

describe('failure paths', () => {
  it('a candidate that does not beat the champion is stopped; nothing is registered and the champion keeps its traffic', async () => {
    const before = (await platform.registry.listVersions('cancer')).length;
    const served = JSON.stringify(await platform.deployments.service.view('cancer-live'));
    await applyPipelines(
      BASE(
        'cancer-strict',
        `    triggers: [manual]
    train:
      command: node ${path.join(ROOT, 'fixtures', 'pipelines', 'train.mjs')}
      timeout: 2m
    evaluate:
      gates: ["accuracy >= champion + 0.5"]
    notify: http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook
`,
      ),
    );
    const created = await platform.pipelines.startRun('cancer-strict', { kind: 'manual', reason: 'test' });
    const ended = await platform.pipelines.drive(created.id);
    expect(ended.status).toBe('stopped');
    expect(ended.step).toBe('evaluating');
    expect(ended.reason).toMatch(/accuracy >= champion \+ 0\.5/);
    expect((await platform.registry.listVersions('cancer')).length).toBe(before);
    expect(JSON.stringify(await platform.deployments.service.view('cancer-live'))).toBe(served);
    // Every transition reached the pipeline's webhook, the last one the stop with its reason.
    const sent = () => notifications.filter((n) => n.run === created.id);
    for (let i = 0; i < 50 && !sent().some((n) => n.status === 'stopped'); i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sent().map((n) => `${n.status}:${n.step}`)).toEqual([
      'running:building-data',
      'running:training',
      'running:evaluating',
      'stopped:evaluating',
    ]);
  }, 120_000);

  it('a command that exits non-zero fails the run with its log kept and nothing pushed', async () => {
    const before = (await platform.registry.listVersions('cancer')).length;
    await applyPipelines(
      BASE(
        'cancer-broken',
        `    triggers: [manual]
    train:
      command: [node, -e, "console.log('loading data'); console.error('no GPU here'); process.exit(3)"]
      timeout: 1m
`,
      ),
    );
    const created = await platform.pipelines.startRun('cancer-broken', { kind: 'manual', reason: 'test' });
    const ended = await platform.pipelines.drive(created.id);
    expect(ended).toMatchObject({ status: 'failed', step: 'training', candidateVersion: null });
    expect(ended.reason).toMatch(/exited with code 3/);
    expect(ended.training!.exitCode).toBe(3);
    const log = await platform.pipelines.logs(created.id);
    expect(log).toContain('loading data');
    expect(log).toContain('no GPU here');
    expect((await platform.registry.listVersions('cancer')).length).toBe(before);
  }, 60_000);

  it('a command that outlives its timeout is stopped and the run fails', async () => {
    await applyPipelines(
      BASE(
        'cancer-slow',
        `    triggers: [manual]
    train:
      command: sleep 30
      timeout: 1s
`,
      ),
    );
    const created = await platform.pipelines.startRun('cancer-slow', { kind: 'manual', reason: 'test' });
    const started = Date.now();
    const ended = await platform.pipelines.drive(created.id);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(ended.status).toBe('failed');
    expect(ended.training!.timedOut).toBe(true);
    expect(ended.reason).toMatch(/timed out/);
  }, 60_000);

  it('only one run of a pipeline at a time', async () => {
    await applyPipelines(
      BASE(
        'cancer-once',
        `    triggers: [manual]
    train:
      command: sleep 30
      timeout: 1m
`,
      ),
    );
    const first = await platform.pipelines.startRun('cancer-once', { kind: 'manual', reason: 'test' });
    await expect(platform.pipelines.startRun('cancer-once', { kind: 'manual', reason: 'again' })).rejects.toMatchObject(
      {
        code: 'CONFLICT',
      },
    );
    const cancelled = await platform.pipelines.cancel(first.id);
    expect(cancelled.status).toBe('cancelled');
  });
});
