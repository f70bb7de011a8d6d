/**
 * Warm-up: runs before a model is marked ready. They pay ORT's first-run costs (allocations,
 * kernel selection) outside a client's request and smoke-test that the model runs at all and
 * returns what its signature promises. By default one generated run (zeros); per model, the
 * serving config may turn it off or give sample requests ({@link WarmupPlan}).
 */
import { SlipwayError, invalid } from '../core/errors.js';
import { elementCount } from '../tensor/datatypes.js';
import type { Datatype, Signature, Tensor, TensorData } from '../tensor/datatypes.js';
import { isPlainObject } from '../tensor/format.js';
import { decodeRequestInput } from '../tensor/json-codec.js';
import { validateInputs } from '../tensor/validate.js';
import type { LoadedModel, RunOptions } from './backend.js';

/**
 * A batch-1 request for the signature's required inputs: variable dimensions become 1, data is
 * zeros (numbers), false (BOOL) or "" (BYTES). Optional inputs are left out so the graph's
 * defaults apply.
 */
export function syntheticRequest(signature: Signature): Tensor[] {
  return signature.inputs
    .filter((spec) => spec.optional !== true)
    .map((spec) => {
      const shape = spec.shape.map((d) => (d < 0 ? 1 : d));
      return { name: spec.name, datatype: spec.datatype, shape, data: zeros(spec.datatype, elementCount(shape)) };
    });
}

/** Zero-filled storage of `length` elements for a datatype (see TensorDataByType). */
export function zeros(datatype: Datatype, length: number): TensorData {
  switch (datatype) {
    case 'BOOL':
    case 'UINT8':
      return new Uint8Array(length);
    case 'UINT16':
    case 'FP16':
      return new Uint16Array(length);
    case 'UINT32':
      return new Uint32Array(length);
    case 'UINT64':
      return new BigUint64Array(length);
    case 'INT8':
      return new Int8Array(length);
    case 'INT16':
      return new Int16Array(length);
    case 'INT32':
      return new Int32Array(length);
    case 'INT64':
      return new BigInt64Array(length);
    case 'FP32':
      return new Float32Array(length);
    case 'FP64':
      return new Float64Array(length);
    case 'BYTES':
      return new Array<string>(length).fill('');
  }
}

/**
 * Run the synthetic request once and check that every declared output comes back with its
 * declared datatype and rank. Throws INVALID_ARGUMENT (the artifact is unusable) with the cause.
 */
export async function warmUp(model: LoadedModel, options: RunOptions = {}): Promise<void> {
  const { signature } = model;
  const outputNames = signature.outputs.map((o) => o.name);
  let outputs: Tensor[];
  try {
    outputs = await model.run(syntheticRequest(signature), outputNames, options);
  } catch (error) {
    if (isCancellation(error)) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new SlipwayError('INVALID_ARGUMENT', `the model failed its warm-up run: ${message}`, { cause: error });
  }
  checkOutputs(signature, outputs);
}

/** Every declared output came back with its declared datatype and rank. */
function checkOutputs(signature: Signature, outputs: readonly Tensor[]): void {
  signature.outputs.forEach((spec, i) => {
    const output = outputs[i];
    // ORT reports an output of unknown rank as shape [], so only a declared rank is checked.
    const rankOk = spec.shape.length === 0 || output?.shape.length === spec.shape.length;
    if (output?.name !== spec.name || output.datatype !== spec.datatype || !rankOk) {
      const got = output === undefined ? 'nothing' : `${output.datatype} rank ${output.shape.length}`;
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `the model's warm-up run returned ${got} for output "${spec.name}", which declares ${spec.datatype} rank ${spec.shape.length}`,
      );
    }
  });
}

/**
 * How a version is warmed up before it is ready (Triton's `model_warmup`; the serving config's
 * `warmup`, src/registry/serving-config.ts): `none`, `generated` (zeros, {@link syntheticRequest}) or a
 * v2 JSON request body the user gave, run `count` times (default 1).
 */
export type WarmupPlan = 'none' | 'generated' | { readonly request: unknown; readonly count?: number };

/** What a load's warm-up did: for the pool's `loaded` event and the repository index. */
export interface WarmupOutcome {
  readonly plan: 'none' | 'generated' | 'request';
  /** Warm-up runs that completed. */
  readonly runs: number;
  /** Set when the generated warm-up failed and the version loaded without it: why. */
  readonly skipped?: string;
}

/**
 * Warm `model` up as `plan` says. The generated default must not make a working model unservable
 * (zeros may be inputs it refuses, e.g. a shape or an index tensor), so a generated run that fails
 * is skipped with a warning in the outcome; outputs that contradict the signature still refuse the
 * load, since that does not depend on the inputs. A request the user gave must run: any failure
 * refuses the load with the model's own message.
 *
 * @param label `model@version`, named in the refusal
 * @throws INVALID_ARGUMENT `warm-up of fraud@1.2.0 failed: input "x": expected shape [-1,30], got [1,29] ...`
 */
export async function runWarmup(
  model: LoadedModel,
  plan: WarmupPlan,
  label: string,
  options: RunOptions = {},
): Promise<WarmupOutcome> {
  if (plan === 'none') return { plan: 'none', runs: 0 };
  const { signature } = model;
  const outputNames = signature.outputs.map((o) => o.name);
  if (plan === 'generated') {
    let outputs: Tensor[];
    try {
      outputs = await model.run(syntheticRequest(signature), outputNames, options);
    } catch (error) {
      if (isCancellation(error)) throw error;
      const message = error instanceof Error ? error.message : String(error);
      return {
        plan: 'generated',
        runs: 0,
        skipped: `the generated warm-up (zeros) failed, so the version loaded without it: ${message}`,
      };
    }
    checkOutputs(signature, outputs);
    return { plan: 'generated', runs: 1 };
  }
  const count = plan.count ?? 1;
  let runs = 0;
  try {
    const inputs = validateInputs(decodeWarmupRequest(plan.request), signature);
    for (; runs < count; runs++) checkOutputs(signature, await model.run(inputs, outputNames, options));
  } catch (error) {
    if (isCancellation(error)) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new SlipwayError('INVALID_ARGUMENT', `warm-up of ${label} failed: ${message}`, { cause: error });
  }
  return { plan: 'request', runs };
}

/**
 * The tensors of a warm-up request body (`{"inputs": [...]}`, the v2 JSON request), decoded with the
 * request codec. The serving config checked its shape when it was stored; this is checked again for
 * a body from elsewhere.
 */
export function decodeWarmupRequest(body: unknown): Tensor[] {
  const inputs = isPlainObject(body) ? body.inputs : undefined;
  if (!Array.isArray(inputs) || inputs.length === 0)
    throw invalid('a warm-up request is a v2 JSON request body with a non-empty "inputs" list');
  return inputs.map((raw: unknown, i) => decodeRequestInput(raw, i));
}

function isCancellation(error: unknown): boolean {
  return error instanceof SlipwayError && (error.code === 'CANCELLED' || error.code === 'DEADLINE_EXCEEDED');
}
