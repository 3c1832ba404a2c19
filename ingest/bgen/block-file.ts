/**
 * A file read in large blocks: `ensure(pos, n)` makes bytes [pos, pos + n) available in `buf`
 * (at `buf[pos - start]`) with at most one positioned read, which by default fills the whole
 * block from `pos` so the following variants are usually already in memory (a caller that
 * knows it will jump far ahead asks for less). One buffer is reused; it grows only when a
 * single request is larger than the block size.
 */
import type { FileHandle } from 'node:fs/promises';

export class BlockFile {
  /** The buffered bytes: file bytes [start, end) at buf[0, end - start). */
  buf: Uint8Array;
  start = 0;
  end = 0;

  constructor(
    private readonly handle: FileHandle,
    /** File size in bytes. */
    readonly size: number,
    blockSize: number,
  ) {
    this.buf = new Uint8Array(Math.max(1, Math.min(blockSize, size)));
  }

  /** Bytes available from `pos` to the end of the file. */
  remaining(pos: number): number {
    return Math.max(0, this.size - pos);
  }

  /**
   * Make file bytes [pos, pos + n) available in `buf`, reading `ahead` bytes (default: a whole
   * block) when they are not. The caller checks `n ≤ remaining(pos)` first (to name the record
   * in its error); past the end of the file this throws.
   */
  async ensure(pos: number, n: number, ahead = this.buf.length): Promise<void> {
    if (pos >= this.start && pos + n <= this.end) return;
    if (pos + n > this.size) throw new RangeError(`read of ${n} bytes at ${pos} past the end (${this.size})`);
    if (n > this.buf.length)
      this.buf = new Uint8Array(Math.min(this.size - pos, Math.max(n, this.buf.length * 2)));
    const want = Math.min(Math.max(n, Math.min(ahead, this.buf.length)), this.size - pos);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.handle.read(this.buf, got, want - got, pos + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.start = pos;
    this.end = pos + got;
    if (got < n) throw new RangeError(`short read of ${got} of ${n} bytes at ${pos}`);
  }
}
