/**
 * Stateful sequences (Triton's sequence batcher with implicit state): a model whose serving config
 * pairs state outputs with state inputs (registry/serving-config.ts `sequence`) gets one
 * {@link SequenceStates} per loaded version. Each sequence_id's state tensors are kept here between
 * requests and fed back as inputs; clients never send or see them. Requests of one sequence run one
 * after another, in arrival order.
 */
import { invalid, SlipwayError } from '../core/errors.js';
import type { Datatype, Signature, Tensor, TensorData, TensorSpec } from '../tensor/datatypes.js';
import { elementCount } from '../tensor/datatypes.js';
import { formatShape, quote } from '../tensor/format.js';
import { checkSequenceConfig, SEQUENCE_DEFAULTS, type SequenceConfig } from '../registry/serving-config.js';

/** The request parameters Triton's clients send for a sequence. */
export interface SequenceParameters {
  /**
   * The sequence's key: a uint64 id in decimal (`42`, whether it came as a number or a numeric string,
   * e.g. a gRPC uint64 past 2^53) or a client's string id.
   */
  readonly id: string;
  readonly start: boolean;
  readonly end: boolean;
}

const SEQUENCE_PARAMETERS = ['sequence_id', 'sequence_start', 'sequence_end'] as const;
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * Read `sequence_id`, `sequence_start` and `sequence_end` from a request's parameters; undefined when
 * none of them is given. sequence_id is required with the flags, and 0 or "" is refused (Triton reads
 * them as "no sequence").
 *
 * @throws INVALID_ARGUMENT naming the parameter.
 */
export function parseSequenceParameters(
  parameters: Readonly<Record<string, unknown>> | undefined,
): SequenceParameters | undefined {
  if (parameters === undefined || !SEQUENCE_PARAMETERS.some((name) => parameters[name] !== undefined)) return undefined;
  const { sequence_id: rawId, sequence_start: start = false, sequence_end: end = false } = parameters;
  for (const [name, flag] of [
    ['sequence_start', start],
    ['sequence_end', end],
  ] as const) {
    if (typeof flag !== 'boolean')
      throw invalid(`parameter "${name}" must be true or false, got ${JSON.stringify(flag)}`);
  }
  if (rawId === undefined) throw invalid('parameter "sequence_id" is required with sequence_start and sequence_end');
  return { id: sequenceKey(rawId), start: start as boolean, end: end as boolean };
}

function sequenceKey(raw: unknown): string {
  const rule = 'parameter "sequence_id" must be a non-zero unsigned 64-bit integer or a non-empty string';
  if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw) || raw <= 0) throw invalid(`${rule}, got ${JSON.stringify(raw)}`);
    return String(raw);
  }
  if (typeof raw !== 'string' || raw === '') throw invalid(`${rule}, got ${JSON.stringify(raw) ?? 'nothing'}`);
  // A canonical decimal is the uint64 id it spells (gRPC hands ids past 2^53 over as such strings).
  if (/^(0|[1-9][0-9]*)$/.test(raw)) {
    const id = BigInt(raw);
    if (id === 0n || id > UINT64_MAX) throw invalid(`${rule}, got ${quote(raw)}`);
  }
  return raw;
}

/**
 * For a model without a sequence config: refuse sequence parameters rather than ignore them.
 *
 * @throws INVALID_ARGUMENT `model "m" has no sequence state configured; parameters sequence_id, sequence_start are refused`
 */
export function refuseSequenceParameters(
  model: string,
  parameters: Readonly<Record<string, unknown>> | undefined,
): void {
  if (parameters === undefined) return;
  const given = SEQUENCE_PARAMETERS.filter((name) => parameters[name] !== undefined);
  if (given.length === 0) return;
  throw invalid(
    `model ${quote(model)} has no sequence state configured; parameter${given.length > 1 ? 's' : ''} ${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} refused ` +
      '(set the model\'s serving config "sequence" to serve it as a stateful model)',
  );
}

/** Runs the model once: the inputs (client's and state) and the outputs to fetch, by name. */
export type RunModel = (inputs: readonly Tensor[], outputNames: readonly string[]) => Promise<readonly Tensor[]>;

export interface SequenceStatesOptions {
  /** For messages: the model (or model@version) clients asked for. */
  readonly model: string;
  readonly config: SequenceConfig;
  /** The loaded version's full signature, state inputs and outputs included. */
  readonly signature: Signature;
}

interface StateSlot {
  readonly input: string;
  readonly output: string;
  readonly datatype: Datatype;
  /** The state's shape: the state input's, with batch 1 where its first dimension is variable. */
  readonly shape: readonly number[];
}

interface Sequence {
  /** The state to feed next; undefined before a successful start and after the end. */
  state: Tensor[] | undefined;
  /** The last request queued on this sequence; the next one runs after it settles. */
  tail: Promise<void>;
  /** Requests queued or running: a sequence with any is never idle. */
  pending: number;
  lastUsed: number;
}

