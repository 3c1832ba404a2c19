/**
 * PLINK 1 binary genotypes (`.bed` with its `.bim` and `.fam`) as a {@link GenotypeReader}.
 *
 * Format facts relied on (PLINK 1.9 file-format specification):
 * - The `.bed` starts with the magic bytes 0x6c 0x1b and a mode byte: 0x01 = variant-major
 *   ("SNP-major", the only layout read here), 0x00 = the obsolete sample-major layout.
 * - Then one block of ⌈nSamples/4⌉ bytes per `.bim` line, in `.bim` order; variant v starts
 *   at byte 3 + v·⌈nSamples/4⌉, so the file is exactly 3 + nVariants·⌈nSamples/4⌉ bytes.
 * - In a block, sample i is bits 2·(i mod 4)…2·(i mod 4)+1 of byte ⌊i/4⌋ (first sample in
 *   the low bits), as in the engine's layout. Codes: 00 homozygous A1, 01 missing,
 *   10 heterozygous, 11 homozygous A2. The unused high bits of a block's last byte are 0.
 * - `.bim`/`.fam`: see `./bim.ts`. `plink2 --make-bed` writes A1 = ALT, A2 = REF; PLINK 1.9
 *   writes the minor allele as A1, so REF must then come from a reference FASTA.
 * - Haploid calls (males on X and Y, everyone on MT) are stored as homozygous diploid codes.
 *
 * Which allele is ALT: `countedAllele` `a1` (default) counts A1 (ALT = A1, REF = A2), `a2`
 * counts A2. With `refFasta`, REF is the allele that equals the FASTA bases at pos (for an
 * indel, its first len(allele) bases); when both do (an indel such as A/AT before a T, or
 * A1 = A2) `countedAllele` decides; when neither does the `.bim` line is refused.
 *
 * Missing alleles (`0` or `.`): the missing allele is always the ALT, written `.`, and the
 * present one is REF; the calls count the missing allele (all 0 in a consistent file). With
 * `refFasta`, a present single-base allele that differs from the FASTA becomes the ALT and
 * the FASTA base the REF (a site where every sample carries the ALT). Both missing: REF is the
 * FASTA base (else `N`), ALT `.`. Such rows are kept, not dropped, so variant indices follow
 * the `.bim`; VCF ingest refuses ALT `.`, so the writer downstream decides what to keep.
 *
 * Decoding does not unpack calls: each block is copied into an aligned buffer and mapped to
 * ALT counts four samples a byte, sixteen a 32-bit word, with bit operations on the
 * (high, low) bits h, l of each 2-bit field — counting A1: 00→2, 01→3, 10→1, 11→0, i.e.
 * x ⊕ (10 | h); counting A2: 00→0, 01→3, 10→1, 11→2, i.e. x ⊕ ((h⊕l)·2 | h). A haploid sample
 * then maps 0→0, 1 (het)→3, 2→1, 3→3: new h = l, new l = h | l, applied under its mask.
 * Mapping is per 2-bit field, so the words' byte order does not matter.
 *
 * Reads go in blocks of about 8 MiB (at least one variant) at the byte offset a cursor names,
 * so a range or a retried shard starts anywhere without scanning.
 */
