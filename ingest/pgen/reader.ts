/**
 * The PLINK 2 reader (`.pgen` + `.pvar`/`.pvar.zst` + `.psam`) behind the GenotypeReader
 * contract of ingest/genotype-reader.ts. Format facts: layout.ts (the `.pgen` header and
 * storage modes), records.ts (record types and tracks), difflist.ts, pvar.ts, psam.ts.
 *
 * - Storage modes: 0x10/0x11 (variable-width, what `plink2 --make-pgen` writes), the
 *   fixed-width 0x02/0x03/0x04 (`--make-pgen format=2`) and 0x01 (a PLINK 1 variant-major
 *   `.bed` used as a `.pgen`). Not supported (refused): a separate `.pgi` index (0x20/0x21) and
 *   the fused single-sample header encodings.
 * - Samples: the `.psam` IIDs; the SEX column says who is male. Counts must match the header's.
 * - Variants: one record per ALT allele (multi-allelic variants are split with their
 *   multi-allelic hard-call track; with a dosage track, or in a fixed-width file, which cannot
 *   store them, they are refused). A monomorphic variant (ALT `.`) is refused, as VCF ingest does.
 * - Haploid calls: PLINK stores them as homozygous diploid calls; on X/Y for males and on MT
 *   for everyone (`plinkHaploidSamples`), hom ALT → 1, het → missing, with a `hap` mask.
 * - Cursors carry the record's byte offset; `read` starts there. An LD-compressed record needs
 *   the latest earlier record that is not: when a read starts after it, that record (in the
 *   same 2^16 block) is decoded first. The `.pgen` is read in blocks of several MiB.
 * - Errors name the file as the manifest gives it and, for the `.pgen`, the variant (1-based,
 *   with its id) in `field`.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, type InputLocation } from '../../engine/errors.js';
import { genotypeFiles } from '../../engine/release.js';
import type { GenotypeOptions } from '../../schemas/release.js';
import {
  type GenotypeReader,
  normalizeChrom,
  plinkHaploidSamples,
  type SourceCursor,
  type SourceHeader,
  type SourceStep,
  splitEven,
  type VariantRange,
  type VariantRecord,
} from '../genotype-reader.js';
import { PgenFormatError } from './difflist.js';
import {
  isLdCompressed,
  type PgenLayout,
  readPgenLayout,
  recordLength,
  recordOffset,
  VBLOCK,
} from './layout.js';
import { readPsam } from './psam.js';
import { type PvarIndex, PvarStream, type PvarVariant, scanPvar } from './pvar.js';
import { PackedVector, RecordDecoder, toHaploid, toHaploidSplit } from './records.js';

/** Bytes read from the .pgen per call (many records at once). */
const READ_BLOCK = 8 << 20;

const MAIN_TRACK = [
  'raw',
  '1-bit',
  'ld',
  'ld-inverted',
  'diff-hom-ref',
  'all-hom-ref',
  'diff-hom-alt',
  'diff-missing',
];

/** A GenotypeReader with a tally of the record types it decoded (for tests and diagnostics). */
export interface PgenReader extends GenotypeReader {
  /** Storage mode byte of the .pgen (0x01, 0x02-0x04, 0x10, 0x11). */
  readonly mode: number;
  /**
   * How many records were decoded per main-track storage (`raw`, `1-bit`, `ld`, `ld-inverted`,
   * `diff-hom-ref`, `all-hom-ref`, `diff-hom-alt`, `diff-missing`) and per extra track
   * (`multiallelic`, `phased`, `dosage`).
   */
  recordTypes(): Record<string, number>;
  /** The record type byte (vrtype) of input variant v, from the header. */
  recordType(v: number): number;
}

/** A packed mask with field 3 for the samples where `on(i)`; null when none is. */
function packedMask(n: number, on: (i: number) => boolean): PackedVector | null {
  const mask = new PackedVector(n);
  let any = false;
  for (let i = 0; i < n; i++) {
    if (!on(i)) continue;
    mask.bytes[i >> 2] |= 3 << ((i & 3) << 1);
    any = true;
  }
  return any ? mask : null;
}

