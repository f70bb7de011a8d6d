import { describe, expect, it } from 'vitest';
import type { InferenceEvent } from './events.js';
import { ModelStatistics, queryStatistics, type ModelStat, type StatisticsModels } from './model-statistics.js';

/**
 * `--workers N`: Triton's statistics answered by any worker equal those of one process that saw
 * every request (the rows cross cluster IPC as JSON; test/statistics-workers.test.ts runs the real cluster).
 */
describe('statistics of several workers', () => {
  const viaIpc = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
  const event = (version: string, outcome: InferenceEvent['outcome'], ms: number, rows: number): InferenceEvent => ({
    requestId: 'r',
    timeMs: 1_700_000_000_000 + ms,
    deployment: undefined,
    model: 'cancer',
    version,
    protocol: 'http',
    outcome,
    errorCode: outcome === 'success' ? undefined : 'INVALID_ARGUMENT',
    durationSeconds: ms / 1000,
    queueSeconds: 0.0005,
    computeSeconds: 0.001,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 30], data: new Float32Array(rows * 30) }],
    outputs: undefined,
  });
  const models: StatisticsModels = {
    getModel: (name) => (name === 'cancer' ? Promise.resolve({}) : Promise.reject(new Error(`no model ${name}`))),
    resolve: (_model, selector) => Promise.resolve({ version: selector }),
  };

  it('rows add up per version and batch size; last_inference is the latest; filters apply after the merge', async () => {
    const a = new ModelStatistics();
    const b = new ModelStatistics();
    const single = new ModelStatistics();
    for (let i = 0; i < 9; i++) {
      const worker = i % 3 === 0 ? b : a;
      const e = event(i < 6 ? '1.0.0' : '1.1.0', i === 4 ? 'invalid' : 'success', 2 + i, 1 + (i % 2));
      for (const s of [worker, single]) {
        // The batcher reports a run before the requests it carried resolve (runtime/batcher.ts).
        if (e.outcome === 'success') s.observeExecution('cancer', e.version, 1 + (i % 2), 1);
        s.observe(e);
      }
    }
    a.aggregateWith(() => Promise.resolve({ results: [viaIpc(a.all()), viaIpc(b.all())], missing: 0 }));
    const every = await queryStatistics(a, models);
    expect(every).toEqual(single.all());
    expect(
      every.map((row) => [row.version, row.inference_count, row.execution_count, row.inference_stats.fail.count]),
    ).toEqual([
      ['1.0.0', 8, 5, 1],
      ['1.1.0', 4, 3, 0],
    ]);
    expect(every.map((row) => row.inference_count)).not.toEqual(a.all().map((row: ModelStat) => row.inference_count));
    expect(await queryStatistics(a, models, 'cancer')).toEqual(single.ofModel('cancer'));
    expect(await queryStatistics(a, models, 'cancer', '1.1.0')).toEqual([single.ofVersion('cancer', '1.1.0')]);
    // A version no worker served: zeros, as for one process.
    expect(await queryStatistics(a, models, 'cancer', '2.0.0')).toEqual([single.ofVersion('cancer', '2.0.0')]);
    expect((await queryStatistics(a, models, 'cancer', '2.0.0'))[0]!.inference_count).toBe(0);
  });
});
