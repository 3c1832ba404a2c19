/**
 * A streaming BGZF writer (the blocked gzip of SAM/BAM/VCF, SAMv1 spec §4.1).
 *
 * - Each block is one gzip member holding at most 65 280 bytes of input (htslib's block
 *   size), with the `BC` extra subfield giving the member's total size − 1, so tabix and
 *   `bcftools` can seek by virtual offset.
 * - Blocks are deflated on libuv's thread pool (`zlib.deflateRaw`) with a few in flight,
 *   then written strictly in order, so the bytes depend only on the input and the level.
 * - Memory is bounded: at most `maxInFlight` blocks being compressed plus one output batch.
 *   `write` resolves once the data is accepted, which is the caller's backpressure.
 * - `close` appends the standard 28-byte empty EOF block.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { crc32, deflateRaw } from 'node:zlib';

const deflateRawAsync = promisify(deflateRaw);

/** Uncompressed bytes per block (as htslib's BGZF_BLOCK_SIZE). */
export const BGZF_BLOCK_INPUT = 0xff00;
const MAX_BLOCK = 0x10000;

/** The empty block that marks the end of a BGZF file. */
export const BGZF_EOF = Buffer.from('1f8b08040000000000ff0600424302001b0003000000000000000000', 'hex');

function member(data: Buffer, compressed: Buffer): Buffer {
  const total = 18 + compressed.length + 8;
  if (total > MAX_BLOCK) throw new Error(`BGZF block too large (${total} bytes)`);
  const out = Buffer.allocUnsafe(total);
  out[0] = 0x1f;
  out[1] = 0x8b;
  out[2] = 8; // deflate
  out[3] = 4; // FEXTRA
  out.writeUInt32LE(0, 4); // MTIME
  out[8] = 0; // XFL
  out[9] = 0xff; // OS unknown
  out.writeUInt16LE(6, 10); // XLEN
  out[12] = 66; // 'B'
  out[13] = 67; // 'C'
  out.writeUInt16LE(2, 14); // SLEN
  out.writeUInt16LE(total - 1, 16); // BSIZE
  compressed.copy(out, 18);
  out.writeUInt32LE(crc32(data) >>> 0, 18 + compressed.length);
  out.writeUInt32LE(data.length, 22 + compressed.length);
  return out;
}

export interface BgzfWriterOptions {
  /** zlib level 0–9. Default 6, like bgzip. */
  level?: number;
  /** Blocks compressed concurrently. Default 4. */
  maxInFlight?: number;
}

export class BgzfWriter {
  private block = Buffer.allocUnsafe(BGZF_BLOCK_INPUT);
  private fill = 0;
  private inFlight: Promise<Buffer>[] = [];
  private batch: Buffer[] = [];
  private batchBytes = 0;
  /** Compressed bytes written so far (the file offset of the next block). */
  compressedBytes = 0;
  /** Uncompressed bytes accepted so far. */
  uncompressedBytes = 0;
  /** Compressed file offset of each block, in order (for virtual offsets). */
  private blockOffsets = new Float64Array(1024);
  private nBlocks = 0;
  private blocksBytes = 0;
  private eofOffset = -1;

  private constructor(
    private readonly fh: FileHandle,
    private readonly level: number,
    private readonly maxInFlight: number,
  ) {}

  static async create(path: string, options: BgzfWriterOptions = {}): Promise<BgzfWriter> {
    const fh = await open(path, 'w');
    return new BgzfWriter(fh, options.level ?? 6, options.maxInFlight ?? 4);
  }

  /**
   * Append `bytes[start, end)`. Returns a promise only when a block was handed to the
   * compressor (await it: that is the backpressure); otherwise the bytes were just buffered.
   */
  write(bytes: Uint8Array, start = 0, end = bytes.length): Promise<void> | undefined {
    this.uncompressedBytes += end - start;
    const n = Math.min(end - start, BGZF_BLOCK_INPUT - this.fill);
    this.block.set(bytes.subarray(start, start + n), this.fill);
    this.fill += n;
    if (this.fill < BGZF_BLOCK_INPUT) return undefined;
    return this.writeRest(bytes, start + n, end);
  }

  private async writeRest(bytes: Uint8Array, start: number, end: number): Promise<void> {
    await this.emitBlock();
    while (start < end) {
      const n = Math.min(end - start, BGZF_BLOCK_INPUT - this.fill);
      this.block.set(bytes.subarray(start, start + n), this.fill);
      this.fill += n;
      start += n;
      if (this.fill === BGZF_BLOCK_INPUT) await this.emitBlock();
    }
  }

  private async emitBlock(): Promise<void> {
    if (this.fill === 0) return;
    const data = this.block.subarray(0, this.fill);
    this.block = Buffer.allocUnsafe(BGZF_BLOCK_INPUT);
    this.fill = 0;
    const level = this.level;
    this.inFlight.push(
      deflateRawAsync(data, { level }).then(async (c) => {
        if (18 + c.length + 8 <= MAX_BLOCK) return member(data, c);
        return member(data, await deflateRawAsync(data, { level: 0 }));
      }),
    );
    while (this.inFlight.length >= this.maxInFlight) await this.drainOne();
  }

  private async drainOne(): Promise<void> {
    const next = this.inFlight.shift();
    if (!next) return;
    const blockBytes = await next;
    if (this.nBlocks === this.blockOffsets.length) {
      const grown = new Float64Array(this.blockOffsets.length * 2);
      grown.set(this.blockOffsets);
      this.blockOffsets = grown;
    }
    this.blockOffsets[this.nBlocks++] = this.blocksBytes;
    this.blocksBytes += blockBytes.length;
    this.batch.push(blockBytes);
    this.batchBytes += blockBytes.length;
    if (this.batchBytes >= 1 << 20) await this.flushBatch();
  }

  private async flushBatch(): Promise<void> {
    if (this.batchBytes === 0) return;
    const buf = Buffer.concat(this.batch, this.batchBytes);
    this.batch = [];
    this.batchBytes = 0;
    await this.fh.write(buf, 0, buf.length, null);
    this.compressedBytes += buf.length;
  }

  /** Flush everything, append the EOF block and close the file. */
  async close(): Promise<void> {
    try {
      await this.emitBlock();
      while (this.inFlight.length > 0) await this.drainOne();
      this.eofOffset = this.blocksBytes;
      this.batch.push(BGZF_EOF);
      this.batchBytes += BGZF_EOF.length;
      await this.flushBatch();
    } finally {
      await this.fh.close();
    }
  }

  /**
   * The BGZF virtual offset (compressed block offset << 16 | offset inside the block) of
   * uncompressed position `u`. Valid after `close`. Every block but the last holds exactly
   * `BGZF_BLOCK_INPUT` bytes, so the block is `u / BGZF_BLOCK_INPUT`.
   */
  virtualOffset(u: number): bigint {
    if (this.eofOffset < 0) throw new Error('virtualOffset needs a closed writer');
    const k = Math.floor(u / BGZF_BLOCK_INPUT);
    const within = u - k * BGZF_BLOCK_INPUT;
    const coff = k < this.nBlocks ? this.blockOffsets[k] : this.eofOffset;
    return (BigInt(coff) << 16n) | BigInt(k < this.nBlocks ? within : 0);
  }

  /** Close the file without finishing it (after an error). */
  async abort(): Promise<void> {
    await Promise.allSettled(this.inFlight);
    this.inFlight = [];
    await this.fh.close().catch(() => {});
  }
}
