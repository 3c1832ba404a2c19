/**
 * Byte-level parser for one VCF data line. The fixed columns become strings (one set per
 * record); the sample columns are read straight from the bytes into typed arrays that the
 * parser owns and reuses, so the per-genotype loop allocates nothing. The common forms take
 * faster paths with the same results: biallelic GT-only records of 4-byte calls are decoded
 * four calls per step from 32-bit words (and handed out already packed), biallelic `GT:DS`
 * columns in one tight pass; any other column goes through the general per-byte loop.
 *
 * Genotype conventions (shared with `engine/genotypes.ts`):
 * - GT `a/b` or `a|b` (phase ignored), haploid `a`; a call with any `.` allele is missing
 *   (PLINK's convention; `./.`, `.`, `./1` are all missing calls).
 * - Multi-allelic records are split into one biallelic record per ALT; the other ALT
 *   alleles count as REF (as `bcftools norm -m-` does for GT): `1/2` gives 1 ALT copy in
 *   both split records.
 * - Dosage per ALT: `DS` when the FORMAT has it (Number=A), else from `GP`
 *   (dosage = Σ_g P(g)·copies_of_ALT(g), genotype order of VCF 4.3 §1.6.2), else none.
 *   A missing DS/GP (`.`) is NaN.
 */

import { endianness } from 'node:os';
import { SampleDecoders } from './record-decode.js';
import { type AlleleCounts, dosageSum } from './record-split.js';
import { COLUMN_NAMES, latin1, peek, RecordError } from './record-text.js';

export { type AlleleCounts, splitAllele } from './record-split.js';
export { RecordError } from './record-text.js';

// Byte codes, also in record-decode.ts: local constants keep the per-byte loops fast.
const TAB = 9;
const COLON = 58;
const SLASH = 47;
const PIPE = 124;
const DOT = 46;
const COMMA = 44;
const ZERO = 48;
const NINE = 57;

const LITTLE = endianness() === 'LE';

/** Missing allele marker in `allele1`/`allele2`. */
const MISSING = -1;
/** `allele2` of a haploid call. */
const NONE = -2;

export class RecordParser extends SampleDecoders {
  readonly nSamples: number;
  // Fixed columns of the current record.
  chrom = '';
  pos = 0;
  id = '';
  ref = '';
  alts: string[] = [];
  qual: number | null = null;
  filter: string | null = null;
  info = '';
  /** True when this record carried DS or GP. */
  hasDosage = false;
  /** First and second allele index of each sample (MISSING / NONE for haploid). */
  readonly allele1: Int16Array;
  readonly allele2: Int16Array;
  /**
   * Biallelic records only: the `gt` bytes (ALT copies, 255 missing) filled while parsing,
   * plus the haploid calls among them, so `splitAllele` needs no second pass over alleles.
   */
  readonly gt1: Uint8Array;
  private hapRef = 0;
  private hapAlt = 0;
  /** Biallelic records: Σ ALT copies, heterozygous diploid calls, missing calls. */
  protected sumG = 0;
  protected nHet = 0;
  protected nMiss = 0;
  /** Dosage per ALT, alt-major: dosage[(a − 1)·nSamples + s]. Grown as needed. */
  dosage: Float32Array;
  /**
   * Biallelic records whose calls all took the word-at-a-time path: the calls already
   * packed two bits per sample (the `gt` BLOB of `engine/genotypes.ts`); `packedReady` says
   * whether this record's `packed` is valid. Otherwise callers pack `gt1` themselves.
   */
  readonly packed: Uint8Array;
  packedReady = false;
  /** 4-aligned copy of the sample columns for the word-at-a-time path. */
  protected words: Uint32Array;
  protected wordBytes: Uint8Array;
  protected gt1Words: Uint32Array;
  protected groupHist = new Float64Array(256);
  private gpScratch = new Float64Array(64);
  protected sampleNames: string[];

