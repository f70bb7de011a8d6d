import { readFile } from 'node:fs/promises';
import { LocalArtifactStore } from '../artifact-store.js';
import { assertDigest, blobNotFound, isDigest, readVerified } from './blob-store.js';
import type { BlobSource, BlobStore } from './blob-store.js';

/**
 * Blobs in a local folder, in the layout LocalArtifactStore (src/registry/artifact-store.ts) already writes
 * (`<root>/sha256/<first two hex>/<digest>`, temp file + fsync + rename), so an existing registry folder is read as is.
 */
export class LocalBlobStore implements BlobStore {
  readonly kind = 'local' as const;
  readonly #files: LocalArtifactStore;

  constructor(readonly root: string) {
    this.#files = new LocalArtifactStore(root);
  }

  async put(sha256: string, source: BlobSource): Promise<{ created: boolean; sizeBytes: number }> {
    const bytes = await readVerified(sha256, source, 'local blob store put');
    const { created } = await this.#files.put(bytes, sha256);
    return { created, sizeBytes: bytes.byteLength };
  }

  has(sha256: string): Promise<boolean> {
    assertDigest(sha256, 'local blob store has');
    return this.#files.has(sha256);
  }

  async get(sha256: string): Promise<Uint8Array> {
    assertDigest(sha256, 'local blob store get');
    try {
      return await readFile(this.#files.localPath(sha256));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw blobNotFound(this.kind, sha256);
      throw error;
    }
  }

  /** The blob's file, for callers on this node that can open it in place (ONNX Runtime). */
  localPath(sha256: string): string {
    assertDigest(sha256, 'local blob store localPath');
    return this.#files.localPath(sha256);
  }

  delete(sha256: string): Promise<void> {
    assertDigest(sha256, 'local blob store delete');
    return this.#files.delete(sha256);
  }

  async list(): Promise<string[]> {
    return (await this.#files.list()).filter(isDigest);
  }
}
