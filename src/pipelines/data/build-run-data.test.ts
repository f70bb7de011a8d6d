import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTrainingSet } from '../../features/offline/training-set.js';
import {
  generate,
  openFeaturePlatform,
  BASE,
  SECOND,
  type TestPlatform,
} from '../../features/offline/feature-data.test-support.js';
import { readRows, type Row } from '../../features/offline/point-in-time.test-support.js';
import { SqlPredictionStore } from '../../monitor/sql-prediction-store.js';
import { describeEachDialect } from '../../testing/databases.js';
import type { FeatureStore } from '../../features/feature-store.js';
import { buildRunData, csvSibling, MIN_RUN_ROWS } from './build-run-data.js';
import {
  BASE_MS,
  MINUTE,
  breastCancerRows,
  breastCancerSignature,
  cancerRequest,
  logWithFeedback,
  pipelineSpec,
} from './run-data.test-support.js';

const signature = breastCancerSignature();
const noFeatures = {} as FeatureStore;
const dirs: string[] = [];
async function runDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-run-data-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describeEachDialect('buildRunData from feedback', (fixture) => {
  it('writes one row per labelled request in the window, split by time, with a stable fingerprint', async () => {
    const predictions = new SqlPredictionStore(await fixture.open());
    const rows = breastCancerRows('train').slice(0, 200);
    await logWithFeedback(predictions, rows, BASE_MS);
    // Outside the window (too old), a batch of two rows, and a request without feedback: none become rows.
    await logWithFeedback(predictions, rows.slice(0, 5), BASE_MS - 40 * 86_400_000, 'old');
    await predictions.append([
      cancerRequest('batch', BASE_MS + 5 * MINUTE, rows[0]!.features, 2),
      cancerRequest('unlabelled', BASE_MS + 6 * MINUTE, rows[1]!.features),
    ]);
    await predictions.addFeedback([{ requestId: 'batch', label: '1' }]);
    const now = BASE_MS + 300 * MINUTE;
    const dir = await runDir();
    const fingerprint = await buildRunData({
      spec: pipelineSpec(),
      signature,
      runDir: dir,
      now: new Date(now),
      deps: { predictions, features: noFeatures },
    });
    expect(fingerprint.rows).toBe(200);
    expect(fingerprint.splits).toEqual({ train: 140, validation: 30, test: 30 });
    expect(fingerprint.from).toBe(new Date(BASE_MS).toISOString());
    expect(fingerprint.to).toBe(new Date(BASE_MS + 199 * MINUTE).toISOString());
    expect(fingerprint.featureColumns).toEqual(Array.from({ length: 30 }, (_, j) => `input_${j}`));
    expect(fingerprint.labelColumn).toBe('label');
    expect(fingerprint.sha256).toMatch(/^[0-9a-f]{64}$/);
    const train = await readRows(fingerprint.files.train);
    const test = await readRows(fingerprint.files.test);
    expect(Object.keys(train[0]!)).toEqual(['request_id', ...fingerprint.featureColumns, 'label', 'event_timestamp']);
    const time = (row: Row): number => Date.parse(row.event_timestamp as string);
    expect(Math.max(...train.map(time))).toBeLessThan(Math.min(...test.map(time)));
    // Row r17 holds request 17's inputs (as FP32) and its label.
    const r17 = train.find((row) => row.request_id === 'r17')!;
    expect(r17.input_3).toBe(Math.fround(rows[17]!.features[3]!));
    expect(r17.label).toBe(rows[17]!.label);
    expect(time(r17)).toBe(BASE_MS + 17 * MINUTE);
    expect((await readFile(csvSibling(fingerprint.files.test), 'utf8')).split('\n')).toHaveLength(32);
    const manifest = JSON.parse(await readFile(path.join(dir, 'data.json'), 'utf8')) as { excluded: object };
    expect(manifest.excluded).toEqual({ 'a batch of several rows': 1 });

    const again = await buildRunData({
      spec: pipelineSpec(),
      signature,
      runDir: await runDir(),
      now,
      deps: { predictions, features: noFeatures },
    });
    expect(again.sha256).toBe(fingerprint.sha256);
    await predictions.addFeedback([{ requestId: 'r199', label: String(1 - rows[199]!.label) }]);
    const changed = await buildRunData({
      spec: pipelineSpec(),
      signature,
      runDir: await runDir(),
      now,
      deps: { predictions, features: noFeatures },
    });
    expect(changed.rows).toBe(200);
    expect(changed.sha256).not.toBe(fingerprint.sha256);
  });
});

