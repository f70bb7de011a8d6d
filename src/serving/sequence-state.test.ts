import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { checkSequenceConfig, parseServingConfig, type SequenceConfig } from '../registry/serving-config.js';
import type { LoadedModel } from '../runtime/backend.js';
import { createOrtBackend } from '../runtime/onnx/ort-backend.js';
import { fixturePath } from '../runtime/fixtures.test-support.js';
import type { Signature, Tensor } from '../tensor/datatypes.js';
import { rejection } from '../testing/rejection.js';
import {
  parseSequenceParameters,
  refuseSequenceParameters,
  SequenceStates,
  type RunModel,
  type SequenceParameters,
} from './sequence-state.js';

interface ExpectedStep {
  x: number[];
  y: number[];
  hn: number[];
}
interface ExpectedSequences {
  tolerance: number;
  state: { input: string; output: string }[];
  sequences: { id: string; steps: ExpectedStep[] }[];
}

const expected = JSON.parse(readFileSync(fixturePath('stateful_rnn.expected.json'), 'utf8')) as ExpectedSequences;
const [A, B, C] = expected.sequences as [
  ExpectedSequences['sequences'][number],
  ExpectedSequences['sequences'][number],
  ExpectedSequences['sequences'][number],
];
const CONFIG: SequenceConfig = { state: [{ input: 'h', output: 'hn' }] };

let model: LoadedModel;
const opened: SequenceStates[] = [];

beforeAll(async () => {
  model = await createOrtBackend().load({ path: fixturePath('stateful_rnn.onnx') });
});
afterAll(async () => {
  await model.release();
});
afterEach(() => {
  for (const states of opened.splice(0)) states.close();
});

function open(config: SequenceConfig = CONFIG): SequenceStates {
  const states = new SequenceStates({ model: 'rnn', config, signature: model.signature });
  opened.push(states);
  return states;
}

const runOrt: RunModel = (inputs, names) => model.run(inputs, names);

function x(values: readonly number[], rows = 1): Tensor {
  return {
    name: 'x',
    datatype: 'FP32',
    shape: [rows, 4],
    data: new Float32Array(Array.from({ length: rows }, () => values).flat()),
  };
}

function seq(id: string, start = false, end = false): SequenceParameters {
  return { id, start, end };
}

/** The one output a sequence request returns (the state output is stripped), checked against y. */
function expectY(outputs: readonly Tensor[], want: readonly number[]): void {
  expect(outputs.map((t) => t.name)).toEqual(['y']);
  const got = Array.from(outputs[0]!.data as Float32Array);
  expect(got).toHaveLength(want.length);
  got.forEach((value, i) => expect(Math.abs(value - want[i]!)).toBeLessThanOrEqual(expected.tolerance));
}