import { type FileHandle, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../../engine/errors.js';
import { genotypeFiles } from '../../engine/release.js';
import type { GenotypeOptions } from '../../schemas/release.js';
import {
  type GenotypeReader,
  plinkHaploidSamples,
  type SourceCursor,
  type SourceHeader,
  type SourceStep,
  splitEven,
  type VariantRange,
  type VariantRecord,
} from '../genotype-reader.js';
import { type BimTable, bimAlleles, type FamTable, parseBim, parseFam } from './bim.js';
import { FastaReader } from './fasta.js';

const MAGIC = [0x6c, 0x1b];
const MODE_VARIANT_MAJOR = 0x01;
const HEADER_BYTES = 3;
const BLOCK_BYTES = 8 * 1024 * 1024;
const LO = 0x55555555;
const HI = 0xaaaaaaaa;

/** How one variant's alleles are reported. */
export interface AlleleChoice {
  ref: string;
  alt: string;
  /** True when ALT counts are counts of A1 (else of A2). */
  countA1: boolean;
}

/** `0` and `.` are PLINK's missing allele. */
function isMissingAllele(a: string): boolean {
  return a === '0' || a === '.';
}

/** Whether `reference` (upper-case bases at pos) starts with `allele`. */
function matchesReference(reference: string, allele: string): boolean {
  return reference.length >= allele.length && reference.startsWith(allele.toUpperCase());
}

/**
 * REF, ALT and the counted allele of one `.bim` line (see the module comment). `reference`
 * is the FASTA at pos, at least as long as the longer allele where the contig allows, or null
 * without a FASTA. Null when the FASTA matches neither allele.
 */
export function chooseAlleles(
  a1: string,
  a2: string,
  countedA1: boolean,
  reference: string | null,
): AlleleChoice | null {
  const m1 = isMissingAllele(a1);
  const m2 = isMissingAllele(a2);
  if (m1 && m2) return { ref: reference?.[0] ?? 'N', alt: '.', countA1: true };
  if (m1 || m2) {
    const present = m1 ? a2 : a1;
    if (reference === null || matchesReference(reference, present))
      return { ref: present, alt: '.', countA1: m1 };
    if (present.length === 1 && /^[ACGT]/.test(reference))
      return { ref: reference[0], alt: present, countA1: !m1 };
    return null;
  }
  let refIsA2 = countedA1;
  if (reference !== null) {
    const r1 = matchesReference(reference, a1);
    const r2 = matchesReference(reference, a2);
    if (!r1 && !r2) return null;
    if (r1 !== r2) refIsA2 = r2;
  }
  return refIsA2 ? { ref: a2, alt: a1, countA1: true } : { ref: a1, alt: a2, countA1: false };
}

/** Map `.bed` codes to ALT counts in place, counting A1 (or A2). */
export function mapBedWords(w: Uint32Array, nWords: number, countA1: boolean): void {
  if (countA1) {
    for (let i = 0; i < nWords; i++) {
      const x = w[i];
      w[i] = x ^ (HI | ((x >>> 1) & LO));
    }
  } else {
    for (let i = 0; i < nWords; i++) {
      const x = w[i];
      w[i] = x ^ ((((x ^ (x >>> 1)) & LO) << 1) | ((x >>> 1) & LO));
    }
  }
}

/** Apply the haploid rule (0→0, 1→3, 2→1, 3→3) to ALT-count codes where `mask` has field 3. */
export function haploidWords(w: Uint32Array, mask: Uint32Array, nWords: number): void {
  for (let i = 0; i < nWords; i++) {
    const m = mask[i];
    if (m === 0) continue;
    const x = w[i];
    const l = x & LO;
    const h = (x >>> 1) & LO;
    w[i] = (x & ~m) | (((l << 1) | h | l) & m);
  }
}

/** A byte buffer whose length is a multiple of 4, with its 32-bit word view. */
interface WordBuffer {
  bytes: Uint8Array;
  words: Uint32Array;
}

function wordBuffer(nBytes: number): WordBuffer {
  const words = new Uint32Array(Math.ceil(nBytes / 4));
  return { bytes: new Uint8Array(words.buffer), words };
}

/** A packed mask with field 3 at each sample where `which[i]` is 1 (or everywhere). */
function packedMask(n: number, which: Uint8Array | 'all'): WordBuffer {
  const buf = wordBuffer((n + 3) >> 2);
  for (let i = 0; i < n; i++) if (which === 'all' || which[i] === 1) buf.bytes[i >> 2] |= 3 << ((i & 3) << 1);
  return buf;
}

/**
 * Open a PLINK 1 `.bed` input: parses the `.bim` and `.fam`, checks the magic, mode and size.
 * @throws InputError for malformed companions, a sample-major or wrongly sized `.bed`, a missing FASTA
 */
export async function openBedReader(baseDir: string, options: GenotypeOptions): Promise<GenotypeReader> {
  const files = await genotypeFiles(baseDir, { ...options, format: options.format ?? 'bed' });
  const bimName = files.bim ?? options.path.replace(/\.bed$/i, '.bim');
  const famName = files.fam ?? options.path.replace(/\.bed$/i, '.fam');
  const bim = parseBim(await readInput(baseDir, bimName), bimName);
  const fam = parseFam((await readInput(baseDir, famName)).toString('utf8'), famName);
  const bedName = files.main;
  const fh = await open(join(baseDir, bedName), 'r').catch((err: Error) => {
    throw new InputError(`cannot open: ${err.message}`, { file: bedName });
  });
  let fasta: FastaReader | null = null;
  try {
    await checkBed(fh, bedName, bim, fam, famName);
    if (files.refFasta) fasta = await FastaReader.open(join(baseDir, files.refFasta), files.refFasta);
  } catch (err) {
    await fh.close();
    throw err;
  }
  return new BedReader(fh, bedName, bim, fam, options.countedAllele !== 'a2', fasta);
}

async function readInput(baseDir: string, rel: string): Promise<Buffer> {
  try {
    return await readFile(join(baseDir, rel));
  } catch (err) {
    throw new InputError(`cannot read: ${(err as Error).message}`, { file: rel });
  }
}

/** Refuse a `.bed` with the wrong magic, the sample-major mode, or a size that does not fit the `.bim`/`.fam`. */
async function checkBed(
  fh: FileHandle,
  bed: string,
  bim: BimTable,
  fam: FamTable,
  famName: string,
): Promise<void> {
  const head = Buffer.alloc(HEADER_BYTES);
  const { bytesRead } = await fh.read(head, 0, HEADER_BYTES, 0);
  if (bytesRead < HEADER_BYTES || head[0] !== MAGIC[0] || head[1] !== MAGIC[1])
    throw new InputError(
      'not a PLINK 1 .bed file (the first bytes are not 0x6c 0x1b)',
      { file: bed, field: 'byte 0' },
      'a .bed from PLINK before 1.0 (no magic number) must be converted with a current PLINK first',
    );
  if (head[2] !== MODE_VARIANT_MAJOR)
    throw new InputError(
      head[2] === 0x00
        ? 'sample-major .bed (mode byte 0x00) is not supported'
        : `unknown .bed mode byte 0x${head[2].toString(16).padStart(2, '0')}`,
      { file: bed, field: 'byte 2' },
      'rewrite it variant-major with `plink --bfile <stem> --make-bed --out <new stem>`',
    );
  const bpv = (fam.samples.length + 3) >> 2;
  const expected = HEADER_BYTES + bim.nVariants * bpv;
  const actual = (await fh.stat()).size;
  if (actual !== expected)
    throw new InputError(
      `size is ${actual} bytes, but ${bim.nVariants} variants (${bim.file}) × ${fam.samples.length} samples ` +
        `(${famName}) need 3 + ${bim.nVariants} × ${bpv} = ${expected} bytes` +
        (actual < expected ? ' (truncated?)' : ''),
      { file: bed, field: 'file size' },
      'the .bed, .bim and .fam must come from the same PLINK run',
    );
}

class BedReader implements GenotypeReader {
  readonly format = 'bed' as const;
  private readonly nSamples: number;
  private readonly bpv: number;
  private readonly maleMask: WordBuffer | null;
  private readonly allMask: WordBuffer;
  private readonly tailMask: number;

  constructor(
    private readonly fh: FileHandle,
    private readonly bed: string,
    private readonly bim: BimTable,
    private readonly fam: FamTable,
    private readonly countedA1: boolean,
    private readonly fasta: FastaReader | null,
  ) {
    this.nSamples = fam.samples.length;
    this.bpv = (this.nSamples + 3) >> 2;
    this.maleMask = fam.males.includes(1) ? packedMask(this.nSamples, fam.males) : null;
    this.allMask = packedMask(this.nSamples, 'all');
    const rest = this.nSamples & 3;
    this.tailMask = rest === 0 ? 0xff : (1 << (2 * rest)) - 1;
  }

  async header(): Promise<SourceHeader> {
    return { samples: this.fam.samples, nVariants: this.bim.nVariants, assembly: null };
  }

  async plan(n: number): Promise<VariantRange[]> {
    return splitEven(this.bim.nVariants, n).map(([a, b]) => ({ start: this.cursor(a), end: b }));
  }

  async *read(from: SourceCursor, end: number): AsyncIterable<SourceStep> {
    const { bpv } = this;
    const stop = Math.min(end, this.bim.nVariants);
    if (from.variant < 0 || from.variant > stop || from.byte !== this.cursor(from.variant).byte)
      throw new Error(
        `${this.bed}: cursor {variant ${from.variant}, byte ${from.byte}} does not start a variant ` +
          `(variant v starts at byte 3 + v × ${bpv}; ${this.bim.nVariants} variants)`,
      );
    const perBlock = Math.max(1, Math.floor(BLOCK_BYTES / bpv));
    const block = Buffer.allocUnsafe(Math.min(perBlock, Math.max(1, stop - from.variant)) * bpv);
    const out = wordBuffer(bpv);
    const nWords = out.words.length;
    const gt = out.bytes.subarray(0, bpv);
    const bounds = new Int32Array(12);
    for (let v = from.variant; v < stop; ) {
      const count = Math.min(perBlock, stop - v);
      await this.readBlock(block, count * bpv, v);
      for (let k = 0; k < count; k++, v++) {
        const text = bimAlleles(this.bim, v, bounds);
        const chrom = this.bim.chromNames[this.bim.chromIdx[v]];
        const pos = this.bim.pos[v];
        const choice = this.fasta
          ? this.fastaAlleles(this.fasta, v, chrom, pos, text.a1, text.a2)
          : (chooseAlleles(text.a1, text.a2, this.countedA1, null) as AlleleChoice);
        out.bytes.set(block.subarray(k * bpv, (k + 1) * bpv));
        mapBedWords(out.words, nWords, choice.countA1);
        const hapMask = this.haploidMask(chrom);
        if (hapMask) haploidWords(out.words, hapMask.words, nWords);
        out.bytes[bpv - 1] &= this.tailMask;
        const record: VariantRecord = {
          chrom,
          pos,
          id: text.id === '.' ? null : text.id,
          ref: choice.ref,
          alt: choice.alt,
          gt,
          ds: null,
          hap: hapMask ? hapMask.bytes.subarray(0, bpv) : null,
        };
        yield { records: [record], next: this.cursor(v + 1) };
      }
    }
  }

  async close(): Promise<void> {
    await this.fasta?.close();
    await this.fh.close();
  }

  private cursor(v: number): SourceCursor {
    return { variant: v, byte: HEADER_BYTES + v * this.bpv };
  }

  /** Read `length` bytes of variant blocks starting at variant `v` into `block`. */
  private async readBlock(block: Buffer, length: number, v: number): Promise<void> {
    const at = this.cursor(v).byte;
    let got = 0;
    while (got < length) {
      const { bytesRead } = await this.fh.read(block, got, length - got, at + got);
      if (bytesRead === 0) {
        const bad = v + Math.floor(got / this.bpv);
        throw new InputError(
          `file ends at byte ${at + got}, inside the block of variant ${bad} ` +
            `(${this.bim.nVariants} variants need ${this.cursor(this.bim.nVariants).byte} bytes; changed while reading?)`,
          { file: this.bed, field: this.variantLabel(bad) },
        );
      }
      got += bytesRead;
    }
  }

  private variantLabel(v: number): string {
    return `variant ${v} (${bimAlleles(this.bim, v).id})`;
  }

  /** The haploid mask for a chromosome, or null when every sample is diploid there. */
  private haploidMask(chrom: string): WordBuffer | null {
    const which = plinkHaploidSamples(chrom, this.fam.males);
    if (which === null) return null;
    return which === 'all' ? this.allMask : this.maleMask;
  }

  /** REF/ALT of variant v from the reference FASTA (see the module comment). */
  private fastaAlleles(
    fasta: FastaReader,
    v: number,
    chrom: string,
    pos: number,
    a1: string,
    a2: string,
  ): AlleleChoice {
    const line = this.bim.lineNo[v];
    const contig = fasta.contig(chrom);
    if (!contig)
      throw new InputError(
        `chromosome '${chrom}' is not in the reference FASTA ${fasta.name}`,
        { file: this.bim.file, line, field: 'chrom' },
        `the FASTA has ${fasta.names().slice(0, 8).join(', ')}${fasta.names().length > 8 ? ', …' : ''}; ` +
          'is it the same assembly?',
      );
    if (pos < 1 || pos > contig.length)
      throw new InputError(
        `position ${pos} is outside ${contig.name} (length ${contig.length}) in ${fasta.name}`,
        { file: this.bim.file, line, field: 'pos' },
        'the .bim and the FASTA are probably on different assemblies',
      );
    const len = Math.max(isMissingAllele(a1) ? 1 : a1.length, isMissingAllele(a2) ? 1 : a2.length);
    const reference = fasta.bases(contig, pos, len);
    const choice = chooseAlleles(a1, a2, this.countedA1, reference);
    if (!choice)
      throw new InputError(
        `neither allele matches the reference: A1 '${a1}', A2 '${a2}', ${fasta.name} has ` +
          `'${reference}' at ${contig.name}:${pos}`,
        { file: this.bim.file, line, field: 'A1/A2' },
        'a strand flip or a different assembly: the alleles must be on the + strand of the FASTA’s genome build',
      );
    return choice;
  }
}
