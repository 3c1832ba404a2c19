/**
 * The text companions of a PLINK 1 `.bed`: the `.bim` (one line per variant) and the `.fam`
 * (one line per sample).
 *
 * Format facts relied on:
 * - `.bim`: six whitespace-separated columns (spaces or tabs): chromosome, variant id, genetic
 *   position (cM), base-pair position, allele 1 (A1), allele 2 (A2). Line i (blank lines
 *   aside) describes the i-th variant block of the `.bed`. PLINK numbers X/Y/XY/MT as
 *   23/24/25/26; an allele `0` (or `.`) is a missing allele (a site monomorphic in the
 *   file). A negative position is PLINK's mark for an excluded variant: refused here.
 * - `.fam`: six whitespace-separated columns: family id, individual id (IID), father, mother,
 *   sex (1 male, 2 female, anything else unknown), phenotype. Line i is the i-th sample of
 *   every `.bed` block. The sample id is the IID; IIDs must be unique.
 *
 * A `.bim` of millions of lines is kept compactly: the file's bytes plus, per variant, its
 * line's offset and number, a chromosome index and the position. The id and alleles are
 * sliced from the bytes when the variant is read (`bimAlleles`).
 */
import { InputError } from '../../engine/errors.js';
import { isMaleCode, normalizeChrom } from '../genotype-reader.js';

export const BIM_COLUMNS = ['chrom', 'id', 'cM', 'pos', 'A1', 'A2'] as const;
export const FAM_COLUMNS = ['FID', 'IID', 'father', 'mother', 'sex', 'phenotype'] as const;

/** The parsed `.bim`. */
export interface BimTable {
  /** The file name for messages. */
  file: string;
  nVariants: number;
  text: Buffer;
  /** Byte offset in `text` where variant v's line starts. */
  lineStart: Float64Array;
  /** 1-based line number of variant v. */
  lineNo: Uint32Array;
  /** Index into `chromNames` of variant v's chromosome. */
  chromIdx: Uint32Array;
  /** Chromosome names, normalised (23 → X, …). */
  chromNames: string[];
  pos: Uint32Array;
}

/** One variant's text columns. */
export interface BimAlleles {
  id: string;
  a1: string;
  a2: string;
}

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const NL = 0x0a;
const MAX_POS = 0xffffffff;

function isBlank(b: number): boolean {
  return b === SPACE || b === TAB || b === CR;
}

/**
 * Split the line [start, end) of `text` into fields; fills `bounds` with start/end pairs and
 * returns the field count (counting past `bounds`' room without recording).
 */
function splitFields(text: Buffer, start: number, end: number, bounds: Int32Array): number {
  let n = 0;
  let i = start;
  const room = bounds.length >> 1;
  while (i < end) {
    while (i < end && isBlank(text[i])) i++;
    if (i >= end) break;
    const s = i;
    while (i < end && !isBlank(text[i])) i++;
    if (n < room) {
      bounds[2 * n] = s;
      bounds[2 * n + 1] = i;
    }
    n++;
  }
  return n;
}

