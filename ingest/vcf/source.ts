/**
 * Byte sources for VCF shards: plain text, BGZF (bgzip, block-seekable) or plain gzip
 * (one shard only), read as a stream of decompressed chunks with their positions.
 *
 * **Positions.** A cursor `{block, offset}` names a byte of the decompressed text: for
 * BGZF, `block` is the compressed offset of a BGZF block and `offset` the byte inside its
 * decompressed data (a tabix-style virtual offset); for plain text, `block` is the byte
 * offset and `offset` is 0; for plain gzip, `block` is the decompressed byte offset.
 *
 * **Shard ownership.** A shard covers the byte range [start, end) of the file (for BGZF,
 * block boundaries). Let P be the decompressed position where `end` begins. A shard owns
 * every line whose first byte is at a position ≤ P, after skipping — unless it starts at
 * the top of the file — everything up to and including the first newline at or after its
 * own start. Both rules look only at bytes the shard itself reads, so every line belongs to
 * exactly one shard, whatever the block layout.
 *
 * **Why byte ranges, not tabix regions.** A `.tbi`/`.csi` is not needed and not used:
 * byte ranges on BGZF block boundaries split any bgzipped (or plain) VCF into equal-sized
 * shards, also within one chromosome, whereas tabix regions return a record that overlaps
 * two regions (an indel across the boundary) in both, and per-chromosome regions are very
 * unequal in size. The ownership rule above gives each record to exactly one shard.
 *
 * BGZF blocks are inflated synchronously (measured: the asynchronous zlib API costs 2.7×
 * more CPU per 64 KiB block than the work itself); parallelism comes from running shards
 * on worker threads (`../shard-thread.ts`).
 */

import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { constants, createGunzip, InflateRaw, inflateRawSync } from 'node:zlib';
import { InputError } from '../../engine/errors.js';

export type SourceKind = 'plain' | 'bgzf' | 'gzip';

export interface Cursor {
  block: number;
  offset: number;
}

/** A byte range of one file that one shard ingests. */
export interface ByteRange {
  /** First byte (BGZF: a block start); 0 for the first shard. */
  start: number;
  /** End byte, exclusive (BGZF: a block start or the file size). */
  end: number;
}

const BGZF_MAGIC = [0x1f, 0x8b, 0x08, 0x04];

/** What kind of file `path` is, from its first bytes. */
export async function sourceKind(path: string): Promise<SourceKind> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(18);
    const { bytesRead } = await fh.read(head, 0, 18, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
      return bytesRead >= 18 && bgzfBlockSize(head, 0) > 0 ? 'bgzf' : 'gzip';
    }
    return 'plain';
  } finally {
    await fh.close();
  }
}

/** Total size (BSIZE + 1) of the BGZF block whose header starts at `buf[p]`, or 0 if none. */
function bgzfBlockSize(buf: Uint8Array, p: number): number {
  if (p + 18 > buf.length) return 0;
  for (let i = 0; i < 4; i++) if (buf[p + i] !== BGZF_MAGIC[i]) return 0;
  const xlen = buf[p + 10] | (buf[p + 11] << 8);
  let q = p + 12;
  const xend = q + xlen;
  while (q + 4 <= xend && q + 4 <= buf.length) {
    const slen = buf[q + 2] | (buf[q + 3] << 8);
    if (buf[q] === 66 && buf[q + 1] === 67 && slen === 2) return (buf[q + 4] | (buf[q + 5] << 8)) + 1;
    q += 4 + slen;
  }
  return 0;
}

/**
 * Split a file into about `n` byte ranges. BGZF ranges start on block boundaries (found
 * by the magic bytes and confirmed by the next block's header); plain gzip is one range.
 */
