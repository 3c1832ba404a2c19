/**
 * The header of a `.pgen` file: where each variant record starts, how long it is and what
 * type it has (PLINK 2 file format specification, "PGEN Format Specification", and
 * plink-ng `pgenlib_misc.h` / `pgenlib_read.cc`). All integers are little-endian.
 *
 * - Bytes 0-1: magic `0x6c 0x1b`. Byte 2: storage mode.
 *   - `0x01`: a PLINK 1 variant-major `.bed`: no more header; the sample count comes from the
 *     `.psam`, the variant count from the `.pvar`; records of ⌈N/4⌉ bytes with PLINK 1 codes.
 *   - `0x02`, `0x03`, `0x04`: fixed-width records of record type 0 (2-bit hard calls),
 *     `0x40` (+ N uint16 dosages) and `0xc0` (+ N int16 dosage-phase deltas).
 *   - `0x10`, `0x11`: variable-width records (`0x11` adds ignorable header/footer extensions
 *     after the header body; record offsets are unaffected).
 *   - `0x20`, `0x21`: the index lives in a separate `.pgi` file (not supported).
 * - Bytes 3-6: variant count M (uint32); bytes 7-10: sample count N (uint32); byte 11: the
 *   header control byte: bits 0-3 say how record types and lengths are stored (0-3: 4-bit
 *   types, 1-4 byte lengths; 4-7: 8-bit types, 1-4 byte lengths; 8-15: fused single-sample
 *   encodings, not supported), bits 4-5 the bytes per allele count (0 = not stored), bits 6-7
 *   the provisional-REF flags (3 = a bitarray is stored).
 * - Fixed-width modes: then the provisional-REF bitarray (⌈M/8⌉ bytes) when bits 6-7 are 3, and
 *   the records.
 * - Variable-width modes: then one uint64 file offset per block of 2^16 variants (the first
 *   record of the block), then per block: the record types (4-bit: low nibble first, or one
 *   byte each), the record lengths, the allele counts if stored, the provisional-REF bits if
 *   stored — each array padded to a whole byte. Records follow one another in variant order;
 *   record v starts at the block's offset plus the lengths of the block's records before it.
 *
 * Record type (vrtype) bits 0-2 say how the main 2-bit track is stored; 2 and 3 mean
 * "LD-compressed" (a difflist against the latest record that is not LD-compressed). The first
 * record of each 2^16 block is never LD-compressed, so a record's base is always in its block.
 */
import type { FileHandle } from 'node:fs/promises';
import { InputError } from '../../engine/errors.js';

/** Variants per header block (set in stone by the format). */
export const VBLOCK = 65536;

export interface PgenLayout {
  mode: number;
  nVariants: number;
  nSamples: number;
  /** Record type of each variant (fixed-width modes: the mode's constant type). */
  vrtypes: Uint8Array;
  /** Record length of each variant, or null in the fixed-width modes. */
  lengths: Uint32Array | null;
  /** Record length in the fixed-width modes (0 otherwise). */
  fixedWidth: number;
  /** Offset of each block's first record (fixed-width: of record 0 only). */
  blockStarts: number[];
  /** Allele counts (REF + ALTs) from the header, or null when not stored. */
  alleleCounts: Uint32Array | null;
  /** File offset just past the last record. */
  end: number;
}

/** True when the record type's main track is LD-compressed (depends on an earlier record). */
export function isLdCompressed(vrtype: number): boolean {
  return (vrtype & 6) === 2;
}

/** File offset of record v. */
export function recordOffset(layout: PgenLayout, v: number): number {
  if (!layout.lengths) return layout.blockStarts[0] + v * layout.fixedWidth;
  const b = Math.floor(v / VBLOCK);
  let off = layout.blockStarts[b];
  const lengths = layout.lengths;
  for (let i = b * VBLOCK; i < v; i++) off += lengths[i];
  return off;
}

/** Length of record v. */
export function recordLength(layout: PgenLayout, v: number): number {
  return layout.lengths ? layout.lengths[v] : layout.fixedWidth;
}

/** Little-endian unsigned integer of `width` (1-4) bytes at buf[p]. */
function uintLE(buf: Uint8Array, p: number, width: number): number {
  let v = 0;
  for (let k = width - 1; k >= 0; k--) v = v * 256 + buf[p + k];
  return v;
}

async function readExactly(fh: FileHandle, length: number, position: number): Promise<Buffer | null> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return bytesRead === length ? buf : null;
}

/**
 * Read the header of an open `.pgen`.
 * @param file the name the manifest gives it, for errors
 * @param plink1Counts the .psam sample count and .pvar variant count, for storage mode 0x01
 * @throws InputError for a file that is not a .pgen, an unsupported mode or a truncated header
 */
