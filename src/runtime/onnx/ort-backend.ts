/**
 * The ONNX Runtime backend (onnxruntime-node, CPU).
 *
 * Note: the Node binding runs a session synchronously on the JavaScript thread (deferred by one
 * `setImmediate`), so runs never overlap and a long run blocks the event loop; hence
 * `supportsConcurrentRuns: false`. ORT's run-level `terminate` is not wired up in Node, so
 * cancellation is checked before a run and its result is dropped if the signal fired meanwhile.
 */
import { stat } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { SlipwayError } from '../../core/errors.js';
import { DATATYPES } from '../../tensor/datatypes.js';
import type { Signature, Tensor, TensorSpec } from '../../tensor/datatypes.js';
import { throwIfAborted } from '../abort.js';
import { defineCapabilities } from '../backend.js';
import type { ActiveProvider, Backend, BackendCapabilities, LoadedModel, LoadOptions, RunOptions } from '../backend.js';
import { quote } from '../../tensor/format.js';
import { selectOutputs, validateInputs, type DimNames } from '../../tensor/validate.js';
import { datatypeOfOrtType, fromOrtTensor, toOrtTensor } from './ort-tensors.js';
import { createSessionWithFallback, ortSessionOptions, resolveSessionSettings } from './session-settings.js';

/** Session settings that are not per load. */
export interface OrtBackendOptions {
  /** ORT graph optimisation level where a model's settings give none; default `'all'`. */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * ORT's own stderr logging (0 verbose … 4 fatal); default 4, because every load and run failure
   * already reaches the caller as a SlipwayError carrying ORT's message.
   */
  readonly logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/**
 * Create the ONNX Runtime backend.
 *
 * @example
 * const backend = createOrtBackend();
 * const model = await backend.load({ path: 'fraud.onnx', intraOpThreads: 1 });
 * const [label] = await model.run([input], ['label']);
 */
export function createOrtBackend(options: OrtBackendOptions = {}): Backend {
  return new OrtBackend(options);
}

class OrtBackend implements Backend {
  readonly name = 'onnxruntime';
  readonly capabilities: BackendCapabilities = defineCapabilities({
    supportsBatching: true,
    supportsConcurrentRuns: false,
    datatypes: DATATYPES,
  });

  constructor(private readonly options: OrtBackendOptions) {}

  async load(options: LoadOptions): Promise<LoadedModel> {
    throwIfAborted(options.signal);
    await assertFileExists(options.path);
    // A model's own settings (LoadOptions.session) over the load's thread counts over this backend's level.
    const settings = resolveSessionSettings(options.session, {
      intraOpThreads: options.intraOpThreads,
      interOpThreads: options.interOpThreads,
      graphOptimizationLevel: this.options.graphOptimizationLevel,
    });
    const sessionOptions = ortSessionOptions(settings, this.options.logSeverityLevel ?? 4);
    let session: ort.InferenceSession;
    let provider: ActiveProvider;
    try {
      ({ session, provider } = await createSessionWithFallback(
        options.path,
        sessionOptions,
        options.executionProviders,
      ));
    } catch (error) {
      throw new SlipwayError('INVALID_ARGUMENT', `cannot load model: ${messageOf(error)}`, { cause: error });
    }
    try {
      const signature = readSignature(session);
      throwIfAborted(options.signal);
      return new OrtModel(
        session,
        signature,
        readDimNames(session),
        { logSeverityLevel: sessionOptions.logSeverityLevel },
        provider,
      );
    } catch (error) {
      await session.release();
      throw error;
    }
  }
}

async function assertFileExists(path: string): Promise<void> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new SlipwayError('INVALID_ARGUMENT', `cannot load model: ${path} is not a file`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new SlipwayError('NOT_FOUND', `model file not found: ${path}`, { cause: error });
    }
    throw error;
  }
}

/** The model's interface from ORT's input and output metadata. */
function readSignature(session: ort.InferenceSession): Signature {
  return {
    inputs: session.inputMetadata.map((m) => toSpec(m, 'input')),
    outputs: session.outputMetadata.map((m) => toSpec(m, 'output')),
  };
}

function toSpec(metadata: ort.InferenceSession.ValueMetadata, side: 'input' | 'output'): TensorSpec {
  if (!metadata.isTensor) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${side} "${metadata.name}" is not a tensor (a sequence or map, e.g. from a ZipMap node); ` +
        'Slipway serves tensors only. Export classifiers without ZipMap ' +
        "(skl2onnx: options={id(model): {'zipmap': False}}) so probabilities are a tensor.",
    );
  }
  const datatype = datatypeOfOrtType(metadata.type);
  if (datatype === undefined) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${side} "${metadata.name}" has unsupported element type "${metadata.type}"`,
    );
  }
  // Symbolic dimensions arrive as their names (strings); unnamed free dimensions as ''.
  const shape = metadata.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  return { name: metadata.name, datatype, shape };
}

