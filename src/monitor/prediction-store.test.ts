import { describe, expect, it } from 'vitest';
import type { SlipwayError } from '../core/errors.js';
import type { Tensor } from '../tensor/datatypes.js';
import { describeEachDialect } from '../testing/databases.js';
import type { PredictionEntry, PredictionStore, StoredPrediction } from './prediction-store.js';
import { SqlPredictionStore } from './sql-prediction-store.js';
import { rejection } from '../testing/rejection.js';

const T0 = 1_700_000_000_000;

function entry(i: number, overrides: Partial<PredictionEntry> = {}): PredictionEntry {
  return {
    requestId: `req-${String(i).padStart(6, '0')}`,
    timeMs: T0 + i,
    deployment: undefined,
    model: 'fraud',
    version: '1.0.0',
    protocol: 'http',
    inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 3], data: new Float32Array([i, i + 0.5, -i]) }],
    outputs: [{ name: 'score', datatype: 'FP64', shape: [1, 1], data: new Float64Array([i / 10]) }],
    latencyMs: 1.25,
    ...overrides,
  };
}

function entries(count: number, overrides: (i: number) => Partial<PredictionEntry> = () => ({})): PredictionEntry[] {
  return Array.from({ length: count }, (_, i) => entry(i, overrides(i)));
}

