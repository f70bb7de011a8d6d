import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDefinitions } from '../features/definitions/parse-definitions.js';
import { readTable, writeTable } from '../io/index.js';
import { expectedOutputs, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { batchDepsOf, runBatchJob } from './run-batch-job.js';

/** The `cancer` service of the entity-inference fixtures: breast-cancer's 30 columns split over two views, f29 a request column. */
const DEFINITIONS = fileURLToPath(new URL('../../fixtures/features/entity-inference/features.yaml', import.meta.url));
const expected = expectedOutputs('breast_cancer');
const X = expected.inputs[0]?.data as number[];
const N = expected.inputs[0]?.shape[0] as number;
const T0 = Date.UTC(2026, 0, 1);

describe('batch scoring with --features', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;

  beforeAll(async () => {
    platform = await openTestPlatform();
    for (const model of ['breast_cancer', 'iris_mixed'])
      await platform.registry.push({ name: model, bytes: fixtureBytes(`${model}.onnx`) });
    const home = platform.home;
    const view = async (name: string, odd: boolean) => {
      const features = Array.from({ length: 29 }, (_, c) => c).filter((c) => (c % 2 === 1) === odd);
      const columns = [
        { name: 'patient_id', type: 'integer' as const },
        { name: 'ts', type: 'integer' as const },
        ...features.map((c) => ({ name: `f${c}`, type: 'number' as const })),
      ];
      // Row i's true values at T0, and a later (wrong) value that the point-in-time join must not see.
      const rows = Array.from({ length: N }, (_, i) => [
        [100 + i, T0, ...features.map((c) => X[i * 30 + c] as number)],
        [100 + i, T0 + 10_000, ...features.map(() => 999)],
      ]).flat();
      await writeTable(path.join(home, `${name}.parquet`), columns, [rows]);
    };
    await view('cells', false);
    await view('shape', true);
    await writeTable(
      path.join(home, 'flower.parquet'),
      [
        { name: 'flower_id', type: 'string' },
        { name: 'ts', type: 'integer' },
        { name: 'sepal_length', type: 'number' },
        { name: 'sepal_width', type: 'number' },
        { name: 'petal_length', type: 'number' },
      ],
      [],
    );
    await platform.features.apply(parseDefinitions(await readFile(DEFINITIONS, 'utf8'), { baseDir: home }));
    const entities = Array.from({ length: N }, (_, i) => [`p${i}`, 100 + i, T0 + 5_000, X[i * 30 + 29] as number]);
    await writeTable(
      path.join(home, 'entities.csv'),
      [
        { name: 'id', type: 'string' },
        { name: 'patient_id', type: 'integer' },
        { name: 'ts', type: 'integer' },
        { name: 'f29', type: 'number' },
      ],
      [entities],
    );
  }, 30_000);

  afterAll(async () => {
    await platform?.dispose();
  });

  it('joins point-in-time features in the service order and scores them', async () => {
    const output = path.join(platform.home, 'scored.parquet');
    const summary = await runBatchJob(
      {
        jobId: 'features',
        model: 'breast_cancer@1.0.0',
        input: path.join(platform.home, 'entities.csv'),
        output,
        idColumn: 'id',
        features: { service: 'cancer', timestampColumn: 'ts' },
      },
      batchDepsOf(platform),
    );
    expect(summary).toMatchObject({ status: 'succeeded', rows: N, scored: N, rejected: 0 });
    const labels: number[] = [];
    const ids: unknown[] = [];
    for await (const chunk of readTable(output, { columns: ['id', 'label'] })) {
      const label = chunk.columns.get('label');
      const id = chunk.columns.get('id');
      if (label?.type === 'number') labels.push(...label.values);
      if (id?.type === 'string') ids.push(...id.values);
    }
    expect(ids).toEqual(Array.from({ length: N }, (_, i) => `p${i}`));
    expect(labels).toEqual(expected.outputs[0]?.data);
  }, 30_000);
});