/**
 * The live sequences of one loaded version.
 *
 * @example
 * const states = new SequenceStates({ model: 'rnn', config, signature: model.signature });
 * const outputs = await states.run(parseSequenceParameters(parameters), inputs, [], (feeds, names) => model.run(feeds, names));
 */
export class SequenceStates {
  /** What clients see: the signature without the state inputs and outputs. */
  readonly clientSignature: Signature;
  private readonly slots: readonly StateSlot[];
  private readonly sequences = new Map<string, Sequence>();
  private readonly idleTimeoutMs: number;
  private readonly maxSequences: number;
  private readonly batchedInputs: ReadonlySet<string>;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  /** @throws INVALID_ARGUMENT when the config does not fit the signature (checkSequenceConfig). */
  constructor(private readonly options: SequenceStatesOptions) {
    const { config, signature } = options;
    checkSequenceConfig(config, signature);
    this.idleTimeoutMs = config.idleTimeoutMs ?? SEQUENCE_DEFAULTS.idleTimeoutMs;
    this.maxSequences = config.maxSequences ?? SEQUENCE_DEFAULTS.maxSequences;
    this.slots = config.state.map((pair) => {
      const spec = signature.inputs.find((s) => s.name === pair.input) as TensorSpec;
      return {
        input: pair.input,
        output: pair.output,
        datatype: spec.datatype,
        shape: spec.shape.map((d, i) => (i === 0 && d < 0 ? 1 : d)),
      };
    });
    const stateInputs = new Set(this.slots.map((s) => s.input));
    const stateOutputs = new Set(this.slots.map((s) => s.output));
    this.clientSignature = {
      inputs: signature.inputs.filter((s) => !stateInputs.has(s.name)),
      outputs: signature.outputs.filter((s) => !stateOutputs.has(s.name)),
    };
    this.batchedInputs = new Set(this.clientSignature.inputs.filter((s) => s.shape[0] === -1).map((s) => s.name));
  }

  /** Sequences live now (started, not ended, not expired). */
  get liveSequences(): number {
    return this.sequences.size;
  }

  /**
   * Run one request of a sequence: after the sequence's earlier requests, with its state (zeros on
   * `start`) added to `clientInputs`, keeping the state outputs for the next request and returning
   * the other outputs (`requestedOutputs`, or all of them when empty or undefined). `end` frees the
   * sequence after the run.
   *
   * @throws INVALID_ARGUMENT without sequence parameters, for a batch size other than 1, a client
   *   sending a state input or asking for a state output, or a request without `start` for a
   *   sequence that is not live; UNAVAILABLE (with retryAfterSeconds) past maxSequences or after close().
   */
  async run(
    parameters: SequenceParameters | undefined,
    clientInputs: readonly Tensor[],
    requestedOutputs: readonly string[] | undefined,
    runModel: RunModel,
  ): Promise<Tensor[]> {
    if (this.closed) throw this.unloading();
    if (parameters === undefined) {
      throw invalid(
        `model ${quote(this.options.model)} keeps sequence state: every request needs parameter sequence_id (with sequence_start on a sequence's first request)`,
      );
    }
    this.checkClientInputs(clientInputs);
    const outputNames = this.outputNames(requestedOutputs);
    const sequence = this.sequenceFor(parameters);
    sequence.pending += 1;
    sequence.lastUsed = Date.now();
    const result = sequence.tail.then(() => this.step(parameters, sequence, clientInputs, outputNames, runModel));
    sequence.tail = result.then(noop, noop);
    try {
      return await result;
    } finally {
      sequence.pending -= 1;
      sequence.lastUsed = Date.now();
      if (sequence.state === undefined && sequence.pending === 0 && this.sequences.get(parameters.id) === sequence)
        this.sequences.delete(parameters.id);
    }
  }

  /** Stop the idle sweep and forget every sequence; later requests are refused with UNAVAILABLE. */
  close(): void {
    this.closed = true;
    this.stopSweeper();
    this.sequences.clear();
  }

  private checkClientInputs(inputs: readonly Tensor[]): void {
    for (const input of inputs) {
      const slot = this.slots.find((s) => s.input === input.name);
      if (slot !== undefined) {
        throw invalid(
          `input ${quote(input.name)} is the sequence state of model ${quote(this.options.model)}: the server keeps it between requests ` +
            '(sequence_start resets it to zeros), so a client does not send it',
        );
      }
      if (this.batchedInputs.has(input.name) && input.shape[0] !== 1) {
        throw invalid(
          `a sequence request carries one row: input ${quote(input.name)} has batch size ${input.shape[0] ?? 'none'} (shape ${formatShape(input.shape)})`,
        );
      }
    }
  }

  /** The outputs to fetch: the client's (all non-state outputs when none are named) and every state output. */
  private outputNames(requested: readonly string[] | undefined): string[] {
    for (const name of requested ?? []) {
      if (this.slots.some((s) => s.output === name)) {
        throw invalid(
          `output ${quote(name)} is the sequence state of model ${quote(this.options.model)}: the server keeps it and does not return it`,
        );
      }
    }
    const client =
      requested !== undefined && requested.length > 0 ? requested : this.clientSignature.outputs.map((s) => s.name);
    return [...client, ...this.slots.map((s) => s.output)];
  }

