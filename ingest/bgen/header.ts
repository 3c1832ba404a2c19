/**
 * The BGEN header block, sample identifier block and variant identifying data
 * (BGEN spec v1.2/1.3, https://www.chg.ox.ac.uk/~gav/bgen_format/spec/latest.html). All
 * integers are little-endian unsigned.
 *
 * - Bytes 0–3: `offset`; the first variant block starts at byte `offset + 4`.
 * - Header block at byte 4: `LH` (u32, its length including this field), `M` variants (u32),
 *   `N` samples (u32), magic `bgen` (four zero bytes are also allowed), free data of `LH − 20`
 *   bytes, then `flags` (u32): bits 0–1 compression (0 none, 1 zlib, 2 zstd), bits 2–5 layout
 *   (1 or 2), bit 31 set when a sample identifier block follows.
 * - Sample identifier block at byte `4 + LH`: `LSI` (u32, its length), `N` (u32), then per
 *   sample a u16 length and the identifier.
 * - Variant identifying data: layout 1 starts with `N` (u32); then varid, rsid and chromosome as
 *   u16 length + bytes, position (u32), the allele count `K` (u16; layout 1 has no field and
 *   K = 2), and per allele a u32 length + bytes.
 * - Genotype data block length: layout 2 has `C` (u32, the bytes that follow), and when
 *   compressed `C` counts a u32 `D` (the uncompressed length) before `C − 4` compressed bytes.
 *   Layout 1 stores `C` (u32) then `C` compressed bytes when compressed (uncompressed length
 *   6N), or `6N` bytes with no length field when not.
 */
import { InputError } from '../../engine/errors.js';

export type Compression = 0 | 1 | 2;
export type Layout = 1 | 2;

export interface BgenHeader {
  /** Byte offset of the first variant block. */
  firstVariant: number;
  nVariants: number;
  nSamples: number;
  compression: Compression;
  layout: Layout;
  /** The sample identifier block, when the file has one. */
  sampleIds: string[] | null;
}

/** One variant's identifying data and where its genotype block lies. */
export interface VariantHeader {
  varid: string;
  rsid: string;
  chrom: string;
  pos: number;
  alleles: string[];
  /** File offset of the genotype bytes (after the length fields). */
  dataStart: number;
  /** Stored genotype bytes (compressed when the file is). */
  dataLength: number;
  /** Uncompressed genotype bytes the header declares (= dataLength when stored plainly). */
  rawLength: number;
  /** File offset of the next variant block. */
  end: number;
}

/** The file's block format, as the variant parser needs it. */
export interface BlockFormat {
  layout: Layout;
  compression: Compression;
  nSamples: number;
}

const utf8 = new TextDecoder('utf-8');

function u32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

function u16(b: Uint8Array, i: number): number {
  return b[i] | (b[i + 1] << 8);
}

/** Bytes to read from the top of the file to parse the header and sample blocks (from its first 4). */
export function headerSpan(first4: Uint8Array): number {
  return u32(first4, 0) + 4;
}

/**
 * Parse the header block and the sample identifier block from the file's first
 * `headerSpan()` bytes.
 * @throws InputError for a truncated or malformed header, compression 3, or a layout other than 1/2
 */
export function parseBgenHeader(b: Uint8Array, file: string): BgenHeader {
  const fail = (msg: string, byte: number, hint?: string): never => {
    throw new InputError(msg, { file, field: `header, byte ${byte}` }, hint);
  };
  if (b.length < 24) fail(`truncated header: ${b.length} bytes`, b.length);
  const offset = u32(b, 0);
  const lh = u32(b, 4);
  if (lh < 20 || lh > offset)
    fail(`header length ${lh} does not fit before the first variant (offset ${offset})`, 4);
  if (b.length < offset + 4) fail(`truncated header: ${b.length} of ${offset + 4} bytes`, b.length);
  const nVariants = u32(b, 8);
  const nSamples = u32(b, 12);
  const magic = String.fromCharCode(b[16], b[17], b[18], b[19]);
  if (magic !== 'bgen' && u32(b, 16) !== 0)
    fail(`not a BGEN file (magic ${JSON.stringify(magic)})`, 16, 'a BGEN file has "bgen" at byte 16');
  const flagsAt = 4 + lh - 4;
  const flags = u32(b, flagsAt);
  const compression = flags & 3;
  const layout = (flags >>> 2) & 0xf;
  if (compression === 3) fail('unsupported compression 3 (flags bits 0-1: 0 none, 1 zlib, 2 zstd)', flagsAt);
  if (layout !== 1 && layout !== 2)
    fail(`unsupported layout ${layout} (flags bits 2-5; BGEN layouts 1 and 2 are read)`, flagsAt);
  if (layout === 1 && compression === 2)
    fail('layout 1 with zstd compression (layout 1 allows zlib only)', flagsAt);
  const sampleIds = flags >>> 31 ? parseSampleBlock(b, 4 + lh, offset + 4, nSamples, file) : null;
  return {
    firstVariant: offset + 4,
    nVariants,
    nSamples,
    compression: compression as Compression,
    layout: layout as Layout,
    sampleIds,
  };
}

