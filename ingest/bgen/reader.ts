/**
 * The BGEN reader (BGEN 1.1, 1.2 and 1.3: layouts 1 and 2, uncompressed, zlib or zstd) behind
 * the GenotypeReader contract of ingest/genotype-reader.ts. Format facts are in header.ts
 * (blocks and variant identifying data) and probabilities.ts (genotype data → ds/gt/hap).
 *
 * - Samples: the `.sample` file's ID_2 column (sample-file.ts) when there is one (given as
 *   `sample` or beside the `.bgen`), else the sample identifier block. Both present with
 *   different counts, neither present, a count the header contradicts, or a duplicate id is
 *   refused.
 * - Variants: allele 0 is REF, each further allele an ALT, one record per ALT. The id is the
 *   rsid, else the varid (null when both are empty or `.`). Chromosomes lose leading zeros
 *   (`01` → `1`, as some BGEN writers pad them) and go through `normalizeChrom` (23 → X, …).
 *   Haploid calls are those the file stores with ploidy 1 (plink2 writes males on X so in BGEN
 *   1.2/1.3); no sex-based rule applies, so a BGEN 1.1 file, which stores males on X as
 *   homozygous diploid calls, is read as diploid.
 * - Cursors carry the byte offset of a variant block. `plan` scans the variant identifying data
 *   once (skipping each genotype block by its stored length), caches the offsets and cuts
 *   ranges from them; `read` walks from any cursor in 8 MiB blocks.
 * - Errors name the file (as written in the manifest), the variant (1-based, with its id) and
 *   its byte offset: truncated blocks, a decompressed length that differs from the block's
 *   header, corrupt compressed data, and the checks of header.ts / probabilities.ts.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { InputError } from '../../engine/errors.js';
import { genotypeFiles } from '../../engine/release.js';
import type { GenotypeOptions } from '../../schemas/release.js';
import {
  type GenotypeReader,
  normalizeChrom,
  type SourceCursor,
  type SourceHeader,
  type SourceStep,
  splitEven,
  type VariantRange,
  type VariantRecord,
} from '../genotype-reader.js';
import { BlockFile } from './block-file.js';
import {
  type BgenHeader,
  headerSpan,
  parseBgenHeader,
  parseVariantHeader,
  type VariantHeader,
} from './header.js';
import { type Fail, ProbabilityDecoder } from './probabilities.js';
import { readSampleFile } from './sample-file.js';

/**
 * Node's own zstd (Node ≥ 22.15) when present; else the pure-JS `fzstd` (Node 20), which
 * takes about two thirds of the read time of a BGEN 1.3 file.
 */
const nativeZstd = (
  zlib as unknown as {
    zstdDecompressSync?: (b: Uint8Array, o: { maxOutputLength: number }) => Uint8Array;
  }
).zstdDecompressSync;

/** Block size of `read`: many variants per read call. */
const READ_BLOCK = 8 << 20;
/** Block size of the `plan` scan, which needs only the few bytes at each variant's start. */
const SCAN_BLOCK = 256 << 10;
/** First guess of a variant's identifying data length. */
const ID_GUESS = 1024;

/**
 * Open a BGEN file (`options.path`, relative to `baseDir`) with its sample ids.
 * @throws InputError for a missing or malformed file, or unusable sample ids
 */
export async function openBgenReader(baseDir: string, options: GenotypeOptions): Promise<GenotypeReader> {
  const files = await genotypeFiles(baseDir, { ...options, format: 'bgen' });
  const file = files.main;
  const handle = await open(join(baseDir, file), 'r').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') throw new InputError('BGEN file not found', { file });
    throw e;
  });
  try {
    const size = (await handle.stat()).size;
    const header = await readHeader(handle, size, file);
    const samples = await sampleIds(baseDir, file, files.sample, header);
    return new BgenReader(handle, size, file, header, samples, options.hardCallThreshold ?? 0.9);
  } catch (e) {
    await handle.close();
    throw e;
  }
}