  /** The live sequence, or a new one for a start; checked again when its turn comes (an end may precede it). */
  private sequenceFor(parameters: SequenceParameters): Sequence {
    const existing = this.sequences.get(parameters.id);
    if (existing !== undefined) return existing;
    if (!parameters.start) throw this.startRequired(parameters.id);
    if (this.sequences.size >= this.maxSequences) {
      throw new SlipwayError(
        'UNAVAILABLE',
        `model ${quote(this.options.model)} has ${this.sequences.size} live sequences, its limit (sequence.maxSequences); ` +
          `end a sequence (sequence_end) or wait for idle ones to expire (after ${this.idleTimeoutMs} ms)`,
        { retryAfterSeconds: 1 },
      );
    }
    const sequence: Sequence = { state: undefined, tail: Promise.resolve(), pending: 0, lastUsed: Date.now() };
    this.sequences.set(parameters.id, sequence);
    this.startSweeper();
    return sequence;
  }

  private async step(
    parameters: SequenceParameters,
    sequence: Sequence,
    clientInputs: readonly Tensor[],
    outputNames: readonly string[],
    runModel: RunModel,
  ): Promise<Tensor[]> {
    if (this.closed) throw this.unloading();
    const state = parameters.start ? this.slots.map(zeroState) : sequence.state;
    if (state === undefined || this.sequences.get(parameters.id) !== sequence) throw this.startRequired(parameters.id);
    try {
      const outputs = await runModel([...clientInputs, ...state], outputNames);
      // Only a successful run moves the state on; a failed one leaves the sequence where it was.
      sequence.state = this.slots.map((slot) => this.nextState(slot, outputs));
      const stateOutputs = new Set(this.slots.map((s) => s.output));
      return outputs.filter((t) => !stateOutputs.has(t.name));
    } finally {
      if (parameters.end) sequence.state = undefined;
    }
  }

  private nextState(slot: StateSlot, outputs: readonly Tensor[]): Tensor {
    const output = outputs.find((t) => t.name === slot.output);
    if (output === undefined || !sameShape(output.shape, slot.shape)) {
      const got = output === undefined ? 'nothing' : formatShape(output.shape);
      throw new SlipwayError(
        'INTERNAL',
        `model ${quote(this.options.model)} returned ${got} for state output ${quote(slot.output)}, expected ${formatShape(slot.shape)}`,
      );
    }
    // A copy: a batched run's outputs may be views into the whole batch's buffer.
    return { name: slot.input, datatype: slot.datatype, shape: slot.shape, data: output.data.slice() };
  }

  private unloading(): SlipwayError {
    return new SlipwayError('UNAVAILABLE', `model ${quote(this.options.model)} is unloading; its sequences are gone`, {
      retryAfterSeconds: 1,
    });
  }

  private startRequired(id: string): SlipwayError {
    return invalid(
      `inference request for sequence ${quote(id)} to model ${quote(this.options.model)} must specify the START flag (sequence_start) ` +
        'on the first request of the sequence',
    );
  }

  /** One unref'd timer for every sequence, running only while there are any. */
  private startSweeper(): void {
    if (this.sweeper !== undefined) return;
    const every = Math.min(1000, Math.max(10, Math.floor(this.idleTimeoutMs / 2)));
    this.sweeper = setInterval(() => this.expireIdle(), every);
    this.sweeper.unref();
  }

  private stopSweeper(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private expireIdle(): void {
    const now = Date.now();
    for (const [id, sequence] of this.sequences) {
      if (sequence.pending === 0 && now - sequence.lastUsed >= this.idleTimeoutMs) this.sequences.delete(id);
    }
    if (this.sequences.size === 0) this.stopSweeper();
  }
}

function zeroState(slot: StateSlot): Tensor {
  return {
    name: slot.input,
    datatype: slot.datatype,
    shape: slot.shape,
    data: zeros(slot.datatype, elementCount(slot.shape)),
  };
}

function zeros(datatype: Datatype, n: number): TensorData {
  switch (datatype) {
    case 'BOOL':
    case 'UINT8':
      return new Uint8Array(n);
    case 'UINT16':
    case 'FP16':
      return new Uint16Array(n);
    case 'UINT32':
      return new Uint32Array(n);
    case 'UINT64':
      return new BigUint64Array(n);
    case 'INT8':
      return new Int8Array(n);
    case 'INT16':
      return new Int16Array(n);
    case 'INT32':
      return new Int32Array(n);
    case 'INT64':
      return new BigInt64Array(n);
    case 'FP32':
      return new Float32Array(n);
    case 'FP64':
      return new Float64Array(n);
    case 'BYTES':
      // checkSequenceConfig refuses BYTES state.
      throw new SlipwayError('INTERNAL', 'sequence state cannot be BYTES');
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function noop(): void {}
