/**
 * Splitting a parsed multi-allelic record into one biallelic record per ALT: the `gt` bytes
 * and the allele counts of each ALT (`splitAllele`).
 */

import type { AlleleCounts } from '../parts.js';
import type { RecordParser } from './record.js';

// The parser's allele markers (record.ts), as local constants for the per-sample loop.
/** Missing allele marker in `allele1`/`allele2`. */
const MISSING = -1;
/** `allele2` of a haploid call. */
const NONE = -2;

/** Per-ALT genotype summary written by `splitAllele` (the part writer's counts). */
export type { AlleleCounts } from '../parts.js';

/**
 * The `gt` bytes (one per sample: ALT copies, 255 missing) of ALT number `alt` (1-based),
 * with its allele counts in `out`. Other ALT alleles count as REF. For a biallelic record
 * this is the parser's own `gt1` (no copy); otherwise `gt` is filled and returned.
 */
export function splitAllele(
  parser: RecordParser,
  alt: number,
  gt: Uint8Array,
  out: AlleleCounts,
): Uint8Array {
  const n = parser.nSamples;
  if (parser.alts.length === 1) {
    parser.biallelicCounts(out);
    return parser.gt1;
  }
  const a1 = parser.allele1;
  const a2 = parser.allele2;
  let ac = 0;
  let an = 0;
  let called = 0;
  let homRef = 0;
  let het = 0;
  let homAlt = 0;
  for (let s = 0; s < n; s++) {
    const x = a1[s];
    if (x === MISSING) {
      gt[s] = 255;
      continue;
    }
    const y = a2[s];
    called++;
    if (y === NONE) {
      const g = x === alt ? 1 : 0;
      gt[s] = g;
      ac += g;
      an += 1;
    } else {
      const g = (x === alt ? 1 : 0) + (y === alt ? 1 : 0);
      gt[s] = g;
      ac += g;
      an += 2;
      if (g === 0) homRef++;
      else if (g === 1) het++;
      else homAlt++;
    }
  }
  const dsum = dosageSum(parser, alt);
  out.ac = ac;
  out.an = an;
  out.nCalled = called;
  out.homRef = homRef;
  out.het = het;
  out.homAlt = homAlt;
  out.dosageSum = dsum;
  return gt;
}

/** Σ of the non-missing dosages of ALT number `alt` (1-based); 0 without dosages. */
export function dosageSum(parser: RecordParser, alt: number): number {
  let dsum = 0;
  if (parser.hasDosage) {
    const n = parser.nSamples;
    const d = parser.dosage;
    const off = (alt - 1) * n;
    for (let s = 0; s < n; s++) {
      const v = d[off + s];
      if (!Number.isNaN(v)) dsum += v;
    }
  }
  return dsum;
}

/**
 * The `hap` BLOB of a record with haploid calls (engine/genotypes.ts): a packed mask, 2-bit field
 * 3 for each sample whose call is haploid (one allele, e.g. a male on chrX outside the PARs), 0
 * otherwise (diploid or missing), written into `out` (⌈n/4⌉ bytes) and returned.
 */
export function haploidMask(parser: RecordParser, out: Uint8Array): Uint8Array {
  out.fill(0);
  const a1 = parser.allele1;
  const a2 = parser.allele2;
  for (let s = 0; s < parser.nSamples; s++) {
    if (a1[s] !== MISSING && a2[s] === NONE) out[s >> 2] |= 3 << ((s & 3) << 1);
  }
  return out;
}