  constructor(samples: string[]) {
    super();
    this.sampleNames = samples;
    this.nSamples = samples.length;
    this.allele1 = new Int16Array(this.nSamples);
    this.allele2 = new Int16Array(this.nSamples);
    // Whole 32-bit words, so the word-at-a-time path can write four calls at once.
    const nWords = (this.nSamples + 3) >> 2;
    this.gt1Words = new Uint32Array(nWords);
    this.gt1 = new Uint8Array(this.gt1Words.buffer, 0, this.nSamples);
    this.dosage = new Float32Array(this.nSamples);
    this.packed = new Uint8Array(nWords);
    this.words = new Uint32Array(nWords * 4);
    this.wordBytes = new Uint8Array(this.words.buffer);
  }

  /**
   * Parse the line `buf[start, end)` (no newline). Throws `RecordError` for malformed input.
   */
  parse(buf: Uint8Array, start: number, end: number): void {
    this.packedReady = false;
    // Fixed columns: CHROM POS ID REF ALT QUAL FILTER INFO FORMAT.
    const cols = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    cols[0] = start;
    let c = 1;
    let p = start;
    const need = this.nSamples > 0 ? 9 : 7;
    while (c <= need && p < end) {
      if (buf[p] === TAB) cols[c++] = p + 1;
      p++;
    }
    // c = number of columns whose start is known.
    if (c < 8)
      throw new RecordError(`expected at least 8 tab-separated columns, found ${c}`, COLUMN_NAMES[c]);
    const colEnd = (i: number) => {
      if (i + 1 < c) return cols[i + 1] - 1;
      let q = cols[i];
      while (q < end && buf[q] !== TAB) q++;
      return q;
    };
    const text = (i: number) => latin1(buf, cols[i], colEnd(i));
    this.chrom = text(0);
    if (this.chrom === '') throw new RecordError('empty CHROM', 'CHROM');
    const posText = text(1);
    const pos = Number(posText);
    if (!/^\d+$/.test(posText) || !Number.isSafeInteger(pos))
      throw new RecordError(`bad POS '${posText}'`, 'POS');
    this.pos = pos;
    this.id = text(2);
    this.ref = text(3);
    if (!/^[ACGTNacgtn*]+$/.test(this.ref)) throw new RecordError(`bad REF '${this.ref}'`, 'REF');
    const altText = text(4);
    if (altText === '' || altText === '.') throw new RecordError('no ALT allele (monomorphic site)', 'ALT');
    this.alts = altText.split(',');
    for (const a of this.alts)
      if (!/^([ACGTNacgtn*]+|<[^>]+>|.*[[\]].*)$/.test(a))
        throw new RecordError(`bad ALT allele '${a}'`, 'ALT');
    const qualText = text(5);
    if (qualText === '.') this.qual = null;
    else {
      const q = Number(qualText);
      if (!Number.isFinite(q)) throw new RecordError(`bad QUAL '${qualText}'`, 'QUAL');
      this.qual = q;
    }
    const filter = text(6);
    this.filter = filter === '.' ? null : filter;
    this.info = text(7);
    if (this.nSamples === 0) {
      this.hasDosage = false;
      return;
    }
    if (c < 10) throw new RecordError(`expected ${9 + this.nSamples} columns, found ${c}`, 'FORMAT');
    const formatKeys = latin1(buf, cols[8], cols[9] - 1).split(':');
    this.parseSamples(buf, cols[9], end, formatKeys);
  }

