/**
 * Warm-up: one synthetic run before a model is marked ready. It pays ORT's first-run costs
 * (allocations, kernel selection) outside a client's request and smoke-tests that the model runs
 * at all and returns what its signature promises.
 */
import { SlipwayError } from '../core/errors.js';
import { elementCount } from '../tensor/datatypes.js';
import type { Datatype, Signature, Tensor, TensorData } from '../tensor/datatypes.js';
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
    if (error instanceof SlipwayError && (error.code === 'CANCELLED' || error.code === 'DEADLINE_EXCEEDED')) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new SlipwayError('INVALID_ARGUMENT', `the model failed its warm-up run: ${message}`, { cause: error });
  }
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