function parseSampleBlock(
  b: Uint8Array,
  at: number,
  limit: number,
  nSamples: number,
  file: string,
): string[] {
  const fail = (msg: string, byte: number): never => {
    throw new InputError(msg, { file, field: `sample identifier block, byte ${byte}` });
  };
  if (at + 8 > limit) fail('sample identifier block does not fit before the first variant', at);
  const lsi = u32(b, at);
  const n = u32(b, at + 4);
  if (n !== nSamples) fail(`sample identifier block lists ${n} samples; the header says ${nSamples}`, at + 4);
  const end = at + lsi;
  if (end > limit) fail(`sample identifier block of ${lsi} bytes overruns the first variant`, at);
  const ids = new Array<string>(n);
  let p = at + 8;
  for (let i = 0; i < n; i++) {
    if (p + 2 > end) fail(`sample identifier block ends at sample ${i + 1} of ${n}`, p);
    const len = u16(b, p);
    if (p + 2 + len > end) fail(`sample identifier block ends inside sample ${i + 1} of ${n}`, p);
    ids[i] = utf8.decode(b.subarray(p + 2, p + 2 + len));
    p += 2 + len;
  }
  return ids;
}

/**
 * Parse the variant block at `b[at]` (file offset `fileOffset`) when all its identifying data
 * and length fields lie in `b[at, at + avail)`; otherwise return how many bytes from `at` are
 * needed to go on (a lower bound: call again with at least that many).
 * @throws InputError for a sample count or allele count the file's header contradicts
 */
export function parseVariantHeader(
  b: Uint8Array,
  at: number,
  avail: number,
  fileOffset: number,
  fmt: BlockFormat,
  file: string,
  index: number,
): VariantHeader | number {
  const lim = at + avail;
  let p = at;
  const fail = (msg: string, name: string): never => {
    throw new InputError(msg, {
      file,
      field: `variant ${index}${name ? ` (${name})` : ''} at byte ${fileOffset}`,
    });
  };
  if (fmt.layout === 1) {
    if (p + 4 > lim) return p + 4 - at;
    const n = u32(b, p);
    if (n !== fmt.nSamples) fail(`variant block lists ${n} samples; the header says ${fmt.nSamples}`, '');
    p += 4;
  }
  const strs: string[] = [];
  for (let k = 0; k < 3; k++) {
    if (p + 2 > lim) return p + 2 - at;
    const len = u16(b, p);
    if (p + 2 + len > lim) return p + 2 + len - at;
    strs.push(utf8.decode(b.subarray(p + 2, p + 2 + len)));
    p += 2 + len;
  }
  const [varid, rsid, chrom] = strs;
  const name = rsid || varid;
  if (p + 4 > lim) return p + 4 - at;
  const pos = u32(b, p);
  p += 4;
  let nAlleles = 2;
  if (fmt.layout === 2) {
    if (p + 2 > lim) return p + 2 - at;
    nAlleles = u16(b, p);
    p += 2;
    if (nAlleles < 2) fail(`${nAlleles} allele(s); a variant needs at least 2`, name);
  }
  const alleles = new Array<string>(nAlleles);
  for (let k = 0; k < nAlleles; k++) {
    if (p + 4 > lim) return p + 4 - at;
    const len = u32(b, p);
    if (p + 4 + len > lim) return p + 4 + len - at;
    alleles[k] = utf8.decode(b.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  let dataLength: number;
  let rawLength: number;
  if (fmt.layout === 1 && fmt.compression === 0) {
    dataLength = rawLength = 6 * fmt.nSamples;
  } else {
    const lenFields = fmt.layout === 2 && fmt.compression !== 0 ? 8 : 4;
    if (p + lenFields > lim) return p + lenFields - at;
    const c = u32(b, p);
    p += 4;
    if (fmt.layout === 1) {
      dataLength = c;
      rawLength = 6 * fmt.nSamples;
    } else if (fmt.compression === 0) {
      dataLength = rawLength = c;
    } else {
      if (c < 4) fail(`genotype block length ${c} is too short to hold its uncompressed length`, name);
      rawLength = u32(b, p);
      p += 4;
      dataLength = c - 4;
    }
  }
  const dataStart = fileOffset + (p - at);
  return { varid, rsid, chrom, pos, alleles, dataStart, dataLength, rawLength, end: dataStart + dataLength };
}
