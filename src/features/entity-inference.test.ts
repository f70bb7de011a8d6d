import type { FastifyInstance } from 'fastify';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../server/app.js';
import { InferenceTestClient } from '../server/grpc/grpc-client.test-support.js';
import { createGrpcServer } from '../server/grpc/grpc-server.js';
import { expectedOutputs, firstMismatch, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { readDefinitionsFile } from './definitions/parse-definitions.js';
import type { ServedFeatures } from './served-features.js';

const DEFINITIONS = fileURLToPath(new URL('../../fixtures/features/entity-inference/features.yaml', import.meta.url));
const HOUR = 3_600_000;
const DEFAULT = 1.25;

const cancer = expectedOutputs('breast_cancer');
const iris = expectedOutputs('iris_mixed');

/** Row i of the breast-cancer held-out inputs: 30 numbers. */
function cancerRow(i: number): number[] {
  return cancer.inputs[0]!.data.slice(i * 30, (i + 1) * 30) as number[];
}

const cells = (row: readonly number[]) =>
  Object.fromEntries(row.flatMap((v, c) => (c % 2 === 0 && c < 29 ? [[`f${c}`, v]] : [])));
const shape = (row: readonly number[]) =>
  Object.fromEntries(row.flatMap((v, c) => (c % 2 === 1 && c < 29 ? [[`f${c}`, v]] : [])));

interface PredictBody {
  predictions: unknown[];
  model_name: string;
  model_version: string;
  id: string;
}

describe('inference by entity', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  const now = Date.now();
  const fresh = now - 60_000;

  beforeAll(async () => {
    platform = await openTestPlatform();
    for (const model of ['breast_cancer', 'iris_mixed', 'diabetes_ridge'])
      await platform.registry.push({ name: model, bytes: fixtureBytes(`${model}.onnx`) });
    await platform.features.apply(await readDefinitionsFile(DEFINITIONS));
    const online = platform.features.online;
    // Patients 100..107 hold held-out rows 0..7; 105's shape row is 2 h old (past the 1 h TTL).
    await online.write(
      'cells',
      [0, 1, 2, 3, 4, 5].map((i) => ({
        key: { patient_id: 100 + i },
        values: cells(cancerRow(i)),
        eventTimeMs: fresh,
      })),
    );
    await online.write(
      'shape',
      [0, 1, 2, 3, 4].map((i) => ({ key: { patient_id: 100 + i }, values: shape(cancerRow(i)), eventTimeMs: fresh })),
    );
    await online.write('shape', [
      { key: { patient_id: 105 }, values: shape(cancerRow(5)), eventTimeMs: now - 2 * HOUR },
    ]);
    // 106: shape only (no cells row at all); 107: a cells row without f4.
    await online.write(
      'shape',
      [6, 7].map((i) => ({ key: { patient_id: 100 + i }, values: shape(cancerRow(i)), eventTimeMs: fresh })),
    );
    const withoutF4 = Object.fromEntries(Object.entries(cells(cancerRow(7))).filter(([name]) => name !== 'f4'));
    await online.write('cells', [{ key: { patient_id: 107 }, values: withoutF4, eventTimeMs: fresh }]);
    app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      features: platform.features,
    });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  const predict = (url: string, payload: unknown) =>
    app.inject({ method: 'POST', url, payload: payload as Record<string, unknown> });

  it('returns exactly what explicit instances with the same values return (columns layout, several entities)', async () => {
    const rows = [0, 1, 2, 3, 4];
    const byEntity = await predict('/v1/models/breast_cancer:predict', {
      entities: rows.map((i) => ({ patient_id: 100 + i })),
      features: rows.map((i) => ({ f29: cancerRow(i)[29] })),
    });
    expect(byEntity.statusCode, byEntity.body).toBe(200);
    const explicit = await predict('/v1/models/breast_cancer:predict', { instances: rows.map(cancerRow) });
    const got = byEntity.json<PredictBody>();
    expect(got.predictions).toEqual(explicit.json<PredictBody>().predictions);
    expect(got.model_version).toBe('1.0.0');
    // And those are scikit-learn's answers.
    const labels = got.predictions.map((p) => (p as { label: number }).label);
    expect(labels).toEqual(cancer.outputs.find((o) => o.name === 'label')!.data.slice(0, 5));
    const probabilities = got.predictions.flatMap((p) => (p as { probabilities: number[] }).probabilities);
    expect(
      firstMismatch(
        probabilities,
        cancer.outputs.find((o) => o.name === 'probabilities')!.data.slice(0, 10),
        cancer.tolerance,
      ),
    ).toBeUndefined();
  });

  it('takes one entity as an object, on a version or an alias-free selector', async () => {
    const single = await predict('/v1/models/breast_cancer@1.0.0:predict', {
      entities: { patient_id: 102 },
      features: { f29: cancerRow(2)[29] },
    });
    expect(single.statusCode, single.body).toBe(200);
    const explicit = await predict('/v1/models/breast_cancer@1.0.0:predict', { instances: [cancerRow(2)] });
    expect(single.json<PredictBody>().predictions).toEqual(explicit.json<PredictBody>().predictions);
  });

  it('serves a declared default for expired features, equal to explicit inputs holding the default', async () => {
    const byEntity = await predict('/v1/models/breast_cancer:predict', {
      entities: [{ patient_id: 105 }],
      features: [{ f29: cancerRow(5)[29] }],
    });
    expect(byEntity.statusCode, byEntity.body).toBe(200);
    const withDefaults = cancerRow(5).map((v, c) => (c % 2 === 1 && c < 29 ? DEFAULT : v));
    const explicit = await predict('/v1/models/breast_cancer:predict', { instances: [withDefaults] });
    expect(byEntity.json<PredictBody>().predictions).toEqual(explicit.json<PredictBody>().predictions);
    // The defaults changed the inputs: not what the real row gives.
    const real = await predict('/v1/models/breast_cancer:predict', { instances: [cancerRow(5)] });
    expect(byEntity.json<PredictBody>().predictions).not.toEqual(real.json<PredictBody>().predictions);
  });

  it('fails with a 400 naming every missing feature without a default, per entity', async () => {
    const response = await predict('/v1/models/breast_cancer:predict', {
      entities: [{ patient_id: 100 }, { patient_id: 106 }, { patient_id: 107 }],
      features: [{ f29: 1 }, { f29: 1 }, { f29: 1 }],
    });
    expect(response.statusCode, response.body).toBe(400);
    const body = response.json<{
      error: string;
      code: string;
      details: { missing: { entity: unknown; index: number; features: string[] }[] };
    }>();
    expect(body.code).toBe('INVALID_ARGUMENT');
    const evenColumns = Array.from({ length: 15 }, (_, k) => `cells:f${2 * k} (NOT_FOUND)`);
    expect(body.details.missing).toEqual([
      { entity: { patient_id: 106 }, index: 1, features: evenColumns },
      { entity: { patient_id: 107 }, index: 2, features: ['cells:f4 (NOT_FOUND)'] },
    ]);
    expect(body.error).toContain('missing features without a default for breast_cancer@1.0.0 (service "cancer")');
    expect(body.error).toContain('entities[1] {"patient_id":106}: cells:f0 (NOT_FOUND), cells:f2 (NOT_FOUND)');
    expect(body.error).toContain('entities[2] {"patient_id":107}: cells:f4 (NOT_FOUND)');
  });

  it('fails with a 400 when a request-time feature is missing or unknown', async () => {
    const missing = await predict('/v1/models/breast_cancer:predict', {
      entities: [{ patient_id: 100 }, { patient_id: 101 }],
      features: [{ f29: 1 }, {}],
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.json<{ error: string }>().error).toContain(
      'entities[1] {"patient_id":101}: request:f29 (not in the request)',
    );
    const absent = await predict('/v1/models/breast_cancer:predict', { entities: { patient_id: 100 } });
    expect(absent.json<{ error: string }>().error).toContain(
      'entities[0] {"patient_id":100}: request:f29 (not in the request)',
    );
    const unknown = await predict('/v1/models/breast_cancer:predict', {
      entities: { patient_id: 100 },
      features: { f29: 1, f30: 2 },
    });
    expect([unknown.statusCode, unknown.json<{ error: string }>().error]).toEqual([
      400,
      'features: "f30" is not a request-time feature of the bound service (it takes f29)',
    ]);
  });

  it('refuses malformed entity requests', async () => {
    const cases: [unknown, RegExp][] = [
      [{ entities: { patient_id: 100 }, instances: [cancerRow(0)] }, /exactly one of them/],
      [{ entities: [{ patient_id: 100 }], features: { f29: 1 } }, /"features" must match "entities"/],
      [
        { entities: [{ patient_id: 100 }, { patient_id: 101 }], features: [{ f29: 1 }] },
        /"features" must match "entities"/,
      ],
      [{ entities: [] }, /"entities" must be an object or a non-empty list/],
      [{ entities: { patient: 100 }, features: { f29: 1 } }, /entities\[0\] is missing join key "patient_id"/],
      [{ entities: { patient_id: '100' }, features: { f29: 1 } }, /join key "patient_id" must be an integer/],
      [{ entities: { patient_id: 100 }, features: { f29: [1] } }, /features\.f29 must be a number, string or boolean/],
      [
        { entities: { patient_id: 100 }, features: { f29: 'high' } },
        /^the features served for entities do not fit breast_cancer@1\.0\.0: instances\[0\]: input "input".*"high"/,
      ],
    ];
    for (const [payload, message] of cases) {
      const response = await predict('/v1/models/breast_cancer:predict', payload);
      expect([response.statusCode, response.json<{ error: string }>().error], JSON.stringify(payload)).toEqual([
        400,
        expect.stringMatching(message),
      ]);
    }
  });

  it('a model with no bound service answers 400 saying so', async () => {
    const response = await predict('/v1/models/diabetes_ridge:predict', { entities: { patient_id: 100 } });
    expect(response.statusCode).toBe(400);
    expect(response.json<{ error: string }>().error).toMatch(/^no feature service is bound to diabetes_ridge@1\.0\.0/);
  });

  it('fills a named layout by input name (iris_mixed: string entity key, request-time string)', async () => {
    const rows = [0, 1, 2, 3];
    const column = (name: string, i: number) => iris.inputs.find((t) => t.name === name)!.data[i]!;
    await platform.features.online.write(
      'flower',
      rows.map((i) => ({
        key: { flower_id: `iris-${i}` },
        values: {
          sepal_length: column('sepal_length', i),
          sepal_width: column('sepal_width', i),
          petal_length: column('petal_length', i),
        } as Record<string, number>,
        eventTimeMs: fresh,
      })),
    );
    const byEntity = await predict('/v1/models/iris_mixed:predict', {
      entities: rows.map((i) => ({ flower_id: `iris-${i}` })),
      features: rows.map((i) => ({ petal_width_band: column('petal_width_band', i) })),
    });
    expect(byEntity.statusCode, byEntity.body).toBe(200);
    const explicit = await predict('/v1/models/iris_mixed:predict', {
      instances: rows.map((i) => Object.fromEntries(iris.inputs.map((t) => [t.name, t.data[i]]))),
    });
    expect(explicit.statusCode, explicit.body).toBe(200);
    expect(byEntity.json<PredictBody>().predictions).toEqual(explicit.json<PredictBody>().predictions);
    expect(byEntity.json<PredictBody>().predictions.map((p) => (p as { label: number }).label)).toEqual(
      iris.outputs.find((o) => o.name === 'label')!.data.slice(0, 4),
    );
  });

  it('works on OIP v2 infer with parameters.entities, equal to explicit tensors', async () => {
    const rows = [0, 3];
    const explicit = await predict('/v2/models/breast_cancer/infer', {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 30], data: rows.flatMap(cancerRow) }],
    });
    expect(explicit.statusCode, explicit.body).toBe(200);
    for (const url of ['/v2/models/breast_cancer/infer', '/v2/models/breast_cancer/versions/1.0.0/infer']) {
      const byEntity = await predict(url, {
        id: 'by-entity',
        parameters: {
          entities: rows.map((i) => ({ patient_id: 100 + i })),
          features: rows.map((i) => ({ f29: cancerRow(i)[29] })),
        },
        outputs: [{ name: 'probabilities' }],
      });
      expect(byEntity.statusCode, byEntity.body).toBe(200);
      const body = byEntity.json<{ id: string; model_version: string; outputs: { name: string; data: number[] }[] }>();
      expect(body.id).toBe('by-entity');
      expect(body.model_version).toBe('1.0.0');
      expect(body.outputs).toEqual(
        explicit.json<{ outputs: { name: string }[] }>().outputs.filter((o) => o.name === 'probabilities'),
      );
    }
    const unbound = await predict('/v2/models/diabetes_ridge/infer', { parameters: { entities: [{ patient_id: 1 }] } });
    expect([unbound.statusCode, unbound.json<{ error: string }>().error]).toEqual([
      400,
      expect.stringMatching(/no feature service is bound to diabetes_ridge@1\.0\.0/),
    ]);
    const both = await predict('/v2/models/breast_cancer/infer', {
      inputs: [],
      parameters: { entities: [{ patient_id: 100 }] },
    });
    expect([both.statusCode, both.json<{ error: string }>().error]).toEqual([400, expect.stringMatching(/not both/)]);
    const neither = await predict('/v2/models/breast_cancer/infer', { parameters: {} });
    expect([neither.statusCode, neither.json<{ error: string }>().error]).toEqual([
      400,
      expect.stringMatching(/needs an "inputs" array/),
    ]);
  });

  it('works over gRPC with parameters.entities as a JSON string_param, equal to explicit tensors', async () => {
    const grpc = createGrpcServer({ serving: platform.serving });
    const port = await grpc.listen('127.0.0.1', 0);
    const client = new InferenceTestClient(`127.0.0.1:${port}`);
    try {
      const rows = [1, 4];
      const byEntity = await client.call('ModelInfer', {
        model_name: 'breast_cancer',
        parameters: {
          entities: { string_param: JSON.stringify(rows.map((i) => ({ patient_id: 100 + i }))) },
          features: { string_param: JSON.stringify(rows.map((i) => ({ f29: cancerRow(i)[29] }))) },
        },
        outputs: [{ name: 'probabilities' }],
      });
      expect(byEntity.model_version).toBe('1.0.0');
      const explicit = await predict('/v1/models/breast_cancer:predict', { instances: rows.map(cancerRow) });
      const want = explicit
        .json<PredictBody>()
        .predictions.flatMap((p) => (p as { probabilities: number[] }).probabilities);
      const raw = Buffer.from(byEntity.raw_output_contents[0]!);
      expect(Array.from({ length: raw.byteLength / 4 }, (_, i) => raw.readFloatLE(i * 4))).toEqual(
        want.map((v) => Math.fround(v)),
      );
      await expect(
        client.call('ModelInfer', { model_name: 'breast_cancer', parameters: { entities: { string_param: '[{' } } }),
      ).rejects.toMatchObject({
        code: 3,
        details: expect.stringMatching(/parameters\.entities is not valid JSON/),
      });
    } finally {
      client.close();
      await grpc.close(1000);
    }
  });

  it('logs the values actually served, with statuses and event times', async () => {
    const response = await predict('/v1/models/breast_cancer:predict', {
      entities: [{ patient_id: 101 }, { patient_id: 105 }],
      features: [{ f29: 0.5 }, { f29: 0.25 }],
    });
    expect(response.statusCode, response.body).toBe(200);
    const { id } = response.json<PredictBody>();
    await platform.log.flush();
    const [logged] = await platform.predictions.query({ requestId: id });
    const served = logged?.features as ServedFeatures;
    expect(served.service).toBe('cancer');
    expect(served.serviceVersion).toBe(1);
    const expectRow = (patient: number, row: number[], expired: boolean, f29: number) => {
      const refs = Array.from({ length: 29 }, (_, c) => (c % 2 === 0 ? `cells:f${c}` : `shape:f${c}`));
      const defaulted = (c: number) => expired && c % 2 === 1;
      return {
        entity: { patient_id: patient },
        values: {
          ...Object.fromEntries(refs.map((ref, c) => [ref, defaulted(c) ? DEFAULT : row[c]])),
          'request:f29': f29,
        },
        statuses: {
          ...Object.fromEntries(refs.map((ref, c) => [ref, defaulted(c) ? 'DEFAULT' : 'PRESENT'])),
          'request:f29': 'REQUEST',
        },
        eventTimes: {
          ...Object.fromEntries(refs.map((ref, c) => [ref, defaulted(c) ? null : fresh])),
          'request:f29': null,
        },
      };
    };
    expect(served.rows).toEqual([expectRow(101, cancerRow(1), false, 0.5), expectRow(105, cancerRow(5), true, 0.25)]);
    // The logged input tensor is the one the model ran on.
    expect(Array.from(logged!.inputs[0]!.data as Float32Array).slice(0, 30)).toEqual(
      Array.from(new Float32Array([...cancerRow(1).slice(0, 29), 0.5])),
    );
    // An ordinary request logs no features.
    const plain = await predict('/v1/models/breast_cancer:predict', { instances: [cancerRow(0)] });
    await platform.log.flush();
    const [plainLogged] = await platform.predictions.query({ requestId: plain.json<PredictBody>().id });
    expect(plainLogged?.features).toBeUndefined();
  });
});
