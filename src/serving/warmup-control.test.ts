/**
 * Warm-up under the user's control (issue 14 §2), end to end on a real platform (SQLite, ONNX
 * Runtime) over HTTP and gRPC: the `warmup` serving setting and its refusals, a model whose
 * generated warm-up fails yet serves (with the warning in the repository index and the log), a
 * user warm-up that fails and refuses the load (503 naming the cause, Retry-After, not ready,
 * counted as `error`), one that succeeds, `none`, and `slipway config --warmup-request`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner } from '../cli/cli.test-support.js';
import { loadConfig } from '../core/config.js';
import { SlipwayError } from '../core/errors.js';
import { openPlatform, type Platform } from '../platform.js';
import { parseServingConfig } from '../registry/serving-config.js';
import { poolEventLine } from '../runtime/model-pool.js';
import { failsOnZerosModel } from '../runtime/onnx/tiny-onnx.test-support.js';
import { InferenceTestClient } from '../server/grpc/grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from '../server/grpc/grpc-server.js';
import { startServer, type RunningServer } from '../server/serve.js';
import { FIXTURES, expectedOutputs, fixtureBytes } from '../testing/fixtures.js';
import type { RepositoryEntry } from './serving-lifecycle.js';

const cancer = expectedOutputs('breast_cancer');
const row = cancer.inputs[0]!.data.slice(0, 30) as number[];
const rowLabel = cancer.outputs.find((o) => o.name === 'label')!.data[0];
const cancerInputs = (values: readonly number[]) => [
  { name: 'input', datatype: 'FP32', shape: [1, values.length], data: values },
];
/** A request breast_cancer refuses: 29 features where it takes 30. */
const shortRequest = { inputs: cancerInputs(row.slice(0, 29)) };
const SHORT_REFUSAL = 'input "input": expected shape [-1,30], got [1,29] (dimension 1 must be 30)';
const failedLoad = (model: string) =>
  `model ${model}@1.0.0 failed to load: warm-up of ${model}@1.0.0 failed: ${SHORT_REFUSAL}`;
const SKIPPED =
  /^the generated warm-up \(zeros\) failed, so the version loaded without it: inputs "x", "shape": the model refused them: Reshape node: /;

