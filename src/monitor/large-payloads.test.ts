import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyModel } from '../runtime/onnx/tiny-onnx.test-support.js';
import { buildApp } from '../server/app.js';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';

const MONITOR_FIXTURES = fileURLToPath(new URL('../../fixtures/monitor/', import.meta.url));

/** y = ReduceSum(x) over x FP32 [N, M]: a model that takes a tensor as large as the client sends. */
const sumModel = (): Buffer =>
  Buffer.from(
    tinyModel({
      nodes: [{ op: 'ReduceSum', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', type: { tensor: 'FP32', shape: ['N', 'M'] } }],
      outputs: [{ name: 'y', type: { tensor: 'FP32', shape: [1, 1] } }],
    }),
  );

/** A binary-tensor request body (Inference-Header-Content-Length) for x [1, floats]: element i is i % 5. */
function binaryInfer(floats: number): { payload: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, floats], parameters: { binary_data_size: floats * 4 } }],
    }),
  );
  const data = new Float32Array(floats);
  for (let i = 0; i < floats; i++) data[i] = i % 5;
  return {
    payload: Buffer.concat([header, Buffer.from(data.buffer)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

interface JsonTensor {
  name: string;
  datatype: string;
  shape: number[];
  stored_shape?: number[];
  truncated?: boolean;
  data: number[];
}
interface PageBody {
  predictions: { request_id: string; payload?: string; inputs: JsonTensor[]; outputs: JsonTensor[] }[];
  next: string | null;
}

/** Issue 13 items 6 and 7: large requests through a real app, the prediction log and its API. */
describe('large payloads in the prediction log', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  const FLOATS = 8_000_000; // 32 MB a request

  beforeAll(async () => {
    platform = await openTestPlatform();
    for (const name of ['sum', 'sum_full', 'sum_none']) await platform.registry.push({ name, bytes: sumModel() });
    await platform.registry.setServingConfig('sum_full', { logPayload: 'full' });
    await platform.registry.setServingConfig('sum_none', { logPayload: 'none' });
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      monitor: platform.monitor,
      observability: platform,
    });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  const storedBytes = async (model: string): Promise<number> => {
    const { rows } = await sql<{
      n: number | null;
    }>`select sum(length(inputs) + length(outputs)) as n from predictions where model = ${model}`.execute(
      platform.database.db,
    );
    return Number(rows[0]?.n ?? 0);
  };

  it('keeps large tensors out of the log by default: four 32 MB requests store a few KB, and the rows say they were cut', async () => {
    const responses = await Promise.all(
      Array.from({ length: 4 }, () =>
        app.inject({ method: 'POST', url: '/v2/models/sum/infer', ...binaryInfer(FLOATS) }),
      ),
    );
    for (const response of responses) expect(response.statusCode, response.body).toBe(200);
    await platform.log.flush();
    expect(platform.log.stats().written).toBeGreaterThanOrEqual(4);
    expect(await storedBytes('sum')).toBeLessThan(4 * 8 * 1024);

    const [row] = await platform.predictions.query({ model: 'sum', limit: 1 });
    expect(row?.payload).toBe('truncated');
    expect(row?.servedShapes?.inputs).toEqual([[1, FLOATS]]);
    expect(row?.inputs[0]?.shape).toEqual([1, 1024]);
    expect(Array.from((row?.inputs[0]?.data as Float32Array).subarray(0, 7))).toEqual([0, 1, 2, 3, 4, 0, 1]);
    // The output is small, so it is kept whole.
    expect(row?.outputs[0]?.shape).toEqual([1, 1]);

    const api = await app.inject({ method: 'GET', url: '/api/v1/predictions?model=sum&limit=1' });
    const [logged] = api.json<PageBody>().predictions;
    expect(logged?.payload).toBe('truncated');
    expect(logged?.inputs[0]).toMatchObject({ shape: [1, FLOATS], stored_shape: [1, 1024], truncated: true });
  });

  it("follows the model's serving config: full keeps every element, none keeps no tensor", async () => {
    const full = await app.inject({ method: 'POST', url: '/v2/models/sum_full/infer', ...binaryInfer(1_000_000) });
    const none = await app.inject({ method: 'POST', url: '/v2/models/sum_none/infer', ...binaryInfer(1_000_000) });
    expect([full.statusCode, none.statusCode]).toEqual([200, 200]);
    await platform.log.flush();
    expect(await storedBytes('sum_full')).toBeGreaterThan(4_000_000);
    const [kept] = await platform.predictions.query({ model: 'sum_full', limit: 1 });
    expect(kept?.payload).toBe('full');
    expect(kept?.inputs[0]?.shape).toEqual([1, 1_000_000]);
    const [omitted] = await platform.predictions.query({ model: 'sum_none', limit: 1 });
    expect(omitted?.payload).toBe('omitted');
    expect(omitted?.inputs).toEqual([]);
    expect(omitted?.outputs).toEqual([]);
    expect(omitted?.latencyMs).toBeGreaterThan(0);
    expect(await storedBytes('sum_none')).toBeLessThan(16);
  });

  it('refuses a bad payload setting with a 400 naming it', async () => {
    const response = await app.inject({
      method: 'PUT',
      url: '/api/v1/models/sum/serving',
      payload: { logPayload: 'some', logMaxElements: 3 },
    });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('logPayload must be one of full, capped, none');
    expect(response.body).toContain('logMaxElements must be an integer from 128');
  });

  it('keeps tabular rows whole and whole rows of large batches, so drift still reads every column', async () => {
    const rows = 40; // 40 x 30 = 1,200 elements: over the cap, kept as its first 34 whole rows
    const data = Array.from({ length: rows * 30 }, (_, i) => (i % 30) + Math.floor(i / 30) / 100);
    const single = await app.inject({
      method: 'POST',
      url: '/v2/models/cancer/infer',
      payload: { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: data.slice(0, 30) }] },
    });
    const batch = await app.inject({
      method: 'POST',
      url: '/v2/models/cancer/infer',
      payload: { inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 30], data }] },
    });
    expect([single.statusCode, batch.statusCode]).toEqual([200, 200]);
    await platform.log.flush();
    const [first, second] = await platform.predictions.query({ model: 'cancer', order: 'asc', limit: 2 });
    expect(first?.payload).toBe('full');
    expect(Array.from(first!.inputs[0]!.data as Float32Array)).toEqual(
      Array.from(Float32Array.from(data.slice(0, 30))),
    );
    expect(second?.payload).toBe('truncated');
    expect(second?.inputs[0]?.shape).toEqual([34, 30]);
    expect(Array.from(second!.inputs[0]!.data as Float32Array)).toEqual(
      Array.from(Float32Array.from(data.slice(0, 34 * 30))),
    );
    expect(second?.servedShapes?.inputs).toEqual([[rows, 30]]);

    await platform.drift.setReferenceFromFile('cancer', undefined, `${MONITOR_FIXTURES}breast_cancer_train.csv`, [
      'target',
    ]);
    const report = await platform.drift.check({ model: 'cancer', windowMs: 3_600_000 });
    expect(report.sampledRows).toBe(2);
    expect(report.features).toHaveLength(30);
    // Per column: the single row and the 34 rows kept of the batch; enough rows for a verdict.
    expect(report.features.find((f) => f.column === 'input[29]')).toMatchObject({ currentRows: 35, status: 'ok' });
  });

  it('pages GET /api/v1/predictions by bytes with a keyset cursor, summarises big tensors and streams them whole on ?full=true', async () => {
    for (let i = 0; i < 3; i++)
      expect(
        (await app.inject({ method: 'POST', url: '/v2/models/sum_full/infer', ...binaryInfer(2_000_000) })).statusCode,
      ).toBe(200);
    await platform.log.flush();
    const total = await platform.predictions.count({ model: 'sum_full' });
    expect(total).toBe(4);

    const first = await app.inject({ method: 'GET', url: '/api/v1/predictions?model=sum_full&limit=2' });
    expect(first.statusCode, first.body.slice(0, 300)).toBe(200);
    expect(first.body.length).toBeLessThan(16 * 1024);
    const page = first.json<PageBody>();
    // An 8 MB row fills the default 8 MiB page: one row, and a cursor to the next.
    expect(page.predictions).toHaveLength(1);
    expect(page.predictions[0]?.inputs[0]).toMatchObject({
      shape: [1, 2_000_000],
      truncated: true,
      data: [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0],
    });
    expect(page.next).toMatch(/^d\.\d+\.\d+$/);

    const seen = [page.predictions[0]!.request_id];
    for (let next = page.next; next !== null;) {
      const more = await app.inject({
        method: 'GET',
        url: `/api/v1/predictions?model=sum_full&limit=2&cursor=${next}`,
      });
      expect(more.statusCode, more.body.slice(0, 300)).toBe(200);
      const body = more.json<PageBody>();
      seen.push(...body.predictions.map((p) => p.request_id));
      next = body.next;
    }
    expect(new Set(seen).size).toBe(total);
    expect(seen).toEqual((await platform.predictions.query({ model: 'sum_full' })).map((p) => p.requestId));

    const byRows = await app.inject({
      method: 'GET',
      url: '/api/v1/predictions?model=sum_full&limit=10&max_bytes=100000000',
    });
    expect(byRows.json<PageBody>().predictions).toHaveLength(4);
    const bad = await app.inject({
      method: 'GET',
      url: `/api/v1/predictions?model=sum_full&order=asc&cursor=${page.next}`,
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: string }>().error).toContain('order=desc');
    expect((await app.inject({ method: 'GET', url: '/api/v1/predictions?max_bytes=12' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/api/v1/predictions?full=yes' })).statusCode).toBe(400);

    // ?full=true: every element, encoded a slice at a time with the event loop free in between.
    let turns = 0;
    let counting = true;
    const count = (): void => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const fullGet = app.inject({ method: 'GET', url: '/api/v1/predictions?model=sum_full&limit=1&full=true' });
    const small = app.inject({
      method: 'POST',
      url: '/v2/models/cancer/infer',
      payload: {
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: Array.from({ length: 30 }, (_, i) => i) }],
      },
    });
    const order: string[] = [];
    const [full] = await Promise.all([
      fullGet.then((r) => (order.push('full'), r)),
      small.then((r) => (order.push('small'), r)),
    ]);
    counting = false;
    expect(full.statusCode).toBe(200);
    const whole = full.json<PageBody>().predictions[0]!.inputs[0]!;
    expect(whole.truncated).toBeUndefined();
    expect(whole.data).toHaveLength(2_000_000);
    expect(whole.data.slice(-3)).toEqual([2, 3, 4]); // 1,999,997 % 5 ...
    // One turn between slices of 65,536 elements at least.
    expect(turns).toBeGreaterThanOrEqual(Math.floor(2_000_000 / 65_536));
    expect(order).toEqual(['small', 'full']);
  });
});