export async function planRanges(
  path: string,
  kind: SourceKind,
  n: number,
  minBytes = 1 << 20,
): Promise<ByteRange[]> {
  const size = (await stat(path)).size;
  if (kind === 'gzip' || n <= 1 || size < minBytes) return [{ start: 0, end: size }];
  const cuts: number[] = [0];
  if (kind === 'plain') {
    for (let i = 1; i < n; i++) cuts.push(Math.floor((size * i) / n));
  } else {
    const fh = await open(path, 'r');
    try {
      const window = Buffer.alloc(Math.min(1 << 18, Math.max(4096, Math.floor(size / n))));
      for (let i = 1; i < n; i++) {
        let from = Math.max(Math.floor((size * i) / n), cuts[cuts.length - 1] + 1);
        let found = -1;
        while (found < 0 && from < size) {
          const { bytesRead } = await fh.read(window, 0, window.length, from);
          const view = window.subarray(0, bytesRead);
          for (let p = 0; p + 18 <= view.length; p++) {
            if (view[p] !== 0x1f || view[p + 1] !== 0x8b) continue;
            const bs = bgzfBlockSize(view, p);
            if (bs <= 0) continue;
            const next = from + p + bs;
            if (next >= size) break; // the EOF block: no cut here
            const probe = Buffer.alloc(18);
            const r = await fh.read(probe, 0, 18, next);
            if (r.bytesRead === 18 && bgzfBlockSize(probe, 0) > 0) {
              found = from + p;
              break;
            }
          }
          if (found < 0) from += Math.max(1, bytesRead - 18);
          if (bytesRead < 18) break;
        }
        if (found > cuts[cuts.length - 1] && found < size) cuts.push(found);
      }
    } finally {
      await fh.close();
    }
  }
  const uniq = [...new Set(cuts)].sort((a, b) => a - b);
  return uniq.map((start, i) => ({ start, end: i + 1 < uniq.length ? uniq[i + 1] : size }));
}

/** One decompressed chunk and where it came from. */
export interface Chunk {
  /** Cursor block of `data[0]` (see module doc). */
  block: number;
  /** BGZF: byte inside the block's decompressed data where `data[0]` is; else 0. */
  offset: number;
  /** Decompressed bytes. */
  data: Buffer;
  /**
   * Index in `data` where the shard's end position P lies; -1 if P comes later, -2 if P
   * lies before `data[0]` (a resumed shard past its end).
   */
  boundaryAt: number;
}

/**
 * Decompressed chunks of `path` from `from` (a cursor) on, marking where `end` lies.
 * Reading stops after the chunk holding P plus as many chunks as the caller pulls.
 */
export async function* readChunks(
  path: string,
  kind: SourceKind,
  from: Cursor,
  end: number,
): AsyncGenerator<Chunk> {
  if (kind === 'plain') {
    let pos = from.block + from.offset;
    const stream = createReadStream(path, { start: pos, highWaterMark: 1 << 20 });
    for await (const raw of stream) {
      const data = raw as Buffer;
      const at = end < pos ? -2 : end < pos + data.length ? end - pos : -1;
      yield { block: pos, offset: 0, data, boundaryAt: at };
      pos += data.length;
    }
    return;
  }
  if (kind === 'gzip') {
    let pos = 0;
    const stream = createReadStream(path, { highWaterMark: 1 << 20 }).pipe(
      createGunzip({ chunkSize: 1 << 20 }),
    );
    for await (const raw of stream) {
      let data = raw as Buffer;
      const base = pos;
      pos += data.length;
      if (pos <= from.block) continue;
      if (base < from.block) data = data.subarray(from.block - base);
      yield { block: Math.max(base, from.block), offset: 0, data, boundaryAt: -1 };
    }
    return;
  }
  // BGZF: read compressed bytes in large slices, inflate blocks a few at a time.
  const fh = await open(path, 'r');
  const inflater = new BlockInflater();
  try {
    const size = (await fh.stat()).size;
    let skip = from.offset;
    const slice = Buffer.alloc(4 << 20);
    const inFlight: Array<{ block: number; data: Buffer }> = [];
    const MAX_IN_FLIGHT = 16;
    // Output buffers, reused round-robin: a block's buffer is overwritten only after
    // MAX_IN_FLIGHT + 1 later blocks, long after the caller has consumed it (callers use a
    // chunk's data before pulling the next one).
    const pool = Array.from({ length: MAX_IN_FLIGHT + 1 }, () => Buffer.allocUnsafe(BGZF_MAX_ISIZE));
    let nInflated = 0;
    let eof = false;
    let carry = Buffer.alloc(0);
    let carryPos = from.block;
    while (!eof || inFlight.length > 0) {
      // Refill the queue of blocks being inflated.
      while (!eof && inFlight.length < MAX_IN_FLIGHT) {
        // Make sure `carry` holds at least one whole block.
        let bs = carry.length >= 18 ? bgzfBlockSize(carry, 0) : 0;
        if (carry.length < 18 || bs === 0 || carry.length < bs) {
          if (carryPos + carry.length >= size) {
            if (carry.length > 0 && (bs === 0 || carry.length < bs))
              throw new InputError(`truncated BGZF block at byte ${carryPos} (the file is cut short)`, {
                file: path,
              });
            eof = true;
            break;
          }
          const { bytesRead } = await fh.read(slice, 0, slice.length, carryPos + carry.length);
          carry = carry.length
            ? Buffer.concat([carry, slice.subarray(0, bytesRead)])
            : Buffer.from(slice.subarray(0, bytesRead));
          bs = bgzfBlockSize(carry, 0);
          if (bs === 0)
            throw new InputError(`not a BGZF block at byte ${carryPos} (corrupt or not bgzip-compressed)`, {
              file: path,
            });
          if (carry.length < bs) continue;
        }
        const xlen = carry[10] | (carry[11] << 8);
        const cdata = carry.subarray(12 + xlen, bs - 8);
        const out = pool[nInflated++ % pool.length];
        inFlight.push({ block: carryPos, data: inflater.inflate(cdata, carry.readUInt32LE(bs - 4), out) });
        carry = carry.subarray(bs);
        carryPos += bs;
        if (carryPos >= size) eof = true;
      }
      const next = inFlight.shift();
      if (!next) break;
      let data = next.data;
      const block = next.block;
      const offset = skip;
      if (skip > 0) {
        data = data.subarray(skip);
        skip = 0;
      }
      if (data.length === 0 && block !== end) continue;
      const passed = block > end || (block === end && offset > 0);
      yield { block, offset, data, boundaryAt: passed ? -2 : block === end ? 0 : -1 };
    }
  } finally {
    inflater.close();
    await fh.close();
  }
}

