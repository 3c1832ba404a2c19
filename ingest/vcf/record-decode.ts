/**
 * The fast decoders of `RecordParser`'s sample columns (record.ts): biallelic GT-only calls four
 * at a time from 32-bit words, runs of biallelic `GT:DS` columns, and decimal numbers. A base
 * class, so the parser's per-sample loop calls them as methods on its own arrays and tallies.
 */
import { latin1, RecordError } from './record-text.js';

// Local copies, not imports: V8 does not constant-fold imported bindings in hot loops.
const TAB = 9;
const COLON = 58;
const SLASH = 47;
const PIPE = 124;
const DOT = 46;
const COMMA = 44;
const ZERO = 48;
const NINE = 57;

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * Base class of `RecordParser` with its fast decoders. The abstract members are the parser's
 * state that they read and fill (declared and documented in record.ts).
 */
export abstract class SampleDecoders {
  abstract readonly gt1: Uint8Array;
  abstract dosage: Float32Array;
  abstract readonly packed: Uint8Array;
  protected abstract words: Uint32Array;
  protected abstract wordBytes: Uint8Array;
  protected abstract gt1Words: Uint32Array;
  protected abstract groupHist: Float64Array;
  protected abstract sampleNames: string[];
  protected abstract sumG: number;
  protected abstract nHet: number;
  protected abstract nMiss: number;
  protected abstract numEnd: number;

  /**
   * The path of a biallelic `GT:DS` record: decodes sample columns while each is
   * `[0-9][|/][0-9]:<decimal>` (digits, optionally a point and more digits) ending in a tab or
   * the line end, from sample `s0` at `from` on, filling `gt1` and `dosage` and adding to
   * the tallies `sumG0`/`nHet0` (left in `sumG`/`nHet`). Returns the first sample it did not
   * decode and sets `numEnd` to where its column starts; the per-byte loop takes that one.
   */
  protected gtDsCalls(
    buf: Uint8Array,
    from: number,
    end: number,
    s0: number,
    n: number,
    sumG0: number,
    nHet0: number,
  ): number {
    const gt1 = this.gt1;
    const dosage = this.dosage;
    let sumG = sumG0;
    let nHet = nHet0;
    let p = from;
    let s = s0;
    for (; s < n && p + 4 < end; s++) {
      const x = buf[p] - ZERO;
      const sep = buf[p + 1];
      const y = buf[p + 2] - ZERO;
      if (x < 0 || x > 1 || y < 0 || y > 1 || (sep !== PIPE && sep !== SLASH) || buf[p + 3] !== COLON) break;
      let q = p + 4;
      let b = buf[q];
      let mant = 0;
      let digits = 0;
      let scale = 0;
      while (b >= ZERO && b <= NINE) {
        mant = mant * 10 + (b - ZERO);
        digits++;
        b = ++q < end ? buf[q] : TAB;
      }
      if (b === DOT && digits > 0) {
        b = ++q < end ? buf[q] : TAB;
        while (b >= ZERO && b <= NINE) {
          mant = mant * 10 + (b - ZERO);
          digits++;
          scale++;
          b = ++q < end ? buf[q] : TAB;
        }
      }
      if (b !== TAB || digits === 0 || digits > 15) break;
      // The same value `number` computes for this form.
      dosage[s] = scale === 0 ? mant : mant / POW10[scale];
      const g = x + y;
      gt1[s] = g;
      sumG += g;
      nHet += x ^ y;
      p = q + 1;
    }
    this.sumG = sumG;
    this.nHet = nHet;
    this.numEnd = p;
    return s;
  }

