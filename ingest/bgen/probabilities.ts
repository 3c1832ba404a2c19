/**
 * Genotype probabilities of one BGEN variant → per-ALT dosage (`ds`), packed hard calls (`gt`)
 * and the packed haploid mask (`hap`) of engine/genotypes.ts.
 *
 * Layout 1 (BGEN 1.1; uncompressed data of 6N bytes): per sample three u16 probabilities of
 * AA, AB, BB, each value / 32768; all three 0 means missing. Always diploid and biallelic.
 *
 * Layout 2 (BGEN 1.2/1.3; the uncompressed genotype data):
 *   N (u32) · K alleles (u16) · min ploidy (u8) · max ploidy (u8) ·
 *   N bytes: bit 7 = missing, bits 0–5 = ploidy · phased (u8: 0/1) · B bits per probability (u8, 1–32) ·
 *   probabilities, B bits each, in one little-endian bit stream (the first value in the lowest
 *   bits of the first byte); a stored value v is the probability v / (2^B − 1).
 *   Unphased: per sample, the probabilities of all genotypes but the last (which is 1 − the sum).
 *   Genotypes are in colex order of allele counts: diploid (a, b) with a ≤ b is genotype
 *   b(b+1)/2 + a (AA, AB, BB, AC, BC, CC, …); haploid genotype k is allele k.
 *   Phased: per sample, per haplotype, the probabilities of alleles 0 … K−2 (allele K−1 implied).
 *   Missing samples keep their (zero) probability slots.
 *
 * Records: allele 0 is REF and alleles 1 … K−1 are the ALTs, one record per ALT. `ds` of ALT a
 * is the expected count of allele a (NaN for a missing sample). Hard calls, with threshold t
 * (`hardCallThreshold`, default 0.9):
 * - unphased: the most probable genotype when its probability is ≥ t, else missing (3); `gt` of
 *   ALT a is the number of copies of allele a in it (other ALTs count as REF, as VCF splitting
 *   does). As t ≥ 0.5, at most one genotype qualifies (for layout 1, whose denominator 32768 is
 *   even, an exact 0.5/0.5 tie goes to the first genotype);
 * - phased: each haplotype is called as its most probable allele when that allele's probability
 *   is ≥ t; the genotype is missing when any haplotype is uncalled, else `gt` counts the
 *   haplotypes called as allele a.
 * A probability counts as ≥ t when v / (2^B − 1) ≥ t, decided once per bit depth as the least
 * integer v that passes. Ploidy 1 samples get `hap` code 3 (unless missing) and `gt` 0/1;
 * ploidy 0 is a missing call; ploidy above 2 is refused. Stored probabilities whose sum exceeds
 * 1 are refused.
 *
 * Speed: diploid biallelic variants at B = 8 use a 65,536-entry table from the two stored bytes
 * of a sample to (ds, gt), checking four ploidy bytes as one 32-bit word; B = 16 and layout 1
 * have their own loops; `gt` is packed as it is computed. Everything else (haploid samples,
 * K > 2, other depths) unpacks the stored values first (whole bytes directly, else through a
 * shift accumulator), then decodes per sample.
 */

/** Throws an InputError naming the file and the variant. */
export type Fail = (message: string) => never;

/** One input variant's records, in ALT order. Buffers are reused by the next variant. */
export interface DecodedVariant {
  nAlt: number;
  gt: Uint8Array[];
  ds: Float32Array[];
  hap: Uint8Array | null;
  /** True when every dosage is exactly its hard call (known on the 8-bit diploid path). */
  dsExact?: boolean;
}

/** Least integer v with v / max ≥ t. */
export function callThreshold(t: number, max: number): number {
  let v = Math.ceil(t * max);
  while (v > 0 && (v - 1) / max >= t) v--;
  while (v / max < t) v++;
  return v;
}

/** (ds, gt) of every pair of stored bytes at B = 8; gt | 4 marks an invalid pair. */
interface Table8 {
  ds: Float32Array;
  gt: Uint8Array;
}

const tables8 = new Map<string, Table8>();