/** Whole-block reads of the .pgen: many records per read call. */
class Blocks {
  buf: Buffer = Buffer.alloc(0);
  private start = 0;
  private size = 0;
  constructor(
    private readonly fh: FileHandle,
    private readonly limit: number,
  ) {}

  /** Make bytes [off, off + len) available; their index in `buf`, or -1 past the end of file. */
  async load(off: number, len: number): Promise<number> {
    if (off >= this.start && off + len <= this.start + this.size) return off - this.start;
    const want = Math.max(len, Math.min(READ_BLOCK, this.limit - off));
    if (this.buf.length < want) this.buf = Buffer.allocUnsafe(Math.max(want, Math.min(READ_BLOCK, 2 * want)));
    const { bytesRead } = await this.fh.read(this.buf, 0, want, off);
    this.start = off;
    this.size = bytesRead;
    return bytesRead >= len ? 0 : -1;
  }
}

class PgenFileReader implements PgenReader {
  readonly format = 'pgen' as const;
  /** Records decoded per main-track storage (0-7), then multi-allelic, phased, dosage. */
  private readonly counts = new Float64Array(MAIN_TRACK.length + 3);
  private lastChrom = '';
  private lastNormal = '';
  private lastHap: PackedVector | null = null;
  private readonly maleMask: PackedVector | null;
  private readonly allMask: PackedVector | null;
  private readonly males: Uint8Array;

  constructor(
    private readonly fh: FileHandle,
    private readonly names: { pgen: string; pvar: string; psam: string },
    private readonly layout: PgenLayout,
    private readonly pvar: PvarIndex,
    private readonly samples: string[],
    males: Uint8Array,
  ) {
    const n = samples.length;
    this.males = males;
    this.maleMask = packedMask(n, (i) => males[i] === 1);
    this.allMask = packedMask(n, () => true);
  }

  get mode(): number {
    return this.layout.mode;
  }

  async header(): Promise<SourceHeader> {
    return { samples: this.samples, nVariants: this.layout.nVariants, assembly: this.pvar.assembly };
  }

  async plan(n: number): Promise<VariantRange[]> {
    return splitEven(this.layout.nVariants, n).map(([a, b]) => ({
      start: { variant: a, byte: recordOffset(this.layout, a) },
      end: b,
    }));
  }

  recordTypes(): Record<string, number> {
    const out: Record<string, number> = {};
    [...MAIN_TRACK, 'multiallelic', 'phased', 'dosage'].forEach((k, i) => {
      if (this.counts[i] > 0) out[k] = this.counts[i];
    });
    return out;
  }

  recordType(v: number): number {
    return this.layout.vrtypes[v];
  }

  private tally(vrtype: number): void {
    const c = this.counts;
    const m = MAIN_TRACK.length;
    c[vrtype & 7]++;
    if (vrtype & 8) c[m]++;
    if (vrtype & 0x10) c[m + 1]++;
    if (vrtype & 0x60) c[m + 2]++;
  }

  /** Set the normalized name and haploid mask (null when every call is diploid) of a chromosome. */
  private chromosome(chrom: string): void {
    if (chrom === this.lastChrom) return;
    this.lastChrom = chrom;
    this.lastNormal = normalizeChrom(chrom);
    const h = plinkHaploidSamples(this.lastNormal, this.males);
    this.lastHap = h === null ? null : h === 'all' ? this.allMask : this.maleMask;
  }

  async *read(from: SourceCursor, end: number): AsyncIterable<SourceStep> {
    const { layout } = this;
    const stop = Math.min(end, layout.nVariants);
    if (from.variant < 0 || from.variant > layout.nVariants || !Number.isInteger(from.variant))
      throw new Error(`cursor variant ${from.variant} is outside 0..${layout.nVariants}`);
    if (from.variant >= stop) return;
    const expect = recordOffset(layout, from.variant);
    if (from.byte !== expect)
      throw new Error(
        `cursor (variant ${from.variant}, byte ${from.byte}) does not match the .pgen: record starts at byte ${expect}`,
      );
    const limit = stop < layout.nVariants ? recordOffset(layout, stop) : layout.end;
    const blocks = new Blocks(this.fh, limit);
    const dec = new RecordDecoder(this.samples.length);
    const pvar = new PvarStream(this.pvar, from.variant);
    try {
      let off = from.byte;
      for (let v = from.variant; v < stop; v++) {
        const variant = await pvar.next();
        const len = recordLength(layout, v);
        const vrtype = layout.vrtypes[v];
        if (isLdCompressed(vrtype) && !dec.hasBase) await this.loadBase(dec, v, off, variant);
        const at = await blocks.load(off, len);
        if (at < 0) throw this.truncated(v, variant, off + len);
        const records = this.decode(dec, blocks.buf, at, at + len, v, variant);
        off += len;
        yield { records, next: { variant: v + 1, byte: off } };
      }
    } finally {
      await pvar.close();
    }
  }

