/**
 * Random access to a plain (uncompressed) reference FASTA, to tell which PLINK 1 allele is REF.
 * A gzip/bgzip-compressed FASTA (magic 0x1f 0x8b) is refused with a hint to decompress it.
 *
 * Format facts relied on:
 * - A record starts with a `>` header line; the contig name is the text after `>` up to the
 *   first whitespace. Sequence lines follow. Within one contig every sequence line but the last
 *   holds the same number of bases (`lineBases`) and bytes (`lineBytes`, bases plus `\n` or
 *   `\r\n`); that is what makes an offset computable, and what `samtools faidx` requires too.
 * - The `.fai` index (samtools) beside `<fasta>` is tab-separated: NAME, LENGTH, OFFSET (byte of
 *   the first base), LINEBASES, LINEWIDTH (bytes per line) — a sixth column exists only for
 *   FASTQ. Base i (0-based) of a contig is at byte OFFSET + ⌊i / LINEBASES⌋·LINEWIDTH + i mod
 *   LINEBASES.
 * - Bases may be soft-masked (lower case); comparisons here are upper case.
 *
 * Without a `.fai` the index is built by one scan of the file and kept in memory (per process,
 * keyed by path, size and mtime, so shards of one input do not scan again). Reads go through a
 * small cache of 4 KiB blocks, so the mostly sorted look-ups of a `.bim` hit the same block when
 * variants are dense. Block reads are synchronous positioned reads: one look-up per variant,
 * a page-cache read takes microseconds, less than a thread-pool round trip of the async API.
 * Contig names are matched as given, then with or without a `chr` prefix (and MT/chrM).
 */
import { readSync } from 'node:fs';
import { type FileHandle, open, readFile, stat } from 'node:fs/promises';
import { InputError } from '../../engine/errors.js';

/** One contig's entry in the index (the `.fai` columns). */
export interface FastaContig {
  name: string;
  /** Bases in the contig. */
  length: number;
  /** Byte offset of the first base. */
  offset: number;
  lineBases: number;
  lineBytes: number;
}

const BLOCK = 4 * 1024;
const CACHE_BLOCKS = 16;
const SCAN_CHUNK = 8 * 1024 * 1024;
const NL = 0x0a;
const CR = 0x0d;
const GT = 0x3e;

/** Indexes built by scanning, by `path\0size\0mtime`. */
const scannedIndexes = new Map<string, Map<string, FastaContig>>();

/** A reference FASTA opened for random access. */
export class FastaReader {
  private readonly blocks = new Map<number, Buffer>();
  private readonly resolved = new Map<string, FastaContig | null>();

  private constructor(
    private readonly fh: FileHandle,
    /** The path as the manifest names it (for messages). */
    readonly name: string,
    private readonly contigs: Map<string, FastaContig>,
  ) {}