/** The B = 8 table for a diploid biallelic sample: index = first byte | second byte << 8. */
/**
 * Flag of a table entry whose dosage is not exactly a hard call (probabilities other than one 1
 * and 0s): a variant none of whose samples has it stores no dosages (`dsExact`).
 */
const NOT_CALL = 16;

function table8(phased: boolean, t: number): Table8 {
  const key = `${phased ? 'p' : 'u'}${t}`;
  let tab = tables8.get(key);
  if (tab) return tab;
  tab = { ds: new Float32Array(65536), gt: new Uint8Array(65536) };
  for (let x = 0; x < 256; x++) {
    for (let y = 0; y < 256; y++) {
      const i = x | (y << 8);
      if (phased) {
        // x, y: each haplotype's probability of REF.
        const c1 = x >= t ? 0 : 255 - x >= t ? 1 : -1;
        const c2 = y >= t ? 0 : 255 - y >= t ? 1 : -1;
        tab.ds[i] = (510 - x - y) / 255;
        tab.gt[i] =
          (c1 < 0 || c2 < 0 ? 3 : c1 + c2) |
          ((x === 0 || x === 255) && (y === 0 || y === 255) ? 0 : NOT_CALL);
      } else {
        // x, y: P(AA), P(AB); P(BB) implied.
        const z = 255 - x - y;
        tab.ds[i] = z < 0 ? Number.NaN : (y + 2 * z) / 255;
        tab.gt[i] =
          z < 0
            ? 7
            : (x >= t ? 0 : y >= t ? 1 : z >= t ? 2 : 3) |
              (x === 255 || y === 255 || z === 255 ? 0 : NOT_CALL);
      }
    }
  }
  tables8.set(key, tab);
  return tab;
}

const LITTLE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function u32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

/** B bits (≤ 32) at bit offset `bit` of a little-endian bit stream. */
function readBits(d: Uint8Array, bit: number, bits: number): number {
  const i = Math.floor(bit / 8);
  const sh = bit - i * 8;
  const lo =
    ((d[i] | (d[i + 1] << 8) | (d[i + 2] << 16) | (d[i + 3] << 24)) >>> 0) + (d[i + 4] ?? 0) * 2 ** 32;
  return Math.floor(lo / 2 ** sh) % 2 ** bits;
}

/**
 * The first `count` values of `bits` bits each (≤ 32) of a little-endian bit stream, into `out`.
 * Whole-byte depths read bytes directly; others shift through an accumulator of < 40 bits.
 */
function unpackValues(d: Uint8Array, count: number, bits: number, out: Float64Array): void {
  if (bits === 8) {
    for (let i = 0; i < count; i++) out[i] = d[i];
  } else if (bits === 16) {
    for (let i = 0, p = 0; i < count; i++, p += 2) out[i] = d[p] | (d[p + 1] << 8);
  } else if (bits === 32) {
    for (let i = 0, p = 0; i < count; i++, p += 4) out[i] = u32(d, p);
  } else if (bits <= 24) {
    // acc holds accBits (< bits + 8 ≤ 32) pending bits in its low end.
    const mask = 2 ** bits - 1;
    let acc = 0;
    let accBits = 0;
    let p = 0;
    for (let i = 0; i < count; i++) {
      while (accBits < bits) {
        acc = (acc | (d[p++] << accBits)) >>> 0;
        accBits += 8;
      }
      out[i] = acc & mask;
      acc >>>= bits;
      accBits -= bits;
    }
  } else {
    const scale = 2 ** bits;
    let acc = 0;
    let unit = 1;
    let p = 0;
    for (let i = 0; i < count; i++) {
      while (unit < scale) {
        acc += d[p++] * unit;
        unit *= 256;
      }
      const v = acc % scale;
      out[i] = v;
      acc = (acc - v) / scale;
      unit /= scale;
    }
  }
}

/** Stored probabilities per sample at ploidy z (≤ 2) with K alleles. */
function storedCount(z: number, k: number, phased: boolean): number {
  if (z === 0) return 0;
  if (phased) return z * (k - 1);
  return z === 1 ? k - 1 : (k * (k + 1)) / 2 - 1;
}

