import { readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * A valid ONNX file with different bytes: a ModelProto `doc_string` (field 6) appended at the end.
 * Protobuf keeps the last value of a repeated scalar field, so the model is the same, its digest new.
 */
export function variant(bytes: Uint8Array, tag: string): Buffer {
  const text = Buffer.from(tag, 'utf8');
  if (text.length > 127) throw new Error('tag too long for a one-byte length');
  return Buffer.concat([bytes, Buffer.from([(6 << 3) | 2, text.length]), text]);
}

/** Every file under the blob folder: digests of stored blobs, plus any temporary file left behind. */
export async function blobFiles(root: string): Promise<string[]> {
  try {
    const entries = await readdir(path.join(root, 'sha256'), { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}
