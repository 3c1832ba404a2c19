/**
 * The `.pvar` / `.pvar.zst` variant file of a PLINK 2 fileset (PLINK 2 file format
 * specification, "PVAR"):
 *
 * - Fields are separated by tabs or spaces (a run counts as one separator); lines end in
 *   `\n` or `\r\n`.
 * - The initial lines starting with `#` are the header. `##` lines are VCF-style meta lines:
 *   the genome assembly is taken from `##reference=…` and `##contig=<…,assembly=…>` (as VCF
 *   ingest does, `normalizeAssembly`). The last header line starts with `#CHROM` and names the
 *   columns (`CHROM POS ID REF ALT QUAL FILTER INFO CM`, any order after CHROM; a `FORMAT`
 *   column ends the list), so columns are located by name.
 * - Without a `#CHROM` line the file is a PLINK 1 `.bim`: `CHROM ID CM POS ALT REF` with six or
 *   more columns, `CHROM ID POS ALT REF` with five.
 * - ALT holds the ALT alleles separated by commas; `.` means none (a monomorphic site). ID `.`
 *   means no id.
 * - `.pvar.zst` is Zstandard-compressed (one or more frames); it is decompressed as a stream
 *   with `fzstd`.
 *
 * Opening scans the whole file once: it counts the variant lines (the count must equal the
 * `.pgen` header's), reads the header, and keeps the (decompressed) byte offset of every
 * {@link CHECKPOINT}th variant line, so a reader can start at any variant without parsing the
 * lines before it (a `.pvar.zst` is still decompressed from its start, but not split into
 * lines). Blank lines among the variant lines are refused, so variant v is on line
 * `headerLines + v + 1`.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { Decompress } from 'fzstd';
import { InputError } from '../../engine/errors.js';
import { normalizeAssembly } from '../vcf/header.js';
import { splitFields } from './psam.js';

/** Distance between two remembered variant-line offsets. */
export const CHECKPOINT = 1024;
/** Bytes read from the file per call. */
const READ_BYTES = 4 << 20;
const NL = 10;
const CR = 13;
const TAB = 9;
const SPACE = 32;

/** One `.pvar` variant line. */
export interface PvarVariant {
  /** 1-based line number in the (decompressed) file. */
  line: number;
  chrom: string;
  pos: number;
  /** The ID column, null when absent or `.`. */
  id: string | null;
  ref: string;
  /** ALT alleles in file order; empty for `.`. */
  alts: string[];
}

/** Which field holds each column (0-based); `id` is -1 when there is no ID column. */
export interface PvarColumns {
  chrom: number;
  pos: number;
  id: number;
  ref: number;
  alt: number;
}

export interface PvarIndex {
  /** Where to read the file. */
  path: string;
  /** The name the manifest gives it, for error messages. */
  file: string;
  zst: boolean;
  assembly: 'GRCh37' | 'GRCh38' | null;
  /** Lines before the first variant line. */
  headerLines: number;
  nVariants: number;
  columns: PvarColumns;
  /** Decompressed byte offset of the line of variant k·CHECKPOINT. */
  checkpoints: number[];
}

/** Decompressed file contents as chunks that each end after a newline (the last may not). */
async function* lineBlocks(path: string, file: string, zst: boolean, from: number): AsyncGenerator<Buffer> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new InputError('variant file not found', { file });
    throw err;
  }
  let rest: Buffer = Buffer.alloc(0);
  // Split decompressed data at its last newline; the tail waits for the next chunk.
  const cut = function* (data: Buffer): Generator<Buffer> {
    const all = rest.length > 0 ? Buffer.concat([rest, data]) : data;
    const last = all.lastIndexOf(NL);
    if (last < 0) {
      rest = all;
      return;
    }
    rest = all.subarray(last + 1);
    yield all.subarray(0, last + 1);
  };
  try {
    if (!zst) {
      let pos = from;
      for (;;) {
        const buf = Buffer.allocUnsafe(READ_BYTES);
        const { bytesRead } = await fh.read(buf, 0, READ_BYTES, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        yield* cut(buf.subarray(0, bytesRead));
      }
    } else {
      let skip = from;
      let out: Buffer[] = [];
      const dec = new Decompress((chunk) => {
        if (chunk.length <= skip) {
          skip -= chunk.length;
          return;
        }
        // Copy: the decompressor may reuse its output memory.
        out.push(Buffer.from(chunk.subarray(skip)));
        skip = 0;
      });
      let pos = 0;
      for (;;) {
        const buf = Buffer.allocUnsafe(READ_BYTES);
        const { bytesRead } = await fh.read(buf, 0, READ_BYTES, pos);
        pos += bytesRead;
        try {
          dec.push(buf.subarray(0, bytesRead), bytesRead === 0);
        } catch (err) {
          throw new InputError(`corrupt Zstandard data (${(err as Error).message})`, {
            file,
            field: `byte ${pos}`,
          });
        }
        const ready = out;
        out = [];
        for (const c of ready) yield* cut(c);
        if (bytesRead === 0) break;
      }
    }
    if (rest.length > 0) yield rest;
  } finally {
    await fh.close();
  }
}