export class ProbabilityDecoder {
  private readonly gtBufs: Uint8Array[] = [];
  private readonly dsBufs: Float32Array[] = [];
  private readonly hapBuf: Uint8Array;
  private readonly nBytes: number;
  private readonly t8: number;
  private readonly t16: number;
  private readonly t1: number;
  /** Unpacked stored values of the generic path. */
  private vals = new Float64Array(0);

  constructor(
    readonly nSamples: number,
    /** Hard-call threshold, 0.5 … 1. */
    readonly threshold: number,
  ) {
    this.nBytes = (nSamples + 3) >> 2;
    this.hapBuf = new Uint8Array(this.nBytes);
    this.t8 = callThreshold(threshold, 255);
    this.t16 = callThreshold(threshold, 65535);
    this.t1 = callThreshold(threshold, 32768);
  }

  private outputs(nAlt: number): DecodedVariant {
    while (this.gtBufs.length < nAlt) {
      this.gtBufs.push(new Uint8Array(this.nBytes));
      this.dsBufs.push(new Float32Array(this.nSamples));
    }
    return { nAlt, gt: this.gtBufs, ds: this.dsBufs, hap: null };
  }

  /** Layout 1: 6N bytes of u16 probability triples. */
  layout1(d: Uint8Array, fail: Fail): DecodedVariant {
    const n = this.nSamples;
    if (d.length !== 6 * n) fail(`genotype data of ${d.length} bytes; layout 1 needs 6 × ${n}`);
    const out = this.outputs(1);
    const gt = out.gt[0];
    const ds = out.ds[0];
    const t = this.t1;
    const inv = 1 / 32768;
    let acc = 0;
    for (let s = 0, q = 0; s < n; s++, q += 6) {
      const a = d[q] | (d[q + 1] << 8);
      const b = d[q + 2] | (d[q + 3] << 8);
      const c = d[q + 4] | (d[q + 5] << 8);
      let g: number;
      if ((a | b | c) === 0) {
        ds[s] = Number.NaN;
        g = 3;
      } else {
        ds[s] = (b + 2 * c) * inv;
        g = a >= t ? 0 : b >= t ? 1 : c >= t ? 2 : 3;
      }
      acc |= g << ((s & 3) << 1);
      if ((s & 3) === 3) {
        gt[s >> 2] = acc;
        acc = 0;
      }
    }
    if (n & 3) gt[n >> 2] = acc;
    return out;
  }

  /** Layout 2: the uncompressed genotype data of a variant with `k` alleles. */
  layout2(d: Uint8Array, k: number, fail: Fail): DecodedVariant {
    const n = this.nSamples;
    if (d.length < 10 + n) fail(`genotype data of ${d.length} bytes is too short for ${n} samples`);
    const dn = u32(d, 0);
    if (dn !== n) fail(`genotype data lists ${dn} samples; the header says ${n}`);
    const dk = d[4] | (d[5] << 8);
    if (dk !== k) fail(`genotype data has ${dk} alleles; the variant lists ${k}`);
    const pmin = d[6];
    const pmax = d[7];
    if (pmax > 2) fail(`ploidy ${pmax}: only haploid and diploid samples are supported`);
    const phased = d[8 + n];
    if (phased > 1) fail(`phased flag ${phased} (must be 0 or 1)`);
    const bits = d[9 + n];
    if (bits === 0 || bits > 32) fail(`bit depth ${bits} (must be 1 to 32)`);
    if (k === 2 && pmin === 2 && pmax === 2) {
      const need = Math.ceil((2 * n * bits) / 8);
      if (d.length !== 10 + n + need)
        fail(
          `probability data of ${d.length - 10 - n} bytes; ${n} diploid samples at ${bits} bits need ${need}`,
        );
      if (bits === 8) return this.diploid8(d, phased === 1, fail);
      if (bits === 16) return this.diploid16(d, phased === 1, fail);
    }
    return this.generic(d, k, phased === 1, bits, fail);
  }

  private badPloidy(d: Uint8Array, fail: Fail): never {
    const n = this.nSamples;
    for (let s = 0; s < n; s++) {
      const p = d[8 + s];
      if (p !== 2 && p !== 0x82)
        fail(`sample ${s + 1} has ploidy byte ${p} outside the declared range ${d[6]}–${d[7]}`);
    }
    return fail('inconsistent ploidy');
  }