  /**
   * Open `path` (shown as `name` in errors), using `<path>.fai` when present, else indexing it
   * by one scan.
   * @throws InputError for a malformed `.fai` or FASTA
   */
  static async open(path: string, name: string): Promise<FastaReader> {
    const fh = await open(path, 'r').catch((err: Error) => {
      throw new InputError(`cannot open the reference FASTA: ${err.message}`, { file: name });
    });
    try {
      const head = Buffer.alloc(2);
      await fh.read(head, 0, 2, 0);
      if (head[0] === 0x1f && head[1] === 0x8b)
        throw new InputError(
          'the reference FASTA is compressed; only plain FASTA is read',
          { file: name },
          'decompress it (`bgzip -d` or `gunzip`) and name the plain file',
        );
      const contigs =
        (await readFai(`${path}.fai`, `${name}.fai`)) ?? (await scanIndexCached(fh, path, name));
      return new FastaReader(fh, name, contigs);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Contig names in file order. */
  names(): string[] {
    return [...this.contigs.keys()];
  }

  /** The contig for a chromosome name: as given, else with/without `chr` (and MT ↔ chrM); null if absent. */
  contig(chrom: string): FastaContig | null {
    let c = this.resolved.get(chrom);
    if (c === undefined) {
      c = null;
      for (const alias of chromAliases(chrom)) {
        const hit = this.contigs.get(alias);
        if (hit) {
          c = hit;
          break;
        }
      }
      this.resolved.set(chrom, c);
    }
    return c;
  }

  /**
   * Up to `len` bases of `contig` from 1-based position `pos`, upper case; shorter (or empty)
   * where the contig ends.
   */
  bases(contig: FastaContig, pos: number, len: number): string {
    const first = pos - 1;
    const stop = Math.min(contig.length, first + len);
    let out = '';
    for (let i = Math.max(0, first); i < stop; ) {
      const col = i % contig.lineBases;
      const take = Math.min(stop - i, contig.lineBases - col);
      const at = contig.offset + Math.floor(i / contig.lineBases) * contig.lineBytes + col;
      out += this.text(at, take);
      i += take;
    }
    return out.toUpperCase();
  }

  async close(): Promise<void> {
    this.blocks.clear();
    await this.fh.close();
  }

  /** `n` bytes at file offset `at`, as latin1 text, through the block cache. */
  private text(at: number, n: number): string {
    let out = '';
    for (let p = at; p < at + n; ) {
      const b = Math.floor(p / BLOCK);
      const block = this.block(b);
      const from = p - b * BLOCK;
      const to = Math.min(block.length, from + (at + n - p));
      if (to <= from)
        throw new InputError(
          `file ends at byte ${b * BLOCK + block.length}, inside a contig the index lists`,
          {
            file: this.name,
            field: `byte ${p}`,
          },
        );
      out += block.toString('latin1', from, to);
      p += to - from;
    }
    return out;
  }

  private block(b: number): Buffer {
    const hit = this.blocks.get(b);
    if (hit) {
      // Refresh its place in the LRU order.
      this.blocks.delete(b);
      this.blocks.set(b, hit);
      return hit;
    }
    let buf: Buffer | null = null;
    if (this.blocks.size >= CACHE_BLOCKS) {
      // Evict the least recently used block and reuse its memory (unless it was a short last block).
      const [oldest, old] = this.blocks.entries().next().value as [number, Buffer];
      this.blocks.delete(oldest);
      if (old.length === BLOCK) buf = old;
    }
    buf ??= Buffer.allocUnsafeSlow(BLOCK);
    let got = 0;
    while (got < BLOCK) {
      const n = readSync(this.fh.fd, buf, got, BLOCK - got, b * BLOCK + got);
      if (n === 0) break;
      got += n;
    }
    const block = buf.subarray(0, got);
    this.blocks.set(b, block);
    return block;
  }
}

/** The names to try for a chromosome, in order. */
export function chromAliases(chrom: string): string[] {
  const bare = chrom.replace(/^chr/i, '');
  const out = [chrom, bare, `chr${bare}`];
  const upper = bare.toUpperCase();
  if (upper === 'MT' || upper === 'M') out.push('MT', 'chrM', 'M', 'chrMT');
  return [...new Set(out)];
}

/** Parse a `.fai`, or null when there is none. */
async function readFai(path: string, name: string): Promise<Map<string, FastaContig> | null> {
  let text: string;
  try {
    text = await readFile(path, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const contigs = new Map<string, FastaContig>();
  const lines = text.split('\n');
  const FIELDS = ['NAME', 'LENGTH', 'OFFSET', 'LINEBASES', 'LINEWIDTH'];
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') return;
    const f = line.split('\t');
    if (f.length < 5)
      throw new InputError(`expected 5 tab-separated columns, found ${f.length}`, {
        file: name,
        line: i + 1,
        field: FIELDS[f.length],
      });
    const nums = f.slice(1, 5).map((s, k) => {
      const v = Number(s);
      if (!/^\d+$/.test(s) || !Number.isSafeInteger(v))
        throw new InputError(`'${s}' is not a whole number`, {
          file: name,
          line: i + 1,
          field: FIELDS[k + 1],
        });
      return v;
    });
    const [length, offset, lineBases, lineBytes] = nums;
    if (lineBases === 0 && length > 0)
      throw new InputError('LINEBASES is 0 for a non-empty contig', {
        file: name,
        line: i + 1,
        field: 'LINEBASES',
      });
    if (lineBytes < lineBases)
      throw new InputError('LINEWIDTH is smaller than LINEBASES', {
        file: name,
        line: i + 1,
        field: 'LINEWIDTH',
      });
    if (contigs.has(f[0]))
      throw new InputError(`contig '${f[0]}' listed twice`, { file: name, line: i + 1, field: 'NAME' });
    contigs.set(f[0], { name: f[0], length, offset, lineBases: Math.max(1, lineBases), lineBytes });
  });
  return contigs;
}

async function scanIndexCached(
  fh: FileHandle,
  path: string,
  name: string,
): Promise<Map<string, FastaContig>> {
  const st = await stat(path);
  const key = `${path}\0${st.size}\0${st.mtimeMs}`;
  let index = scannedIndexes.get(key);
  if (!index) {
    index = await scanIndex(fh, st.size, name);
    scannedIndexes.set(key, index);
  }
  return index;
}

/** The contig being indexed by the scan. */
interface Building extends FastaContig {
  headerLine: number;
  /** A line shorter than lineBases was seen: only an end of the contig may follow. */
  ended: boolean;
}

/**
 * Build the index by reading the whole file once in large chunks. Line lengths are tracked
 * across chunk borders, so a contig on one very long line is fine.
 * @throws InputError when a contig's lines differ in length (no random access possible)
 */
export async function scanIndex(
  fh: FileHandle,
  size: number,
  name: string,
): Promise<Map<string, FastaContig>> {
  const contigs = new Map<string, FastaContig>();
  let cur: Building | null = null;
  const finish = () => {
    if (cur) contigs.set(cur.name, { ...cur, lineBases: Math.max(1, cur.lineBases) });
  };
  const endLine = (start: number, end: number, term: number, header: Buffer | null, lineNo: number) => {
    if (header) {
      finish();
      const nameText = header.toString('latin1', 1).split(/[ \t\r]/)[0];
      if (nameText === '') throw new InputError('header line without a name', { file: name, line: lineNo });
      if (contigs.has(nameText))
        throw new InputError(`contig '${nameText}' appears twice`, { file: name, line: lineNo });
      cur = {
        name: nameText,
        length: 0,
        offset: end + term,
        lineBases: 0,
        lineBytes: 0,
        headerLine: lineNo,
        ended: false,
      };
      return;
    }
    const bases = end - start;
    if (!cur) {
      if (bases === 0) return;
      throw new InputError("sequence before the first '>' header line", { file: name, line: lineNo });
    }
    const c: Building = cur;
    if (bases === 0) {
      c.ended = true;
      return;
    }
    if (c.lineBases === 0) {
      c.lineBases = bases;
      c.lineBytes = bases + term;
    } else if (
      c.ended ||
      bases > c.lineBases ||
      (bases === c.lineBases && term > 0 && bases + term !== c.lineBytes)
    ) {
      throw new InputError(
        `the lines of contig '${c.name}' (header on line ${c.headerLine}) differ in length; ` +
          'random access needs equal lines (all but the last)',
        { file: name, line: lineNo },
        'reformat the FASTA with fixed-width lines (e.g. `samtools faidx` refuses it too; `seqtk seq -l 60` fixes it)',
      );
    } else if (bases < c.lineBases) c.ended = true;
    c.length += bases;
  };

  const chunk = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, Math.max(1, size)));
  let lineStart = 0;
  let lineNo = 1;
  let isHeader: boolean | null = null;
  let headerParts: Buffer[] = [];
  let prevByte = -1;
  for (let filePos = 0; filePos < size; ) {
    const { bytesRead: n } = await fh.read(chunk, 0, chunk.length, filePos);
    if (n === 0) break;
    for (let i = 0; i < n; ) {
      if (isHeader === null) isHeader = chunk[i] === GT;
      const nl = chunk.indexOf(NL, i);
      const stop = nl < 0 || nl >= n ? n : nl;
      if (isHeader) headerParts.push(Buffer.from(chunk.subarray(i, stop)));
      if (stop === n) break;
      const before = nl > 0 ? chunk[nl - 1] : prevByte;
      const cr = before === CR && filePos + nl > lineStart ? 1 : 0;
      endLine(lineStart, filePos + nl - cr, 1 + cr, isHeader ? Buffer.concat(headerParts) : null, lineNo);
      lineStart = filePos + nl + 1;
      lineNo++;
      isHeader = null;
      headerParts = [];
      i = nl + 1;
    }
    prevByte = chunk[n - 1];
    filePos += n;
  }
  if (lineStart < size) {
    const cr = prevByte === CR ? 1 : 0;
    endLine(lineStart, size - cr, 0, isHeader ? Buffer.concat(headerParts) : null, lineNo);
  }
  finish();
  return contigs;
}
