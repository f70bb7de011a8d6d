/**
 * The Triton protocol extensions Slipway deliberately does not serve, with the message every
 * refusal carries (HTTP 400 from http/unsupported-routes.ts, gRPC UNIMPLEMENTED from
 * grpc/unsupported-handlers.ts, and an infer request naming a shared-memory region). `/v2`'s
 * extension list leaves them out.
 */
import { SlipwayError, invalid } from '../core/errors.js';
import { quote } from '../tensor/format.js';

export type UnsupportedExtension = 'system_shared_memory' | 'cuda_shared_memory' | 'trace' | 'logging';

const SEND_IN_BODY = 'send tensors in the request body (JSON or binary_tensor_data) or in raw_input_contents over gRPC';

const MESSAGES: Readonly<Record<UnsupportedExtension, string>> = {
  system_shared_memory: `Slipway does not support Triton's system shared memory extension (system_shared_memory); ${SEND_IN_BODY}`,
  cuda_shared_memory: `Slipway does not support Triton's CUDA shared memory extension (cuda_shared_memory); ${SEND_IN_BODY}`,
  trace:
    "Slipway does not support Triton's trace extension (trace); request timings are in the Prometheus metrics (/metrics) and the prediction log",
  logging:
    "Slipway does not support Triton's logging extension (logging); the log level is set at start with SLIPWAY_LOG_LEVEL",
};

export function unsupportedMessage(extension: UnsupportedExtension): string {
  return MESSAGES[extension];
}

/** The HTTP refusal: 400, as for any request Slipway cannot serve as sent. */
export function unsupportedOverHttp(extension: UnsupportedExtension): SlipwayError {
  return invalid(MESSAGES[extension]);
}

/** The gRPC refusal: UNIMPLEMENTED, the status gRPC clients expect for an RPC a server does not serve. */
export function unsupportedOverGrpc(extension: UnsupportedExtension): SlipwayError {
  return new SlipwayError('UNIMPLEMENTED', MESSAGES[extension]);
}

/** Triton's tensor parameters that place a tensor in a registered shared-memory region. */
const SHARED_MEMORY_PARAMETERS = ['shared_memory_region', 'shared_memory_offset', 'shared_memory_byte_size'] as const;

/**
 * Refuse an input or requested output whose parameters place it in shared memory (which Slipway
 * would otherwise ignore, answering from the body or not at all). `label` names the tensor.
 *
 * @throws INVALID_ARGUMENT, e.g. `input "x": parameters.shared_memory_region: Slipway does not support ...`
 */
function refuseSharedMemoryParameters(parameters: unknown, label: string): void {
  if (typeof parameters !== 'object' || parameters === null) return;
  for (const key of SHARED_MEMORY_PARAMETERS) {
    if ((parameters as Record<string, unknown>)[key] !== undefined) {
      throw invalid(`${label}: parameters.${key}: ${MESSAGES.system_shared_memory}`);
    }
  }
}

/**
 * Refuse a request whose inputs or requested outputs (REST JSON objects or gRPC messages, which
 * share the `name` and `parameters` fields) name a shared-memory region. Anything that is not an
 * array of objects is left to the request's own decoding to complain about.
 */
export function refuseSharedMemoryTensors(inputs: unknown, outputs: unknown): void {
  for (const [kind, tensors] of [
    ['input', inputs],
    ['output', outputs],
  ] as const) {
    if (!Array.isArray(tensors)) continue;
    tensors.forEach((tensor: unknown, position) => {
      if (typeof tensor !== 'object' || tensor === null) return;
      const { name, parameters } = tensor as { name?: unknown; parameters?: unknown };
      refuseSharedMemoryParameters(parameters, tensorLabel(kind, name, position));
    });
  }
}

function tensorLabel(kind: 'input' | 'output', name: unknown, position: number): string {
  return typeof name === 'string' && name !== '' ? `${kind} ${quote(name)}` : `${kind}s[${position}]`;
}
