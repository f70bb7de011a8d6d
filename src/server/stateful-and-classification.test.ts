/**
 * Stateful sequences (Triton's sequence batcher with implicit state), the classification extension
 * and gRPC ModelStreamInfer, end to end over HTTP and gRPC against real models: the stateful RNN
 * built by fixtures/models/make_stateful.py (its expected.json feeds the state by hand from zeros)
 * and breast_cancer with class labels.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedOutputs, fixtureBytes, FIXTURES, openTestPlatform } from '../testing/fixtures.js';
import { formatFloat } from '../serving/classification.js';
import { buildApp } from './app.js';
import { InferenceTestClient } from './grpc/grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from './grpc/grpc-server.js';
import type { ModelInferRequestMessage, ModelStreamInferResponseMessage } from './grpc/messages.js';

interface Step {
  readonly x: number[];
  readonly y: number[];
}
interface Sequence {
  readonly id: string;
  readonly steps: readonly Step[];
}
const STATEFUL = JSON.parse(readFileSync(`${FIXTURES}stateful_rnn.expected.json`, 'utf8')) as {
  tolerance: number;
  sequences: Sequence[];
};

/** A, B and C interleaved: A1 B1 C1 A2 B2 C2 ... (sequences of 4, 6 and 3 steps). */
function interleaved(): { sequence: Sequence; step: number }[] {
  const order: { sequence: Sequence; step: number }[] = [];
  const longest = Math.max(...STATEFUL.sequences.map((s) => s.steps.length));
  for (let step = 0; step < longest; step++)
    for (const sequence of STATEFUL.sequences) if (step < sequence.steps.length) order.push({ sequence, step });
  return order;
}

const close = (actual: readonly number[], expected: readonly number[]) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, i) =>
    expect(Math.abs(value - (expected[i] ?? NaN)), `element ${i}: ${value} vs ${expected[i]}`).toBeLessThan(
      STATEFUL.tolerance,
    ),
  );
};

function grpcStep(sequenceId: string, x: number[], start: boolean, end: boolean): ModelInferRequestMessage {
  return {
    model_name: 'rnn',
    model_version: '',
    id: `${sequenceId}`,
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: x } }],
    parameters: {
      sequence_id: { string_param: sequenceId },
      ...(start ? { sequence_start: { bool_param: true } } : {}),
      ...(end ? { sequence_end: { bool_param: true } } : {}),
    },
    outputs: [],
    raw_input_contents: [],
  };
}

const floatsOf = (bytes: Uint8Array): number[] => {
  const copy = Buffer.from(bytes);
  return Array.from(new Float32Array(copy.buffer.slice(copy.byteOffset, copy.byteOffset + copy.byteLength)));
};