describe('buildRunData refusals', () => {
  it('refuses too few rows, an empty split and a feature service with feedback labels, naming the counts', async () => {
    const { openDatabase } = await import('../../store/database.js');
    const dir = await runDir();
    const predictions = new SqlPredictionStore(await openDatabase({ sqlitePath: path.join(dir, 'db.sqlite') }));
    try {
      const rows = breastCancerRows('train');
      await logWithFeedback(predictions, rows.slice(0, MIN_RUN_ROWS - 1), BASE_MS);
      const deps = { predictions, features: noFeatures };
      const now = BASE_MS + 100 * MINUTE;
      await expect(buildRunData({ spec: pipelineSpec(), signature, runDir: dir, now, deps })).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        message: expect.stringMatching(/29 labelled rows in the data window .*, at least 30 needed/),
      });
      await logWithFeedback(predictions, rows.slice(0, 10), BASE_MS + 40 * MINUTE, 'more');
      const split = { train: 0.95, validation: 0.05, test: 0 };
      await expect(
        buildRunData({ spec: pipelineSpec({ split }), signature, runDir: dir, now, deps }),
      ).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        message: expect.stringMatching(/time split of 39 rows leaves test empty \(train 37, validation 2, test 0/),
      });
      await expect(
        buildRunData({ spec: pipelineSpec({ featureService: 'risk' }), signature, runDir: dir, now, deps }),
      ).rejects.toMatchObject({ code: 'UNIMPLEMENTED', message: expect.stringMatching(/featureService \("risk"\)/) });
    } finally {
      await predictions.close();
    }
  });
});

describe('buildRunData from a label file', () => {
  const data = generate(11);
  let platform: TestPlatform & { entitiesFile: string };
  let labels: string;
  beforeAll(async () => {
    platform = await openFeaturePlatform(data);
    labels = path.join(platform.home, 'labels.csv');
    const iso = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
    const lines = data.entities.map((e, i) => [e.id, e.k1, e.k2, iso(e.ts as number), e.req, i % 3 === 0 ? 1 : 0]);
    await writeFile(labels, `${['id,k1,k2,ts,req,y', ...lines.map((l) => l.join(','))].join('\n')}\n`);
  });
  afterAll(async () => {
    await platform.dispose();
  });

  it('equals `features training-set` for the same entities, ordered by time, label renamed', async () => {
    const spec = pipelineSpec({
      featureService: 'svc',
      labels: { kind: 'file', path: labels, timestampColumn: 'ts', labelColumn: 'y' },
    });
    const dir = await runDir();
    const deps = { predictions: platform.predictions, features: platform.features };
    const fingerprint = await buildRunData({ spec, signature, runDir: dir, now: BASE + 61 * SECOND, deps });
    expect(fingerprint.rows).toBe(data.entities.length);
    expect(fingerprint.featureColumns).toEqual(['b__b_val', 'req', 'a__a_val', 'a__a_str']);
    const out = path.join(dir, 'reference.parquet');
    await buildTrainingSet(platform.features, { service: 'svc', entities: labels, out, timestampColumn: 'ts' });
    const reference = (await readRows(out))
      .map((row, index) => ({ row, index }))
      .sort((a, b) => (a.row.ts as number) - (b.row.ts as number) || a.index - b.index)
      .map(({ row }) => {
        const { y, ts, ...rest } = row;
        return { ...rest, ts: new Date(ts as number).toISOString(), label: y };
      });
    const actual = [
      ...(await readRows(fingerprint.files.train)),
      ...(await readRows(fingerprint.files.validation)),
      ...(await readRows(fingerprint.files.test)),
    ];
    expect(actual).toHaveLength(reference.length);
    for (const [i, row] of reference.entries()) expect(actual[i], `row ${i}`).toEqual(row);
    expect(actual.some((row) => row.a__a_str === 'edge')).toBe(true);

    // A shorter window keeps only the rows with times inside it (20 s .. 40 s after BASE).
    const narrow = { ...spec, data: { ...spec.data, windowMs: 20 * SECOND } };
    const windowed = await buildRunData({
      spec: narrow,
      signature,
      runDir: await runDir(),
      now: BASE + 40 * SECOND,
      deps,
    });
    const inside = reference.filter((row) => {
      const t = Date.parse(row.ts) - BASE;
      return t >= 20 * SECOND && t <= 40 * SECOND;
    });
    expect(windowed.rows).toBe(inside.length);
    expect(windowed.from >= new Date(BASE + 20 * SECOND).toISOString()).toBe(true);

    // For a model with one [batch, 4] input the four features are named as its input's columns, in order,
    // so the evaluation maps them to the input (not an entity key or the timestamp).
    const vector = { inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 4] }], outputs: signature.outputs };
    const named = await buildRunData({
      spec,
      signature: vector,
      runDir: await runDir(),
      now: BASE + 61 * SECOND,
      deps,
    });
    expect(named.featureColumns).toEqual(['x_0', 'x_1', 'x_2', 'x_3']);
    const first = (await readRows(named.files.train))[0]!;
    const firstReference = reference[0] as Record<string, unknown>;
    expect(first.x_0).toBe(firstReference.b__b_val);
    expect(first.x_2).toBe(firstReference.a__a_val);
  });

  it('refuses a label file without a feature service or without its label column', async () => {
    const deps = { predictions: platform.predictions, features: platform.features };
    const file = { kind: 'file' as const, path: labels, timestampColumn: 'ts', labelColumn: 'y' };
    await expect(
      buildRunData({ spec: pipelineSpec({ labels: file }), signature, runDir: await runDir(), now: BASE, deps }),
    ).rejects.toThrow(/needs data.featureService/);
    await expect(
      buildRunData({
        spec: pipelineSpec({ featureService: 'svc', labels: { ...file, labelColumn: 'target' } }),
        signature,
        runDir: await runDir(),
        now: BASE,
        deps,
      }),
    ).rejects.toThrow(/has no label column "target"; its columns are id, k1, k2, ts, req, y/);
  });
});