  private parseSamples(buf: Uint8Array, from: number, end: number, keys: string[]): void {
    const n = this.nSamples;
    const nAlt = this.alts.length;
    const gtIdx = keys.indexOf('GT');
    const dsIdx = keys.indexOf('DS');
    const gpIdx = dsIdx < 0 ? keys.indexOf('GP') : -1;
    const doseIdx = dsIdx >= 0 ? dsIdx : gpIdx;
    this.hasDosage = doseIdx >= 0;
    if (this.hasDosage && this.dosage.length < n * nAlt) this.dosage = new Float32Array(n * nAlt);
    const a1 = this.allele1;
    const a2 = this.allele2;
    const gt1 = this.gt1;
    const biallelic = nAlt === 1;
    let hapRef = 0;
    let hapAlt = 0;
    let sumG = 0;
    let nHet = 0;
    let nMiss = 0;
    const dosage = this.dosage;
    // Diploid genotype order for GP: (j,k), j ≤ k, index k(k+1)/2 + j.
    const nGeno = ((nAlt + 1) * (nAlt + 2)) / 2;
    if (this.gpScratch.length < nGeno) this.gpScratch = new Float64Array(nGeno);
    const gp = this.gpScratch;

    let p = from;
    // Fast path: GT first in FORMAT and a diploid call of single-digit alleles ("0|1").
    const gtFirst = gtIdx === 0;
    const onlyGt = gtFirst && keys.length === 1;
    const gtDs = gtFirst && dsIdx === 1 && keys.length === 2 && biallelic;
    let s0 = 0;
    this.packedReady = false;
    if (LITTLE && onlyGt && biallelic && n > 0 && end - from === 4 * n - 1) {
      // Every call is 4 bytes ("x|y\t") when all are diploid and single-digit: check and
      // decode them a word (one call) at a time, four calls (one packed byte) per step.
      s0 = this.wordCalls(buf, from, n);
      sumG = this.sumG;
      nHet = this.nHet;
      nMiss = this.nMiss;
      p = from + 4 * s0;
      this.packedReady = s0 === n;
    }
    for (let s = s0; s < n; s++) {
      if (gtDs) {
        // Runs of common `GT:DS` columns; a column of another form takes the loop below.
        s = this.gtDsCalls(buf, p, end, s, n, sumG, nHet);
        sumG = this.sumG;
        nHet = this.nHet;
        p = this.numEnd;
        if (s >= n) break;
      }
      // A diploid single-digit call opening a sample column with more fields ("0|1:0.98").
      let quickGt = false;
      if (gtFirst && p + 3 < end) {
        const x = buf[p] - ZERO;
        const sep = buf[p + 1];
        const y = buf[p + 2] - ZERO;
        const after = buf[p + 3];
        if (x >= 0 && x <= nAlt && y >= 0 && y <= nAlt && (sep === PIPE || sep === SLASH)) {
          if (after === TAB && onlyGt) {
            if (biallelic) {
              const g = x + y;
              gt1[s] = g;
              sumG += g;
              nHet += x ^ y;
            } else {
              a1[s] = x;
              a2[s] = y;
            }
            p += 4;
            continue;
          }
          quickGt = after === COLON;
        }
      }
      if (p > end) throw new RecordError(`expected ${n} sample columns, found ${s}`, 'samples');
      a1[s] = MISSING;
      a2[s] = NONE;
      if (this.hasDosage) for (let a = 0; a < nAlt; a++) dosage[a * n + s] = Number.NaN;
      let field = 0;
      if (quickGt) {
        // As the GT branch below would have read it; go on with the next field.
        a1[s] = buf[p] - ZERO;
        a2[s] = buf[p + 2] - ZERO;
        p += 4;
        field = 1;
      }
      // Walk the sub-fields of this sample column.
      for (;;) {
        const ch = p < end ? buf[p] : TAB;
        if (ch === TAB) break;
        if (field === gtIdx) {
          // GT: allele ([0-9]+|.) ([/|] allele)?
          let first = 0;
          let second = NONE;
          let missing = false;
          let nAlleles = 0;
          for (;;) {
            let v = 0;
            let b = p < end ? buf[p] : TAB;
            if (b === DOT) {
              missing = true;
              p++;
            } else if (b >= ZERO && b <= NINE) {
              while (b >= ZERO && b <= NINE) {
                v = v * 10 + (b - ZERO);
                p++;
                b = p < end ? buf[p] : TAB;
              }
              if (v > nAlt)
                throw new RecordError(`allele ${v} but only ${nAlt} ALT`, `${this.sampleNames[s]}:GT`);
            } else throw new RecordError(`bad GT '${peek(buf, p, end)}'`, `${this.sampleNames[s]}:GT`);
            if (nAlleles === 0) first = v;
            else if (nAlleles === 1) second = v;
            nAlleles++;
            b = p < end ? buf[p] : TAB;
            if (b === SLASH || b === PIPE) {
              p++;
              continue;
            }
            if (b !== COLON && b !== TAB)
              throw new RecordError(`bad GT '${peek(buf, p, end)}'`, `${this.sampleNames[s]}:GT`);
            break;
          }
          if (nAlleles > 2)
            throw new RecordError(`ploidy ${nAlleles} is not supported`, `${this.sampleNames[s]}:GT`);
          if (!missing) {
            a1[s] = first;
            a2[s] = second;
          }
        } else if (field === doseIdx) {
          // Comma-separated numbers, or '.'.
          let k = 0;
          let b = p < end ? buf[p] : TAB;
          if (b === DOT && (p + 1 >= end || buf[p + 1] === COLON || buf[p + 1] === TAB)) {
            p++;
          } else {
            for (;;) {
              const v = this.number(buf, p, end, s, dsIdx >= 0 ? 'DS' : 'GP');
              p = this.numEnd;
              if (dsIdx >= 0) {
                if (k < nAlt) dosage[k * n + s] = v;
              } else if (k < nGeno) gp[k] = v;
              k++;
              b = p < end ? buf[p] : TAB;
              if (b === COMMA) {
                p++;
                continue;
              }
              if (b !== COLON && b !== TAB)
                throw new RecordError(
                  `bad number list '${peek(buf, p, end)}'`,
                  `${this.sampleNames[s]}:${keys[field]}`,
                );
              break;
            }
            if (dsIdx >= 0) {
              if (k !== nAlt)
                throw new RecordError(`DS has ${k} values, expected ${nAlt}`, `${this.sampleNames[s]}:DS`);
            } else if (k === nGeno) {
              for (let a = 1; a <= nAlt; a++) {
                let d = 0;
                for (let kk = 0; kk <= nAlt; kk++)
                  for (let j = 0; j <= kk; j++) {
                    const copies = (j === a ? 1 : 0) + (kk === a ? 1 : 0);
                    if (copies) d += copies * gp[(kk * (kk + 1)) / 2 + j];
                  }
                dosage[(a - 1) * n + s] = d;
              }
            } else if (k === nAlt + 1) {
              for (let a = 1; a <= nAlt; a++) dosage[(a - 1) * n + s] = gp[a];
            } else
              throw new RecordError(
                `GP has ${k} values, expected ${nGeno} or ${nAlt + 1}`,
                `${this.sampleNames[s]}:GP`,
              );
          }
        } else {
          while (p < end && buf[p] !== COLON && buf[p] !== TAB) p++;
        }
        if (p < end && buf[p] === COLON) {
          p++;
          field++;
          continue;
        }
        break;
      }
      if (biallelic) {
        const x = a1[s];
        if (x === MISSING) {
          gt1[s] = 255;
          nMiss++;
        } else if (a2[s] === NONE) {
          gt1[s] = x;
          sumG += x;
          if (x === 0) hapRef++;
          else hapAlt++;
        } else {
          const g = x + a2[s];
          gt1[s] = g;
          sumG += g;
          if (g === 1) nHet++;
        }
      }
      p++; // past the tab
    }
    if (p <= end) throw new RecordError(`more than ${n} sample columns`, 'samples');
    this.hapRef = hapRef;
    this.hapAlt = hapAlt;
    this.sumG = sumG;
    this.nHet = nHet;
    this.nMiss = nMiss;
  }

  protected numEnd = 0;

  /** Allele counts of a biallelic record, from the tallies kept while parsing. */
  biallelicCounts(out: AlleleCounts): void {
    const nCalled = this.nSamples - this.nMiss;
    const nHap = this.hapRef + this.hapAlt;
    const homAlt = (this.sumG - this.hapAlt - this.nHet) / 2;
    out.ac = this.sumG;
    out.an = 2 * (nCalled - nHap) + nHap;
    out.nCalled = nCalled;
    out.het = this.nHet;
    out.homAlt = homAlt;
    out.homRef = nCalled - nHap - this.nHet - homAlt;
    out.dosageSum = dosageSum(this, 1);
  }
}
