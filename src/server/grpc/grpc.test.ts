import type { ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatatype, type Datatype } from '../../tensor/datatypes.js';
import { decodeRequestInput } from '../../tensor/json-codec.js';
import { tensorFromBytes, tensorToBytes } from '../../tensor/raw-bytes.js';
import {
  FIXTURE_MODELS,
  expectedOutputs,
  firstMismatch,
  fixtureBytes,
  openTestPlatform,
  type ExpectedTensor,
} from '../../testing/fixtures.js';
import { SLIPWAY_VERSION } from '../../version.js';
import { SERVER_EXTENSIONS } from '../../serving/index.js';
import { InferenceTestClient } from './grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from './grpc-server.js';
import type {
  InferInputTensorMessage,
  InferTensorContentsMessage,
  ModelInferRequestMessage,
  ModelInferResponseMessage,
} from './messages.js';

type TestPlatform = Awaited<ReturnType<typeof openTestPlatform>>;

/** Typed contents built straight from the fixture JSON (independently of the server's codec). */
function typedContents(t: ExpectedTensor): InferTensorContentsMessage {
  switch (t.datatype) {
    case 'FP32':
      return { fp32_contents: t.data as number[] };
    case 'FP64':
      return { fp64_contents: t.data as number[] };
    case 'BYTES':
      return { bytes_contents: (t.data as string[]).map((s) => Buffer.from(s, 'utf8')) };
    default:
      throw new Error(`fixture datatype ${t.datatype} not handled by the test`);
  }
}

function typedRequest(model: string, inputs: readonly ExpectedTensor[]): ModelInferRequestMessage {
  return {
    model_name: model,
    id: `grpc-${model}`,
    inputs: inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, contents: typedContents(t) })),
  };
}

function rawRequest(model: string, inputs: readonly ExpectedTensor[]): ModelInferRequestMessage {
  const tensors = inputs.map((t, i) => decodeRequestInput(t, i));
  return {
    model_name: model,
    inputs: tensors.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape] })),
    raw_input_contents: tensors.map((t) => tensorToBytes(t)),
  };
}

/** An output's values as JSON-like numbers/strings, from its raw entry (responses are always raw, never typed). */
function outputValues(
  response: ModelInferResponseMessage,
  name: string,
): { datatype: string; shape: number[]; data: unknown[] } {
  const index = response.outputs.findIndex((o) => o.name === name);
  const out = response.outputs[index]!;
  const shape = out.shape.map(Number);
  if (!isDatatype(out.datatype)) throw new Error(`bad datatype ${out.datatype}`);
  const datatype: Datatype = out.datatype;
  expect(out.contents ?? null).toBeNull();
  const data = tensorFromBytes(name, datatype, shape, response.raw_output_contents[index]!);
  return {
    datatype,
    shape,
    data: Array.isArray(data)
      ? data
      : Array.from(data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v)),
  };
}

function expectMatches(model: string, response: ModelInferResponseMessage): void {
  const expected = expectedOutputs(model);
  expect(response.model_name).toBe(model);
  expect(response.model_version).toBe('1.0.0');
  expect(response.outputs.map((o) => o.name)).toEqual(expected.outputs.map((o) => o.name));
  for (const want of expected.outputs) {
    const got = outputValues(response, want.name);
    expect(got.datatype).toBe(want.datatype);
    expect(got.shape).toEqual(want.shape);
    if (want.datatype === 'INT64') expect(got.data).toEqual(want.data);
    else expect(firstMismatch(got.data, want.data, expected.tolerance), `${model}.${want.name}`).toBeUndefined();
  }
}