describe('SequenceStates with the stateful RNN fixture', () => {
  it('the fixture carries state: a step fed zeros instead of its state gives another y', async () => {
    const [y] = await model.run(
      [x(A.steps[1]!.x), { name: 'h', datatype: 'FP32', shape: [1, 8], data: new Float32Array(8) }],
      ['y'],
    );
    const off = Array.from(y!.data as Float32Array).map((v, i) => Math.abs(v - A.steps[1]!.y[i]!));
    expect(Math.max(...off)).toBeGreaterThan(0.01);
  });

  it('three interleaved sequences (A1 B1 C1 A2 B2 ...) give the y of feeding the state by hand', async () => {
    const states = open();
    // A numeric id, a string id, and uint64's largest as a decimal string (how gRPC hands it over).
    const ids = new Map([
      [A, '1'],
      [B, 'B'],
      [C, '18446744073709551615'],
    ]);
    expect(parseSequenceParameters({ sequence_id: 1 })!.id).toBe('1');
    const longest = Math.max(...expected.sequences.map((s) => s.steps.length));
    for (let step = 0; step < longest; step++) {
      for (const sequence of [A, B, C]) {
        const want = sequence.steps[step];
        if (want === undefined) continue;
        const last = step === sequence.steps.length - 1;
        const outputs = await states.run(seq(ids.get(sequence)!, step === 0, last), [x(want.x)], undefined, runOrt);
        expectY(outputs, want.y);
      }
      expect(states.liveSequences).toBe([A, B, C].filter((s) => s.steps.length > step + 1).length);
    }
  });

  it('requests of one sequence fired at once run in arrival order, even when earlier runs are slower', async () => {
    const states = open();
    let running = 0;
    let overlapped = false;
    const slowFirst: RunModel = async (inputs, names) => {
      running += 1;
      if (running > 1) overlapped = true;
      const row = (inputs[0]!.data as Float32Array)[0]!;
      // The earlier a step, the longer it waits: out-of-order execution would show in y.
      const index = B.steps.findIndex((s) => Math.fround(s.x[0]!) === row);
      await new Promise((resolve) => setTimeout(resolve, (B.steps.length - index) * 5));
      try {
        return await model.run(inputs, names);
      } finally {
        running -= 1;
      }
    };
    const all = await Promise.all(
      B.steps.map((step, i) => states.run(seq('b', i === 0, i === B.steps.length - 1), [x(step.x)], [], slowFirst)),
    );
    all.forEach((outputs, i) => expectY(outputs, B.steps[i]!.y));
    expect(overlapped).toBe(false);
    expect(states.liveSequences).toBe(0);
  });

  it('sequence_start resets the state to zeros', async () => {
    const states = open();
    await states.run(seq('a', true), [x(A.steps[0]!.x)], undefined, runOrt);
    await states.run(seq('a'), [x(A.steps[1]!.x)], undefined, runOrt);
    expectY(await states.run(seq('a', true), [x(A.steps[0]!.x)], undefined, runOrt), A.steps[0]!.y);
    expectY(await states.run(seq('a'), [x(A.steps[1]!.x)], undefined, runOrt), A.steps[1]!.y);
    expect(states.liveSequences).toBe(1);
  });

  it('a failed run leaves the state where it was', async () => {
    const states = open();
    await states.run(seq('a', true), [x(A.steps[0]!.x)], undefined, runOrt);
    const failing: RunModel = () => Promise.reject(new SlipwayError('INTERNAL', 'inference failed: boom'));
    expect((await rejection(states.run(seq('a'), [x(A.steps[1]!.x)], undefined, failing), 'INTERNAL')).message).toBe(
      'inference failed: boom',
    );
    expectY(await states.run(seq('a'), [x(A.steps[1]!.x)], undefined, runOrt), A.steps[1]!.y);
  });

  it('sequence_end frees the sequence: the next request without start is refused', async () => {
    const states = open();
    await states.run(seq('c', true), [x(C.steps[0]!.x)], undefined, runOrt);
    expectY(await states.run(seq('c', false, true), [x(C.steps[1]!.x)], undefined, runOrt), C.steps[1]!.y);
    expect(states.liveSequences).toBe(0);
    const error = await rejection(states.run(seq('c'), [x(C.steps[2]!.x)], undefined, runOrt), 'INVALID_ARGUMENT');
    expect(error.message).toBe(
      'inference request for sequence "c" to model "rnn" must specify the START flag (sequence_start) on the first request of the sequence',
    );
    expect(error.httpStatus).toBe(400);
  });

  it("a request queued behind its sequence's end, without start, is refused when its turn comes", async () => {
    const states = open();
    await states.run(seq('c', true), [x(C.steps[0]!.x)], undefined, runOrt);
    const ending = states.run(seq('c', false, true), [x(C.steps[1]!.x)], undefined, runOrt);
    const after = states.run(seq('c'), [x(C.steps[2]!.x)], undefined, runOrt);
    expectY(await ending, C.steps[1]!.y);
    expect((await rejection(after, 'INVALID_ARGUMENT')).message).toContain('must specify the START flag');
    expect(states.liveSequences).toBe(0);
  });

  it('idle sequences expire after idleTimeoutMs; busy ones do not', async () => {
    // Fake clock and interval only: ONNX Runtime's run still needs the real setImmediate.
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] });
    try {
      const states = open({ ...CONFIG, idleTimeoutMs: 1000 });
      await states.run(seq('idle', true), [x(A.steps[0]!.x)], undefined, runOrt);
      await states.run(seq('busy', true), [x(B.steps[0]!.x)], undefined, runOrt);
      for (let i = 1; i < 4; i++) {
        vi.advanceTimersByTime(600);
        expectY(await states.run(seq('busy'), [x(B.steps[i]!.x)], undefined, runOrt), B.steps[i]!.y);
      }
      // 1800 ms after its last request 'idle' is gone; 'busy' was used 0 ms ago.
      expect(states.liveSequences).toBe(1);
      expect(
        (await rejection(states.run(seq('idle'), [x(A.steps[1]!.x)], undefined, runOrt), 'INVALID_ARGUMENT')).message,
      ).toContain('sequence "idle"');
      vi.advanceTimersByTime(999);
      expect(states.liveSequences).toBe(1);
      vi.advanceTimersByTime(500);
      expect(states.liveSequences).toBe(0);
      expect(
        (await rejection(states.run(seq('busy'), [x(B.steps[4]!.x)], undefined, runOrt), 'INVALID_ARGUMENT')).message,
      ).toContain('sequence "busy"');
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('past maxSequences a new sequence is refused with 503 and Retry-After; ending one makes room', async () => {
    const states = open({ ...CONFIG, maxSequences: 2 });
    await states.run(seq('1', true), [x(A.steps[0]!.x)], undefined, runOrt);
    await states.run(seq('2', true), [x(B.steps[0]!.x)], undefined, runOrt);
    const error = await rejection(states.run(seq('3', true), [x(C.steps[0]!.x)], undefined, runOrt), 'UNAVAILABLE');
    expect(error.message).toBe(
      'model "rnn" has 2 live sequences, its limit (sequence.maxSequences); end a sequence (sequence_end) or wait for idle ones to expire (after 60000 ms)',
    );
    expect(error.httpStatus).toBe(503);
    expect(error.retryAfterSeconds).toBe(1);
    // A live sequence still runs, and a restart of one does not count as new.
    expectY(await states.run(seq('2', true), [x(B.steps[0]!.x)], undefined, runOrt), B.steps[0]!.y);
    await states.run(seq('1', false, true), [x(A.steps[1]!.x)], undefined, runOrt);
    expectY(await states.run(seq('3', true), [x(C.steps[0]!.x)], undefined, runOrt), C.steps[0]!.y);
  });

  it('refuses by name: no sequence_id, batch size 2, a state input sent, a state output asked for', async () => {
    const states = open();
    const message = async (promise: Promise<unknown>) => (await rejection(promise, 'INVALID_ARGUMENT')).message;
    expect(await message(states.run(undefined, [x(A.steps[0]!.x)], undefined, runOrt))).toBe(
      'model "rnn" keeps sequence state: every request needs parameter sequence_id (with sequence_start on a sequence\'s first request)',
    );
    expect(await message(states.run(seq('a', true), [x(A.steps[0]!.x, 2)], undefined, runOrt))).toBe(
      'a sequence request carries one row: input "x" has batch size 2 (shape [2,4])',
    );
    const h: Tensor = { name: 'h', datatype: 'FP32', shape: [1, 8], data: new Float32Array(8) };
    expect(await message(states.run(seq('a', true), [x(A.steps[0]!.x), h], undefined, runOrt))).toBe(
      'input "h" is the sequence state of model "rnn": the server keeps it between requests (sequence_start resets it to zeros), so a client does not send it',
    );
    expect(await message(states.run(seq('a', true), [x(A.steps[0]!.x)], ['y', 'hn'], runOrt))).toBe(
      'output "hn" is the sequence state of model "rnn": the server keeps it and does not return it',
    );
    expect(states.liveSequences).toBe(0);
  });

  it('shows clients the signature without the state, and refuses requests after close()', async () => {
    const states = open();
    expect(states.clientSignature).toEqual({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
    });
    states.close();
    const error = await rejection(states.run(seq('a', true), [x(A.steps[0]!.x)], undefined, runOrt), 'UNAVAILABLE');
    expect(error.message).toBe('model "rnn" is unloading; its sequences are gone');
  });
});

