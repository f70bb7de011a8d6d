import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { primaryVersion } from '../../deploy/spec.js';
import { readOnnxModel } from '../../registry/onnx/read-onnx.js';
import { fixtureBytes, openTestPlatform } from '../../testing/fixtures.js';
import type { PipelineSpec, ReleaseSpec, RunEvaluation, RunRecord } from '../types.js';
import { championOf } from './champion.js';
import { evaluateRun } from './evaluate-run.js';
import { registerCandidate } from './register-candidate.js';
import { assertReleasable, releaseCandidate, releaseProgress, type ReleaseDeps } from './release-candidate.js';

const TEST_FILE = fileURLToPath(new URL('../../../fixtures/optimize/breast_cancer_test.csv', import.meta.url));
const CHAMPION = new Uint8Array(fixtureBytes('breast_cancer.onnx'));
const CANDIDATE = new Uint8Array(fixtureBytes('breast_cancer_retrained.onnx'));
const DATA_SHA = 'a'.repeat(64);

function pipelineOf(release: ReleaseSpec, deployment?: string): PipelineSpec {
  return {
    name: 'cancer-retrain',
    model: 'cancer',
    ...(deployment === undefined ? {} : { deployment }),
    triggers: [{ kind: 'manual' }],
    minIntervalMs: 3_600_000,
    data: {
      labels: { kind: 'feedback' },
      windowMs: 86_400_000,
      split: { train: 0.7, validation: 0.15, test: 0.15 },
      labelColumn: 'label',
    },
    train: { command: ['/usr/bin/python3', 'train.py'], workdir: '.', timeoutMs: 60_000, env: {} },
    evaluate: { gates: ['accuracy >= champion - 0.05'] },
    release,
    allowMajor: false,
  };
}

function runOf(id: string, evaluation: RunEvaluation | null): RunRecord {
  const at = new Date().toISOString();
  return {
    id,
    pipeline: 'cancer-retrain',
    pipelineVersion: 1,
    status: 'running',
    step: 'registering',
    trigger: { kind: 'manual', reason: 'run by hand' },
    reason: null,
    cancelRequested: false,
    owner: null,
    heartbeatAt: null,
    data: null,
    training: null,
    evaluation,
    championVersion: '1.0.0',
    candidateVersion: null,
    release: null,
    createdAt: at,
    updatedAt: at,
    finishedAt: null,
  };
}

