import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRows } from '../../features/offline/point-in-time.test-support.js';
import { SqlPredictionStore } from '../../monitor/sql-prediction-store.js';
import { readOnnxModel } from '../../registry/onnx/read-onnx.js';
import { openDatabase } from '../../store/database.js';
import type { FeatureStore } from '../../features/feature-store.js';
import type { DataFingerprint, TrainSpec } from '../types.js';
import { buildRunData } from '../data/build-run-data.js';
import {
  BASE_MS,
  PIPELINE_FIXTURES,
  breastCancerRows,
  breastCancerSignature,
  logWithFeedback,
  pipelineSpec,
} from '../data/run-data.test-support.js';
import { isAlive, groupMembers } from './process-group.js';
import { runTraining, TRAIN_LOG, type RunTrainingOptions } from './run-training.js';

let home: string;
let data: DataFingerprint;
const signature = breastCancerSignature();

beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'slipway-run-training-'));
  const predictions = new SqlPredictionStore(await openDatabase({ sqlitePath: path.join(home, 'db.sqlite') }));
  try {
    // Every labelled row of the committed splits, train rows first, so the test split holds held-out rows.
    await logWithFeedback(predictions, [...breastCancerRows('train'), ...breastCancerRows('test')], BASE_MS);
    data = await buildRunData({
      spec: pipelineSpec(),
      signature,
      runDir: home,
      now: BASE_MS + 30 * 86_400_000,
      deps: { predictions, features: {} as FeatureStore },
    });
  } finally {
    await predictions.close();
  }
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

