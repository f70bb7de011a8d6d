/** Buffers of one size kept at most; more than the chunks in flight is never needed. */
const KEPT_PER_SIZE = 8;

/**
 * Feed and row buffers back from the scoring workers, by size, for the reader to fill again.
 * A fresh 12 MB feed per chunk costs page faults and garbage collection on the reading thread
 * (10M rows x 30 features: ~0.4 s of system time); the sizes repeat, so they are reused.
 */
export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();

  /** A buffer of exactly `bytes` bytes (old contents: overwrite what you use). */
  take(bytes: number): ArrayBuffer {
    return this.free.get(bytes)?.pop() ?? new ArrayBuffer(bytes);
  }

  give(buffers: readonly ArrayBuffer[]): void {
    for (const buffer of buffers) {
      if (buffer.byteLength === 0) continue;
      const list = this.free.get(buffer.byteLength) ?? [];
      if (list.length < KEPT_PER_SIZE) list.push(buffer);
      this.free.set(buffer.byteLength, list);
    }
  }
}