/** The symbolic dimension names of each input (`''` where a dimension has none), for checks across inputs. */
function readDimNames(session: ort.InferenceSession): DimNames {
  const names = new Map<string, string[]>();
  for (const m of session.inputMetadata) {
    if (m.isTensor)
      names.set(
        m.name,
        m.shape.map((d) => (typeof d === 'string' ? d : '')),
      );
  }
  return names;
}

class OrtModel implements LoadedModel {
  private released = false;

  constructor(
    private readonly session: ort.InferenceSession,
    readonly signature: Signature,
    private readonly dimNames: DimNames,
    private readonly runOptions: ort.InferenceSession.RunOptions,
    readonly executionProvider: ActiveProvider,
  ) {}

  async run(inputs: readonly Tensor[], outputNames: readonly string[], options: RunOptions = {}): Promise<Tensor[]> {
    throwIfAborted(options.signal);
    if (this.released) throw new SlipwayError('UNAVAILABLE', 'the model has been unloaded');
    // The same checks as at the edge, so a direct caller's mistake is INVALID_ARGUMENT, not an ORT failure.
    const fetches = selectOutputs(outputNames, this.signature);
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of validateInputs(inputs, this.signature, this.dimNames)) feeds[input.name] = toOrtTensor(input);
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.session.run(feeds, [...fetches], this.runOptions);
    } catch (error) {
      throw runFailure(error, Object.keys(feeds));
    }
    throwIfAborted(options.signal);
    return fetches.map((name) => {
      const value = results[name];
      if (!(value instanceof ort.Tensor)) {
        throw new SlipwayError('INTERNAL', `output "${name}" did not come back as a tensor`);
      }
      return fromOrtTensor(name, value);
    });
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}

/**
 * What ORT reports when the shapes or types a request sent do not fit the model (dimensions or rank
 * it refuses, a reshape or broadcast the sent shape cannot make, a wrong type). Failures that depend
 * on the values, such as an index out of a table's bounds, are not here: a request with a valid
 * signature that a model fails on is the model's error (INTERNAL, counted against the version, so
 * rollout gates and alerts see it; fixtures/models/make_faulty.py is such a model).
 */
const REFUSED_REQUEST =
  /invalid dimensions|invalid rank|unexpected input data type|cannot be reshaped|broadcast|incompatible dimensions|dimension mismatch/i;

/**
 * An ORT run failure as a SlipwayError: INVALID_ARGUMENT `input "x": the model refused it: <short ORT
 * text>` when the request caused it (the input ORT names, else every input sent), otherwise INTERNAL.
 */
function runFailure(error: unknown, inputNames: readonly string[]): SlipwayError {
  const text = messageOf(error);
  if (!REFUSED_REQUEST.test(text) || inputNames.length === 0) {
    return new SlipwayError('INTERNAL', `inference failed: ${text}`, { cause: error });
  }
  const named = /for input: (\S+)/.exec(text)?.[1];
  const blamed = named !== undefined && inputNames.includes(named) ? [named] : inputNames;
  const label =
    blamed.length === 1
      ? `input ${quote(blamed[0] as string)}: the model refused it`
      : `inputs ${blamed.map(quote).join(', ')}: the model refused them`;
  return new SlipwayError('INVALID_ARGUMENT', `${label}: ${shortOrtText(text)}`, { cause: error });
}

/**
 * ORT's message without its source location, the C++ signature and the failed check, on one line:
 * `Reshape node: The input tensor cannot be reshaped to the requested shape. Input shape:{1,2}, requested shape:{3}`.
 */
function shortOrtText(text: string): string {
  const node = /running (\S+) node\./.exec(text)?.[1];
  let detail = /Status Message: ([\s\S]*)$/.exec(text)?.[1] ?? text;
  detail = detail
    .replace(/^\S+:\d+ [\s\S]*? was false\. /, '')
    .replace(/^\S+:\d+ \S+?\([^)]*\) /, '')
    .replace(/\s*Please fix either the inputs\/outputs or the model\.?/, '')
    .replace(/\s+/g, ' ')
    .trim();
  if (detail.length > 300) detail = `${detail.slice(0, 299)}…`;
  return node === undefined ? detail : `${node} node: ${detail}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