/** A BGZF block holds at most 64 KiB of inflated data. */
const BGZF_MAX_ISIZE = 1 << 16;

interface ZlibHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
}

/**
 * Inflates BGZF blocks one after the other with one zlib stream, reset between blocks,
 * into a buffer the caller owns. `inflateRawSync` costs about twice as much CPU per block:
 * it sets up and tears down a zlib stream each time, inflates into 16 KiB pieces and
 * concatenates them into a new buffer. The reuse goes through the stream's native handle
 * (`writeSync`, which the synchronous zlib functions call), so it is checked at start-up and
 * on every block: a missing handle, an error, unconsumed input or a size other than the
 * block's ISIZE falls back to `inflateRawSync` for that block (and after an error for
 * good), which reports a corrupt block as before.
 */
class BlockInflater {
  private stream: InflateRaw | null = null;
  private handle: ZlibHandle | null = null;
  private state: Uint32Array | null = null;
  private failed = false;

  constructor() {
    try {
      const z = new InflateRaw();
      const internal = z as unknown as { _handle?: ZlibHandle; _writeState?: unknown };
      const h = internal._handle;
      if (h && typeof h.writeSync === 'function' && internal._writeState instanceof Uint32Array) {
        z.on('error', () => {
          this.failed = true;
        });
        this.stream = z;
        this.handle = h;
        this.state = internal._writeState;
      } else z.close();
    } catch {
      this.stream = null;
    }
  }

  /** The inflated bytes of one block's deflate data `cdata` (ISIZE `isize`), in `out` when they fit. */
  inflate(cdata: Buffer, isize: number, out: Buffer): Buffer {
    if (this.handle && this.stream && this.state && !this.failed && isize <= out.length) {
      try {
        this.stream.reset();
        this.handle.writeSync(constants.Z_FINISH, cdata, 0, cdata.length, out, 0, out.length);
        // _writeState: [output bytes left, input bytes left]. A zlib error closes the stream
        // (its handle goes away) before writeSync returns.
        const produced = out.length - this.state[0];
        const intact = (this.stream as unknown as { _handle?: unknown })._handle === this.handle;
        if (intact && !this.failed && this.state[1] === 0 && produced === isize)
          return out.subarray(0, produced);
      } catch {
        // fall through
      }
      // Anything unexpected: no more reuse; inflateRawSync decides (and reports) this block.
      this.failed = true;
      this.close();
    }
    return inflateRawSync(cdata, { chunkSize: Math.min(BGZF_MAX_ISIZE + 1, Math.max(1024, isize + 1)) });
  }

  close(): void {
    this.stream?.close();
    this.stream = null;
    this.handle = null;
  }
}
