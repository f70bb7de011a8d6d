import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';

/** Default size cap of a run's training log. */
export const DEFAULT_LOG_LIMIT_BYTES = 1024 * 1024;

/**
 * A log file that never grows past about `limitBytes`: the first half of the limit is written as it
 * comes, the last half is kept in memory and written at `close`, after a line saying how many bytes
 * in between were dropped. Nothing is dropped when the output fits.
 */
export class CappedLog {
  private readonly stream: WriteStream;
  private readonly headLimit: number;
  private readonly tailLimit: number;
  private headWritten = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private dropped = 0;
  private closed = false;

  constructor(file: string, limitBytes: number) {
    if (!Number.isInteger(limitBytes) || limitBytes < 2)
      throw new RangeError(`logLimitBytes must be an integer of at least 2, got ${limitBytes}`);
    this.stream = createWriteStream(file);
    this.headLimit = Math.floor(limitBytes / 2);
    this.tailLimit = limitBytes - this.headLimit;
  }

  /** Append output (stdout and stderr share the log, in arrival order). */
  write(chunk: Buffer | string): void {
    // Output of a process still draining after the log was closed is not kept.
    if (this.closed) return;
    let data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.headWritten < this.headLimit) {
      const take = Math.min(data.length, this.headLimit - this.headWritten);
      this.stream.write(data.subarray(0, take));
      this.headWritten += take;
      data = data.subarray(take);
    }
    if (data.length === 0) return;
    this.tail.push(data);
    this.tailBytes += data.length;
    while (this.tailBytes > this.tailLimit) {
      const first = this.tail[0]!;
      const excess = this.tailBytes - this.tailLimit;
      if (first.length <= excess) {
        this.tail.shift();
        this.tailBytes -= first.length;
        this.dropped += first.length;
      } else {
        this.tail[0] = first.subarray(excess);
        this.tailBytes -= excess;
        this.dropped += excess;
      }
    }
  }

  /** Bytes left out so far. */
  get droppedBytes(): number {
    return this.dropped;
  }

  /** Write the kept tail (after the dropped-bytes line, if any) and close the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.dropped > 0)
      this.stream.write(
        `\n[slipway: ${this.dropped} bytes of output dropped here; the log keeps the first ${this.headLimit} and the last ${this.tailLimit} bytes]\n`,
      );
    for (const piece of this.tail) this.stream.write(piece);
    this.tail = [];
    this.stream.end();
    await once(this.stream, 'close');
  }
}
