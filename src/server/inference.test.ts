import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FIXTURE_MODELS,
  expectedOutputs,
  firstMismatch,
  fixtureBytes,
  openTestPlatform,
  type ExpectedTensor,
} from '../testing/fixtures.js';
import type { Datatype } from '../tensor/datatypes.js';
import { decodeRequestInput } from '../tensor/json-codec.js';
import { tensorFromBytes, tensorToBytes } from '../tensor/raw-bytes.js';
import { buildApp } from './app.js';

type TestPlatform = Awaited<ReturnType<typeof openTestPlatform>>;

/** Slice row i of a flat row-major tensor (keeping inner nesting flat, as the fixtures are [n, k]). */
function row(t: ExpectedTensor, i: number): unknown {
  const inner = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const slice = t.data.slice(i * inner, (i + 1) * inner);
  return t.shape.length === 1 ? slice[0] : slice;
}

describe('inference over HTTP equals scikit-learn on every fixture model', () => {
  let platform: TestPlatform;
  let app: FastifyInstance;

  beforeAll(async () => {
    platform = await openTestPlatform();
    for (const model of FIXTURE_MODELS) {
      await platform.registry.push({ name: model, bytes: fixtureBytes(`${model}.onnx`) });
    }
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  it.each(FIXTURE_MODELS)('%s through /v2/models/{m}/infer', async (model) => {
    const expected = expectedOutputs(model);
    const response = await app.inject({
      method: 'POST',
      url: `/v2/models/${model}/infer`,
      payload: { id: `req-${model}`, inputs: expected.inputs },
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['x-slipway-version']).toBe('1.0.0');
    const body = response.json<{ model_name: string; model_version: string; id: string; outputs: ExpectedTensor[] }>();
    expect(body.model_name).toBe(model);
    expect(body.model_version).toBe('1.0.0');
    expect(body.id).toBe(`req-${model}`);
    expect(body.outputs.map((o) => o.name)).toEqual(expected.outputs.map((o) => o.name));
    for (const want of expected.outputs) {
      const got = body.outputs.find((o) => o.name === want.name)!;
      expect(got.datatype).toBe(want.datatype);
      expect(got.shape).toEqual(want.shape);
      expect(firstMismatch(got.data, want.data, expected.tolerance), `${model}.${want.name}`).toBeUndefined();
    }
  });

  it.each(FIXTURE_MODELS)('%s through :predict with rows and with columns', async (model) => {
    const expected = expectedOutputs(model);
    const n = expected.inputs[0]!.shape[0]!;
    const single = expected.inputs.length === 1;
    const instances = Array.from({ length: n }, (_, i) =>
      single ? row(expected.inputs[0]!, i) : Object.fromEntries(expected.inputs.map((t) => [t.name, row(t, i)])),
    );
    const columns = Object.fromEntries(
      expected.inputs.map((t) => [t.name, Array.from({ length: n }, (_, i) => row(t, i))]),
    );
    for (const payload of [{ instances }, { inputs: columns }]) {
      const response = await app.inject({ method: 'POST', url: `/v1/models/${model}@latest:predict`, payload });
      expect(response.statusCode, response.body).toBe(200);
      const body = response.json<{ predictions: unknown[]; model_version: string }>();
      expect(body.model_version).toBe('1.0.0');
      expect(body.predictions).toHaveLength(n);
      for (const want of expected.outputs) {
        const got = body.predictions.flatMap((p) => {
          const value = expected.outputs.length === 1 ? p : (p as Record<string, unknown>)[want.name];
          return Array.isArray(value) ? (value as unknown[]) : [value];
        });
        expect(firstMismatch(got, want.data, expected.tolerance), `${model}.${want.name}`).toBeUndefined();
      }
    }
  });

  it('returns only the requested outputs', async () => {
    const expected = expectedOutputs('breast_cancer');
    const response = await app.inject({
      method: 'POST',
      url: '/v2/models/breast_cancer/versions/1.0.0/infer',
      payload: { inputs: expected.inputs, outputs: [{ name: 'label' }] },
    });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<{ outputs: ExpectedTensor[]; id?: string }>();
    expect(body.outputs.map((o) => o.name)).toEqual(['label']);
    expect(body.outputs[0]!.data).toEqual(expected.outputs.find((o) => o.name === 'label')!.data);
    expect(body.id).toMatch(/^[0-9a-f-]{36}$/); // made up by the server when the client sends none
  });

  it('answers metadata, health and readiness', async () => {
    const meta = await app.inject({ method: 'GET', url: '/v2/models/iris_mixed' });
    expect(meta.statusCode).toBe(200);
    expect(meta.json()).toEqual({
      name: 'iris_mixed',
      versions: ['1.0.0'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'sepal_length', datatype: 'FP32', shape: [-1, 1] },
        { name: 'sepal_width', datatype: 'FP32', shape: [-1, 1] },
        { name: 'petal_length', datatype: 'FP32', shape: [-1, 1] },
        { name: 'petal_width_band', datatype: 'BYTES', shape: [-1, 1] },
      ],
      outputs: [
        { name: 'label', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
      ],
      parameters: { execution_provider: 'cpu' },
    });
    expect((await app.inject({ method: 'GET', url: '/v2/health/live' })).statusCode).toBe(200);
    const server = await app.inject({ method: 'GET', url: '/v2' });
    expect(server.json()).toMatchObject({
      name: 'slipway',
      extensions: expect.arrayContaining(['model_repository', 'schedule_policy']),
    });
    // breast_cancer ran above, so it is loaded and ready
    const ready = await app.inject({ method: 'GET', url: '/v2/models/breast_cancer/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ name: 'breast_cancer', version: '1.0.0', ready: true });
    const missing = await app.inject({ method: 'GET', url: '/v2/models/nope/ready' });
    expect(missing.statusCode).toBe(404);
  });
});

describe('Triton-style integer versions over HTTP (issue 14): /versions/N is the newest active N.x.y', () => {
  let platform: TestPlatform;
  let app: FastifyInstance;
  const expected = expectedOutputs('breast_cancer');
  const push = (extra: { bump?: string } = {}) =>
    platform.registry.push({ name: 'bc', bytes: fixtureBytes('breast_cancer.onnx'), allowDuplicate: true, ...extra });
  const infer = (version: string) =>
    app.inject({
      method: 'POST',
      url: `/v2/models/bc/versions/${version}/infer`,
      payload: { inputs: expected.inputs },
    });
  /** The version `/versions/{version}` answers with, retried while the 1 s resolve cache still holds the old one. */
  async function settlesOn(version: string, want: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const response = await infer(version);
      expect(response.statusCode, response.body).toBe(200);
      const got = response.json<{ model_version: string }>().model_version;
      if (got === want) return;
      if (Date.now() > deadline) throw new Error(`/versions/${version} still answers ${got}, not ${want}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  function expectExactOutputs(body: { outputs: ExpectedTensor[] }): void {
    expect(body.outputs.map((o) => o.name)).toEqual(expected.outputs.map((o) => o.name));
    for (const want of expected.outputs) {
      const got = body.outputs.find((o) => o.name === want.name)!;
      expect(got.datatype).toBe(want.datatype);
      expect(got.shape).toEqual(want.shape);
      expect(firstMismatch(got.data, want.data, expected.tolerance), want.name).toBeUndefined();
    }
  }

  beforeAll(async () => {
    platform = await openTestPlatform();
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  it('resolves the major like latest (moving with pushes and archives), refuses leading zeros and names an unknown major', async () => {
    expect((await push()).version).toBe('1.0.0');
    const first = await infer('1');
    expect(first.statusCode, first.body).toBe(200);
    expect(first.headers['x-slipway-version']).toBe('1.0.0');
    const body = first.json<{ model_name: string; model_version: string; outputs: ExpectedTensor[] }>();
    expect(body.model_name).toBe('bc');
    expect(body.model_version).toBe('1.0.0');
    expectExactOutputs(body);

    // A new 1.x moves `1` once the resolve cache expires (as `latest` does), never before it is loaded.
    expect((await push({ bump: 'minor' })).version).toBe('1.1.0');
    expect((await infer('1')).json<{ model_version: string }>().model_version).toBe('1.0.0');
    await settlesOn('1', '1.1.0');

    expect((await push({ bump: 'major' })).version).toBe('2.0.0');
    await platform.registry.archive('bc', '1.1.0');
    await settlesOn('1', '1.0.0');
    const two = await infer('2');
    expect(two.statusCode, two.body).toBe(200);
    expect(two.json<{ model_version: string }>().model_version).toBe('2.0.0');
    expectExactOutputs(two.json<{ outputs: ExpectedTensor[] }>());

    const meta = await app.inject({ method: 'GET', url: '/v2/models/bc/versions/1' });
    expect(meta.statusCode, meta.body).toBe(200);
    expect(meta.headers['x-slipway-version']).toBe('1.0.0');
    expect(meta.json()).toEqual({
      name: 'bc',
      versions: ['2.0.0', '1.0.0'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 30] }],
      outputs: [
        { name: 'label', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
      ],
      parameters: { execution_provider: 'cpu' },
    });

    const unknown = await infer('3');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json<{ error: string }>().error).toBe('model "bc" has no active version with major 3 (3.x.y)');
    expect((await app.inject({ method: 'GET', url: '/v2/models/bc/versions/3' })).statusCode).toBe(404);
    const leadingZero = await infer('01');
    expect(leadingZero.statusCode).toBe(400);
    expect(leadingZero.json<{ error: string }>().error).toBe(
      'version "01" of model "bc": an integer version is a major number without leading zeros (0, 1, 2, ...), meaning the newest active version with that major',
    );
  });
});

describe('binary tensor data over HTTP', () => {
  let platform: TestPlatform;
  let app: FastifyInstance;

  beforeAll(async () => {
    platform = await openTestPlatform();
    for (const model of FIXTURE_MODELS)
      await platform.registry.push({ name: model, bytes: fixtureBytes(`${model}.onnx`) });
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  /** Triton's layout: JSON header, then each binary input's raw bytes in order. */
  function binaryRequest(inputs: readonly ExpectedTensor[]): { header: string; body: Buffer } {
    const blobs: Buffer[] = [];
    const jsonInputs = inputs.map((t) => {
      const tensor = decodeRequestInput(t, 0);
      const bytes = Buffer.from(tensorToBytes(tensor));
      blobs.push(bytes);
      return { name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: bytes.byteLength } };
    });
    const header = JSON.stringify({ inputs: jsonInputs, parameters: { binary_data_output: true } });
    return { header, body: Buffer.concat([Buffer.from(header), ...blobs]) };
  }

  it.each(FIXTURE_MODELS)('%s: binary in and out gives the same numbers as scikit-learn', async (model) => {
    const expected = expectedOutputs(model);
    const { header, body } = binaryRequest(expected.inputs);
    const response = await app.inject({
      method: 'POST',
      url: `/v2/models/${model}/infer`,
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(Buffer.byteLength(header)),
      },
      payload: body,
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toBe('application/octet-stream');
    const headerLength = Number(response.headers['inference-header-content-length']);
    const raw = response.rawPayload;
    const json = JSON.parse(raw.subarray(0, headerLength).toString('utf8')) as {
      outputs: Array<{ name: string; datatype: string; shape: number[]; parameters: { binary_data_size: number } }>;
    };
    let offset = headerLength;
    for (const out of json.outputs) {
      const size = out.parameters.binary_data_size;
      const data = tensorFromBytes(out.name, out.datatype as Datatype, out.shape, raw.subarray(offset, offset + size));
      offset += size;
      const want = expected.outputs.find((o) => o.name === out.name)!;
      expect(out.shape).toEqual(want.shape);
      expect(
        firstMismatch(
          Array.from(data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v)),
          want.data,
          expected.tolerance,
        ),
        `${model}.${out.name}`,
      ).toBeUndefined();
    }
    expect(offset).toBe(raw.byteLength);
  });

  it('takes a raw body (header length 0) for a single-input model and answers binary', async () => {
    const expected = expectedOutputs('breast_cancer');
    const row = Float32Array.from(expected.inputs[0]!.data.slice(0, 30) as number[]);
    const response = await app.inject({
      method: 'POST',
      url: '/v2/models/breast_cancer/infer',
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': '0' },
      payload: Buffer.from(row.buffer),
    });
    expect(response.statusCode, response.body).toBe(200);
    const headerLength = Number(response.headers['inference-header-content-length']);
    const json = JSON.parse(response.rawPayload.subarray(0, headerLength).toString('utf8')) as {
      outputs: Array<{ name: string; parameters: { binary_data_size: number } }>;
    };
    expect(json.outputs.map((o) => [o.name, o.parameters.binary_data_size])).toEqual([
      ['label', 8],
      ['probabilities', 8],
    ]);
    const label = response.rawPayload.readBigInt64LE(headerLength);
    expect(Number(label)).toBe(expected.outputs.find((o) => o.name === 'label')!.data[0]);
    const refused = await app.inject({
      method: 'POST',
      url: '/v2/models/iris_mixed/infer',
      headers: { 'inference-header-content-length': '0' },
      payload: Buffer.alloc(16),
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json<{ error: string }>().error).toMatch(/exactly one input/);
  });
});