  private invalidSample(d: Uint8Array, base: number, bits: number, fail: Fail): never {
    const n = this.nSamples;
    const max = 2 ** bits - 1;
    for (let s = 0; s < n; s++) {
      if (d[8 + s] & 0x80) continue;
      const x = readBits(d.subarray(base), 2 * s * bits, bits);
      const y = readBits(d.subarray(base), (2 * s + 1) * bits, bits);
      if (x + y > max) fail(`sample ${s + 1}: stored probabilities sum to ${(x + y) / max} (> 1)`);
    }
    return fail('stored probabilities sum to more than 1');
  }

  /**
   * K = 2, every sample diploid or missing, B = 8: one table look-up per sample. When the
   * ploidy bytes are 4-aligned and the probability pairs 2-aligned, four ploidy bytes are
   * checked as one 32-bit word and a sample's two bytes are read as one u16 (little-endian
   * machines), and each group of four samples fills one `gt` byte.
   */
  private diploid8(d: Uint8Array, phased: boolean, fail: Fail): DecodedVariant {
    const n = this.nSamples;
    const out = this.outputs(1);
    const gt = out.gt[0];
    const ds = out.ds[0];
    const tab = table8(phased, this.t8);
    const tds = tab.ds;
    const tgt = tab.gt;
    const base = 10 + n;
    let seen = 0;
    let s0 = 0;
    if (LITTLE && ((d.byteOffset + 8) & 3) === 0 && ((d.byteOffset + base) & 1) === 0) {
      const full = n >> 2;
      const pw = new Uint32Array(d.buffer, d.byteOffset + 8, full);
      const pv = new Uint16Array(d.buffer, d.byteOffset + base, full << 2);
      for (let j = 0; j < full; j++) {
        if (pw[j] !== 0x02020202) continue;
        const s = j << 2;
        const i0 = pv[s];
        const i1 = pv[s + 1];
        const i2 = pv[s + 2];
        const i3 = pv[s + 3];
        ds[s] = tds[i0];
        ds[s + 1] = tds[i1];
        ds[s + 2] = tds[i2];
        ds[s + 3] = tds[i3];
        const g0 = tgt[i0];
        const g1 = tgt[i1];
        const g2 = tgt[i2];
        const g3 = tgt[i3];
        seen |= g0 | g1 | g2 | g3;
        gt[j] = (g0 & 3) | ((g1 & 3) << 2) | ((g2 & 3) << 4) | ((g3 & 3) << 6);
      }
      // Groups with a missing (or bad) ploidy byte, then the last partial group.
      for (let j = 0; j < full; j++)
        if (pw[j] !== 0x02020202) seen |= this.group8(d, j << 2, (j + 1) << 2, tab);
      s0 = full << 2;
    }
    for (let s = s0; s < n; s += 4) seen |= this.group8(d, s, Math.min(n, s + 4), tab);
    if (seen & 8) this.badPloidy(d, fail);
    if (seen & 4) this.invalidSample(d, base, 8, fail);
    out.dsExact = (seen & NOT_CALL) === 0;
    return out;
  }

  /** Samples [s, e) of one `gt` byte at B = 8, byte by byte; returns the codes or-ed (8: bad ploidy). */
  private group8(d: Uint8Array, s: number, e: number, tab: Table8): number {
    const gt = this.gtBufs[0];
    const ds = this.dsBufs[0];
    const base = 10 + this.nSamples;
    let acc = 0;
    let seen = 0;
    for (let i = s; i < e; i++) {
      const pl = d[8 + i];
      let g = 3;
      if (pl === 2) {
        const q = base + 2 * i;
        const x = d[q] | (d[q + 1] << 8);
        g = tab.gt[x];
        ds[i] = tab.ds[x];
      } else {
        ds[i] = Number.NaN;
        if (pl !== 0x82) seen |= 8;
      }
      seen |= g;
      acc |= (g & 3) << ((i & 3) << 1);
    }
    gt[s >> 2] = acc;
    return seen;
  }

