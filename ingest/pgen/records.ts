/**
 * Decoding one `.pgen` variant record into the engine's packed layout (engine/genotypes.ts),
 * after the PLINK 2 file format specification ("Variant records") and plink-ng
 * `pgenlib_read.cc`.
 *
 * A record is a main track followed by optional tracks, in this order, as its record type
 * (vrtype) says: bit 3 multi-allelic hard calls, bit 4 hard-call phase, bits 5-6 dosage
 * (01 = dosage for a deltalist of samples, 10 = for every sample, 11 = for a bitarray of
 * samples), bit 7 dosage phase (after the dosages; not read).
 *
 * Main track: packed 2-bit codes 0 = hom REF, 1 = het, 2 = hom ALT, 3 = missing, four samples
 * a byte, first in the low bits — already the engine's ALT-count code. Bits 0-2 of the type:
 * - 0: the ⌈N/4⌉ bytes as they are (PLINK 1 mode 0x01: PLINK 1 codes 0 = hom A1 = ALT,
 *   1 = missing, 2 = het, 3 = hom A2 = REF, remapped).
 * - 1: "1-bit": a byte c (the two common codes: c>>2 = the lower, c&3 = the difference), then
 *   ⌈N/8⌉ bytes with one bit per sample (set = the higher code), then a difflist of the samples
 *   with one of the other two codes.
 * - 2: LD-compressed: a difflist against the main track of the latest record that was not
 *   LD-compressed. 3: the same, then swap codes 0 and 2 (REF/ALT inverted).
 * - 4, 6, 7: every sample has code 0, 2 or 3 except those in a difflist.
 * - 5: every sample hom REF, no data.
 *
 * Multi-allelic track (allele count K = REF + ALTs ≥ 3): a format byte (low nibble for the
 * het "REF/ALTx" patch set, high nibble for the "ALTx/ALTy" patch set: 0 = bitarray over the
 * samples with main code 1 (resp. 2), 1 = deltalist of sample indices, 15 = empty), then per
 * set the patched samples and their alleles. Unpatched code 1 is REF/ALT1, code 2 ALT1/ALT1.
 * REF/ALTx values hold x−2 in 0 (K=3), 1 (K=4), 2 (K=5,6), 4 (K≤18) or 8 bits. ALTx/ALTy
 * values: K=3 one bit (1 = ALT2/ALT2, 0 = ALT1/ALT2); K=4,5 a nibble (x−1 low 2 bits, y−1 high
 * 2 bits); K≤17 a byte (x−1 low nibble, y−1 high nibble); else two bytes (x−1, y−1); x ≤ y.
 * The split gives ALT k the count of its copies in each call, as `bcftools norm -m-` does.
 *
 * Phase track (skipped): its first bit says whether a "phase present" bitarray over the H het
 * calls follows; it is ⌈(H+1)/8⌉ bytes, plus ⌈P/8⌉ bytes of phase bits when that first bit
 * is set (P = set bits among the H).
 *
 * Dosages: uint16 ALT dosage, 0..32768 ↦ 0..2 (65535 missing, only in the every-sample
 * form). Samples without a stored dosage take their hard call. PLINK stores a haploid dosage
 * on the diploid scale, so a haploid sample's stored dosage is halved (its `ds` is the VCF DS).
 */
import { applyDifflist, getCode, type IdList, PgenFormatError, parseIdList, setCode } from './difflist.js';

/** byte → 16 bits with bit k of the byte at bit 2k (one bit per sample → a 2-bit field). */
const SPREAD = new Uint16Array(256);
/** PLINK 1 .bed byte → the same four calls in PGEN codes. */
const FROM_PLINK1 = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  let s = 0;
  for (let k = 0; k < 8; k++) if (b & (1 << k)) s |= 1 << (2 * k);
  SPREAD[b] = s;
  let p = 0;
  for (let k = 0; k < 4; k++) {
    const x = (b >> (2 * k)) & 3;
    const hi = x >> 1;
    const lo = x & 1;
    p |= ((hi ^ lo) | ((1 - hi) << 1)) << (2 * k);
  }
  FROM_PLINK1[b] = p;
}
const DS_OF_CODE = new Float32Array([0, 1, 2, Number.NaN]);

