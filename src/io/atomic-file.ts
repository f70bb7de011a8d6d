import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { SlipwayError, invalid, notFound } from '../core/errors.js';

/**
 * Writes `file` all or nothing: `write` fills a hidden temp file in the same folder, which is then
 * fsynced and renamed over `file` (and the folder fsynced, so the rename survives a crash). If
 * anything throws, the temp file is removed and `file` is left as it was.
 *
 * NOT_FOUND when the folder does not exist. `write` may create companion files next to its temp
 * path (such as `${tempPath}.part-0.parquet`), but must remove them itself.
 */
export async function writeFileAtomically<T>(file: string, write: (tempPath: string) => Promise<T>): Promise<T> {
  const folder = path.dirname(file);
  await checkFolder(file, folder);
  const tempPath = path.join(folder, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const result = await write(tempPath);
    await fsyncFile(tempPath);
    await rename(tempPath, file);
    await fsyncFolder(folder);
    return result;
  } catch (error) {
    await rm(tempPath, { force: true });
    throw asWriteError(file, tempPath, error);
  }
}

async function checkFolder(file: string, folder: string): Promise<void> {
  const stats = await stat(folder).catch(() => undefined);
  if (stats === undefined) throw notFound(`cannot write "${file}": folder "${folder}" does not exist`);
  if (!stats.isDirectory()) throw invalid(`cannot write "${file}": "${folder}" is not a folder`);
}

async function fsyncFile(file: string): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fsyncFolder(folder: string): Promise<void> {
  // Not every platform can open a folder (Windows cannot); there the rename is as durable as it gets.
  const handle = await open(folder, 'r').catch(() => undefined);
  if (handle === undefined) return;
  try {
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a folder; the data itself is already synced.
  } finally {
    await handle.close();
  }
}

/** File-system failures on our own temp files become SlipwayErrors; anything else (say, from the row source) passes through. */
function asWriteError(file: string, tempPath: string, error: unknown): unknown {
  if (typeof error !== 'object' || error === null || !('code' in error) || !('path' in error)) return error;
  if (typeof error.path !== 'string' || !error.path.startsWith(tempPath)) return error;
  if (error.code === 'ENOENT') return notFound(`cannot write "${file}": folder "${path.dirname(file)}" does not exist`);
  const reason = error instanceof Error ? error.message : String(error.code);
  return new SlipwayError('INVALID_ARGUMENT', `cannot write "${file}": ${reason}`, { cause: error });
}
