/**
 * The contract every binary genotype reader keeps (PLINK 1 `.bed`, PLINK 2 `.pgen`, BGEN 1.2).
 * A reader turns one input file (with its companions) into a stream of biallelic records in the
 * engine's genotype layout (engine/genotypes.ts); `ingest/genotype-shard.ts` writes them as the
 * same Parquet parts a VCF shard writes, so every format gives the same `variants` and
 * `genotypes` tables for the same data.
 *
 * - Samples are in file order. A sample's id is the IID (PLINK) or the sample block's /
 *   `.sample` file's ID_2 (BGEN). Duplicate ids are refused.
 * - Positions are 1-based. Chromosomes are named as a VCF names them: PLINK's numeric codes
 *   23/24/25/26 become X/Y/XY/MT; a `chr` prefix is kept as given.
 * - `gt` counts the ALT allele: 0/1/2, 1 for a haploid ALT call, 3 missing, packed four calls a
 *   byte, first sample in the low bits; the unused high bits of the last byte are 0.
 * - Multi-allelic variants are split into one record per ALT, in ALT order, like VCF ingest.
 * - A cursor names a position between two input variants: the index of the next variant and
 *   the byte offset where it starts. Ranges and resumes start at a cursor, so a reader never
 *   scans from the top to resume.
 */
import type { GenotypeFormat } from '../schemas/release.js';

/** One biallelic record. Its buffers belong to the reader and are valid until the next record. */
export interface VariantRecord {
  chrom: string;
  pos: number;
  /** The variant id (`.bim` col 2, `.pvar` ID, BGEN rsid or varid), null when absent or `.`. */
  id: string | null;
  ref: string;
  alt: string;
  /** Packed ALT-count codes, ⌈n/4⌉ bytes. */
  gt: Uint8Array;
  /** ALT dosage per sample (NaN missing), or null when the file has hard calls only. */
  ds: Float32Array | null;
  /** Packed haploid mask (2-bit field 3 where the call is haploid), null when every call is diploid. */
  hap: Uint8Array | null;
}

/** Between two input variants: the next variant's index and the byte offset where it starts. */
export interface SourceCursor {
  variant: number;
  byte: number;
}

export interface SourceHeader {
  samples: string[];
  /** Input variants (before splitting multi-allelic ones). */
  nVariants: number;
  /** GRCh37/GRCh38 when the file says so (a `.pvar` header), else null. */
  assembly: string | null;
}

/** Consecutive input variants [start.variant, end). */
export interface VariantRange {
  start: SourceCursor;
  end: number;
}

/** One input variant's records and the cursor after it. */
export interface SourceStep {
  records: VariantRecord[];
  next: SourceCursor;
}

export interface GenotypeReader {
  readonly format: GenotypeFormat;
  header(): Promise<SourceHeader>;
  /** Cut the file into at most `n` ranges of about equal size (fewer for small files). */
  plan(n: number): Promise<VariantRange[]>;
  /**
   * Read from `from` up to input variant `end` (exclusive), one step per input variant.
   * @throws InputError naming the file, the variant (index and id) and the field for bad data
   */
  read(from: SourceCursor, end: number): AsyncIterable<SourceStep>;
  close(): Promise<void>;
}

/** Split `n` items into at most `parts` ranges of about equal size (at least 1 item each). */
export function splitEven(n: number, parts: number): Array<[number, number]> {
  const k = Math.max(1, Math.min(parts, n));
  const out: Array<[number, number]> = [];
  for (let i = 0; i < k; i++) {
    const a = Math.floor((i * n) / k);
    const b = Math.floor(((i + 1) * n) / k);
    if (b > a) out.push([a, b]);
  }
  return out;
}

/** PLINK's numeric chromosome codes for the sex chromosomes and MT. */
const PLINK_CHROM_CODES: Record<string, string> = { '23': 'X', '24': 'Y', '25': 'XY', '26': 'MT', M: 'MT' };

/** A chromosome name as a VCF would write it (PLINK 23 → X, …); other names unchanged. */
export function normalizeChrom(chrom: string): string {
  return PLINK_CHROM_CODES[chrom] ?? chrom;
}

/** True for a PLINK/psam sex code meaning male (`1`, `M`, `male`). */
export function isMaleCode(sex: string): boolean {
  const s = sex.trim().toLowerCase();
  return s === '1' || s === 'm' || s === 'male';
}

/**
 * Which samples carry haploid calls on `chrom` under PLINK's convention, which stores them as
 * homozygous diploid calls: males on X (PLINK's X is the non-pseudoautosomal part; the PARs are
 * `XY`) and on Y, everyone on MT. Null when the chromosome is diploid for all.
 */
export function plinkHaploidSamples(chrom: string, males: Uint8Array): Uint8Array | 'all' | null {
  const c = chrom.replace(/^chr/i, '').toUpperCase();
  if (c === 'MT' || c === 'M' || c === '26') return 'all';
  if (c === 'X' || c === 'Y' || c === '23' || c === '24') return males;
  return null;
}