async function readExactly(handle: FileHandle, pos: number, n: number): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const { bytesRead } = await handle.read(buf, got, n - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

async function readHeader(handle: FileHandle, size: number, file: string): Promise<BgenHeader> {
  const first = await readExactly(handle, 0, Math.min(size, 24));
  if (first.length < 24)
    throw new InputError(`truncated header: the file has ${size} bytes`, { file, field: 'header, byte 0' });
  const span = headerSpan(first);
  if (span > size)
    throw new InputError(
      `truncated: the first variant should start at byte ${span}; the file has ${size} bytes`,
      {
        file,
        field: 'header, byte 0',
      },
    );
  return parseBgenHeader(await readExactly(handle, 0, span), file);
}

async function sampleIds(
  baseDir: string,
  file: string,
  sampleFile: string | undefined,
  header: BgenHeader,
): Promise<string[]> {
  let ids: string[];
  if (sampleFile) {
    ids = await readSampleFile(join(baseDir, sampleFile), sampleFile);
    if (header.sampleIds && header.sampleIds.length !== ids.length)
      throw new InputError(
        `${sampleFile} lists ${ids.length} samples but the sample identifier block of ${file} lists ${header.sampleIds.length}`,
        { file: sampleFile },
      );
    if (ids.length !== header.nSamples)
      throw new InputError(`${ids.length} samples; ${file} holds ${header.nSamples}`, { file: sampleFile });
  } else if (header.sampleIds) {
    ids = header.sampleIds;
  } else {
    throw new InputError(
      'no sample ids: the file has no sample identifier block and there is no .sample file',
      { file },
      'put the .sample file beside the .bgen (same stem) or name it with "sample"',
    );
  }
  const seen = new Set<string>();
  const dups = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) dups.add(id);
    seen.add(id);
  }
  if (dups.size > 0) {
    const list = [...dups].slice(0, 5).join(', ');
    throw new InputError(
      `duplicate sample ids: ${list}${dups.size > 5 ? ` and ${dups.size - 5} more` : ''}`,
      {
        file: sampleFile ?? file,
      },
    );
  }
  return ids;
}

/** A chromosome as a VCF names it: zero-padded numbers (`01`) lose the zeros, then PLINK codes. */
function bgenChrom(chrom: string): string {
  return normalizeChrom(chrom.replace(/^0+(?=\d)/, ''));
}

/** The variant's id for records and errors: rsid, else varid, else null. */
function variantId(v: { rsid: string; varid: string }): string | null {
  if (v.rsid && v.rsid !== '.') return v.rsid;
  if (v.varid && v.varid !== '.') return v.varid;
  return null;
}

class BgenReader implements GenotypeReader {
  readonly format = 'bgen' as const;
  /** Byte offsets of variants [0, offsets.length) found so far by the plan scan. */
  private readonly offsets: number[];
  /** The running scan, so concurrent `plan` calls share one pass. */
  private scanning: Promise<void> = Promise.resolve();

  constructor(
    private readonly handle: FileHandle,
    private readonly size: number,
    private readonly file: string,
    private readonly head: BgenHeader,
    private readonly samples: string[],
    private readonly threshold: number,
  ) {
    this.offsets = head.nVariants > 0 ? [head.firstVariant] : [];
  }

  async header(): Promise<SourceHeader> {
    return { samples: this.samples, nVariants: this.head.nVariants, assembly: null };
  }

  async plan(n: number): Promise<VariantRange[]> {
    const ranges = splitEven(this.head.nVariants, n);
    if (ranges.length === 0) return [];
    const last = ranges[ranges.length - 1][0];
    this.scanning = this.scanning.then(() => this.scanTo(last));
    await this.scanning;
    return ranges.map(([a, b]) => ({ start: { variant: a, byte: this.offsets[a] }, end: b }));
  }

  /** Extend the offset cache through variant `index`, skipping genotype blocks by their length. */
  private async scanTo(index: number): Promise<void> {
    if (index < this.offsets.length) return;
    const f = new BlockFile(this.handle, this.size, SCAN_BLOCK);
    let i = this.offsets.length - 1;
    let pos = this.offsets[i];
    // Small genotype blocks: one read covers many variants. Large ones: read just the next header.
    let ahead = SCAN_BLOCK;
    while (i < index) {
      const v = await this.variantHeader(f, pos, i, ahead);
      this.checkEnd(v, i, pos);
      ahead = v.dataLength * 4 > SCAN_BLOCK ? ID_GUESS : SCAN_BLOCK;
      pos = v.end;
      this.offsets.push(pos);
      i++;
    }
  }

