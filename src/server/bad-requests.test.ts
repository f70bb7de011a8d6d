import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedOutputs, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';

const cancerRow = expectedOutputs('breast_cancer').inputs[0]!.data.slice(0, 30) as number[];
const input = (overrides: Record<string, unknown> = {}) => ({
  name: 'input',
  datatype: 'FP32',
  shape: [1, 30],
  data: cancerRow,
  ...overrides,
});

describe('bad requests get a 400 that names the problem, and the server keeps answering', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;

  beforeAll(async () => {
    platform = await openTestPlatform({ maxBodyBytes: 64 * 1024 });
    await platform.registry.push({ name: 'breast_cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    await platform.registry.push({ name: 'iris_mixed', bytes: fixtureBytes('iris_mixed.onnx') });
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  const infer = (payload: unknown, model = 'breast_cancer') =>
    app.inject({
      method: 'POST',
      url: `/v2/models/${model}/infer`,
      headers: { 'content-type': 'application/json' },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });

  const cases: Array<[string, unknown, RegExp, string?]> = [
    [
      'wrong datatype',
      { inputs: [input({ datatype: 'BOOL', data: cancerRow.map(() => true) })] },
      /input "input": expected datatype FP32, got BOOL/,
    ],
    [
      'wrong shape',
      { inputs: [input({ shape: [1, 29], data: cancerRow.slice(0, 29) })] },
      /input "input": expected shape \[-1,30\], got \[1,29\]/,
    ],
    ['wrong rank', { inputs: [input({ shape: [30] })] }, /input "input": expected shape \[-1,30\], got \[30\]/],
    ['data length mismatch', { inputs: [input({ data: cancerRow.slice(0, 29) })] }, /input "input".*29.*30/],
    [
      'strings in numeric data',
      { inputs: [input({ data: ['abc', ...cancerRow.slice(1)] })] },
      /input "input".*element 0.*"abc".*FP32/,
    ],
    ['unknown datatype', { inputs: [input({ datatype: 'FLOAT' })] }, /"datatype" must be one of .*got "FLOAT"/],
    ['negative dimension', { inputs: [input({ shape: [1, -30] })] }, /shape/],
    ['no inputs array', { id: 'x' }, /"inputs"/],
    ['inputs not objects', { inputs: [42] }, /inputs\[0\]/],
    ['unknown input', { inputs: [input(), input({ name: 'extra' })] }, /unknown input "extra"/],
    ['duplicate input', { inputs: [input(), input()] }, /input "input".*(twice|duplicate|more than once)/i],
    ['unknown output', { inputs: [input()], outputs: [{ name: 'score' }] }, /output "score"/],
    ['id not a string', { id: 7, inputs: [input()] }, /"id" must be a string/],
    ['body not JSON', '{"inputs": [', /not valid JSON/],
    ['body a JSON array', '[1,2,3]', /JSON object/],
    ['prototype pollution', '{"inputs": [], "__proto__": {"x": 1}}', /./],
    [
      'missing input',
      { inputs: [{ name: 'sepal_length', datatype: 'FP32', shape: [1, 1], data: [5.1] }] },
      /petal_width_band/,
      'iris_mixed',
    ],
    [
      'numbers for a string input',
      {
        inputs: [
          { name: 'sepal_length', datatype: 'FP32', shape: [1, 1], data: [5.1] },
          { name: 'sepal_width', datatype: 'FP32', shape: [1, 1], data: [3.5] },
          { name: 'petal_length', datatype: 'FP32', shape: [1, 1], data: [1.4] },
          { name: 'petal_width_band', datatype: 'BYTES', shape: [1, 1], data: [3] },
        ],
      },
      /input "petal_width_band".*element 0/,
      'iris_mixed',
    ],
  ];

  it.each(cases)('%s -> 400', async (_name, payload, message, model) => {
    const response = await infer(payload, model);
    expect(response.statusCode, response.body).toBe(400);
    const body = response.json<{ error: string }>();
    expect(body.error).toMatch(message);
    // and the server still answers a good request afterwards
    const ok = await infer({ inputs: [input()] });
    expect(ok.statusCode).toBe(200);
  });

  it('refuses an oversized body with 413 naming the limit', async () => {
    const big = { inputs: [input({ shape: [4000, 30], data: new Array(120_000).fill(1.5) })] };
    const response = await infer(big);
    expect(response.statusCode).toBe(413);
    expect(response.json<{ error: string }>().error).toMatch(/larger than the limit of 65536 bytes/);
    expect((await infer({ inputs: [input()] })).statusCode).toBe(200);
  });

  it('answers 404 for unknown models, versions and aliases', async () => {
    const model = await infer({ inputs: [input()] }, 'nope');
    expect(model.statusCode).toBe(404);
    expect(model.json<{ error: string }>().error).toBe('model "nope" does not exist');
    const version = await app.inject({
      method: 'POST',
      url: '/v2/models/breast_cancer/versions/9.9.9/infer',
      payload: { inputs: [input()] },
    });
    expect(version.statusCode).toBe(404);
    expect(version.json<{ error: string }>().error).toBe('model "breast_cancer" has no version 9.9.9');
    const alias = await app.inject({
      method: 'POST',
      url: '/v1/models/breast_cancer@prod:predict',
      payload: { instances: [cancerRow] },
    });
    expect(alias.statusCode).toBe(404);
    expect(alias.json<{ error: string }>().error).toMatch(/no alias "prod"/);
  });

  it('validates :predict bodies', async () => {
    const neither = await app.inject({
      method: 'POST',
      url: '/v1/models/breast_cancer:predict',
      payload: { rows: [] },
    });
    expect(neither.statusCode).toBe(400);
    expect(neither.json<{ error: string }>().error).toMatch(/instances.*inputs/);
    const shortRow = await app.inject({
      method: 'POST',
      url: '/v1/models/breast_cancer:predict',
      payload: { instances: [cancerRow.slice(0, 3)] },
    });
    expect(shortRow.statusCode).toBe(400);
    expect(shortRow.json<{ error: string }>().error).toMatch(/instance/);
    const badAction = await app.inject({
      method: 'POST',
      url: '/v1/models/breast_cancer:explain',
      payload: { instances: [cancerRow] },
    });
    expect(badAction.statusCode).toBe(400);
  });
});
