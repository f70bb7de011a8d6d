import { describe, expect, it } from 'vitest';
import type { PredictionEntry } from './prediction-store.js';
import { PredictionBatchPacker, unpackBatch } from './prediction-batch.js';
import { decodeTensors } from './tensor-blob.js';

function entry(i: number, overrides: Partial<PredictionEntry> = {}): PredictionEntry {
  return {
    requestId: `req-${i}`,
    timeMs: 1_700_000_000_000 + i,
    deployment: i % 2 === 0 ? 'prod' : undefined,
    model: 'fraud',
    version: '1.2.3',
    protocol: i % 3 === 0 ? 'grpc' : 'http',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: new Float32Array([i, 1, 2]) }],
    outputs: [
      { name: 'label', datatype: 'INT64', shape: [1], data: new BigInt64Array([BigInt(i)]) },
      { name: 'text', datatype: 'BYTES', shape: [1], data: [`s${i}`] },
    ],
    latencyMs: i / 4,
    ...overrides,
  };
}

describe('packed batches', () => {
  it('unpack to the entries in stored form, tensor blobs as views', () => {
    const packer = new PredictionBatchPacker(64);
    const entries = Array.from({ length: 50 }, (_, i) =>
      entry(i, i === 7 ? { shadow: { v: 2 }, features: ['ä', 1] } : {}),
    );
    for (const e of entries) packer.add(e);
    const batch = packer.take()!;
    expect(batch.rows).toBe(50);

    const rows = unpackBatch(batch);
    expect(rows).toHaveLength(50);
    rows.forEach((row, i) => {
      expect(row).toMatchObject({
        requestId: `req-${i}`,
        timeMs: 1_700_000_000_000 + i,
        deployment: i % 2 === 0 ? 'prod' : null,
        model: 'fraud',
        version: '1.2.3',
        protocol: i % 3 === 0 ? 'grpc' : 'http',
        latencyMs: i / 4,
        shadow: i === 7 ? '{"v":2}' : null,
        features: i === 7 ? '["ä",1]' : null,
      });
      expect(row.inputs.buffer).toBe(batch.buffer);
      expect(Array.from(decodeTensors(row.inputs)[0]!.data as Float32Array)).toEqual([i, 1, 2]);
      const [label, text] = decodeTensors(row.outputs);
      expect(label!.data).toEqual(new BigInt64Array([BigInt(i)]));
      expect(text!.data).toEqual([`s${i}`]);
    });
  });

  it('repeats model, version and deployment by reference to the previous entry, across changes and gaps', () => {
    const packer = new PredictionBatchPacker();
    const shape: [string, string, string | undefined][] = [
      ['a', '1', 'x'],
      ['a', '1', undefined],
      ['a', '1', 'x'],
      ['b', '1', 'x'],
      ['a', '2', 'y'],
      ['a', '2', 'y'],
      ['a', '2', undefined],
    ];
    shape.forEach(([model, version, deployment], i) => packer.add(entry(i, { model, version, deployment })));
    const rows = unpackBatch(packer.take()!);
    expect(rows.map((row) => [row.model, row.version, row.deployment ?? undefined])).toEqual(shape);
  });

  it('reuses a recycled buffer without leaking its old contents into new entries', () => {
    const packer = new PredictionBatchPacker(64);
    for (let i = 0; i < 20; i++) packer.add(entry(i, { shadow: 'x'.repeat(50) }));
    const first = packer.take()!;
    packer.take();
    packer.recycle(first.buffer);
    packer.add(entry(1));
    packer.take(); // packs into a fresh buffer: the spare is for the batch after this one
    packer.add(entry(2));
    const second = packer.take()!;
    expect(second.buffer).toBe(first.buffer);
    expect(unpackBatch(second)).toEqual([expect.objectContaining({ requestId: 'req-2', shadow: null })]);
  });

  it('copies tensors at add time, so the caller may reuse its buffers', () => {
    const packer = new PredictionBatchPacker();
    const shared = new Float32Array([1, 2, 3]);
    packer.add(entry(1, { inputs: [{ name: 'x', datatype: 'FP32', shape: [3], data: shared }] }));
    shared.fill(0);
    const [row] = unpackBatch(packer.take()!);
    expect(Array.from(decodeTensors(row!.inputs)[0]!.data as Float32Array)).toEqual([1, 2, 3]);
  });

  it('starts a new batch after take, and is empty-safe', () => {
    const packer = new PredictionBatchPacker();
    expect(packer.take()).toBeUndefined();
    packer.add(entry(1));
    const first = packer.take()!;
    packer.add(entry(2));
    const second = packer.take()!;
    expect(second.buffer).not.toBe(first.buffer);
    expect(unpackBatch(first).map((row) => row.requestId)).toEqual(['req-1']);
    expect(unpackBatch(second).map((row) => row.requestId)).toEqual(['req-2']);
  });

  it('refuses an entry it cannot pack and leaves the batch as it was', () => {
    const packer = new PredictionBatchPacker();
    packer.add(entry(1));
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => packer.add(entry(2, { features: cyclic }))).toThrow();
    expect(() =>
      packer.add(entry(3, { inputs: [{ name: 'x', datatype: 'FP32', shape: [4], data: new Float32Array(3) }] })),
    ).toThrow(/elements/);
    expect(() => packer.add(entry(4, { requestId: 'x'.repeat(1025) }))).toThrow(/up to 1024/);
    packer.add(entry(5));
    expect(unpackBatch(packer.take()!).map((row) => row.requestId)).toEqual(['req-1', 'req-5']);
  });
});
