/**
 * The RPCs of Triton's extensions Slipway deliberately does not serve: UNIMPLEMENTED with the
 * message naming the extension (unsupported-extensions.ts), instead of grpc-js's bare
 * "method not implemented".
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { unsupportedOverGrpc, type UnsupportedExtension } from '../unsupported-extensions.js';
import { unaryHandler } from './unary-call.js';

const REFUSED: Readonly<Record<string, UnsupportedExtension>> = {
  SystemSharedMemoryStatus: 'system_shared_memory',
  SystemSharedMemoryRegister: 'system_shared_memory',
  SystemSharedMemoryUnregister: 'system_shared_memory',
  CudaSharedMemoryStatus: 'cuda_shared_memory',
  CudaSharedMemoryRegister: 'cuda_shared_memory',
  CudaSharedMemoryUnregister: 'cuda_shared_memory',
  TraceSetting: 'trace',
  LogSettings: 'logging',
};

export function createUnsupportedHandlers(): UntypedServiceImplementation {
  return Object.fromEntries(
    Object.entries(REFUSED).map(([method, extension]) => [
      method,
      unaryHandler(method, () => {
        throw unsupportedOverGrpc(extension);
      }),
    ]),
  );
}