describe('stateful sequences, classification and ModelStreamInfer', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;
  let server: GrpcServer;
  let client: InferenceTestClient;

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'rnn', bytes: fixtureBytes('stateful_rnn.onnx') });
    await platform.registry.setServingConfig('rnn', { sequence: { state: [{ input: 'h', output: 'hn' }] } });
    await platform.registry.push({
      name: 'cancer',
      bytes: fixtureBytes('breast_cancer.onnx'),
      labels: ['malignant', 'benign'],
    });
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
    server = createGrpcServer({ serving: platform.serving });
    client = new InferenceTestClient(`127.0.0.1:${await server.listen('127.0.0.1', 0)}`);
  });
  afterAll(async () => {
    client.close();
    await server.close(1000);
    await app.close();
    await platform.dispose();
  });

  const httpStep = async (sequenceId: string, x: number[], start: boolean, end: boolean) => {
    const response = await app.inject({
      method: 'POST',
      url: '/v2/models/rnn/infer',
      payload: {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: x }],
        parameters: {
          sequence_id: sequenceId,
          ...(start ? { sequence_start: true } : {}),
          ...(end ? { sequence_end: true } : {}),
        },
      },
    });
    return response;
  };

  it("keeps each sequence's state over HTTP: 3 interleaved sequences equal feeding the state by hand", async () => {
    for (const { sequence, step } of interleaved()) {
      const response = await httpStep(
        `http-${sequence.id}`,
        sequence.steps[step]!.x,
        step === 0,
        step === sequence.steps.length - 1,
      );
      expect(response.statusCode, response.body).toBe(200);
      const body = response.json<{ outputs: { name: string; data: number[] }[] }>();
      // The state output is hidden: only y comes back.
      expect(body.outputs.map((o) => o.name)).toEqual(['y']);
      close(body.outputs[0]!.data, sequence.steps[step]!.y);
    }
  });

  it("keeps each sequence's state over gRPC, unary calls", async () => {
    for (const { sequence, step } of interleaved()) {
      const response = await client.call(
        'ModelInfer',
        grpcStep(`grpc-${sequence.id}`, sequence.steps[step]!.x, step === 0, step === sequence.steps.length - 1),
      );
      expect(response.outputs.map((o) => o.name)).toEqual(['y']);
      close(floatsOf(response.raw_output_contents[0]!), sequence.steps[step]!.y);
    }
  });

  it('runs a ModelStreamInfer stream in order, one response per request, with bad requests answered in place', async () => {
    const stream = client.openStream();
    const responses: ModelStreamInferResponseMessage[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (message: ModelStreamInferResponseMessage) => responses.push(message));
      stream.on('end', () => resolve());
      stream.on('error', reject);
    });
    const sent: ({ sequence: Sequence; step: number } | 'bad-model' | 'bad-shape')[] = [];
    for (const [i, item] of interleaved().entries()) {
      stream.write(
        grpcStep(
          `stream-${item.sequence.id}`,
          item.sequence.steps[item.step]!.x,
          item.step === 0,
          item.step === item.sequence.steps.length - 1,
        ),
      );
      sent.push(item);
      if (i === 2) {
        stream.write({ ...grpcStep('x', [1, 2, 3, 4], true, true), model_name: 'no-such-model', id: 'bad-model' });
        sent.push('bad-model');
      }
      if (i === 5) {
        stream.write({
          ...grpcStep('y', [1, 2, 3], true, true),
          id: 'bad-shape',
          inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], contents: { fp32_contents: [1, 2, 3] } }],
        });
        sent.push('bad-shape');
      }
    }
    stream.end();
    await done;
    expect(responses).toHaveLength(sent.length);
    sent.forEach((item, i) => {
      const response = responses[i]!;
      if (item === 'bad-model') {
        expect(response.error_message).toMatch(/no-such-model/);
        expect(response.infer_response?.id).toBe('bad-model');
      } else if (item === 'bad-shape') {
        expect(response.error_message).toMatch(/input "x"/);
        expect(response.infer_response?.id).toBe('bad-shape');
      } else {
        expect(response.error_message).toBe('');
        close(floatsOf(response.infer_response!.raw_output_contents[0]!), item.sequence.steps[item.step]!.y);
      }
    });
  });

  it('refuses what a sequence cannot take, by name', async () => {
    // No start for a sequence that is not live.
    const noStart = await httpStep('never-started', [0, 0, 0, 0], false, false);
    expect([noStart.statusCode, noStart.json<{ error: string }>().error]).toEqual([
      400,
      expect.stringMatching(/START|sequence_start/i),
    ]);
    // The state input is not the client's to send.
    const withState = await app.inject({
      method: 'POST',
      url: '/v2/models/rnn/infer',
      payload: {
        inputs: [
          { name: 'x', datatype: 'FP32', shape: [1, 4], data: [0, 0, 0, 0] },
          { name: 'h', datatype: 'FP32', shape: [1, 8], data: new Array(8).fill(0) },
        ],
        parameters: { sequence_id: 7, sequence_start: true },
      },
    });
    expect([withState.statusCode, withState.json<{ error: string }>().error]).toEqual([
      400,
      expect.stringMatching(/"h"/),
    ]);
    // Sequence parameters for a stateless model are refused, not ignored.
    const [row] = expectedOutputs('breast_cancer').inputs;
    const stateless = await app.inject({
      method: 'POST',
      url: '/v2/models/cancer/infer',
      payload: {
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row!.data.slice(0, 30) }],
        parameters: { sequence_id: 1, sequence_start: true },
      },
    });
    expect([stateless.statusCode, stateless.json<{ error: string }>().error]).toEqual([
      400,
      expect.stringMatching(/no sequence state configured.*sequence_id/),
    ]);
    // Metadata shows the client's signature, without the state tensors.
    const meta = (await app.inject({ method: 'GET', url: '/v2/models/rnn' })).json<{
      inputs: { name: string }[];
      outputs: { name: string }[];
    }>();
    expect([meta.inputs.map((i) => i.name), meta.outputs.map((o) => o.name)]).toEqual([['x'], ['y']]);
  });

  it("answers top-k classification with the version's labels over HTTP and gRPC", async () => {
    const { inputs, outputs } = expectedOutputs('breast_cancer');
    const rows = 3;
    const data = inputs[0]!.data.slice(0, rows * 30) as number[];
    const labels = (outputs.find((o) => o.name === 'label')!.data as number[]).slice(0, rows);
    const tensor = { name: 'input', datatype: 'FP32', shape: [rows, 30], data };
    // The scores as the server computes them (float32), to format the expected strings from.
    const plain = await app.inject({
      method: 'POST',
      url: '/v2/models/cancer/infer',
      payload: { inputs: [tensor], outputs: [{ name: 'probabilities' }] },
    });
    const scores = plain.json<{ outputs: { data: number[] }[] }>().outputs[0]!.data;
    const names = ['malignant', 'benign'];
    const expected = labels.flatMap((label, r) => {
      const other = 1 - label;
      return [
        `${formatFloat(scores[r * 2 + label]!)}:${label}:${names[label]}`,
        `${formatFloat(scores[r * 2 + other]!)}:${other}:${names[other]}`,
      ];
    });
    const http = await app.inject({
      method: 'POST',
      url: '/v2/models/cancer/infer',
      payload: {
        inputs: [tensor],
        outputs: [{ name: 'probabilities', parameters: { classification: 2 } }, { name: 'label' }],
      },
    });
    expect(http.statusCode, http.body).toBe(200);
    const body = http.json<{ outputs: { name: string; datatype: string; shape: number[]; data: unknown[] }[] }>();
    expect(body.outputs[0]).toEqual({ name: 'probabilities', datatype: 'BYTES', shape: [rows, 2], data: expected });
    expect(body.outputs[1]!.data).toEqual(labels);

    const grpc = await client.call('ModelInfer', {
      model_name: 'cancer',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 30], contents: { fp32_contents: data } }],
      outputs: [{ name: 'probabilities', parameters: { classification: { int64_param: 1 } } }],
    });
    expect(grpc.outputs[0]).toMatchObject({ name: 'probabilities', datatype: 'BYTES', shape: [String(rows), '1'] });
    // BYTES raw: each element a 4-byte little-endian length, then its bytes.
    const raw = Buffer.from(grpc.raw_output_contents[0]!);
    const elements: string[] = [];
    for (let at = 0; at < raw.length;) {
      const length = raw.readUInt32LE(at);
      elements.push(raw.subarray(at + 4, at + 4 + length).toString('utf8'));
      at += 4 + length;
    }
    expect(elements).toEqual(expected.filter((_, i) => i % 2 === 0));

    const bad = await app.inject({
      method: 'POST',
      url: '/v2/models/cancer/infer',
      payload: { inputs: [tensor], outputs: [{ name: 'label', parameters: { classification: 0 } }] },
    });
    expect([bad.statusCode, bad.json<{ error: string }>().error]).toEqual([
      400,
      expect.stringMatching(/output "label".*classification.*positive integer/),
    ]);
  });
});
