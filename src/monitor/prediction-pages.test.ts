import { randomFillSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../tensor/datatypes.js';
import { describeEachDialect } from '../testing/databases.js';
import { PredictionLog } from './prediction-log.js';
import type { PredictionCursor, PredictionEntry } from './prediction-store.js';
import { SqlPredictionStore } from './sql-prediction-store.js';
import { BinaryWriter } from './prediction-binary.js';
import { cutTensor, decodeTensorBlob, encodeTensors, MAX_CUT_STRING_BYTES, writeTensors } from './tensor-blob.js';

const T0 = 1_700_000_000_000;

/** A row whose input is `floats` random FP32 values (incompressible, so PostgreSQL stores them at full size). */
function bigEntry(i: number, floats: number, timeMs = T0 + i): PredictionEntry {
  const data = new Float32Array(floats);
  randomFillSync(new Uint8Array(data.buffer));
  for (let k = 0; k < floats; k++) if (!Number.isFinite(data[k]!)) data[k] = k;
  return {
    requestId: `req-${String(i).padStart(4, '0')}`,
    timeMs,
    deployment: undefined,
    model: 'images',
    version: '1',
    protocol: 'http',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, floats], data }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 1], data: new Float32Array([i]) }],
    latencyMs: 1,
  };
}

describeEachDialect('prediction log pages and byte budget', (fixture) => {
  it('pages by rows and stored bytes with a keyset cursor, rows of one millisecond included', async () => {
    const store = new SqlPredictionStore(await fixture.open());
    // Sizes 10 KB .. 100 KB; rows 4 to 6 share one millisecond.
    await store.append(
      Array.from({ length: 10 }, (_, i) => bigEntry(i, 2_500 * (i + 1), i >= 4 && i <= 6 ? T0 + 4 : T0 + i)),
    );
    for (const order of ['asc', 'desc'] as const) {
      const seen: string[] = [];
      let after: PredictionCursor | undefined;
      let pages = 0;
      do {
        const page = await store.page({
          model: 'images',
          order,
          limit: 3,
          maxBytes: 150_000,
          ...(after === undefined ? {} : { after }),
        });
        const bytes = page.rows.reduce((n, row) => n + row.inputs[0]!.data.length * 4, 0);
        expect(page.rows.length).toBeGreaterThanOrEqual(1);
        expect(page.rows.length).toBeLessThanOrEqual(3);
        if (page.rows.length > 1) expect(bytes).toBeLessThanOrEqual(150_000);
        seen.push(...page.rows.map((row) => row.requestId));
        after = page.next;
        pages++;
      } while (after !== undefined);
      const all = (await store.query({ model: 'images', order, limit: 100 })).map((row) => row.requestId);
      expect(seen).toEqual(all);
      expect(pages).toBeGreaterThan(4);
    }
    // A row larger than the budget still makes a page of its own.
    const [largest] = (await store.page({ model: 'images', limit: 5, maxBytes: 1_000 })).rows;
    expect(largest?.requestId).toBe('req-0009');
  });

  it('trims to a byte budget, keeping the newest rows', async () => {
    const store = new SqlPredictionStore(await fixture.open());
    await store.append(Array.from({ length: 12 }, (_, i) => bigEntry(i, 25_000))); // 100 KB each
    expect(await store.trimToBytes(1 << 30)).toBe(0);
    expect(await store.trimToBytes(350_000)).toBe(9);
    expect((await store.query({ order: 'asc' })).map((row) => row.requestId)).toEqual([
      'req-0009',
      'req-0010',
      'req-0011',
    ]);
  });

  it("applies the byte budget from the log's retention without waiting for the timed pass", async () => {
    const store = new SqlPredictionStore(await fixture.open());
    const log = await PredictionLog.open({
      store,
      mode: 'inline',
      payload: { mode: 'full', maxElements: 1024 },
      maxBytes: 500_000,
      retentionCheckMs: 3_600_000,
    });
    try {
      // Rows stamped now: the pass the byte budget triggers also applies the age retention (7 days),
      // which deletes every row stamped T0 (2023), all of them or none depending on when it runs.
      const now = Date.now();
      for (let i = 0; i < 10; i++) {
        expect(log.record(bigEntry(i, 25_000, now + i))).toBe(true);
        await log.flush();
      }
      const deadline = Date.now() + 30_000;
      while ((await store.count({})) > 5 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      const kept = (await store.query({ order: 'asc' })).map((row) => row.requestId);
      expect(kept.length).toBeLessThanOrEqual(5);
      expect(kept.at(-1)).toBe('req-0009');
    } finally {
      await log.close();
    }
  });
});

describe("the log's memory bound and cut tensors", () => {
  it('drops rows over the pending byte budget before copying them, and counts them', async () => {
    const { openDatabase } = await import('../store/database.js');
    const store = new SqlPredictionStore(await openDatabase({ sqlitePath: ':memory:' }));
    const log = await PredictionLog.open({
      store,
      mode: 'inline',
      payload: { mode: 'full', maxElements: 1024 },
      maxPendingBytes: 1_000_000,
    });
    try {
      // 400 KB rows recorded in one go (nothing is stored in between): two fit, three do not.
      const taken = Array.from({ length: 5 }, (_, i) => log.record(bigEntry(i, 100_000)));
      expect(taken).toEqual([true, true, false, false, false]);
      expect(log.stats()).toMatchObject({ recorded: 2, dropped: 3, droppedOverBytes: 3 });
      expect(log.stats().pendingBytes).toBeGreaterThan(800_000);
      await log.flush();
      expect(log.stats()).toMatchObject({ written: 2, pending: 0, pendingBytes: 0 });
      // Capped (the default), the same rows are small and all taken.
      const capped = await PredictionLog.open({ store, mode: 'inline', maxPendingBytes: 1_000_000 });
      expect(Array.from({ length: 5 }, (_, i) => capped.record(bigEntry(i, 100_000)))).toEqual([
        true,
        true,
        true,
        true,
        true,
      ]);
      await capped.close();
    } finally {
      await log.close();
    }
  });

  it('cuts tensors to whole rows when a row fits, else to the first elements, and round-trips the shapes served', () => {
    const wide: Tensor = {
      name: 'img',
      datatype: 'UINT8',
      shape: [2, 3, 100, 100],
      data: new Uint8Array(60_000).map((_, i) => i % 251),
    };
    expect(cutTensor(wide, 1024)).toMatchObject({ shape: [1, 1024] });
    const rows: Tensor = {
      name: 't',
      datatype: 'FP64',
      shape: [100, 30],
      data: new Float64Array(3_000).map((_, i) => i),
    };
    const cut = cutTensor(rows, 1024);
    expect(cut.shape).toEqual([34, 30]);
    expect(Array.from(cut.data as Float64Array)).toEqual(Array.from({ length: 1020 }, (_, i) => i));
    const text: Tensor = {
      name: 's',
      datatype: 'BYTES',
      shape: [4, 1],
      data: ['a', 'x'.repeat(MAX_CUT_STRING_BYTES), 'b', 'c'],
    };
    expect(cutTensor(text, 1024)).toMatchObject({ shape: [1, 1], data: ['a'] });

    expect(decodeTensorBlob(encodeTensors([wide, rows]))).toMatchObject({ servedShapes: undefined, omitted: false });
    const writer = new BinaryWriter(64);
    const small: Tensor = { name: 'y', datatype: 'INT32', shape: [2], data: new Int32Array([7, 8]) };
    const length = writeTensors(writer, [wide, small, rows], undefined, 1024);
    const decoded = decodeTensorBlob(new Uint8Array(writer.buffer, 0, length));
    expect(decoded.servedShapes).toEqual([[2, 3, 100, 100], [2], [100, 30]]);
    expect(decoded.tensors.map((t) => t.shape)).toEqual([[1, 1024], [2], [34, 30]]);
    expect(Array.from(decoded.tensors[1]!.data as Int32Array)).toEqual([7, 8]);
    expect(Array.from((decoded.tensors[0]!.data as Uint8Array).subarray(0, 3))).toEqual([0, 1, 2]);
  });
});