describe('the warmup serving setting', () => {
  it('takes none, generated, a request (object or JSON text) with a count', () => {
    expect(parseServingConfig({ warmup: 'none' })).toEqual({ warmup: 'none' });
    expect(parseServingConfig({ warmup: 'generated' })).toEqual({ warmup: 'generated' });
    expect(parseServingConfig({ warmup: { request: { inputs: cancerInputs(row) }, count: 3 } })).toEqual({
      warmup: { request: { inputs: cancerInputs(row) }, count: 3 },
    });
    expect(parseServingConfig({ warmup: JSON.stringify({ request: { inputs: cancerInputs([1, 2]) } }) })).toEqual({
      warmup: { request: { inputs: cancerInputs([1, 2]) } },
    });
  });

  it('refuses every problem by name at once, reference included', () => {
    const error = ((): unknown => {
      try {
        return parseServingConfig({
          maxBatchSize: 0,
          warmup: {
            request: {
              inputs: [
                { name: 'x', datatype: 'FP32', shape: [1, 2], data: [1] },
                { name: 'y', datatype: 'FP8', shape: [1], data: [1] },
              ],
              outputs: [],
            },
            count: 0,
            reference: true,
          },
        });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(SlipwayError);
    expect((error as SlipwayError).details).toEqual([
      'maxBatchSize must be an integer from 1 to 1048576, got 0',
      'warmup.reference is not supported: the reference profile keeps column summaries, not rows; give a request',
      'warmup.count must be an integer from 1 to 100, got 0',
      'unknown setting "warmup.request.outputs" (known: warmup.request.inputs)',
      'warmup.request: input "x": data has 1 elements but shape [1,2] needs 2',
      'warmup.request: inputs[1]: "datatype" must be one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES, got "FP8"',
    ]);
  });

  it.each([
    ['sometimes', 'warmup must be "none", "generated" or {"request": {"inputs": [...]}, "count": 1}, got "sometimes"'],
    [false, 'warmup must be "none", "generated" or {"request": {"inputs": [...]}, "count": 1}, got false'],
    ['{"request": ', 'warmup is not valid JSON'],
    [
      { count: 2 },
      'warmup.request is missing; expected "none", "generated" or {"request": {"inputs": [...]}, "count": 1}',
    ],
    [{ request: { inputs: [] } }, 'warmup.request.inputs must be a non-empty list of v2 input tensors, got []'],
    [{ request: [1] }, 'warmup.request must be a v2 JSON request body like'],
    [
      { request: { inputs: cancerInputs(row) }, rows: 1 },
      'unknown setting "warmup.rows" (known: warmup.request, warmup.count)',
    ],
  ])('refuses warmup=%j', (warmup, problem) => {
    expect(() => parseServingConfig({ warmup })).toThrow(`invalid serving config: ${problem}`);
  });
});

describe('warm-up on a running server (HTTP and gRPC)', () => {
  let home: string;
  let platform: Platform;
  let server: RunningServer;
  let grpc: GrpcServer;
  let client: InferenceTestClient;
  const logged: string[] = [];

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-warmup-'));
    platform = await openPlatform(loadConfig({ SLIPWAY_LOG_LEVEL: 'silent' }, { home }), {
      onPoolEvent: (event) => {
        const line = poolEventLine(event);
        if (line !== undefined) logged.push(line);
      },
    });
    const { registry } = platform;
    await registry.push({ name: 'zeros-fail', bytes: Buffer.from(failsOnZerosModel()) });
    for (const name of ['user-fail', 'user-ok', 'cold', 'reloaded'])
      await registry.push({ name, bytes: fixtureBytes('breast_cancer.onnx') });
    await registry.setServingConfig('user-fail', { warmup: { request: shortRequest } });
    await registry.setServingConfig('user-ok', { warmup: { request: { inputs: cancerInputs(row) }, count: 2 } });
    await registry.setServingConfig('cold', { warmup: 'none' });
    server = await startServer(platform, { host: '127.0.0.1', port: 0, log: () => undefined });
    await server.preloaded;
    grpc = createGrpcServer({ serving: platform.serving, log: () => undefined });
    client = new InferenceTestClient(`127.0.0.1:${await grpc.listen('127.0.0.1', 0)}`);
  });
  afterAll(async () => {
    client.close();
    await grpc.close(1000);
    await server.stop(1000);
    await platform.close();
    await rm(home, { recursive: true, force: true });
  });

  const post = (url: string, body?: unknown) =>
    fetch(server.url + url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
  const indexRow = async (name: string): Promise<RepositoryEntry | undefined> =>
    ((await (await post('/v2/repository/index')).json()) as RepositoryEntry[]).find((r) => r.name === name);

  it('a model whose generated warm-up fails still loads and serves, with the warning in the index and the log', async () => {
    const response = await post('/v2/models/zeros-fail/infer', {
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [1, 2], data: [3.5, -2] },
        { name: 'shape', datatype: 'INT64', shape: [1], data: [2] },
      ],
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { outputs: unknown[] }).outputs).toEqual([
      { name: 'y', datatype: 'FP32', shape: [2], data: [3.5, -2] },
    ]);
    expect((await fetch(`${server.url}/v2/models/zeros-fail/ready`)).status).toBe(200);
    const entry = await indexRow('zeros-fail');
    expect(entry).toMatchObject({ version: '1.0.0', state: 'READY' });
    expect(entry?.reason).toMatch(SKIPPED);
    expect(logged).toContain(`model zeros-fail@1.0.0: warning: ${entry?.reason}`);
  });

  it('a user warm-up that fails refuses the load: 503 naming the cause, not ready, UNAVAILABLE in the index', async () => {
    const load = await post('/v2/repository/models/user-fail/load');
    expect(load.status).toBe(503);
    expect(load.headers.get('retry-after')).toBe('1');
    expect(await load.json()).toEqual({ error: failedLoad('user-fail'), code: 'UNAVAILABLE' });
    const ready = await fetch(`${server.url}/v2/models/user-fail/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ name: 'user-fail', version: '1.0.0', ready: false });
    expect(await indexRow('user-fail')).toEqual({
      name: 'user-fail',
      version: '1.0.0',
      state: 'UNAVAILABLE',
      reason: failedLoad('user-fail'),
    });
    expect(logged).toContain(failedLoad('user-fail'));
  });

  it('a request to a version that failed to load gets 503 + Retry-After over HTTP and gRPC, counted as error', async () => {
    const http = await post('/v2/models/user-fail/infer', { inputs: cancerInputs(row) });
    expect(http.status).toBe(503);
    expect(http.headers.get('retry-after')).toBe('1');
    expect(await http.json()).toEqual({ error: failedLoad('user-fail'), code: 'UNAVAILABLE' });

    const error = (await client
      .call('ModelInfer', {
        model_name: 'user-fail',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], contents: { fp32_contents: row } }],
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as ServiceError;
    expect(error.code).toBe(14);
    expect(error.details).toBe(failedLoad('user-fail'));
    expect(error.metadata.get('retry-after')).toEqual(['1']);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    for (const protocol of ['http', 'grpc']) {
      const series = (outcome: string) =>
        `slipway_requests_total{deployment="",model="user-fail",version="1.0.0",protocol="${protocol}",outcome="${outcome}"}`;
      expect(metrics).toContain(`${series('error')} 1\n`);
      expect(metrics).toContain(`${series('rejected')} 0\n`);
    }
  });

  it('a user warm-up that succeeds runs its count before the version is ready; none runs nothing; both serve', async () => {
    const { pool } = platform;
    expect(pool.loadState({ model: 'user-ok', version: '1.0.0' })).toEqual({
      status: 'ready',
      warmup: { plan: 'request', runs: 2 },
    });
    expect(pool.loadState({ model: 'cold', version: '1.0.0' })).toEqual({
      status: 'ready',
      warmup: { plan: 'none', runs: 0 },
    });
    for (const model of ['user-ok', 'cold']) {
      const response = await post(`/v2/models/${model}/infer`, {
        inputs: cancerInputs(row),
        outputs: [{ name: 'label' }],
      });
      expect(((await response.json()) as { outputs: { data: unknown[] }[] }).outputs[0]!.data).toEqual([rowLabel]);
      expect((await indexRow(model))?.reason).toBe('');
    }
  });

  it('reloading with a warm-up that fails keeps the serving copy and answers the load with the cause', async () => {
    const loadOk = await post('/v2/repository/models/reloaded/load');
    expect(loadOk.status).toBe(200);
    const set = await fetch(`${server.url}/api/v1/models/reloaded/serving`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ warmup: { request: shortRequest } }),
    });
    expect(set.status).toBe(200);
    const reload = await post('/v2/repository/models/reloaded/load');
    expect(reload.status).toBe(503);
    expect(((await reload.json()) as { error: string }).error).toBe(failedLoad('reloaded'));
    expect(await indexRow('reloaded')).toEqual({ name: 'reloaded', version: '1.0.0', state: 'READY', reason: '' });
    expect((await post('/v2/models/reloaded/infer', { inputs: cancerInputs(row) })).status).toBe(200);
    const refused = await fetch(`${server.url}/api/v1/models/reloaded/serving`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ warmup: { reference: true } }),
    });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toBe(
      'invalid serving config: warmup.reference is not supported: the reference profile keeps column summaries, not rows; give a request',
    );
  });
});

describe('slipway config --warmup-request', () => {
  let home: string;
  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));
  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-warmup-cli-'));
  });
  afterAll(() => rm(home, { recursive: true, force: true }));

  it('stores a JSON request file as the warmup setting; --set warmup=none|generated; a bad file is refused by name', async () => {
    expect((await cli('push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', 'cancer')).code).toBe(0);
    await writeFile(path.join(home, 'sample.json'), JSON.stringify({ inputs: cancerInputs(row) }));
    const set = await cli('config', 'cancer', '--warmup-request', 'sample.json', '--json');
    expect(set.err).toBe('');
    expect(JSON.parse(set.out)).toEqual({ warmup: { request: { inputs: cancerInputs(row) } } });
    expect((await cli('config', 'cancer', '--set', 'warmup=none')).out).toBe(
      'warmup=none\napply it to a running server with `slipway load cancer`\n',
    );
    await writeFile(
      path.join(home, 'bad.json'),
      JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 2], data: [1] }] }),
    );
    expect(await cli('config', 'cancer', '--warmup-request', 'bad.json')).toEqual({
      code: 1,
      out: '',
      err: 'error: invalid serving config: warmup.request: input "input": data has 1 elements but shape [1,2] needs 2\n',
    });
    expect((await cli('config', 'cancer', '--warmup-request', 'missing.json')).err).toBe(
      'error: cannot read warm-up request missing.json: ENOENT\n',
    );
    expect((await cli('config', 'cancer', '--json')).out).toBe('{\n  "warmup": "none"\n}\n');
  });
});
