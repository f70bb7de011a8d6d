import { open } from 'node:fs/promises';
import type { LineEncoder } from './line-encoders.js';
import type { CheckedBatch } from './row-batches.js';

/** Text is handed to the file in pieces of about this many UTF-16 units. */
const FLUSH_AT = 1 << 20;

/**
 * Writes a header (if any) and one line per row to a new file, holding at most one batch plus
 * about 1 MiB of text. Returns the number of rows written. The file must not exist yet.
 */
export async function writeTextTable(
  file: string,
  encoder: LineEncoder,
  batches: AsyncIterable<CheckedBatch>,
): Promise<number> {
  const handle = await open(file, 'wx');
  try {
    let text = encoder.header === undefined ? '' : `${encoder.header}\n`;
    let rows = 0;
    for await (const batch of batches) {
      for (const row of batch) {
        text += `${encoder.line(row)}\n`;
        if (text.length >= FLUSH_AT) {
          await handle.write(text);
          text = '';
        }
      }
      rows += batch.length;
    }
    if (text.length > 0) await handle.write(text);
    return rows;
  } finally {
    await handle.close();
  }
}