/** Read a `.pvar` text line as a string (without its line end). */
function lineText(buf: Buffer, start: number, end: number): string {
  return buf.toString('utf8', start, end > start && buf[end - 1] === CR ? end - 1 : end);
}

/** The columns a `#CHROM` header line names. */
function headerColumns(text: string, file: string, line: number): PvarColumns {
  const names: string[] = [];
  for (const name of splitFields(text.slice(1))) {
    if (name === 'FORMAT') break;
    names.push(name);
  }
  const at = (name: string, required: boolean): number => {
    const i = names.indexOf(name);
    if (i < 0 && required) throw new InputError(`no ${name} column`, { file, line, field: '#CHROM' });
    return i;
  };
  return { chrom: 0, pos: at('POS', true), id: at('ID', false), ref: at('REF', true), alt: at('ALT', true) };
}

/** `.bim` column order, for a `.pvar` without a `#CHROM` line. */
function bimColumns(nFields: number, file: string, line: number): PvarColumns {
  if (nFields >= 6) return { chrom: 0, id: 1, pos: 3, alt: 4, ref: 5 };
  if (nFields === 5) return { chrom: 0, id: 1, pos: 2, alt: 3, ref: 4 };
  throw new InputError(
    `no #CHROM header line and ${nFields} columns: expected .bim columns CHROM ID [CM] POS ALT REF`,
    { file, line },
  );
}

/** The assembly a `##` meta line names, if any. */
function metaAssembly(text: string): 'GRCh37' | 'GRCh38' | undefined {
  if (text.startsWith('##reference=')) return normalizeAssembly(text.slice('##reference='.length));
  if (text.startsWith('##contig=<')) {
    const m = /[<,]assembly="?([^,>"]+)/.exec(text);
    return m ? normalizeAssembly(m[1]) : undefined;
  }
  return undefined;
}

/**
 * Scan a `.pvar` once: header, columns, variant count and checkpoints.
 * @throws InputError for a missing column, a blank variant line or two different assemblies
 */
export async function scanPvar(path: string, file: string): Promise<PvarIndex> {
  const zst = /\.zst$/i.test(path);
  const assemblies = new Set<string>();
  let columns: PvarColumns | null = null;
  let inHeader = true;
  let headerLines = 0;
  let nVariants = 0;
  let offset = 0;
  const checkpoints: number[] = [];
  for await (const buf of lineBlocks(path, file, zst, 0)) {
    let p = 0;
    while (p < buf.length) {
      let e = buf.indexOf(NL, p);
      if (e < 0) e = buf.length;
      if (inHeader && buf[p] === 0x23 /* # */) {
        headerLines++;
        const text = lineText(buf, p, e);
        const a = metaAssembly(text);
        if (a) assemblies.add(a);
        if (text.startsWith('#CHROM')) columns = headerColumns(text, file, headerLines);
      } else {
        if (inHeader && !columns) {
          const n = splitFields(lineText(buf, p, e)).length;
          columns = bimColumns(n, file, headerLines + 1);
        }
        inHeader = false;
        if (e === p || (e === p + 1 && buf[p] === CR))
          throw new InputError('blank line among the variant lines', {
            file,
            line: headerLines + nVariants + 1,
          });
        if (nVariants % CHECKPOINT === 0) checkpoints.push(offset + p);
        nVariants++;
      }
      p = e + 1;
    }
    offset += buf.length;
  }
  if (assemblies.size > 1)
    throw new InputError(`the header names two genome assemblies: ${[...assemblies].join(' and ')}`, {
      file,
      field: '##reference/##contig assembly',
    });
  return {
    path,
    file,
    zst,
    assembly: ([...assemblies][0] as 'GRCh37' | 'GRCh38' | undefined) ?? null,
    headerLines,
    nVariants,
    columns: columns ?? { chrom: 0, id: 1, pos: 3, alt: 4, ref: 5 },
    checkpoints,
  };
}