  /**
   * The word-at-a-time path of a biallelic GT-only record whose sample columns
   * `buf[from, from + 4n − 1)` are all 4 bytes long: decodes calls while each is `[01][|/][01]`
   * followed by a tab (the last by the line end), filling `gt1`, `packed`, `sumG` and `nHet`.
   * Returns how many samples it decoded: a multiple of 4 below n where a call of another
   * form starts a group of four (the per-byte loop goes on from there), else n.
   */
  protected wordCalls(buf: Uint8Array, from: number, n: number): number {
    const words = this.words;
    const bytes = this.wordBytes;
    bytes.set(buf.subarray(from, from + 4 * n - 1));
    bytes[4 * n - 1] = TAB;
    const nWords = (n + 3) >> 2;
    for (let i = n; i < 4 * nWords; i++) words[i] = WORD_PIPE; // "0|0" padding: code 0
    const packed = this.packed;
    const gt1w = this.gt1Words;
    // Groups of four plain calls are only counted by their allele bits here (`hist`); the
    // tallies come from the histogram at the end.
    const hist = this.groupHist;
    hist.fill(0);
    let sumG = 0;
    let nHet = 0;
    let nMiss = 0;
    let q = 0;
    for (; q < nWords; q++) {
      const i = q << 2;
      const w0 = words[i];
      const w1 = words[i + 1];
      const w2 = words[i + 2];
      const w3 = words[i + 3];
      if (
        (((w0 ^ WORD_PIPE) | (w1 ^ WORD_PIPE) | (w2 ^ WORD_PIPE) | (w3 ^ WORD_PIPE)) & WORD_MASK) === 0 ||
        (((w0 ^ WORD_SLASH) | (w1 ^ WORD_SLASH) | (w2 ^ WORD_SLASH) | (w3 ^ WORD_SLASH)) & WORD_MASK) === 0
      ) {
        // Four calls `[01]|[01]` (or all with `/`): first alleles to bits 0–3, second to 4–7.
        const k = (w0 & 0x10001) | ((w1 & 0x10001) << 1) | ((w2 & 0x10001) << 2) | ((w3 & 0x10001) << 3);
        const key = (k & 15) | ((k >>> 12) & 0xf0);
        packed[q] = GROUP_PACKED[key];
        gt1w[q] = GROUP_GT1[key];
        hist[key]++;
        continue;
      }
      // Mixed separators, or a call of another form: a missing `./.` or `.|.` is fine too.
      const c0 = wordCode(w0);
      const c1 = wordCode(w1);
      const c2 = wordCode(w2);
      const c3 = wordCode(w3);
      if (c0 < 0 || c1 < 0 || c2 < 0 || c3 < 0) break;
      for (let k = 0; k < 4; k++) {
        const w = words[i + k];
        const c = k === 0 ? c0 : k === 1 ? c1 : k === 2 ? c2 : c3;
        if (c === 3) nMiss++;
        else {
          sumG += c;
          nHet += (w ^ (w >>> 16)) & 1;
        }
      }
      packed[q] = c0 | (c1 << 2) | (c2 << 4) | (c3 << 6);
      gt1w[q] =
        unpackedCode(c0) | (unpackedCode(c1) << 8) | (unpackedCode(c2) << 16) | (unpackedCode(c3) << 24);
    }
    for (let key = 0; key < 256; key++) {
      const h = hist[key];
      if (h === 0) continue;
      sumG += h * GROUP_SUM[key];
      nHet += h * GROUP_HET[key];
    }
    this.sumG = sumG;
    this.nHet = nHet;
    this.nMiss = nMiss;
    return Math.min(n, q << 2);
  }