function popcount32(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Low bit of each 2-bit field that holds code 1. */
function word01(w: number): number {
  return w & ~(w >>> 1) & 0x55555555;
}

/** Low bit of each 2-bit field that holds code 2. */
function word10(w: number): number {
  return ~w & (w >>> 1) & 0x55555555;
}

/** A packed genotype vector of n samples, padded to whole 32-bit words plus one. */
export class PackedVector {
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  /** The ⌈n/4⌉ bytes of the vector proper (what a record's `gt` / `hap` shows). */
  readonly view: Uint8Array;
  constructor(n: number) {
    const nWords = Math.ceil(n / 16) + 1;
    this.words = new Uint32Array(nWords);
    this.bytes = new Uint8Array(this.words.buffer);
    this.view = this.bytes.subarray(0, Math.ceil(n / 4));
  }
}

/**
 * Haploid calls (PLINK stores them as homozygous diploid ones): where `mask` has field 3, code
 * 2 → 1, 1 (a het, impossible for a haploid call) → 3 missing; 0 and 3 stay.
 */
export function toHaploid(words: Uint32Array, mask: Uint32Array): void {
  for (let j = 0; j < mask.length; j++) {
    const m = mask[j];
    if (m === 0) continue;
    const w = words[j];
    const lo = w & 0x55555555;
    const hi = (w >>> 1) & 0x55555555;
    words[j] = (w & ~m) | ((lo | hi | (lo << 1)) & m);
  }
}

/**
 * Haploid calls of a split multi-allelic variant: a haploid sample with a het call in any of
 * the per-ALT vectors (REF/ALTx or ALTx/ALTy) is missing in all of them; then as `toHaploid`.
 */
export function toHaploidSplit(outs: PackedVector[], mask: Uint32Array): void {
  for (let j = 0; j < mask.length; j++) {
    const m = mask[j];
    if (m === 0) continue;
    let het = 0;
    for (const o of outs) het |= word01(o.words[j]);
    const miss = (het | (het << 1)) & m;
    for (const o of outs) o.words[j] |= miss;
  }
  for (const o of outs) toHaploid(o.words, mask);
}

/** Decodes records for one sequential read: owns the buffers the records point into. */
export class RecordDecoder {
  readonly nBytes: number;
  /** The current record's main track (then its haploid-converted calls). */
  readonly geno: PackedVector;
  private readonly base: PackedVector;
  /** Whether `base` holds the main track of the latest record that is not LD-compressed. */
  hasBase = false;
  private readonly list: IdList;
  private ds: Float32Array | null = null;
  private readonly alts: PackedVector[] = [];

  constructor(readonly n: number) {
    this.nBytes = Math.ceil(n / 4);
    this.geno = new PackedVector(n);
    this.base = new PackedVector(n);
    this.list = { len: 0, ids: new Uint32Array(n + 1), codesAt: -1 };
  }

  /** Zero the fields past sample n in the last byte and the padding after it. */
  private clearTail(v: PackedVector): void {
    const r = this.n & 3;
    if (r) v.bytes[this.nBytes - 1] &= (1 << (2 * r)) - 1;
    v.bytes.fill(0, this.nBytes);
  }

  /**
   * Decode the main track of the record at buf[pos, end) into `geno`.
   * @returns the offset just past the main track
   * @throws PgenFormatError for malformed data
   */
  main(buf: Uint8Array, pos: number, end: number, vrtype: number, plink1: boolean): number {
    const g = this.geno.bytes;
    const nb = this.nBytes;
    const low = vrtype & 7;
    let p = pos;
    switch (low) {
      case 0: {
        if (p + nb > end) throw new PgenFormatError('record shorter than its 2-bit track');
        if (plink1) for (let j = 0; j < nb; j++) g[j] = FROM_PLINK1[buf[p + j]];
        else g.set(buf.subarray(p, p + nb));
        this.clearTail(this.geno);
        return p + nb;
      }
      case 1: {
        const c = buf[p];
        const delta = c & 3;
        const unset = c >> 2;
        const nb8 = Math.ceil(this.n / 8);
        if (p + 1 + nb8 > end) throw new PgenFormatError('record shorter than its 1-bit track');
        if (delta === 0 || unset + delta > 3) throw new PgenFormatError(`bad 1-bit track code byte ${c}`);
        const base = unset * 0x5555;
        p++;
        for (let j = 0; j < nb8; j++) {
          const v = base + SPREAD[buf[p + j]] * delta;
          g[2 * j] = v & 255;
          g[2 * j + 1] = v >>> 8;
        }
        this.clearTail(this.geno);
        return this.difflist(buf, p + nb8, end);
      }
      case 2:
      case 3: {
        if (!this.hasBase) throw new PgenFormatError('LD-compressed record without a base record');
        this.geno.words.set(this.base.words);
        p = this.difflist(buf, p, end);
        if (low === 3) {
          const w = this.geno.words;
          for (let j = 0; j < w.length; j++) w[j] ^= ~(w[j] << 1) & 0xaaaaaaaa;
          this.clearTail(this.geno);
        }
        return p;
      }
      case 5:
        g.fill(0);
        return p;
      default: {
        g.fill((low & 3) * 0x55, 0, nb);
        this.clearTail(this.geno);
        return this.difflist(buf, p, end);
      }
    }
  }

  private difflist(buf: Uint8Array, pos: number, end: number): number {
    const p = parseIdList(buf, pos, end, this.n, true, this.list);
    applyDifflist(buf, this.list, this.geno.bytes);
    return p;
  }

  /** Keep the current main track as the base of the LD-compressed records that follow. */
  saveBase(): void {
    this.base.words.set(this.geno.words);
    this.hasBase = true;
  }

  /** Samples with code 1 (het) in the main track. */
  hetCount(v: PackedVector = this.geno): number {
    let c = 0;
    const w = v.words;
    for (let j = 0; j < w.length; j++) c += popcount32(word01(w[j]));
    return c;
  }

  /** Step over a hard-call phase track for `hets` het calls. */
  skipPhase(buf: Uint8Array, pos: number, end: number, hets: number): number {
    const first = (hets >> 3) + 1;
    if (pos + first > end) throw new PgenFormatError('record shorter than its phase track');
    if ((buf[pos] & 1) === 0) return pos + first;
    let present = -1;
    for (let j = 0; j < first; j++) present += popcount32(buf[pos + j]);
    const p = pos + first + Math.ceil(present / 8);
    if (p > end) throw new PgenFormatError('record shorter than its phase track');
    return p;
  }

  /**
   * Decode the dosage track at buf[pos, end) (`geno` already holds the final hard calls).
   * @param hap the haploid mask of the variant, or null
   */
  dosage(buf: Uint8Array, pos: number, end: number, vrtype: number, hap: Uint8Array | null): Float32Array {
    const n = this.n;
    const ds = (this.ds ??= new Float32Array(n));
    const kind = vrtype & 0x60;
    if (kind === 0x40) {
      if (pos + 2 * n > end) throw new PgenFormatError('record shorter than its dosage track');
      for (let i = 0, p = pos; i < n; i++, p += 2) {
        const v = buf[p] | (buf[p + 1] << 8);
        if (v === 65535) ds[i] = Number.NaN;
        else if (v > 32768) throw new PgenFormatError(`dosage ${v} of sample ${i + 1} is above 32768`);
        else ds[i] = v / dosageScale(hap, i);
      }
      return ds;
    }
    const g = this.geno.bytes;
    for (let i = 0; i < n; i++) ds[i] = DS_OF_CODE[(g[i >> 2] >> ((i & 3) << 1)) & 3];
    const ids = this.list.ids;
    let count = 0;
    let p = pos;
    if (kind === 0x20) {
      p = parseIdList(buf, p, end, n, false, this.list);
      count = this.list.len;
    } else {
      const nb8 = Math.ceil(n / 8);
      if (p + nb8 > end) throw new PgenFormatError('record shorter than its dosage bitarray');
      for (let j = 0; j < nb8; j++) {
        let b = buf[p + j];
        while (b !== 0) {
          const t = b & -b;
          ids[count++] = j * 8 + 31 - Math.clz32(t);
          b ^= t;
        }
      }
      if (count > 0 && ids[count - 1] >= n)
        throw new PgenFormatError('dosage bitarray names a sample past the last');
      p += nb8;
    }
    if (p + 2 * count > end) throw new PgenFormatError('record shorter than its dosage track');
    for (let k = 0; k < count; k++, p += 2) {
      const v = buf[p] | (buf[p + 1] << 8);
      if (v > 32768) throw new PgenFormatError(`dosage ${v} of sample ${ids[k] + 1} is above 32768`);
      ds[ids[k]] = v / dosageScale(hap, ids[k]);
    }
    return ds;
  }

  /**
   * Split the current (multi-allelic) main track into one ALT-count vector per ALT, applying
   * the multi-allelic track at buf[pos, end) when `hasTrack`.
   * @param nAlleles REF + ALT alleles (≥ 3)
   */
  splitAlts(buf: Uint8Array, pos: number, end: number, nAlleles: number, hasTrack: boolean): PackedVector[] {
    while (this.alts.length < nAlleles - 1) this.alts.push(new PackedVector(this.n));
    const outs = this.alts.slice(0, nAlleles - 1);
    const src = this.geno.words;
    outs[0].words.set(src);
    for (let k = 1; k < outs.length; k++) {
      const o = outs[k].words;
      for (let j = 0; j < src.length; j++) {
        const m = src[j] & (src[j] >>> 1) & 0x55555555;
        o[j] = m | (m << 1);
      }
    }
    if (!hasTrack) return outs;
    if (pos >= end) throw new PgenFormatError('record shorter than its multi-allelic track');
    const fmt = buf[pos];
    const hetMode = fmt & 15;
    const homMode = fmt >> 4;
    if (!okMode(hetMode) || !okMode(homMode))
      throw new PgenFormatError(`bad multi-allelic track format byte ${fmt}`);
    let p = pos + 1;
    if (hetMode !== 15) {
      const [count, q] = this.patchedSamples(buf, p, end, hetMode, 1);
      p = q;
      const width = nAlleles === 3 ? 0 : nAlleles === 4 ? 1 : nAlleles <= 6 ? 2 : nAlleles <= 18 ? 4 : 8;
      const bytes = Math.ceil((count * width) / 8);
      if (p + bytes > end) throw new PgenFormatError('record shorter than its multi-allelic track');
      const ids = this.list.ids;
      for (let k = 0; k < count; k++) {
        const allele =
          2 + (width === 0 ? 0 : (buf[p + ((k * width) >> 3)] >> ((k * width) & 7)) & ((1 << width) - 1));
        if (allele >= nAlleles) throw new PgenFormatError(`het call names allele ${allele} of ${nAlleles}`);
        setCode(outs[0].bytes, ids[k], 0);
        setCode(outs[allele - 1].bytes, ids[k], 1);
      }
      p += bytes;
    }
    if (homMode !== 15) {
      const [count, q] = this.patchedSamples(buf, p, end, homMode, 2);
      p = q;
      const per = nAlleles === 3 ? 1 : nAlleles <= 5 ? 4 : nAlleles <= 17 ? 8 : 16;
      if (p + Math.ceil((count * per) / 8) > end)
        throw new PgenFormatError('record shorter than its multi-allelic track');
      const ids = this.list.ids;
      for (let k = 0; k < count; k++) {
        let x: number;
        let y: number;
        if (per === 1) {
          x = (buf[p + (k >> 3)] >> (k & 7)) & 1 ? 2 : 1;
          y = 2;
        } else if (per === 4) {
          const nib = (buf[p + (k >> 1)] >> ((k & 1) << 2)) & 15;
          x = (nib & 3) + 1;
          y = (nib >> 2) + 1;
        } else if (per === 8) {
          x = (buf[p + k] & 15) + 1;
          y = (buf[p + k] >> 4) + 1;
        } else {
          x = buf[p + 2 * k] + 1;
          y = buf[p + 2 * k + 1] + 1;
        }
        if (x > y || y >= nAlleles || y === 1)
          throw new PgenFormatError(`bad ALT/ALT call ${x}/${y} for ${nAlleles} alleles`);
        const s = ids[k];
        setCode(outs[0].bytes, s, (x === 1 ? 1 : 0) + (y === 1 ? 1 : 0));
        if (x >= 2) setCode(outs[x - 1].bytes, s, x === y ? 2 : 1);
        if (y >= 2 && y !== x) setCode(outs[y - 1].bytes, s, 1);
      }
      p += Math.ceil((count * per) / 8);
    }
    return outs;
  }

  /**
   * The samples a multi-allelic patch set names, into `list.ids`: a bitarray over the samples
   * whose main code is `code` (mode 0) or a deltalist (mode 1).
   * @returns [count, offset after the set]
   */
  private patchedSamples(
    buf: Uint8Array,
    pos: number,
    end: number,
    mode: number,
    code: number,
  ): [number, number] {
    const ids = this.list.ids;
    const w = this.geno.words;
    if (mode === 1) {
      const p = parseIdList(buf, pos, end, this.n, false, this.list);
      for (let k = 0; k < this.list.len; k++)
        if (getCode(this.geno.bytes, ids[k]) !== code)
          throw new PgenFormatError(
            `multi-allelic patch names sample ${ids[k] + 1}, whose call is not code ${code}`,
          );
      return [this.list.len, p];
    }
    let total = 0;
    for (let j = 0; j < w.length; j++) total += popcount32(code === 1 ? word01(w[j]) : word10(w[j]));
    const bytes = Math.ceil(total / 8);
    if (pos + bytes > end) throw new PgenFormatError('record shorter than its multi-allelic track');
    // Walk the samples with main code `code` in order (byte by byte: independent of endianness).
    const g = this.geno.bytes;
    let count = 0;
    let bit = 0;
    for (let j = 0; j < this.nBytes; j++) {
      let x = code === 1 ? word01(g[j]) : word10(g[j]);
      while (x !== 0) {
        const t = x & -x;
        if ((buf[pos + (bit >> 3)] >> (bit & 7)) & 1) ids[count++] = j * 4 + ((31 - Math.clz32(t)) >> 1);
        bit++;
        x ^= t;
      }
    }
    return [count, pos + bytes];
  }
}

/** What a stored dosage of sample i is divided by: 16384 (diploid), 32768 (haploid). */
function dosageScale(hap: Uint8Array | null, i: number): number {
  return hap !== null && getCode(hap, i) === 3 ? 32768 : 16384;
}

function okMode(m: number): boolean {
  return m === 0 || m === 1 || m === 15;
}
