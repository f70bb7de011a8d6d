import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** Where model files live, addressed by the sha256 of their bytes. */
export interface ArtifactStore {
  /**
   * Store bytes; identical bytes are stored once. `created` is false when the blob already existed.
   * `sha256` is the digest when the caller computed it already (`digestOf`).
   */
  put(bytes: Uint8Array, sha256?: string): Promise<{ sha256: string; sizeBytes: number; created: boolean }>;
  /** A local file path ONNX Runtime can open. */
  localPath(sha256: string): string;
  has(sha256: string): Promise<boolean>;
  delete(sha256: string): Promise<void>;
  /** Digests of every stored blob. */
  list(): Promise<string[]>;
  /** Remove temporary files of writes that never finished (a crash mid-put) older than `ageMs`; returns how many. */
  removeStaleTemporaries(ageMs: number): Promise<number>;
}

/** The sha256 of `bytes`, as lowercase hex: the address of their blob. */
export function digestOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const DIGEST = /^[0-9a-f]{64}$/;

/**
 * Artifacts in a local folder: `<root>/sha256/<first two hex>/<digest>`.
 * Writes go to a temporary name in the same folder, are fsynced, then renamed, so a crash
 * never leaves a partial blob under its final name.
 */
export class LocalArtifactStore implements ArtifactStore {
  constructor(private readonly root: string) {}

  async put(
    bytes: Uint8Array,
    sha256 = digestOf(bytes),
  ): Promise<{ sha256: string; sizeBytes: number; created: boolean }> {
    const target = this.localPath(sha256);
    if (await this.has(sha256)) return { sha256, sizeBytes: bytes.byteLength, created: false };
    const dir = path.dirname(target);
    await mkdir(dir, { recursive: true });
    const temp = path.join(dir, `.tmp-${sha256.slice(0, 12)}-${randomBytes(6).toString('hex')}`);
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, target);
      await syncDirectory(dir);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return { sha256, sizeBytes: bytes.byteLength, created: true };
  }

  localPath(sha256: string): string {
    if (!DIGEST.test(sha256)) throw new Error(`not a sha256 digest: ${sha256}`);
    return path.join(this.root, 'sha256', sha256.slice(0, 2), sha256);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.localPath(sha256))).isFile();
    } catch {
      return false;
    }
  }

  async delete(sha256: string): Promise<void> {
    await rm(this.localPath(sha256), { force: true });
  }

  async list(): Promise<string[]> {
    return (await this.#files()).filter((file) => DIGEST.test(file.name)).map((file) => file.name);
  }

  async removeStaleTemporaries(ageMs: number): Promise<number> {
    const cutoff = Date.now() - ageMs;
    let removed = 0;
    for (const file of await this.#files()) {
      if (!file.name.startsWith('.tmp-')) continue;
      const full = path.join(file.parentPath, file.name);
      try {
        if ((await stat(full)).mtimeMs > cutoff) continue;
        await rm(full, { force: true });
        removed++;
      } catch {
        // Renamed or removed meanwhile: nothing to clean.
      }
    }
    return removed;
  }

  async #files(): Promise<{ name: string; parentPath: string }[]> {
    try {
      const entries = await readdir(path.join(this.root, 'sha256'), { recursive: true, withFileTypes: true });
      return entries
        .filter((entry) => entry.isFile())
        .map((entry) => ({ name: entry.name, parentPath: entry.parentPath }));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }
}

/** Make a rename durable: fsync the folder entry (a no-op where the platform refuses it). */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems do not allow fsync on directories; the file itself is already synced.
  }
}