async function rejection(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

describe('Open Inference Protocol over gRPC', () => {
  let platform: TestPlatform;
  let server: GrpcServer;
  let client: InferenceTestClient;
  const internalErrors: string[] = [];

  beforeAll(async () => {
    platform = await openTestPlatform();
    for (const model of FIXTURE_MODELS)
      await platform.registry.push({ name: model, bytes: fixtureBytes(`${model}.onnx`) });
    await platform.registry.setAlias('wine_forest', 'champion', '1.0.0');
    server = createGrpcServer({ serving: platform.serving, log: (line) => internalErrors.push(line) });
    const port = await server.listen('127.0.0.1', 0);
    client = new InferenceTestClient(`127.0.0.1:${port}`);
  });
  afterAll(async () => {
    client.close();
    await server.close(1000);
    await platform.dispose();
    expect(internalErrors).toEqual([]);
  });

  it.each(FIXTURE_MODELS)(
    '%s with typed contents answers raw (as Triton does) and equals scikit-learn',
    async (model) => {
      const response = await client.call('ModelInfer', typedRequest(model, expectedOutputs(model).inputs));
      expect(response.id).toBe(`grpc-${model}`);
      expect(response.raw_output_contents).toHaveLength(response.outputs.length);
      expectMatches(model, response);
    },
  );

  it.each(FIXTURE_MODELS)('%s with raw_input_contents answers raw and equals scikit-learn', async (model) => {
    const response = await client.call('ModelInfer', rawRequest(model, expectedOutputs(model).inputs));
    // No id sent: the server makes one up, so feedback can refer to the prediction.
    expect(response.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.raw_output_contents).toHaveLength(response.outputs.length);
    expectMatches(model, response);
  });

  it('returns only the requested outputs and resolves versions and aliases', async () => {
    const expected = expectedOutputs('wine_forest');
    for (const model_version of ['1.0.0', 'champion', '']) {
      const response = await client.call('ModelInfer', {
        ...typedRequest('wine_forest', expected.inputs),
        model_version,
        outputs: [{ name: 'label' }],
      });
      expect(response.model_version).toBe('1.0.0');
      expect(response.outputs.map((o) => o.name)).toEqual(['label']);
      expect(outputValues(response, 'label').data).toEqual(expected.outputs.find((o) => o.name === 'label')!.data);
    }
  });

  it('resolves a Triton-style integer model_version to the newest active version of that major (issue 14)', async () => {
    const expected = expectedOutputs('breast_cancer');
    const response = await client.call('ModelInfer', {
      ...typedRequest('breast_cancer', expected.inputs),
      model_version: '1',
    });
    expectMatches('breast_cancer', response); // model_version "1.0.0" and scikit-learn's outputs
    const metadata = await client.call('ModelMetadata', { name: 'breast_cancer', version: '1' });
    expect(metadata).toMatchObject({
      name: 'breast_cancer',
      versions: ['1.0.0'],
      inputs: [{ name: 'input', datatype: 'FP32', shape: ['-1', '30'] }],
    });
    const unknown = await rejection(
      client.call('ModelInfer', { ...typedRequest('breast_cancer', expected.inputs), model_version: '2' }),
    );
    expect(unknown.code).toBe(5);
    expect(unknown.details).toBe('model "breast_cancer" has no active version with major 2 (2.x.y)');
    const leadingZero = await rejection(
      client.call('ModelInfer', { ...typedRequest('breast_cancer', expected.inputs), model_version: '01' }),
    );
    expect(leadingZero.code).toBe(3);
    expect(leadingZero.details).toMatch(
      /^version "01" of model "breast_cancer": an integer version is a major number without leading zeros/,
    );
  });

  it('answers every other RPC', async () => {
    expect(await client.call('ServerLive', {})).toEqual({ live: true });
    platform.serving.lifecycle.markReady(true);
    expect(await client.call('ServerReady', {})).toEqual({ ready: true });
    platform.serving.lifecycle.markReady(false);
    expect(await client.call('ServerReady', {})).toEqual({ ready: false });
    expect(await client.call('ServerMetadata', {})).toEqual({
      name: 'slipway',
      version: SLIPWAY_VERSION,
      extensions: [...SERVER_EXTENSIONS],
    });
    expect(await client.call('ModelMetadata', { name: 'iris_mixed', version: '1.0.0' })).toEqual({
      name: 'iris_mixed',
      versions: ['1.0.0'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'sepal_length', datatype: 'FP32', shape: ['-1', '1'] },
        { name: 'sepal_width', datatype: 'FP32', shape: ['-1', '1'] },
        { name: 'petal_length', datatype: 'FP32', shape: ['-1', '1'] },
        { name: 'petal_width_band', datatype: 'BYTES', shape: ['-1', '1'] },
      ],
      outputs: [
        { name: 'label', datatype: 'INT64', shape: ['-1'] },
        { name: 'probabilities', datatype: 'FP32', shape: ['-1', '3'] },
      ],
    });
    await client.call('ModelInfer', typedRequest('breast_cancer', expectedOutputs('breast_cancer').inputs));
    expect(await client.call('ModelReady', { name: 'breast_cancer' })).toEqual({ ready: true });
    expect(await client.call('ModelReady', { name: 'breast_cancer', version: '1.0.0' })).toEqual({ ready: true });
  });

  it('reports an unknown model as NOT_FOUND on every model RPC', async () => {
    for (const pending of [
      client.call('ModelInfer', typedRequest('nope', expectedOutputs('breast_cancer').inputs)),
      client.call('ModelMetadata', { name: 'nope' }),
      client.call('ModelReady', { name: 'nope' }),
    ]) {
      const error = await rejection(pending);
      expect(error.code).toBe(5);
      expect(error.details).toContain('nope');
      expect(error.metadata.get('slipway-error-code')).toEqual(['NOT_FOUND']);
    }
  });

  describe('rejects bad input with INVALID_ARGUMENT naming the input', () => {
    const input = expectedOutputs('breast_cancer').inputs[0]!;
    const good = (): InferInputTensorMessage => ({
      name: 'input',
      datatype: 'FP32',
      shape: [20, 30],
      contents: { fp32_contents: input.data as number[] },
    });
    const cases: [string, ModelInferRequestMessage, RegExp][] = [
      [
        'wrong shape',
        { model_name: 'breast_cancer', inputs: [{ ...good(), shape: [30, 20] }] },
        /input "input": expected shape \[-1,30\], got \[30,20\]/,
      ],
      [
        'wrong element count',
        { model_name: 'breast_cancer', inputs: [{ ...good(), shape: [21, 30] }] },
        /input "input": contents.fp32_contents has 600 elements but shape \[21,30\] needs 630/,
      ],
      [
        'unknown input',
        { model_name: 'breast_cancer', inputs: [{ ...good(), name: 'features' }] },
        /unknown input "features"/,
      ],
      [
        'FP16 as typed contents',
        { model_name: 'breast_cancer', inputs: [{ ...good(), datatype: 'FP16' }] },
        /input "input": FP16 has no typed contents field; send .* raw_input_contents/,
      ],
      [
        'contents in the wrong field',
        { model_name: 'breast_cancer', inputs: [{ ...good(), contents: { fp64_contents: [1] } }] },
        /input "input": FP32 elements go in contents.fp32_contents, got contents.fp64_contents/,
      ],
      [
        'an unknown datatype',
        { model_name: 'breast_cancer', inputs: [{ ...good(), datatype: 'FLOAT' }] },
        /input "input": "datatype" must be one of .*, got "FLOAT"/,
      ],
      [
        'typed and raw mixed',
        { model_name: 'breast_cancer', inputs: [good()], raw_input_contents: [new Uint8Array(2400)] },
        /input "input" has typed contents but the request also has raw_input_contents/,
      ],
      [
        'a short raw entry',
        {
          model_name: 'breast_cancer',
          inputs: [{ name: 'input', datatype: 'FP32', shape: [20, 30] }],
          raw_input_contents: [new Uint8Array(2396)],
        },
        /input "input": 2396 bytes of raw data, but FP32 shape \[20,30\] needs 2400/,
      ],
      [
        'an unknown output',
        { model_name: 'breast_cancer', inputs: [good()], outputs: [{ name: 'score' }] },
        /unknown output "score"/,
      ],
      ['no model name', { inputs: [good()] }, /"model_name" is required/],
    ];
    it.each(cases)('%s', async (_what, request, message) => {
      const error = await rejection(client.call('ModelInfer', request));
      expect(error.code, error.details).toBe(3);
      expect(error.details).toMatch(message);
    });
  });

  it('answers a malformed message with INVALID_ARGUMENT and keeps serving', async () => {
    const error = await rejection(client.sendBytes('ModelInfer', Buffer.from([0x2a, 0xff, 0xff, 0xff, 0xff, 0xff])));
    expect(error.code).toBe(3);
    expect(error.details).toMatch(/the ModelInfer request is not a valid protobuf message/);
    expect(await client.call('ServerLive', {})).toEqual({ live: true });
  });

  it('takes a request larger than 4 MiB (digits_mlp, 20,000 rows raw)', async () => {
    const expected = expectedOutputs('digits_mlp');
    const rows = 20_000;
    const input = expected.inputs[0]!;
    const repeat = rows / input.shape[0]!;
    const big: ExpectedTensor = {
      ...input,
      shape: [rows, 64],
      data: Array.from({ length: repeat }, () => input.data).flat(),
    };
    const request = rawRequest('digits_mlp', [big]);
    expect(request.raw_input_contents![0]!.byteLength).toBeGreaterThan(4 * 1024 * 1024);
    const response = await client.call('ModelInfer', request);
    const labels = outputValues(response, 'label');
    expect(labels.shape).toEqual([rows]);
    expect(labels.data).toEqual(
      Array.from({ length: repeat }, () => expected.outputs.find((o) => o.name === 'label')!.data).flat(),
    );
  });

  it('refuses a message over maxMessageBytes with RESOURCE_EXHAUSTED', async () => {
    const small = createGrpcServer({ serving: platform.serving, maxMessageBytes: 1024 });
    const port = await small.listen('127.0.0.1', 0);
    const smallClient = new InferenceTestClient(`127.0.0.1:${port}`);
    try {
      const error = await rejection(
        smallClient.call('ModelInfer', rawRequest('digits_mlp', expectedOutputs('digits_mlp').inputs)),
      );
      expect(error.code).toBe(8);
    } finally {
      smallClient.close();
      await small.close(100);
    }
  });
});
