import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyModel } from '../src/runtime/onnx/tiny-onnx.test-support.js';
import { distIsBuilt, runSlipway, startServer, waitFor } from './slipway-process.js';

const FLOATS = 7_500_000; // 30 MB a request

/** x [1, FLOATS] FP32 as a binary-tensor request; element i is i % 5. */
function binaryInfer(): RequestInit {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, FLOATS], parameters: { binary_data_size: FLOATS * 4 } }],
    }),
  );
  const data = new Float32Array(FLOATS);
  for (let i = 0; i < FLOATS; i++) data[i] = i % 5;
  return {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    body: Buffer.concat([header, Buffer.from(data.buffer)]),
  };
}

async function databaseBytes(home: string): Promise<number> {
  let total = 0;
  for (const file of ['slipway.db', 'slipway.db-wal'])
    total += await stat(path.join(home, file)).then(
      (s) => s.size,
      () => 0,
    );
  return total;
}

/**
 * Issue 13 items 6 and 7 on a real `slipway serve` (the prediction log's writer thread, its own
 * connection): four 60 MB requests added 272 MB to slipway.db; GET /api/v1/predictions?limit=2
 * answered 500 "Invalid string length".
 */
describe('large requests through slipway serve', () => {
  let home: string;
  beforeAll(async () => {
    expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-large-'));
    const model = tinyModel({
      nodes: [{ op: 'ReduceSum', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', type: { tensor: 'FP32', shape: ['N', 'M'] } }],
      outputs: [{ name: 'y', type: { tensor: 'FP32', shape: [1, 1] } }],
    });
    await writeFile(path.join(home, 'sum.onnx'), model);
    const pushed = await runSlipway(['push', path.join(home, 'sum.onnx'), '--name', 'sum'], { SLIPWAY_HOME: home });
    expect(pushed.code, pushed.output).toBe(0);
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('logs four concurrent 30 MB requests in a few KB and pages them back in small bounded answers', async () => {
    const server = await startServer({ SLIPWAY_HOME: home, SLIPWAY_DRIFT_INTERVAL: '0' });
    try {
      const before = await databaseBytes(home);
      const statuses = await Promise.all(
        Array.from({ length: 4 }, () =>
          fetch(`${server.url}/v2/models/sum/infer`, binaryInfer()).then(
            async (r) => (await r.arrayBuffer(), r.status),
          ),
        ),
      );
      expect(statuses).toEqual([200, 200, 200, 200]);
      const page = async (query: string) => {
        const response = await fetch(`${server.url}/api/v1/predictions?model=sum&${query}`);
        const text = await response.text();
        return {
          status: response.status,
          text,
          body: JSON.parse(text) as {
            predictions: { payload?: string; inputs: { shape: number[]; stored_shape?: number[] }[] }[];
            next: string | null;
          },
        };
      };
      await waitFor(
        'four logged rows',
        () => page('limit=10'),
        (r) => r.body.predictions.length === 4,
      );
      expect((await databaseBytes(home)) - before).toBeLessThan(4 * 1024 * 1024);

      const two = await page('limit=2');
      expect(two.status).toBe(200);
      expect(two.text.length).toBeLessThan(16 * 1024);
      expect(two.body.predictions.map((p) => [p.payload, p.inputs[0]?.shape, p.inputs[0]?.stored_shape])).toEqual([
        ['truncated', [1, FLOATS], [1, 1024]],
        ['truncated', [1, FLOATS], [1, 1024]],
      ]);
      const rest = await page(`limit=2&cursor=${two.body.next}`);
      expect(rest.body.predictions).toHaveLength(2);
      expect(rest.body.next).toBeNull();
    } finally {
      await server.stop();
    }
  }, 180_000);
});