/** Parse the digits [s, e) of `text` as a whole number, or -1 when they are not one. */
function parseUint(text: Buffer, s: number, e: number): number {
  if (e <= s) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const d = text[i] - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * Parse and check a `.bim`.
 * @throws InputError naming the line and column of a line without six columns or with a bad position
 */
export function parseBim(text: Buffer, file: string): BimTable {
  let cap = 1024;
  let lineStart = new Float64Array(cap);
  let lineNo = new Uint32Array(cap);
  let chromIdx = new Uint32Array(cap);
  let pos = new Uint32Array(cap);
  const chromNames: string[] = [];
  const chromByName = new Map<string, number>();
  const bounds = new Int32Array(14);
  let prevS = -1;
  let prevE = -1;
  let prevIdx = -1;
  let n = 0;
  let line = 0;
  for (let start = 0; start < text.length; ) {
    line++;
    let end = text.indexOf(NL, start);
    if (end < 0) end = text.length;
    const nf = splitFields(text, start, end, bounds);
    if (nf !== 0) {
      if (nf !== 6)
        throw new InputError(
          `expected 6 whitespace-separated columns (chrom, id, cM, pos, A1, A2), found ${nf}`,
          { file, line, field: nf < 6 ? BIM_COLUMNS[nf] : `column ${nf}` },
        );
      const p = parseUint(text, bounds[6], bounds[7]);
      if (p < 0 || p > MAX_POS) {
        const word = text.toString('latin1', bounds[6], bounds[7]);
        throw new InputError(
          `position '${word}' is not a whole number`,
          { file, line, field: 'pos' },
          word.startsWith('-')
            ? 'PLINK marks excluded variants with a negative position: drop them first'
            : undefined,
        );
      }
      if (n === cap) {
        cap *= 2;
        lineStart = grow(lineStart, new Float64Array(cap));
        lineNo = grow(lineNo, new Uint32Array(cap));
        chromIdx = grow(chromIdx, new Uint32Array(cap));
        pos = grow(pos, new Uint32Array(cap));
      }
      const cs = bounds[0];
      const ce = bounds[1];
      if (prevIdx < 0 || ce - cs !== prevE - prevS || text.compare(text, prevS, prevE, cs, ce) !== 0) {
        const name = normalizeChrom(text.toString('latin1', cs, ce));
        let idx = chromByName.get(name);
        if (idx === undefined) {
          idx = chromNames.length;
          chromNames.push(name);
          chromByName.set(name, idx);
        }
        prevIdx = idx;
        prevS = cs;
        prevE = ce;
      }
      lineStart[n] = start;
      lineNo[n] = line;
      chromIdx[n] = prevIdx;
      pos[n] = p;
      n++;
    }
    start = end + 1;
  }
  return {
    file,
    nVariants: n,
    text,
    lineStart: lineStart.subarray(0, n),
    lineNo: lineNo.subarray(0, n),
    chromIdx: chromIdx.subarray(0, n),
    chromNames,
    pos: pos.subarray(0, n),
  };
}

function grow<T extends Float64Array | Uint32Array>(old: T, next: T): T {
  next.set(old);
  return next;
}

/** Variant v's id and alleles, sliced from the `.bim` bytes. */
export function bimAlleles(bim: BimTable, v: number, bounds: Int32Array = new Int32Array(12)): BimAlleles {
  const start = bim.lineStart[v];
  let end = bim.text.indexOf(NL, start);
  if (end < 0) end = bim.text.length;
  splitFields(bim.text, start, end, bounds);
  const t = bim.text;
  return {
    id: t.toString('latin1', bounds[2], bounds[3]),
    a1: t.toString('latin1', bounds[8], bounds[9]),
    a2: t.toString('latin1', bounds[10], bounds[11]),
  };
}

/** The parsed `.fam`. */
export interface FamTable {
  /** IIDs in file order. */
  samples: string[];
  /** 1 for a male (sex code 1), else 0. */
  males: Uint8Array;
}

/**
 * Parse and check a `.fam`.
 * @throws InputError for a line without six columns, a repeated IID (naming both lines) or no samples
 */
export function parseFam(text: string, file: string): FamTable {
  const samples: string[] = [];
  const sexes: string[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const f = lines[i].split(/[ \t\r]+/).filter((w) => w !== '');
    if (f.length === 0) continue;
    if (f.length !== 6)
      throw new InputError(
        `expected 6 whitespace-separated columns (FID, IID, father, mother, sex, phenotype), found ${f.length}`,
        { file, line: i + 1, field: f.length < 6 ? FAM_COLUMNS[f.length] : `column ${f.length}` },
      );
    const iid = f[1];
    const first = seen.get(iid);
    if (first !== undefined)
      throw new InputError(
        `duplicate sample id (IID) '${iid}' on lines ${first} and ${i + 1}`,
        { file, line: i + 1, field: 'IID' },
        'sample ids are the IIDs and must be unique; rename one (e.g. FID_IID)',
      );
    seen.set(iid, i + 1);
    samples.push(iid);
    sexes.push(f[4]);
  }
  if (samples.length === 0) throw new InputError('no samples', { file });
  const males = new Uint8Array(samples.length);
  sexes.forEach((s, i) => {
    males[i] = isMaleCode(s) ? 1 : 0;
  });
  return { samples, males };
}