  /** Parse a decimal number at `p`; sets `numEnd`. NaN for `.`/`nan`. */
  protected number(buf: Uint8Array, p: number, end: number, s: number, key: string): number {
    const start = p;
    let neg = false;
    let b = buf[p];
    if (b === 45 || b === 43) {
      neg = b === 45;
      p++;
    }
    let mant = 0;
    let digits = 0;
    let scale = 0;
    b = p < end ? buf[p] : TAB;
    while (b >= ZERO && b <= NINE) {
      if (digits < 15) {
        mant = mant * 10 + (b - ZERO);
        digits++;
      } else scale--;
      p++;
      b = p < end ? buf[p] : TAB;
    }
    if (b === DOT) {
      p++;
      b = p < end ? buf[p] : TAB;
      while (b >= ZERO && b <= NINE) {
        if (digits < 15) {
          mant = mant * 10 + (b - ZERO);
          digits++;
          scale++;
        }
        p++;
        b = p < end ? buf[p] : TAB;
      }
    }
    let exp = 0;
    if (b === 101 || b === 69) {
      p++;
      let eneg = false;
      b = p < end ? buf[p] : TAB;
      if (b === 45 || b === 43) {
        eneg = b === 45;
        p++;
        b = p < end ? buf[p] : TAB;
      }
      while (b >= ZERO && b <= NINE) {
        exp = exp * 10 + (b - ZERO);
        p++;
        b = p < end ? buf[p] : TAB;
      }
      if (eneg) exp = -exp;
    }
    if (p === start || (digits === 0 && scale === 0 && p - start <= 2)) {
      // Not a plain number: accept '.', nan, inf spelled out; reject the rest.
      let q = start;
      while (q < end && buf[q] !== COLON && buf[q] !== TAB && buf[q] !== COMMA) q++;
      const word = latin1(buf, start, q).toLowerCase();
      this.numEnd = q;
      if (word === '.' || word === 'nan') return Number.NaN;
      if (word === 'inf' || word === '+inf') return Number.POSITIVE_INFINITY;
      if (word === '-inf') return Number.NEGATIVE_INFINITY;
      throw new RecordError(`bad number '${word}'`, `${this.sampleNames[s]}:${key}`);
    }
    this.numEnd = p;
    const e = exp - scale;
    let v: number;
    if (e === 0) v = mant;
    else if (e < 0 && e >= -22) v = mant / POW10[-e];
    else if (e > 0 && e <= 22) v = mant * POW10[e];
    else v = Number(latin1(buf, start, p));
    return neg ? -v : v;
  }
}

/** A call `0|0` followed by a tab, as a little-endian 32-bit word; `0/0` likewise. */
const WORD_PIPE = 0x09307c30;
const WORD_SLASH = 0x09302f30;
/** Clears bit 0 of both allele bytes, so `1` matches as `0`. */
const WORD_MASK = 0xfffefffe | 0;

/**
 * Four plain diploid calls by their allele bits (first alleles in bits 0–3, second alleles
 * in bits 4–7, sample order): the packed byte, the four `gt1` bytes as a little-endian word,
 * Σ ALT copies and heterozygous calls.
 */
const GROUP_PACKED = new Uint8Array(256);
const GROUP_GT1 = new Uint32Array(256);
const GROUP_SUM = new Uint8Array(256);
const GROUP_HET = new Uint8Array(256);
for (let key = 0; key < 256; key++) {
  for (let j = 0; j < 4; j++) {
    const x = (key >> j) & 1;
    const y = (key >> (4 + j)) & 1;
    GROUP_PACKED[key] |= (x + y) << (2 * j);
    GROUP_GT1[key] |= (x + y) << (8 * j);
    GROUP_SUM[key] += x + y;
    GROUP_HET[key] += x ^ y;
  }
}

/** `./.` and `.|.` followed by a tab, as little-endian 32-bit words. */
const WORD_MISSING_SLASH = 0x092e2f2e;
const WORD_MISSING_PIPE = 0x092e7c2e;

/** Packed code (0/1/2, 3 missing) of one 4-byte call word, or −1 for any other form. */
function wordCode(w: number): number {
  const m = w & WORD_MASK;
  if (m === WORD_PIPE || m === WORD_SLASH) return (w & 1) + ((w >>> 16) & 1);
  if (w === WORD_MISSING_SLASH || w === WORD_MISSING_PIPE) return 3;
  return -1;
}

/** The `gt1` byte of a packed code (3 → 255). */
function unpackedCode(c: number): number {
  return c === 3 ? 255 : c;
}