/** Reads the variant lines of a scanned `.pvar` in order, from any variant. */
export class PvarStream {
  private blocks: AsyncGenerator<Buffer> | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private p = 0;
  private variant: number;
  private skip: number;
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  /** Fields to locate on each line: up to the last column used. */
  private readonly need: number;
  private lastChrom = '';

  constructor(
    private readonly index: PvarIndex,
    from: number,
  ) {
    const k = Math.floor(from / CHECKPOINT);
    this.variant = k * CHECKPOINT;
    this.skip = from - this.variant;
    const c = index.columns;
    this.need = Math.max(c.chrom, c.pos, c.id, c.ref, c.alt) + 1;
    this.starts = new Int32Array(this.need);
    this.ends = new Int32Array(this.need);
  }

  /** The next variant line. @throws InputError for a malformed line or a file that ends early */
  async next(): Promise<PvarVariant> {
    const { file } = this.index;
    for (;;) {
      if (this.p >= this.buf.length) {
        if (!this.blocks) {
          const k = this.variant / CHECKPOINT;
          const start = this.index.checkpoints[k];
          if (start === undefined)
            throw new InputError(
              `has ${this.index.nVariants} variant lines; variant ${this.variant} was asked for`,
              {
                file,
              },
            );
          this.blocks = lineBlocks(this.index.path, file, this.index.zst, start);
        }
        const r = await this.blocks.next();
        if (r.done) {
          throw new InputError(
            `file ended after ${this.variant} variant lines; it changed since it was opened`,
            {
              file,
            },
          );
        }
        this.buf = r.value;
        this.p = 0;
      }
      let e = this.buf.indexOf(NL, this.p);
      if (e < 0) e = this.buf.length;
      const start = this.p;
      this.p = e + 1;
      const line = this.index.headerLines + this.variant + 1;
      this.variant++;
      if (this.skip > 0) {
        this.skip--;
        continue;
      }
      return this.parse(start, e, line);
    }
  }

  /** Parse the variant line buf[start, end). */
  private parse(start: number, end: number, line: number): PvarVariant {
    const { buf, starts, ends, need } = this;
    const { file, columns: c } = this.index;
    if (end > start && buf[end - 1] === CR) end--;
    // Locate the first `need` fields only: INFO can be long and is not used.
    let n = 0;
    let q = start;
    while (n < need) {
      while (q < end && (buf[q] === TAB || buf[q] === SPACE)) q++;
      if (q >= end) break;
      starts[n] = q;
      while (q < end && buf[q] !== TAB && buf[q] !== SPACE) q++;
      ends[n++] = q;
    }
    if (n < need) throw new InputError(`expected at least ${need} columns, found ${n}`, { file, line });
    const pos = this.position(c.pos, line);
    const id = c.id >= 0 ? buf.toString('utf8', starts[c.id], ends[c.id]) : '.';
    const altText = this.ascii(c.alt);
    return {
      line,
      chrom: this.chrom(c.chrom),
      pos,
      id: id === '.' ? null : id,
      ref: this.ascii(c.ref),
      alts: altText === '.' ? [] : altText.split(','),
    };
  }

  /** Field i as a latin1 string (alleles and chromosome names are ASCII). */
  private ascii(i: number): string {
    return this.buf.toString('latin1', this.starts[i], this.ends[i]);
  }

  /** The chromosome in field i; the previous line's string when the bytes are the same. */
  private chrom(i: number): string {
    const { buf, starts, ends } = this;
    const s = starts[i];
    const len = ends[i] - s;
    let same = len === this.lastChrom.length;
    for (let k = 0; same && k < len; k++) same = buf[s + k] === this.lastChrom.charCodeAt(k);
    if (!same) this.lastChrom = this.ascii(i);
    return this.lastChrom;
  }

  /** The POS in field i: decimal digits only. */
  private position(i: number, line: number): number {
    const { buf, starts, ends } = this;
    let pos = 0;
    for (let k = starts[i]; k < ends[i]; k++) {
      const d = buf[k] - 48;
      if (d < 0 || d > 9 || pos > Number.MAX_SAFE_INTEGER / 10) {
        const text = buf.toString('utf8', starts[i], ends[i]);
        throw new InputError(`bad POS '${text}'`, { file: this.index.file, line, field: 'POS' });
      }
      pos = pos * 10 + d;
    }
    return pos;
  }

  /** Stop reading (closes the file). */
  async close(): Promise<void> {
    await this.blocks?.return(undefined);
    this.blocks = null;
  }
}
