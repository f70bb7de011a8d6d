import { tensorRequest } from '../serving/index.js';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../store/database.js';
import { expectedOutputs, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { SqlPredictionStore } from './sql-prediction-store.js';

describe('closing the platform', () => {
  it('stores every answered prediction before the database closes (no flush by the caller)', async () => {
    const platform = await openTestPlatform();
    try {
      await platform.registry.push({ name: 'breast_cancer', bytes: fixtureBytes('breast_cancer.onnx') });
      const [input] = expectedOutputs('breast_cancer').inputs;
      const row = {
        name: input!.name,
        datatype: 'FP32' as const,
        shape: [1, 30],
        data: Float32Array.from(input!.data.slice(0, 30) as number[]),
      };
      const ids = await Promise.all(
        Array.from(
          { length: 200 },
          async () => (await platform.serving.pipeline.infer(tensorRequest('breast_cancer', [row]))).id,
        ),
      );
      await platform.close();
      const store = new SqlPredictionStore(await openDatabase({ sqlitePath: path.join(platform.home, 'slipway.db') }));
      try {
        expect(await store.count({ model: 'breast_cancer' })).toBe(200);
        expect((await store.query({ requestId: ids[123]!, limit: 1 })).map((p) => p.requestId)).toEqual([ids[123]]);
      } finally {
        await store.close();
      }
    } finally {
      await platform.dispose();
    }
  });
});