  /** Decode the latest record before v that is not LD-compressed into the decoder's LD base. */
  private async loadBase(dec: RecordDecoder, v: number, off: number, variant: PvarVariant): Promise<void> {
    const { layout } = this;
    const lengths = layout.lengths;
    const blockStart = v - (v % VBLOCK);
    let b = v - 1;
    let baseOff = off;
    while (b >= blockStart && lengths) {
      baseOff -= lengths[b];
      if (!isLdCompressed(layout.vrtypes[b])) break;
      b--;
    }
    if (b < blockStart || !lengths)
      throw this.bad(v, variant, 'LD-compressed record without an earlier base record in its block');
    const len = lengths[b];
    const buf = Buffer.alloc(len);
    const { bytesRead } = await this.fh.read(buf, 0, len, baseOff);
    if (bytesRead < len) throw this.truncated(b, null, baseOff + len);
    try {
      dec.main(buf, 0, len, layout.vrtypes[b], false);
    } catch (err) {
      if (err instanceof PgenFormatError) throw this.bad(b, null, err.message);
      throw err;
    }
    dec.saveBase();
  }

  /** The records of input variant v, whose record is buf[pos, end). */
  private decode(
    dec: RecordDecoder,
    buf: Uint8Array,
    pos: number,
    end: number,
    v: number,
    variant: PvarVariant,
  ): VariantRecord[] {
    const { layout } = this;
    const vrtype = layout.vrtypes[v];
    const nAlts = variant.alts.length;
    const pvarAt: InputLocation = { file: this.names.pvar, line: variant.line, field: 'ALT' };
    if (nAlts === 0) throw new InputError('no ALT allele (monomorphic site)', pvarAt);
    if (layout.alleleCounts && layout.alleleCounts[v] !== nAlts + 1)
      throw new InputError(
        `${nAlts} ALT alleles, but the .pgen header says ${layout.alleleCounts[v] - 1}`,
        pvarAt,
      );
    if (nAlts > 1 && !layout.lengths)
      throw new InputError(
        `multi-allelic variant in a fixed-width .pgen (storage mode ${layout.mode}), which cannot store its calls`,
        pvarAt,
        'rewrite the fileset with plink2 --pfile … --make-pgen',
      );
    if (nAlts > 1 && vrtype & 0x60)
      throw new InputError(
        'multi-allelic variant with dosages: not supported',
        pvarAt,
        'split multi-allelic sites (bcftools norm -m-) before making the .pgen',
      );
    if (nAlts === 1 && vrtype & 8)
      throw this.bad(v, variant, 'record has a multi-allelic track but the .pvar lists one ALT allele');
    this.tally(vrtype);
    this.chromosome(variant.chrom);
    const chrom = this.lastNormal;
    const hap = this.lastHap;
    const hapView = hap ? hap.view : null;
    try {
      let p = dec.main(buf, pos, end, vrtype, layout.mode === 0x01);
      if (!isLdCompressed(vrtype) && v + 1 < layout.nVariants && isLdCompressed(layout.vrtypes[v + 1]))
        dec.saveBase();
      if (nAlts > 1) {
        const outs = dec.splitAlts(buf, p, end, nAlts + 1, (vrtype & 8) !== 0);
        if (hap) toHaploidSplit(outs, hap.words);
        return outs.map((out, k) => ({
          chrom,
          pos: variant.pos,
          id: variant.id,
          ref: variant.ref,
          alt: variant.alts[k],
          gt: out.view,
          ds: null,
          hap: hapView,
        }));
      }
      if (vrtype & 0x60 && vrtype & 0x10) p = dec.skipPhase(buf, p, end, dec.hetCount());
      if (hap) toHaploid(dec.geno.words, hap.words);
      const ds = vrtype & 0x60 ? dec.dosage(buf, p, end, vrtype, hapView) : null;
      return [
        {
          chrom,
          pos: variant.pos,
          id: variant.id,
          ref: variant.ref,
          alt: variant.alts[0],
          gt: dec.geno.view,
          ds,
          hap: hapView,
        },
      ];
    } catch (err) {
      if (err instanceof PgenFormatError) throw this.bad(v, variant, err.message);
      throw err;
    }
  }