describe('sequence parameters', () => {
  it("reads Triton's sequence_id, sequence_start and sequence_end", () => {
    expect(parseSequenceParameters(undefined)).toBeUndefined();
    expect(parseSequenceParameters({ priority: 1 })).toBeUndefined();
    expect(parseSequenceParameters({ sequence_id: 42, sequence_start: true })).toEqual({
      id: '42',
      start: true,
      end: false,
    });
    expect(parseSequenceParameters({ sequence_id: '42', sequence_end: true })).toEqual({
      id: '42',
      start: false,
      end: true,
    });
    expect(parseSequenceParameters({ sequence_id: 'user-7' })).toEqual({ id: 'user-7', start: false, end: false });
    expect(parseSequenceParameters({ sequence_id: '007' })).toEqual({ id: '007', start: false, end: false });
  });

  it.each([
    [
      { sequence_id: 0 },
      'parameter "sequence_id" must be a non-zero unsigned 64-bit integer or a non-empty string, got 0',
    ],
    [
      { sequence_id: '0' },
      'parameter "sequence_id" must be a non-zero unsigned 64-bit integer or a non-empty string, got "0"',
    ],
    [
      { sequence_id: -3 },
      'parameter "sequence_id" must be a non-zero unsigned 64-bit integer or a non-empty string, got -3',
    ],
    [
      { sequence_id: 1.5 },
      'parameter "sequence_id" must be a non-zero unsigned 64-bit integer or a non-empty string, got 1.5',
    ],
    [
      { sequence_id: '' },
      'parameter "sequence_id" must be a non-zero unsigned 64-bit integer or a non-empty string, got ""',
    ],
    [
      { sequence_id: '18446744073709551616' },
      'parameter "sequence_id" must be a non-zero unsigned 64-bit integer or a non-empty string, got "18446744073709551616"',
    ],
    [
      { sequence_id: true },
      'parameter "sequence_id" must be a non-zero unsigned 64-bit integer or a non-empty string, got true',
    ],
    [{ sequence_id: 1, sequence_start: 'yes' }, 'parameter "sequence_start" must be true or false, got "yes"'],
    [{ sequence_id: 1, sequence_end: 1 }, 'parameter "sequence_end" must be true or false, got 1'],
    [{ sequence_start: true }, 'parameter "sequence_id" is required with sequence_start and sequence_end'],
  ])('refuses %j', (parameters, message) => {
    expect(() => parseSequenceParameters(parameters)).toThrow(message);
  });

  it('a model without a sequence config refuses sequence parameters by name', () => {
    expect(() => refuseSequenceParameters('plain', undefined)).not.toThrow();
    expect(() => refuseSequenceParameters('plain', { priority: 1 })).not.toThrow();
    expect(() => refuseSequenceParameters('plain', { sequence_id: 5, sequence_start: true })).toThrow(
      'model "plain" has no sequence state configured; parameters sequence_id, sequence_start are refused (set the model\'s serving config "sequence" to serve it as a stateful model)',
    );
    expect(() => refuseSequenceParameters('plain', { sequence_end: false })).toThrow(
      'parameter sequence_end is refused',
    );
  });
});

