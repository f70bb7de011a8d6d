import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SlipwayError } from '../../core/errors.js';

/**
 * Where model blobs live, addressed by the sha256 of their bytes (issue 18 item 1). Three adapters share this
 * interface and one contract suite (blob-store-contract.test-support.ts): a local folder (local-blob-store.ts), PostgreSQL large
 * objects (pg-blob-store.ts) and S3 (s3-blob-store.ts). Errors are SlipwayErrors: INVALID_ARGUMENT for a malformed
 * digest or bytes that do not hash to it, NOT_FOUND for a missing blob, UNAVAILABLE for a store that cannot be reached.
 */
export interface BlobStore {
  /** Which adapter this is, for logs and health output. */
  readonly kind: 'local' | 'postgres' | 's3';
  /**
   * Store the blob `sha256` from bytes or a file. The bytes are hashed first and refused (nothing stored) when they
   * do not match. Idempotent: storing a blob that exists already leaves it and answers `created: false`.
   */
  put(sha256: string, source: BlobSource): Promise<{ created: boolean; sizeBytes: number }>;
  has(sha256: string): Promise<boolean>;
  /** The blob's bytes; NOT_FOUND when it is not stored. */
  get(sha256: string): Promise<Uint8Array>;
  /** Remove the blob; removing one that is not stored is not an error. */
  delete(sha256: string): Promise<void>;
  /** Digests of every stored blob, for the collector. */
  list(): Promise<string[]>;
}

/** The bytes to store, or a file holding them. */
export type BlobSource = Uint8Array | { readonly file: string };

const DIGEST = /^[0-9a-f]{64}$/;

/** Refuse anything that is not a lowercase hex sha256 digest; `what` names the caller for the message. */
export function assertDigest(sha256: string, what: string): void {
  if (!DIGEST.test(sha256)) {
    throw new SlipwayError('INVALID_ARGUMENT', `${what}: "${sha256}" is not a sha256 digest (64 lowercase hex)`);
  }
}

/** Whether `name` is a digest (for listings that may hold other names). */
export function isDigest(name: string): boolean {
  return DIGEST.test(name);
}

/** The sha256 of `bytes` as lowercase hex. */
export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Read a put's source and check that it hashes to `sha256`; the shared first step of every adapter's `put`,
 * so a wrong digest is refused before anything is written.
 */
export async function readVerified(sha256: string, source: BlobSource, what: string): Promise<Uint8Array> {
  assertDigest(sha256, what);
  const bytes = source instanceof Uint8Array ? source : await readSourceFile(source.file, what);
  const actual = sha256Of(bytes);
  if (actual !== sha256) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${what}: the bytes hash to sha256 ${actual}, not the ${sha256} they were stored as; nothing was stored`,
    );
  }
  return bytes;
}

async function readSourceFile(file: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${what}: cannot read source file ${file}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/** The NOT_FOUND every adapter's `get` throws for a blob it does not hold. */
export function blobNotFound(kind: BlobStore['kind'], sha256: string): SlipwayError {
  return new SlipwayError('NOT_FOUND', `artifact blob ${sha256} is not in the ${kind} blob store`);
}