  private where(v: number, variant: PvarVariant | null): string {
    return `variant ${v + 1}${variant ? ` (${variant.id ?? `${variant.chrom}:${variant.pos}`})` : ''}`;
  }

  private bad(v: number, variant: PvarVariant | null, message: string): InputError {
    return new InputError(message, { file: this.names.pgen, field: this.where(v, variant) });
  }

  /** The error for a record that ends (at byte `needed`) past the end of the file. */
  truncated(v: number, variant: PvarVariant | null, needed: number): InputError {
    return new InputError(
      `the file is truncated: this variant's record ends at byte ${needed}, past its end`,
      {
        file: this.names.pgen,
        field: this.where(v, variant),
      },
    );
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** The first variant whose record ends past `size`, or -1. */
function firstTruncated(layout: PgenLayout, size: number): number {
  if (layout.end <= size) return -1;
  let off = layout.blockStarts[0];
  for (let v = 0; v < layout.nVariants; v++) {
    off += recordLength(layout, v);
    if (off > size) return v;
  }
  return -1;
}

/**
 * Open a PLINK 2 fileset: `options.path` (the `.pgen`, relative to `baseDir`) with its `.pvar`
 * (or `.pvar.zst`) and `.psam` (`options.pvar` / `options.psam`, default beside it).
 * @throws InputError for missing files, malformed headers, sample or variant counts that differ
 *   from the .pgen header, or a truncated .pgen
 */
export async function openPgenReader(baseDir: string, options: GenotypeOptions): Promise<PgenReader> {
  const files = await genotypeFiles(baseDir, { ...options, format: 'pgen' });
  const names = { pgen: files.main, pvar: files.pvar ?? '', psam: files.psam ?? '' };
  const samples = await readPsam(join(baseDir, names.psam), names.psam);
  const pvar = await scanPvar(join(baseDir, names.pvar), names.pvar);
  let fh: FileHandle;
  try {
    fh = await open(join(baseDir, names.pgen), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new InputError('genotype file not found', { file: names.pgen });
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    const layout = await readPgenLayout(fh, names.pgen, size, {
      nSamples: samples.ids.length,
      nVariants: pvar.nVariants,
    });
    if (layout.nSamples !== samples.ids.length)
      throw new InputError(`${samples.ids.length} samples, but ${names.pgen} has ${layout.nSamples}`, {
        file: names.psam,
      });
    if (layout.nVariants !== pvar.nVariants)
      throw new InputError(`${pvar.nVariants} variants, but ${names.pgen} has ${layout.nVariants}`, {
        file: names.pvar,
      });
    const reader = new PgenFileReader(fh, names, layout, pvar, samples.ids, samples.males);
    const cut = firstTruncated(layout, size);
    if (cut >= 0) {
      const s = new PvarStream(pvar, cut);
      const variant = await s.next().finally(() => s.close());
      throw reader.truncated(cut, variant, recordOffset(layout, cut) + recordLength(layout, cut));
    }
    if (!layout.lengths && size !== layout.end)
      throw new InputError(
        `${size} bytes, but ${layout.nVariants} records of ${layout.fixedWidth} bytes end at byte ${layout.end}` +
          (layout.mode === 0x01 ? ` (${samples.ids.length} samples in ${names.psam})` : ''),
        { file: names.pgen },
      );
    return reader;
  } catch (err) {
    await fh.close();
    throw err;
  }
}