const ALL_DATATYPES: Tensor[] = [
  { name: 'b', datatype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
  { name: 'u8', datatype: 'UINT8', shape: [2], data: new Uint8Array([0, 255]) },
  { name: 'u16', datatype: 'UINT16', shape: [2], data: new Uint16Array([1, 65535]) },
  { name: 'u32', datatype: 'UINT32', shape: [2], data: new Uint32Array([1, 4294967295]) },
  { name: 'u64', datatype: 'UINT64', shape: [2], data: new BigUint64Array([1n, 2n ** 64n - 1n]) },
  { name: 'i8', datatype: 'INT8', shape: [2], data: new Int8Array([-128, 127]) },
  { name: 'i16', datatype: 'INT16', shape: [2], data: new Int16Array([-32768, 32767]) },
  { name: 'i32', datatype: 'INT32', shape: [2], data: new Int32Array([-2147483648, 7]) },
  { name: 'i64', datatype: 'INT64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]) },
  { name: 'half', datatype: 'FP16', shape: [2], data: new Uint16Array([0x3c00, 0xfbff]) },
  { name: 'f32', datatype: 'FP32', shape: [2, 1], data: new Float32Array([1.5, -0]) },
  { name: 'f64', datatype: 'FP64', shape: [1, 2], data: new Float64Array([Math.PI, -1e300]) },
  { name: 'text', datatype: 'BYTES', shape: [3], data: ['', 'héllo', '😀'] },
];

function plain(tensors: readonly Tensor[]): unknown[] {
  return tensors.map((tensor) => ({
    ...tensor,
    shape: [...tensor.shape],
    type: tensor.data.constructor.name,
    data: Array.from(tensor.data as ArrayLike<unknown>),
  }));
}

const ids = (rows: readonly StoredPrediction[]): string[] => rows.map((row) => row.requestId);

const invalidRejection = (promise: Promise<unknown>): Promise<SlipwayError> => rejection(promise, 'INVALID_ARGUMENT');

describeEachDialect('PredictionStore', (fixture) => {
  const openStore = async (): Promise<PredictionStore> => new SqlPredictionStore(await fixture.open());

  describe('append and query', () => {
    it('stores every field and returns tensors of all 13 datatypes with their values', async () => {
      const store = await openStore();
      const logged = entry(1, {
        deployment: 'fraud-prod',
        protocol: 'grpc',
        inputs: ALL_DATATYPES,
        outputs: [{ name: 'empty', datatype: 'FP32', shape: [0, 4], data: new Float32Array(0) }],
        latencyMs: 3.75,
        shadow: { version: '1.1.0', outputs: [0.5] },
        features: { country: 'NL', amount: 12.5 },
      });
      await store.append([logged]);

      const [row, ...rest] = await store.query({});
      expect(rest).toEqual([]);
      expect(row).toMatchObject({
        requestId: logged.requestId,
        timeMs: logged.timeMs,
        deployment: 'fraud-prod',
        model: 'fraud',
        version: '1.0.0',
        protocol: 'grpc',
        latencyMs: 3.75,
        shadow: { version: '1.1.0', outputs: [0.5] },
        features: { country: 'NL', amount: 12.5 },
      });
      expect(typeof row!.id).toBe('number');
      expect(plain(row!.inputs)).toEqual(plain(ALL_DATATYPES));
      expect(plain(row!.outputs)).toEqual(plain(logged.outputs));
    });

    it('leaves deployment, shadow and features undefined when not given', async () => {
      const store = await openStore();
      await store.append([entry(1)]);
      const [row] = await store.query({});
      expect(row!.deployment).toBeUndefined();
      expect(row!.shadow).toBeUndefined();
      expect(row!.features).toBeUndefined();
      expect(Array.from(row!.inputs[0]!.data as Float32Array)).toEqual([1, 1.5, -1]);
    });

    it('orders newest first by default, oldest first on request, and honours the limit', async () => {
      const store = await openStore();
      await store.append(entries(5));
      expect(ids(await store.query({}))).toEqual([
        'req-000004',
        'req-000003',
        'req-000002',
        'req-000001',
        'req-000000',
      ]);
      expect(ids(await store.query({ order: 'asc', limit: 2 }))).toEqual(['req-000000', 'req-000001']);
      expect(ids(await store.query({ order: 'desc', limit: 1 }))).toEqual(['req-000004']);
    });

    it('defaults to 100 rows and rejects limits outside 1 to 10,000', async () => {
      const store = await openStore();
      await store.append(entries(150));
      expect(await store.query({})).toHaveLength(100);
      await invalidRejection(store.query({ limit: 0 }));
      await invalidRejection(store.query({ limit: 10_001 }));
      await invalidRejection(store.query({ limit: 1.5 }));
    });

    it('filters by model, version, deployment, time window and request id', async () => {
      const store = await openStore();
      await store.append(
        entries(12, (i) => ({
          model: i % 2 === 0 ? 'fraud' : 'churn',
          version: i < 6 ? '1.0.0' : '2.0.0',
          deployment: i % 3 === 0 ? 'canary' : undefined,
        })),
      );
      const asc = { order: 'asc' } as const;
      expect(ids(await store.query({ ...asc, model: 'churn' }))).toEqual([
        'req-000001',
        'req-000003',
        'req-000005',
        'req-000007',
        'req-000009',
        'req-000011',
      ]);
      expect(ids(await store.query({ ...asc, model: 'fraud', version: '2.0.0' }))).toEqual([
        'req-000006',
        'req-000008',
        'req-000010',
      ]);
      expect(ids(await store.query({ ...asc, deployment: 'canary' }))).toEqual([
        'req-000000',
        'req-000003',
        'req-000006',
        'req-000009',
      ]);
      expect(ids(await store.query({ ...asc, since: T0 + 3, until: T0 + 6 }))).toEqual([
        'req-000003',
        'req-000004',
        'req-000005',
      ]);
      // Fractional bounds select the same integer times.
      expect(ids(await store.query({ ...asc, since: T0 + 2.5, until: T0 + 4.5 }))).toEqual([
        'req-000003',
        'req-000004',
      ]);
      expect(ids(await store.query({ requestId: 'req-000007' }))).toEqual(['req-000007']);
      expect(await store.query({ requestId: 'nope' })).toEqual([]);
      await invalidRejection(store.query({ since: Number.NaN }));
    });

    it('writes large batches in several statements of one call', async () => {
      const store = await openStore();
      await store.append(entries(1_234));
      expect(await store.count({})).toBe(1_234);
      expect(ids(await store.query({ order: 'asc', limit: 1 }))).toEqual(['req-000000']);
    });

    it('rejects a tensor whose data does not fit its shape, storing nothing of the call', async () => {
      const store = await openStore();
      const bad = entry(2, { inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: new Float32Array(3) }] });
      await invalidRejection(store.append([entry(1), bad]));
      expect(await store.count({})).toBe(0);
    });
  });

  it('counts the rows matching a filter', async () => {
    const store = await openStore();
    await store.append(entries(10, (i) => ({ version: i < 4 ? '1.0.0' : '2.0.0' })));
    expect(await store.count({})).toBe(10);
    expect(await store.count({ model: 'fraud', version: '2.0.0' })).toBe(6);
    expect(await store.count({ since: T0 + 8 })).toBe(2);
    expect(await store.count({ model: 'other' })).toBe(0);
  });

  describe('sample', () => {
    it('spreads at most maxRows rows evenly over the whole range, from both ends', async () => {
      const store = await openStore();
      // Two models interleaved: a sample of one must not depend on the parity of ids.
      await store.append(entries(20_000, (i) => ({ model: i % 2 === 0 ? 'fraud' : 'churn' })));
      const all = await store.first({ model: 'fraud', limit: 10_000 });
      const sample = await store.sample({ model: 'fraud', maxRows: 1_000 });

      expect(sample).toHaveLength(1_000);
      const position = new Map(all.map((row, index) => [row.id, index]));
      const positions = sample.map((row) => position.get(row.id)!);
      expect(positions[0]).toBeLessThan(10);
      expect(positions.at(-1)).toBeGreaterThanOrEqual(9_990);
      expect(new Set(positions.slice(1).map((p, i) => p - positions[i]!))).toEqual(new Set([10]));
      expect(sample.every((row) => row.model === 'fraud')).toBe(true);
      expect(plain(sample[0]!.inputs)).toEqual(plain(entry(positions[0]! * 2).inputs));

      // The same data gives the same sample; a window narrows it.
      expect((await store.sample({ model: 'fraud', maxRows: 1_000 })).map((row) => row.id)).toEqual(
        sample.map((row) => row.id),
      );
      const windowed = await store.sample({ model: 'fraud', since: T0 + 10_000, maxRows: 100 });
      expect(windowed).toHaveLength(100);
      expect(windowed.every((row) => row.timeMs >= T0 + 10_000)).toBe(true);
    });

    it('never exceeds maxRows when the count does not divide evenly', async () => {
      const store = await openStore();
      await store.append(entries(1_001));
      const sample = await store.sample({ maxRows: 10 });
      expect(sample.length).toBeLessThanOrEqual(10);
      expect(sample.length).toBeGreaterThanOrEqual(9);
    });

    it('returns every matching row, in id order, when there are no more than maxRows', async () => {
      const store = await openStore();
      await store.append(entries(7));
      expect(ids(await store.sample({ maxRows: 7 }))).toEqual(ids(await store.query({ order: 'asc' })));
      expect(await store.sample({ model: 'none', maxRows: 5 })).toEqual([]);
      await invalidRejection(store.sample({ maxRows: 0 }));
    });
  });

  it('first returns the oldest rows of a filter by time', async () => {
    const store = await openStore();
    // Logged out of time order: `first` goes by request time, not by insertion.
    await store.append([entry(5), entry(3), entry(4, { version: '2.0.0' }), entry(1)]);
    expect(ids(await store.first({ limit: 2 }))).toEqual(['req-000001', 'req-000003']);
    expect(ids(await store.first({ version: '1.0.0', limit: 10 }))).toEqual(['req-000001', 'req-000003', 'req-000005']);
  });

  describe('feedback', () => {
    it('upserts: the latest label wins, also within one call', async () => {
      const store = await openStore();
      await store.append(entries(3));
      expect(
        await store.addFeedback([
          { requestId: 'req-000001', label: 'fraud' },
          { requestId: 'req-000002', value: 0.25 },
        ]),
      ).toBe(2);
      expect(
        await store.addFeedback([
          { requestId: 'req-000001', label: 'legit' },
          { requestId: 'req-000002', label: 'x', value: 1 },
          { requestId: 'req-000002', value: 2 },
        ]),
      ).toBe(2);

      const joined = await store.joinedFeedback({ model: 'fraud' });
      expect(joined.map((row) => [row.requestId, row.label, row.value])).toEqual([
        ['req-000001', 'legit', null],
        ['req-000002', null, 2],
      ]);
      expect(Array.from(joined[0]!.outputs[0]!.data as Float64Array)).toEqual([0.1]);
    });

    it('keeps feedback for a prediction not logged yet and joins it once the prediction arrives', async () => {
      const store = await openStore();
      expect(await store.addFeedback([{ requestId: 'req-000009', label: 'fraud' }])).toBe(1);
      expect(await store.joinedFeedback({ model: 'fraud' })).toEqual([]);
      await store.append([entry(9)]);
      const joined = await store.joinedFeedback({ model: 'fraud' });
      expect(joined.map((row) => [row.requestId, row.label])).toEqual([['req-000009', 'fraud']]);
    });

    it('joins by model, version and time window; oldest first, the newest maxRows when more match', async () => {
      const store = await openStore();
      await store.append(entries(10, (i) => ({ version: i < 5 ? '1.0.0' : '2.0.0' })));
      await store.append([entry(100, { model: 'churn', requestId: 'other' })]);
      await store.addFeedback([
        ...entries(10).map((e) => ({ requestId: e.requestId, value: 1 })),
        { requestId: 'other', value: 1 },
      ]);

      expect(ids(await store.joinedFeedback({ model: 'fraud', version: '2.0.0' }))).toEqual([
        'req-000005',
        'req-000006',
        'req-000007',
        'req-000008',
        'req-000009',
      ]);
      expect(ids(await store.joinedFeedback({ model: 'fraud', since: T0 + 2, until: T0 + 4 }))).toEqual([
        'req-000002',
        'req-000003',
      ]);
      expect(ids(await store.joinedFeedback({ model: 'fraud' }, 3))).toEqual([
        'req-000007',
        'req-000008',
        'req-000009',
      ]);
      expect(ids(await store.joinedFeedback({ model: 'churn' }))).toEqual(['other']);
    });

    it('rejects feedback without a request id, or with neither label nor value', async () => {
      const store = await openStore();
      await invalidRejection(store.addFeedback([{ requestId: '', label: 'x' }]));
      await invalidRejection(store.addFeedback([{ requestId: 'a' }]));
      await invalidRejection(store.addFeedback([{ requestId: 'a', value: Number.POSITIVE_INFINITY }]));
      expect(await store.addFeedback([])).toBe(0);
    });
  });

  describe('retention', () => {
    it('deleteBefore removes predictions older than the cut-off, over several chunks, and old feedback', async () => {
      const store = await openStore();
      await store.append(entries(12_000));
      await store.addFeedback([{ requestId: 'req-000001', label: 'old' }]);

      expect(await store.deleteBefore(T0 + 11_000)).toBe(11_000);
      expect(await store.count({})).toBe(1_000);
      expect(ids(await store.first({ limit: 1 }))).toEqual(['req-011000']);
      // Feedback is dated by arrival (now): a cut-off in 2023 keeps it, one in the future removes it.
      await store.append([entry(1)]);
      expect(await store.joinedFeedback({ model: 'fraud' })).toHaveLength(1);
      expect(await store.deleteBefore(Date.now() + 60_000)).toBe(1_001);
      await store.append([entry(1)]);
      expect(await store.joinedFeedback({ model: 'fraud' })).toEqual([]);
    });

    it('trimToRows keeps the newest rows by id', async () => {
      const store = await openStore();
      await store.append(entries(11_000));
      expect(await store.trimToRows(20_000)).toBe(0);
      expect(await store.trimToRows(3)).toBe(10_997);
      expect(ids(await store.query({ order: 'asc' }))).toEqual(['req-010997', 'req-010998', 'req-010999']);
      expect(await store.trimToRows(0)).toBe(3);
      expect(await store.count({})).toBe(0);
      // Ids are never reused: new rows come after the deleted ones.
      await store.append([entry(1)]);
      const [row] = await store.query({});
      expect(row!.id).toBeGreaterThan(11_000);
      await invalidRejection(store.trimToRows(-1));
    });
  });

  it('refuses use after close', async () => {
    const store = await openStore();
    await store.close();
    await expect(store.count({})).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