export async function readPgenLayout(
  fh: FileHandle,
  file: string,
  fileSize: number,
  plink1Counts: { nSamples: number; nVariants: number },
): Promise<PgenLayout> {
  const head = await readExactly(fh, Math.min(12, fileSize), 0);
  if (!head || head.length < 3 || head[0] !== 0x6c || head[1] !== 0x1b)
    throw new InputError('not a .pgen file (the first two bytes are not 0x6c 0x1b)', {
      file,
      field: 'byte 0',
    });
  const mode = head[2];
  if (mode === 0x01) {
    const { nSamples, nVariants } = plink1Counts;
    const width = Math.ceil(nSamples / 4);
    return {
      mode,
      nVariants,
      nSamples,
      vrtypes: new Uint8Array(nVariants),
      lengths: null,
      fixedWidth: width,
      blockStarts: [3],
      alleleCounts: null,
      end: 3 + nVariants * width,
    };
  }
  if (mode === 0x00)
    throw new InputError(
      'a sample-major PLINK 1 .bed, not a .pgen',
      { file, field: 'byte 2' },
      'convert it with plink2 --bfile … --make-pgen',
    );
  if (mode === 0x20 || mode === 0x21)
    throw new InputError(
      'the index is in a separate .pgen.pgi file, which is not supported',
      { file, field: 'byte 2' },
      'rewrite it with plink2 --pfile … --make-pgen',
    );
  if (!(mode >= 0x02 && mode <= 0x04) && mode !== 0x10 && mode !== 0x11)
    throw new InputError(`unknown storage mode 0x${mode.toString(16).padStart(2, '0')}`, {
      file,
      field: 'byte 2',
    });
  if (head.length < 12)
    throw new InputError('file ends inside the 12-byte header', { file, field: `byte ${head.length}` });
  const nVariants = head.readUInt32LE(3);
  const nSamples = head.readUInt32LE(7);
  const ctrl = head[11];
  if (mode < 0x10) return fixedLayout(mode, nVariants, nSamples, ctrl, file);
  return variableLayout(fh, file, mode, nVariants, nSamples, ctrl);
}

function fixedLayout(
  mode: number,
  nVariants: number,
  nSamples: number,
  ctrl: number,
  file: string,
): PgenLayout {
  if (ctrl & 63)
    throw new InputError(`header control byte 0x${ctrl.toString(16)} does not fit a fixed-width mode`, {
      file,
      field: 'byte 11',
    });
  const start = 12 + (ctrl >> 6 === 3 ? Math.ceil(nVariants / 8) : 0);
  const vrtype = mode === 0x02 ? 0 : mode === 0x03 ? 0x40 : 0xc0;
  const width = Math.ceil(nSamples / 4) + (mode === 0x03 ? 2 * nSamples : mode === 0x04 ? 4 * nSamples : 0);
  return {
    mode,
    nVariants,
    nSamples,
    vrtypes: new Uint8Array(nVariants).fill(vrtype),
    lengths: null,
    fixedWidth: width,
    blockStarts: [start],
    alleleCounts: null,
    end: start + nVariants * width,
  };
}

async function variableLayout(
  fh: FileHandle,
  file: string,
  mode: number,
  nVariants: number,
  nSamples: number,
  ctrl: number,
): Promise<PgenLayout> {
  const storage = ctrl & 15;
  if (storage >= 8)
    throw new InputError(
      `header control byte 0x${ctrl.toString(16)}: fused single-sample record encodings are not supported`,
      { file, field: 'byte 11' },
      'rewrite it with plink2 --pfile … --make-pgen',
    );
  const typeBits = storage & 4 ? 8 : 4;
  const lenBytes = (storage & 3) + 1;
  const countBytes = (ctrl >> 4) & 3;
  const refFlags = ctrl >> 6 === 3;
  const nBlocks = Math.ceil(nVariants / VBLOCK);
  let bodyBytes = 0;
  for (let b = 0; b < nBlocks; b++) {
    const n = Math.min(VBLOCK, nVariants - b * VBLOCK);
    bodyBytes +=
      (typeBits === 4 ? Math.ceil(n / 2) : n) +
      n * lenBytes +
      n * countBytes +
      (refFlags ? Math.ceil(n / 8) : 0);
  }
  const size = 12 + 8 * nBlocks + bodyBytes;
  const buf = await readExactly(fh, size, 0);
  if (!buf) throw new InputError(`file ends inside the ${size}-byte header`, { file, field: 'byte 12' });

  const vrtypes = new Uint8Array(nVariants);
  const lengths = new Uint32Array(nVariants);
  const alleleCounts = countBytes ? new Uint32Array(nVariants) : null;
  const tableStarts: number[] = [];
  for (let b = 0; b < nBlocks; b++)
    tableStarts.push(uintLE(buf, 12 + 8 * b, 4) + uintLE(buf, 16 + 8 * b, 4) * 2 ** 32);
  const blockStarts: number[] = [];
  let p = 12 + 8 * nBlocks;
  let off = tableStarts[0] ?? size;
  for (let b = 0; b < nBlocks; b++) {
    const v0 = b * VBLOCK;
    const n = Math.min(VBLOCK, nVariants - v0);
    if (off !== tableStarts[b])
      throw new InputError(
        `block ${b} starts at byte ${tableStarts[b]} but the record lengths before it end at byte ${off}`,
        { file, field: `byte ${12 + 8 * b}` },
      );
    blockStarts.push(off);
    if (typeBits === 4) {
      for (let i = 0; i < n; i++) vrtypes[v0 + i] = (buf[p + (i >> 1)] >> ((i & 1) << 2)) & 15;
      p += Math.ceil(n / 2);
    } else {
      vrtypes.set(buf.subarray(p, p + n), v0);
      p += n;
    }
    for (let i = 0; i < n; i++, p += lenBytes) {
      const len = uintLE(buf, p, lenBytes);
      lengths[v0 + i] = len;
      off += len;
    }
    if (alleleCounts)
      for (let i = 0; i < n; i++, p += countBytes) alleleCounts[v0 + i] = uintLE(buf, p, countBytes);
    if (refFlags) p += Math.ceil(n / 8);
    if (isLdCompressed(vrtypes[v0]))
      throw new InputError(`variant ${v0} starts a block of 65536 but is LD-compressed`, {
        file,
        field: `variant ${v0}`,
      });
  }
  return { mode, nVariants, nSamples, vrtypes, lengths, fixedWidth: 0, blockStarts, alleleCounts, end: off };
}