describe('register and release a run candidate (SQLite)', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let deps: ReleaseDeps;
  let evaluation: RunEvaluation;

  beforeAll(async () => {
    platform = await openTestPlatform();
    deps = { registry: platform.registry, deployments: platform.deployments };
    await platform.registry.push({ name: 'cancer', bytes: CHAMPION });
    evaluation = await evaluateRun({
      championBytes: CHAMPION,
      champion: '1.0.0',
      candidateBytes: CANDIDATE,
      signature: readOnnxModel(CHAMPION).signature,
      testFile: TEST_FILE,
      labelColumn: 'label',
      gates: ['accuracy >= champion - 0.05'],
      minSeconds: 0.02,
    });
  }, 60_000);

  afterAll(async () => {
    await platform?.dispose();
  });

  it('finds no champion for a model without versions', async () => {
    expect(await championOf({ name: 'p', model: 'nothing-yet' }, { registry: platform.registry })).toBeUndefined();
  });

  it('registers once per run with lineage, params and the evaluation as metrics', async () => {
    const run = runOf('run-1', evaluation);
    const first = await registerCandidate({
      registry: platform.registry,
      model: 'cancer',
      bytes: CANDIDATE,
      run,
      championVersion: '1.0.0',
      allowMajor: false,
      dataSha256: DATA_SHA,
    });
    if (!('version' in first)) throw new Error(`stopped: ${first.stopped}`);
    const v = first.version;
    expect(v.version).not.toBe('1.0.0');
    expect(v.lineage).toEqual({
      parentVersion: '1.0.0',
      pipeline: 'cancer-retrain',
      run: 'run-1',
      dataSha256: DATA_SHA,
    });
    expect(v.params).toMatchObject({ pipeline: 'cancer-retrain', run: 'run-1', trigger: 'manual' });
    expect(v.description).toBe('retrained by pipeline cancer-retrain run run-1');
    expect(v.metrics['accuracy']).toBe(evaluation.report.metrics!.candidate['accuracy']);
    expect(v.metrics['optimize.agreement']).toBe(evaluation.report.agreement);
    // A restart during registering: the same version, nothing pushed.
    const again = await registerCandidate({
      registry: platform.registry,
      model: 'cancer',
      bytes: CANDIDATE,
      run,
      championVersion: '1.0.0',
      allowMajor: false,
      dataSha256: DATA_SHA,
    });
    expect('version' in again && again.version.version).toBe(v.version);
    expect((await platform.registry.listVersions('cancer')).map((x) => x.version)).toEqual([v.version, '1.0.0']);
    // No deployment and no champion alias: the latest version is the champion.
    expect(await championOf({ name: 'p', model: 'cancer' }, { registry: platform.registry })).toBe(v.version);
    await platform.registry.setAlias('cancer', 'champion', '1.0.0');
    expect(await championOf({ name: 'p', model: 'cancer' }, { registry: platform.registry })).toBe('1.0.0');
  });

  it('stops a schema-breaking candidate with nothing stored when allowMajor is false', async () => {
    const blobs = () => readdirSync(path.join(platform.home, 'blobs', 'sha256'), { recursive: true }).length;
    const before = { versions: (await platform.registry.listVersions('cancer')).length, blobs: blobs() };
    const outcome = await registerCandidate({
      registry: platform.registry,
      model: 'cancer',
      bytes: new Uint8Array(fixtureBytes('breast_cancer_29_features.onnx')),
      run: runOf('run-2', null),
      championVersion: '1.0.0',
      allowMajor: false,
      dataSha256: DATA_SHA,
    });
    expect(outcome).toEqual({
      stopped: expect.stringMatching(/^the candidate breaks clients: .*input.*; allowMajor is false$/),
    });
    expect((await platform.registry.listVersions('cancer')).length).toBe(before.versions);
    expect(blobs()).toBe(before.blobs);
  });

  it('releases to an alias, naming the run', async () => {
    const candidate = (await platform.registry.resolve('cancer', 'latest')).version;
    const outcome = await releaseCandidate({
      spec: { kind: 'alias', alias: 'staging' },
      pipeline: pipelineOf({ kind: 'alias', alias: 'staging' }),
      run: 'run-1',
      candidate,
      deps,
    });
    expect(outcome.summary).toBe(`alias staging -> ${candidate}`);
    expect((await platform.registry.resolve('cancer', 'staging')).version).toBe(candidate);
    const [event] = await platform.registry.aliasHistory('cancer', 'staging');
    expect(event).toMatchObject({
      reason: 'released by pipeline cancer-retrain run run-1',
      actor: 'pipeline:cancer-retrain',
    });
    expect(
      await releaseProgress({
        spec: { kind: 'alias', alias: 'staging' },
        pipeline: pipelineOf({ kind: 'alias', alias: 'staging' }),
        release: outcome,
        candidate,
        deps,
      }),
    ).toEqual({ state: 'done', summary: outcome.summary });
  });

  it('refuses a deployment release without a deployment by name', () => {
    expect(() => assertReleasable(pipelineOf({ kind: 'shadow', durationMs: 1000 }))).toThrow(
      /pipeline "cancer-retrain": release "shadow" needs "deployment"/,
    );
    expect(() =>
      assertReleasable(pipelineOf({ kind: 'rollout', steps: [100], intervalMs: 1000, gates: [] }, 'd')),
    ).not.toThrow();
  });

  it('starts a rollout, waits while it runs, done when promoted, stopped when aborted', async () => {
    const candidate = (await platform.registry.resolve('cancer', 'latest')).version;
    await platform.deployments.service.deploy('cancer-live', {
      model: 'cancer',
      routes: [{ version: '1.0.0', weight: 100 }],
    });
    const pipeline = pipelineOf(
      { kind: 'rollout', steps: [10, 50, 100], intervalMs: 300_000, gates: ['error_rate<0.01'] },
      'cancer-live',
    );
    expect(await championOf(pipeline, { registry: platform.registry, deployments: platform.deployments.service })).toBe(
      '1.0.0',
    );
    const input = { spec: pipeline.release, pipeline, run: 'run-1', candidate, champion: '1.0.0', deps };
    const outcome = await releaseCandidate(input);
    const record = await platform.deployments.rollouts.status('cancer-live');
    expect(outcome.controllerId).toBe(record.id);
    expect(record.status).toBe('running');
    expect(record.spec).toMatchObject({ candidate, baseline: '1.0.0', steps: [10, 50, 100], intervalMs: 300_000 });
    expect(record.spec.gates).toHaveLength(1);
    expect((await platform.deployments.service.view('cancer-live')).revision.spec.routes).toEqual([
      { version: '1.0.0', weight: 90 },
      { version: candidate, weight: 10 },
    ]);
    expect(outcome.summary).toBe(
      `rollout #${record.id} started on cancer-live: ${candidate} replaces 1.0.0 in steps 10, 50, 100% every 5m`,
    );
    // A restart repeating the step adopts the running rollout.
    expect((await releaseCandidate(input)).controllerId).toBe(record.id);
    expect(await releaseProgress({ ...input, release: outcome })).toEqual({
      state: 'waiting',
      summary: `rollout #${record.id} running on cancer-live: step 1/3, ${candidate} at 10%`,
    });
    await platform.deployments.rollouts.promote('cancer-live');
    expect(await releaseProgress({ ...input, release: outcome })).toMatchObject({ state: 'done' });
    expect(primaryVersion((await platform.deployments.service.view('cancer-live')).revision.spec)).toBe(candidate);

    // Back to 1.0.0 as the candidate, then aborted: the serving version keeps 100%.
    const back = { ...input, candidate: '1.0.0', champion: candidate };
    const second = await releaseCandidate(back);
    expect(second.controllerId).not.toBe(record.id);
    await platform.deployments.rollouts.abort('cancer-live');
    const stopped = await releaseProgress({ ...back, release: second });
    expect(stopped).toEqual({
      state: 'stopped',
      reason: `rollout #${second.controllerId} on cancer-live aborted: aborted by hand; ${candidate} keeps the traffic`,
    });
    expect((await platform.deployments.service.view('cancer-live')).revision.spec.routes).toEqual([
      { version: candidate, weight: 100 },
    ]);
  });

  it('shadows the candidate for its duration, then removes the shadow', async () => {
    const spec: ReleaseSpec = { kind: 'shadow', durationMs: 3_600_000 };
    const pipeline = pipelineOf(spec, 'cancer-live');
    const start = new Date('2026-01-01T00:00:00Z');
    const input = { spec, pipeline, run: 'run-3', candidate: '1.0.0', deps };
    const outcome = await releaseCandidate({ ...input, now: start });
    expect(outcome.startedAt).toBe(start.toISOString());
    expect((await platform.deployments.service.view('cancer-live')).revision.spec.shadows).toEqual([
      { version: '1.0.0', percent: 100 },
    ]);
    const half = await releaseProgress({ ...input, release: outcome, now: new Date(start.getTime() + 1_800_000) });
    expect(half).toEqual({ state: 'waiting', summary: 'shadow of 1.0.0 on cancer-live: 30m left of 1h' });
    const end = await releaseProgress({ ...input, release: outcome, now: new Date(start.getTime() + 3_600_000) });
    expect(end.state).toBe('done');
    expect((await platform.deployments.service.view('cancer-live')).revision.spec.shadows).toEqual([]);
  });

  it('starts an experiment with the champion first, waiting until it is decided', async () => {
    const spec: ReleaseSpec = { kind: 'experiment', metric: 'accuracy', autoPromote: true };
    const pipeline = pipelineOf(spec, 'cancer-live');
    const serving = primaryVersion((await platform.deployments.service.view('cancer-live')).revision.spec);
    const input = { spec, pipeline, run: 'run-4', candidate: '1.0.0', champion: serving, deps };
    const outcome = await releaseCandidate(input);
    const results = await platform.deployments.experiments.results('cancer-live');
    expect(results.experiment.id).toBe(outcome.controllerId);
    expect(results.experiment.spec).toMatchObject({ arms: [serving, '1.0.0'], metric: 'accuracy', autoPromote: true });
    expect((await releaseProgress({ ...input, release: outcome })).state).toBe('waiting');
    await platform.deployments.experiments.stop('cancer-live', '1.0.0');
    expect(await releaseProgress({ ...input, release: outcome })).toMatchObject({ state: 'done' });
  });
});