  /** K = 2, every sample diploid or missing, B = 16. */
  private diploid16(d: Uint8Array, phased: boolean, fail: Fail): DecodedVariant {
    const n = this.nSamples;
    const out = this.outputs(1);
    const gt = out.gt[0];
    const ds = out.ds[0];
    const t = this.t16;
    const inv = 1 / 65535;
    const base = 10 + n;
    let acc = 0;
    let seen = 0;
    for (let s = 0; s < n; s++) {
      const pl = d[8 + s];
      let g: number;
      if (pl === 2) {
        const q = base + 4 * s;
        const x = d[q] | (d[q + 1] << 8);
        const y = d[q + 2] | (d[q + 3] << 8);
        if (phased) {
          const ax = 65535 - x;
          const ay = 65535 - y;
          ds[s] = (ax + ay) * inv;
          const c1 = x >= t ? 0 : ax >= t ? 1 : 4;
          const c2 = y >= t ? 0 : ay >= t ? 1 : 4;
          g = c1 + c2 > 2 ? 3 : c1 + c2;
        } else {
          const z = 65535 - x - y;
          if (z < 0) {
            seen |= 4;
            g = 3;
            ds[s] = Number.NaN;
          } else {
            ds[s] = (y + 2 * z) * inv;
            g = x >= t ? 0 : y >= t ? 1 : z >= t ? 2 : 3;
          }
        }
      } else {
        g = 3;
        ds[s] = Number.NaN;
        seen |= pl === 0x82 ? 0 : 8;
      }
      acc |= g << ((s & 3) << 1);
      if ((s & 3) === 3) {
        gt[s >> 2] = acc;
        acc = 0;
      }
    }
    if (n & 3) gt[n >> 2] = acc;
    if (seen & 8) this.badPloidy(d, fail);
    if (seen & 4) this.invalidSample(d, base, 16, fail);
    return out;
  }

  /** Any K, ploidy 0–2, phased or not, any bit depth: unpack the values, then per sample. */
  private generic(d: Uint8Array, k: number, phased: boolean, bits: number, fail: Fail): DecodedVariant {
    const n = this.nSamples;
    const base = 10 + n;
    let total = 0;
    for (let s = 0; s < n; s++) {
      const z = d[8 + s] & 0x3f;
      if (z > 2) fail(`sample ${s + 1} has ploidy ${z}: only haploid and diploid samples are supported`);
      total += storedCount(z, k, phased);
    }
    const need = Math.ceil((total * bits) / 8);
    if (d.length !== base + need)
      fail(
        `probability data of ${d.length - base} bytes; ${total} probabilities at ${bits} bits need ${need}`,
      );
    if (this.vals.length < total) this.vals = new Float64Array(Math.max(total, 2 * this.vals.length));
    unpackValues(d.subarray(base), total, bits, this.vals);
    const out = this.outputs(k - 1);
    const hap = this.hapBuf;
    hap.fill(0);
    const anyHap =
      k === 2 ? this.biallelic(d, phased, bits, fail) : this.multiallelic(d, k, phased, bits, fail);
    out.hap = anyHap ? hap : null;
    return out;
  }

  /** K = 2 with any ploidy mix and bit depth, from the unpacked values. Returns whether any call is haploid. */
  private biallelic(d: Uint8Array, phased: boolean, bits: number, fail: Fail): boolean {
    const n = this.nSamples;
    const vals = this.vals;
    const gt = this.gtBufs[0];
    const ds = this.dsBufs[0];
    const hap = this.hapBuf;
    const max = 2 ** bits - 1;
    const inv = 1 / max;
    const t = callThreshold(this.threshold, max);
    let anyHap = false;
    let q = 0;
    let acc = 0;
    for (let s = 0; s < n; s++) {
      const pl = d[8 + s];
      const z = pl & 0x3f;
      let g = 3;
      if (pl & 0x80 || z === 0) {
        ds[s] = Number.NaN;
        q += phased ? z : z === 2 ? 2 : z;
      } else if (phased || z === 1) {
        // Per haplotype: the stored value is P(REF).
        let alt = 0;
        g = 0;
        for (let h = 0; h < z; h++) {
          const r = vals[q++];
          const a = max - r;
          if (a < 0) fail(`sample ${s + 1}: stored probability ${r * inv} > 1`);
          alt += a;
          if (r >= t) continue;
          if (a >= t) g++;
          else g = 4;
        }
        ds[s] = alt * inv;
        if (g > 2) g = 3;
        if (z === 1) {
          hap[s >> 2] |= 3 << ((s & 3) << 1);
          anyHap = true;
        }
      } else {
        const x = vals[q];
        const y = vals[q + 1];
        q += 2;
        const w = max - x - y;
        if (w < 0) fail(`sample ${s + 1}: stored probabilities sum to ${(x + y) * inv} (> 1)`);
        ds[s] = (y + 2 * w) * inv;
        g = x >= t ? 0 : y >= t ? 1 : w >= t ? 2 : 3;
      }
      acc |= g << ((s & 3) << 1);
      if ((s & 3) === 3) {
        gt[s >> 2] = acc;
        acc = 0;
      }
    }
    if (n & 3) gt[n >> 2] = acc;
    return anyHap;
  }