  async *read(from: SourceCursor, end: number): AsyncIterable<SourceStep> {
    const m = this.head.nVariants;
    if (!Number.isInteger(from.variant) || from.variant < 0 || end > m || from.byte < this.head.firstVariant)
      throw new Error(`bad cursor ${JSON.stringify(from)} up to ${end} for ${this.file} (${m} variants)`);
    const known = this.offsets[from.variant];
    if (known !== undefined && known !== from.byte)
      throw new Error(
        `cursor ${JSON.stringify(from)}: variant ${from.variant} of ${this.file} starts at byte ${known}`,
      );
    const f = new BlockFile(this.handle, this.size, READ_BLOCK);
    const decoder = new ProbabilityDecoder(this.samples.length, this.threshold);
    let pos = from.byte;
    for (let i = from.variant; i < end; i++) {
      const v = await this.variantHeader(f, pos, i);
      this.checkEnd(v, i, pos);
      await f.ensure(v.dataStart, v.dataLength);
      const at = v.dataStart - f.start;
      const fail = this.failer(i, v, pos);
      const data = this.uncompress(f.buf.subarray(at, at + v.dataLength), v, fail);
      const out =
        this.head.layout === 1 ? decoder.layout1(data, fail) : decoder.layout2(data, v.alleles.length, fail);
      const chrom = bgenChrom(v.chrom);
      const id = variantId(v);
      const records: VariantRecord[] = [];
      for (let a = 0; a < out.nAlt; a++)
        records.push({
          chrom,
          pos: v.pos,
          id,
          ref: v.alleles[0],
          alt: v.alleles[a + 1],
          gt: out.gt[a],
          ds: out.dsExact ? null : out.ds[a],
          hap: out.hap,
        });
      pos = v.end;
      yield { records, next: { variant: i + 1, byte: pos } };
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private failer(i: number, v: { rsid: string; varid: string } | null, pos: number): Fail {
    const id = v ? variantId(v) : null;
    const field = `variant ${i + 1}${id ? ` (${id})` : ''} at byte ${pos}`;
    return (message: string): never => {
      throw new InputError(message, { file: this.file, field });
    };
  }

  /** Parse variant `i`'s identifying data at `pos`, reading more when it is long. */
  private async variantHeader(f: BlockFile, pos: number, i: number, ahead?: number): Promise<VariantHeader> {
    const fail = this.failer(i, null, pos);
    let want = ID_GUESS;
    for (;;) {
      const avail = f.remaining(pos);
      if (avail === 0) fail(`truncated: the file ends before variant ${i + 1} of ${this.head.nVariants}`);
      await f.ensure(pos, Math.min(want, avail), ahead);
      const r = parseVariantHeader(f.buf, pos - f.start, f.end - pos, pos, this.head, this.file, i + 1);
      if (typeof r !== 'number') return r;
      if (r > avail) fail('truncated: the file ends inside the variant identifying data');
      want = Math.max(r, want * 2);
    }
  }

  /** Refuse a genotype block that runs past the end of the file or declares an impossible length. */
  private checkEnd(v: VariantHeader, i: number, pos: number): void {
    const fail = this.failer(i, v, pos);
    if (v.end > this.size)
      fail(
        `truncated: the genotype block of ${v.dataLength} bytes at byte ${v.dataStart} ` +
          `runs past the end of the file (${this.size} bytes)`,
      );
    const n = this.samples.length;
    const k = v.alleles.length;
    // Layout 2 at most: header, ploidy bytes, and 32 bits for each of max(2(K−1), K(K+1)/2 − 1) values.
    const most = 10 + n + 4 * n * Math.max(2 * (k - 1), (k * (k + 1)) / 2 - 1);
    if (this.head.layout === 2 && v.rawLength > most)
      fail(
        `genotype block declares ${v.rawLength} bytes; ${n} samples with ${k} alleles need at most ${most}`,
      );
  }

  /** The genotype data of `v` as the decoder reads it, checked against the declared length. */
  private uncompress(raw: Uint8Array, v: VariantHeader, fail: Fail): Uint8Array {
    const c = this.head.compression;
    if (c === 0) return raw;
    let out: Uint8Array;
    try {
      out =
        c === 1
          ? zlib.inflateSync(raw, {
              maxOutputLength: v.rawLength + 1,
              chunkSize: Math.max(64, Math.min(v.rawLength + 1, 64 << 20)),
            })
          : nativeZstd
            ? nativeZstd(raw, { maxOutputLength: v.rawLength + 1 })
            : zstdDecompress(raw);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        return fail(`genotype block decompresses to more than the ${v.rawLength} bytes its header says`);
      return fail(`corrupt ${c === 1 ? 'zlib' : 'zstd'} genotype block: ${(e as Error).message}`);
    }
    if (out.length !== v.rawLength)
      fail(`genotype block decompresses to ${out.length} bytes; its header says ${v.rawLength}`);
    return out;
  }
}
