/**
 * Loading `proto/grpc_service.proto` (package `inference`) with @grpc/proto-loader, for the server
 * and for clients (tests, tools) that must speak exactly the same messages.
 */
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';

/** Absolute path of the shipped proto; the same relative hop works from `src/` (vitest) and `dist/`. */
export const GRPC_PROTO_PATH = fileURLToPath(new URL('../../../proto/grpc_service.proto', import.meta.url));

/** The fully qualified service name, as it appears in method paths (`/inference.GRPCInferenceService/ModelInfer`). */
export const INFERENCE_SERVICE_NAME = 'inference.GRPCInferenceService';

/**
 * How messages become JS objects. `longs: String` keeps INT64/UINT64 exact (converted with BigInt);
 * `defaults` fills absent scalars and repeated fields; `oneofs` names the set member of
 * `InferParameter.parameter_choice`. Bytes stay Buffers.
 */
export const PROTO_LOADER_OPTIONS: Readonly<Options> = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

let cached: PackageDefinition | undefined;

/** Parse the proto once per process. Throws (at start-up) if the file is missing or invalid. */
export function loadInferenceProto(): PackageDefinition {
  cached ??= loadSync(GRPC_PROTO_PATH, { ...PROTO_LOADER_OPTIONS });
  return cached;
}

/** The `GRPCInferenceService` definition, ready for `Server.addService` or `makeGenericClientConstructor`. */
export function inferenceServiceDefinition(): ServiceDefinition {
  const definition = loadInferenceProto()[INFERENCE_SERVICE_NAME];
  if (definition === undefined || !('ModelInfer' in definition)) {
    throw new Error(`${GRPC_PROTO_PATH} does not define ${INFERENCE_SERVICE_NAME}`);
  }
  // The `in` check picks proto-loader's service variant, which is structurally grpc-js's ServiceDefinition.
  return definition;
}