  /** K > 2, from the unpacked values. Returns whether any call is haploid. */
  private multiallelic(d: Uint8Array, k: number, phased: boolean, bits: number, fail: Fail): boolean {
    const n = this.nSamples;
    const nAlt = k - 1;
    const vals = this.vals;
    const hap = this.hapBuf;
    const max = 2 ** bits - 1;
    const t = callThreshold(this.threshold, max);
    for (let a = 0; a < nAlt; a++) this.gtBufs[a].fill(0);
    // Diploid genotype j = (ga[j], gb[j]) in colex order.
    const nGeno = (k * (k + 1)) / 2;
    const ga = new Int32Array(nGeno);
    const gb = new Int32Array(nGeno);
    for (let b = 0, j = 0; b < k; b++)
      for (let a = 0; a <= b; a++, j++) {
        ga[j] = a;
        gb[j] = b;
      }
    const expect = new Float64Array(k);
    const calls = new Int32Array(2);
    let anyHap = false;
    let q = 0;
    for (let s = 0; s < n; s++) {
      const pl = d[8 + s];
      const z = pl & 0x3f;
      const m = storedCount(z, k, phased);
      const shift = (s & 3) << 1;
      if (pl & 0x80 || z === 0) {
        q += m;
        for (let a = 0; a < nAlt; a++) {
          this.dsBufs[a][s] = Number.NaN;
          this.gtBufs[a][s >> 2] |= 3 << shift;
        }
        continue;
      }
      expect.fill(0);
      let nCalls = 0;
      let uncalled = false;
      if (phased || z === 1) {
        // Per haplotype (a haploid unphased sample is one haplotype): K − 1 stored, last implied.
        for (let h = 0; h < z; h++) {
          let left = max;
          let call = -1;
          for (let a = 0; a < k; a++) {
            const v = a < k - 1 ? vals[q++] : left;
            if (v < 0) fail(`sample ${s + 1}: stored probabilities sum to more than 1`);
            left -= v;
            expect[a] += v;
            if (call < 0 && v >= t) call = a;
          }
          if (call < 0) uncalled = true;
          else calls[nCalls++] = call;
        }
      } else {
        let left = max;
        let call = -1;
        for (let j = 0; j < nGeno; j++) {
          const v = j < nGeno - 1 ? vals[q++] : left;
          left -= v;
          if (v < 0) fail(`sample ${s + 1}: stored probabilities sum to more than 1`);
          expect[ga[j]] += v;
          expect[gb[j]] += v;
          if (call < 0 && v >= t) call = j;
        }
        if (call < 0) uncalled = true;
        else {
          calls[0] = ga[call];
          calls[1] = gb[call];
          nCalls = 2;
        }
      }
      if (z === 1) {
        hap[s >> 2] |= 3 << shift;
        anyHap = true;
      }
      for (let a = 0; a < nAlt; a++) {
        this.dsBufs[a][s] = expect[a + 1] / max;
        let g = 3;
        if (!uncalled) {
          g = 0;
          for (let c = 0; c < nCalls; c++) if (calls[c] === a + 1) g++;
        }
        this.gtBufs[a][s >> 2] |= g << shift;
      }
    }
    return anyHap;
  }
}