async function train(
  command: string[],
  extra: Partial<RunTrainingOptions> & { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<{ outcome: Awaited<ReturnType<typeof runTraining>>; runDir: string; pid: number | undefined }> {
  const runDir = await mkdtemp(path.join(home, 'run-'));
  const spec: TrainSpec = {
    command,
    workdir: PIPELINE_FIXTURES,
    timeoutMs: extra.timeoutMs ?? 60_000,
    env: extra.env ?? {},
  };
  let pid: number | undefined;
  const outcome = await runTraining({
    spec,
    runDir,
    files: { ...data.files, champion: null, output: path.join(runDir, 'candidate.onnx') },
    context: {
      run: 'run-1',
      pipeline: 'cancer-retrain',
      model: 'breast_cancer',
      labelColumn: data.labelColumn,
      featureColumns: data.featureColumns,
    },
    onSpawn: (p) => void (pid = p),
    ...extra,
  });
  return { outcome, runDir, pid };
}

/** Accuracy of an ONNX candidate on the test split, and of always answering the train split's majority class. */
async function testAccuracy(file: string): Promise<{ candidate: number; baseline: number }> {
  const test = await readRows(data.files.test);
  const trainRows = await readRows(data.files.train);
  const ones = trainRows.filter((row) => row.label === 1).length;
  const majority = ones * 2 >= trainRows.length ? 1 : 0;
  const session = await ort.InferenceSession.create(file);
  const input = new ort.Tensor(
    'float32',
    Float32Array.from(test.flatMap((row) => data.featureColumns.map((c) => row[c] as number))),
    [test.length, 30],
  );
  const result = await session.run({ input });
  const labels = Array.from(result.label!.data as BigInt64Array, Number);
  const right = labels.filter((label, i) => label === test[i]!.label).length;
  return {
    candidate: right / test.length,
    baseline: test.filter((row) => row.label === majority).length / test.length,
  };
}

function expectChampionSignature(file: string): Promise<void> {
  return readFile(file).then((bytes) => {
    expect(readOnnxModel(bytes).signature).toEqual(signature);
  });
}

function hasSklearn(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import sklearn, onnx'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('runTraining', () => {
  it('runs the Node script: an ONNX with the champion signature that beats a constant baseline', async () => {
    expect(data.splits).toEqual({ train: 398, validation: 86, test: 85 });
    const { outcome, runDir } = await train(['node', 'train.mjs'], { env: { EPOCHS: '300' } });
    expect(outcome).toMatchObject({
      exitCode: 0,
      signal: null,
      timedOut: false,
      workdir: PIPELINE_FIXTURES.replace(/\/$/, ''),
    });
    expect(outcome.candidatePath).toBe(path.join(runDir, 'candidate.onnx'));
    expect(outcome.gitCommit).toBe(
      execFileSync('git', ['-C', PIPELINE_FIXTURES, 'rev-parse', 'HEAD']).toString().trim(),
    );
    await expectChampionSignature(outcome.candidatePath!);
    const accuracy = await testAccuracy(outcome.candidatePath!);
    expect(accuracy.candidate).toBeGreaterThanOrEqual(0.93);
    expect(accuracy.candidate).toBeGreaterThan(accuracy.baseline + 0.2);
    expect(await readFile(path.join(runDir, TRAIN_LOG), 'utf8')).toMatch(
      /train.mjs: 398 train rows, 30 features, 300 epochs/,
    );
  });

  it.skipIf(!hasSklearn() && process.env.CI !== 'true')(
    'runs the scikit-learn script under /usr/bin/python3 with the same signature and a better than baseline accuracy',
    async () => {
      const { outcome } = await train(['/usr/bin/python3', 'train.py']);
      expect(outcome.exitCode).toBe(0);
      await expectChampionSignature(outcome.candidatePath!);
      const accuracy = await testAccuracy(outcome.candidatePath!);
      expect(accuracy.candidate).toBeGreaterThanOrEqual(0.93);
      expect(accuracy.candidate).toBeGreaterThan(accuracy.baseline + 0.2);
    },
  );

  it('gives the command its environment and the run JSON', async () => {
    const script =
      "const fs=require('fs');const e=process.env;fs.writeFileSync(e.SLIPWAY_OUTPUT_ONNX,JSON.stringify({e,run:JSON.parse(fs.readFileSync(e.SLIPWAY_RUN_JSON,'utf8')),cwd:process.cwd()}))";
    const { outcome } = await train(['node', '-e', script], { env: { SEED: '7' } });
    const seen = JSON.parse(await readFile(outcome.candidatePath!, 'utf8')) as {
      e: Record<string, string>;
      run: Record<string, unknown>;
      cwd: string;
    };
    expect(seen.cwd).toBe(PIPELINE_FIXTURES.replace(/\/$/, ''));
    expect(seen.e).toMatchObject({
      SEED: '7',
      SLIPWAY_TRAIN_DATA: data.files.train,
      SLIPWAY_VALIDATION_DATA: data.files.validation,
      SLIPWAY_TEST_DATA: data.files.test,
      SLIPWAY_TRAIN_CSV: data.files.train.replace(/parquet$/, 'csv'),
      SLIPWAY_LABEL_COLUMN: 'label',
    });
    expect(seen.e.SLIPWAY_CHAMPION_ONNX).toBeUndefined();
    expect(seen.run).toMatchObject({
      run: 'run-1',
      pipeline: 'cancer-retrain',
      model: 'breast_cancer',
      featureColumns: data.featureColumns,
      SLIPWAY_TEST_DATA: data.files.test,
      SLIPWAY_OUTPUT_ONNX: outcome.candidatePath,
    });
  });

  it('a command exiting 3: exit code 3, no candidate (even with an output file), log kept', async () => {
    const { outcome, runDir } = await train([
      '/bin/sh',
      '-c',
      'echo partial > "$SLIPWAY_OUTPUT_ONNX"; echo boom >&2; exit 3',
    ]);
    expect(outcome).toMatchObject({ exitCode: 3, signal: null, timedOut: false, candidatePath: null });
    expect(await readFile(path.join(runDir, TRAIN_LOG), 'utf8')).toBe('boom\n');
  });

  it('a timeout stops the whole process group (the command and the child it spawned)', async () => {
    const { outcome, runDir, pid } = await train(
      ['/bin/sh', '-c', 'sleep 30 & echo $! > "$SLIPWAY_OUTPUT_ONNX.child"; sleep 30'],
      { timeoutMs: 1000 },
    );
    expect(outcome).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGTERM', candidatePath: null });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(1000);
    expect(outcome.durationMs).toBeLessThan(5000);
    const child = Number(await readFile(path.join(runDir, 'candidate.onnx.child'), 'utf8'));
    expect(child).toBeGreaterThan(0);
    expect([isAlive(pid!), isAlive(child)]).toEqual([false, false]);
    expect(groupMembers(pid!)).toEqual([]);
    expect(await readFile(path.join(runDir, TRAIN_LOG), 'utf8')).toMatch(/timed out after 1000 ms/);
  });

  it('an abort (cancel) stops the group the same way', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const { outcome, pid } = await train(['/bin/sh', '-c', 'sleep 30'], { signal: controller.signal });
    expect(outcome).toMatchObject({ timedOut: false, signal: 'SIGTERM', candidatePath: null });
    expect(isAlive(pid!)).toBe(false);
  });

  it('stops the process when recording its pid fails, and rethrows', async () => {
    let pid: number | undefined;
    const failing = train(['/bin/sh', '-c', 'sleep 30'], {
      onSpawn: (p) => {
        pid = p;
        throw new Error('database gone');
      },
    });
    await expect(failing).rejects.toThrow('database gone');
    expect(isAlive(pid!)).toBe(false);
  });

  it('caps the log: keeps the first and last halves and says how many bytes were dropped', async () => {
    const script =
      "process.stdout.write('H'.repeat(3000)); process.stdout.write('M'.repeat(5000)); process.stdout.write('T'.repeat(700))";
    const { outcome, runDir } = await train(['node', '-e', script], { logLimitBytes: 1000 });
    expect(outcome.exitCode).toBe(0);
    const log = await readFile(path.join(runDir, TRAIN_LOG), 'utf8');
    expect(log.startsWith('H'.repeat(500) + '\n[slipway: 7700 bytes of output dropped')).toBe(true);
    expect(log.endsWith(`]\n${'T'.repeat(500)}`)).toBe(true);
    expect(log.length).toBeLessThan(1200);
  });

  it('refuses an empty command, a missing folder, and a command that cannot start', async () => {
    await expect(train([])).rejects.toThrow(/train.command is empty/);
    await expect(
      train(['node'], { spec: { command: ['node'], workdir: '/nope/x', timeoutMs: 1000, env: {} } }),
    ).rejects.toThrow(/train.workdir "\/nope\/x" is not a folder/);
    await expect(train(['/no/such/trainer'])).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/"\/no\/such\/trainer" could not be started.*ENOENT/),
    });
    expect(existsSync(path.join(home, 'never'))).toBe(false);
  });
});