describe('sequence serving config', () => {
  it('parses the sequence setting, as an object or a JSON string', () => {
    expect(
      parseServingConfig({
        sequence: { state: [{ input: 'h', output: 'hn' }], idleTimeoutMs: 5000, maxSequences: 10 },
      }),
    ).toEqual({
      sequence: { state: [{ input: 'h', output: 'hn' }], idleTimeoutMs: 5000, maxSequences: 10 },
    });
    expect(
      parseServingConfig({
        maxBatchSize: 8,
        sequence: '{"state":[{"input":"h","output":"hn"},{"input":"c","output":"cn"}]}',
      }),
    ).toEqual({
      maxBatchSize: 8,
      sequence: {
        state: [
          { input: 'h', output: 'hn' },
          { input: 'c', output: 'cn' },
        ],
      },
    });
  });

  it('reports every problem by name', () => {
    const problems = (value: unknown) => {
      try {
        parseServingConfig({ sequence: value });
      } catch (error) {
        return (error as SlipwayError).message;
      }
      throw new Error('accepted');
    };
    expect(
      problems({
        state: [{ input: 'h' }, { input: 'h', output: 'hn', init: 0 }, 'c'],
        idleTimeoutMs: 0,
        maxSequences: 2.5,
        strategy: 'oldest',
      }),
    ).toBe(
      'invalid serving config: sequence.idleTimeoutMs must be an integer from 1 to 86400000, got 0; ' +
        'sequence.maxSequences must be an integer from 1 to 1000000, got 2.5; ' +
        'unknown setting "sequence.strategy" (known: sequence.state, sequence.idleTimeoutMs, sequence.maxSequences); ' +
        'sequence.state[0].output must be a tensor name, got nothing; ' +
        'unknown setting "sequence.state[1].init" (known: input, output); ' +
        'sequence.state[2] must be {"input": ..., "output": ...}, got "c"',
    );
    expect(problems({ state: [] })).toBe(
      'invalid serving config: sequence.state must be a non-empty list of {"input": ..., "output": ...} pairs, got []',
    );
    expect(
      problems({
        state: [
          { input: 'h', output: 'hn' },
          { input: 'h', output: 'hn' },
        ],
      }),
    ).toBe(
      'invalid serving config: sequence.state names input "h" more than once; sequence.state names output "hn" more than once',
    );
    expect(problems('{state')).toBe(
      'invalid serving config: sequence must be an object like {"state": [{"input": "h", "output": "hn"}]}, got "{state"',
    );
    expect(problems(7)).toBe(
      'invalid serving config: sequence must be an object like {"state": [{"input": "h", "output": "hn"}]}, got 7',
    );
  });

  it('checks the state against the signature: names, datatypes, dims, fixed non-batch dims', () => {
    const signature: Signature = {
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [-1, 4] },
        { name: 'h', datatype: 'FP32', shape: [-1, 8] },
        { name: 'c', datatype: 'FP64', shape: [-1, 8] },
        { name: 'v', datatype: 'FP32', shape: [-1, -1] },
        { name: 't', datatype: 'BYTES', shape: [-1, 1] },
      ],
      outputs: [
        { name: 'y', datatype: 'FP32', shape: [-1, 3] },
        { name: 'hn', datatype: 'FP32', shape: [-1, 6] },
        { name: 'cn', datatype: 'FP32', shape: [-1, 8] },
        { name: 'vn', datatype: 'FP32', shape: [-1, -1] },
        { name: 'tn', datatype: 'BYTES', shape: [-1, 1] },
      ],
    };
    expect(() =>
      checkSequenceConfig(
        { state: [{ input: 'h', output: 'y' }] },
        { ...signature, outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 8] }] },
      ),
    ).not.toThrow();
    expect(() => checkSequenceConfig(CONFIG, model.signature)).not.toThrow();
    const config: SequenceConfig = {
      state: [
        { input: 'hx', output: 'hm' },
        { input: 'h', output: 'hn' },
        { input: 'c', output: 'cn' },
        { input: 'v', output: 'vn' },
        { input: 't', output: 'tn' },
      ],
    };
    expect(() => checkSequenceConfig(config, signature)).toThrow(
      'sequence state does not fit the model: ' +
        'state input "hx" is not an input of the model (inputs: "x", "h", "c", "v", "t"); ' +
        'state output "hm" is not an output of the model (outputs: "y", "hn", "cn", "vn", "tn"); ' +
        'state "hn" -> "h": shapes differ (output [-1,6], input [-1,8]); the output\'s dims must equal the input\'s; ' +
        'state "cn" -> "c": datatypes differ (output FP32, input FP64); ' +
        'state "vn" -> "v": dimension 1 of state input "v" [-1,-1] is variable; state needs fixed dims after the batch dimension; ' +
        'state "tn" -> "t": state input "t" is BYTES; sequence state must be numeric or BOOL',
    );
    // The store checks at construction, so a version whose signature does not fit cannot be served statefully.
    expect(
      () =>
        new SequenceStates({
          model: 'rnn',
          config: { state: [{ input: 'h', output: 'y' }] },
          signature: model.signature,
        }),
    ).toThrow(
      'sequence state does not fit the model: state "y" -> "h": shapes differ (output [-1,3], input [-1,8]); the output\'s dims must equal the input\'s',
    );
  });
});
