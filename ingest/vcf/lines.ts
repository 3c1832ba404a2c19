/**
 * Splits decompressed chunks into lines with the shard ownership rule of `source.ts`,
 * keeping the cursor of every line start. Lines are handed out as (buffer, start, end)
 * into one growable buffer, never as strings.
 */
import type { Chunk, Cursor, SourceKind } from './source.js';

const NL = 10;
const CR = 13;

export class LineSplitter {
  private buf: Buffer = Buffer.allocUnsafe(1 << 22);
  private len = 0;
  /** Start of the first line not yet handed out. */
  private lineStart = 0;
  /** Where the newline search resumes. */
  private scanFrom = 0;
  /** Buffer position of the shard end P (valid once `boundarySeen`). */
  private boundaryPos = 0;
  private boundarySeen = false;
  private skipping: boolean;
  /** Chunk starts inside `buf` and their cursors. */
  private segPos: number[] = [];
  private segBlock: number[] = [];
  private segOffset: number[] = [];
  /** True once a line starting after P was met: the shard has all its lines. */
  done = false;

  /**
   * @param kind source kind (decides how cursors are formed)
   * @param skipFirst true when the shard does not start at a known line start
   */
  constructor(
    private readonly kind: SourceKind,
    skipFirst: boolean,
  ) {
    this.skipping = skipFirst;
  }

  push(chunk: Chunk): void {
    this.compact();
    const need = this.len + chunk.data.length;
    if (need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    if (chunk.boundaryAt !== -1 && !this.boundarySeen) {
      this.boundaryPos = chunk.boundaryAt === -2 ? this.len - 1 : this.len + chunk.boundaryAt;
      this.boundarySeen = true;
    }
    this.segPos.push(this.len);
    this.segBlock.push(chunk.block);
    this.segOffset.push(chunk.offset);
    chunk.data.copy(this.buf, this.len);
    this.len += chunk.data.length;
  }

  /**
   * Hand every complete owned line to `onLine` (without its newline, `\r` stripped).
   * With `atEof`, a last line without newline is handed out too.
   * Returns false when `onLine` asked to pause (returned true) — call again to continue.
   */
  drain(onLine: (buf: Buffer, start: number, end: number) => boolean | undefined, atEof = false): boolean {
    const buf = this.buf.subarray(0, this.len);
    while (!this.done) {
      if (this.skipping) {
        const nl = buf.indexOf(NL, this.scanFrom);
        if (nl < 0) {
          this.lineStart = this.scanFrom = this.len;
          return true;
        }
        this.skipping = false;
        this.lineStart = this.scanFrom = nl + 1;
        continue;
      }
      if (this.boundarySeen && this.lineStart > this.boundaryPos) {
        this.done = true;
        break;
      }
      let nl = buf.indexOf(NL, this.scanFrom);
      if (nl < 0) {
        this.scanFrom = this.len;
        if (!atEof || this.lineStart >= this.len) return true;
        nl = this.len;
      }
      const start = this.lineStart;
      let end = nl;
      if (end > start && buf[end - 1] === CR) end--;
      this.lineStart = this.scanFrom = nl + 1;
      if (end > start && buf[start] !== 35 /* # */) {
        if (onLine(buf, start, end) === true) return false;
      }
      if (atEof && nl >= this.len) {
        this.lineStart = this.scanFrom = this.len;
        return true;
      }
    }
    return true;
  }

  /** Cursor of the next line start (where a resumed shard begins). */
  cursor(): Cursor {
    return this.cursorAt(this.lineStart);
  }

  /** Cursor of a buffer position. */
  cursorAt(pos: number): Cursor {
    let i = this.segPos.length - 1;
    while (i > 0 && this.segPos[i] > pos) i--;
    const rel = pos - (this.segPos[i] ?? 0);
    if (this.kind === 'bgzf') {
      // A position at the very end of a block is the start of the next one; keep it in
      // this block (offset = block length), which readChunks resumes from correctly.
      return { block: this.segBlock[i], offset: this.segOffset[i] + rel };
    }
    return { block: this.segBlock[i] + rel, offset: 0 };
  }

  /** Drop handed-out bytes from the front of the buffer. */
  private compact(): void {
    const from = this.lineStart;
    if (from === 0) return;
    // Keep the chunk segment that holds `from`.
    let keep = this.segPos.length - 1;
    while (keep > 0 && this.segPos[keep] > from) keep--;
    const newSegPos: number[] = [];
    for (let i = keep; i < this.segPos.length; i++) newSegPos.push(Math.max(0, this.segPos[i] - from));
    const firstShift = from - this.segPos[keep];
    this.segOffset = this.segOffset.slice(keep);
    this.segBlock = this.segBlock.slice(keep);
    if (this.kind === 'bgzf') this.segOffset[0] += firstShift;
    else this.segBlock[0] += firstShift;
    this.segPos = newSegPos;
    this.buf.copy(this.buf, 0, from, this.len);
    this.len -= from;
    this.scanFrom -= from;
    this.boundaryPos -= from;
    this.lineStart = 0;
  }
}
