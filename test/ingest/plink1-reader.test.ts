/**
 * The PLINK 1 `.bed` reader against plink2: a synthetic VCF is converted with
 * `plink2 --make-bed` and every decoded call must equal what `plink2 --export A` (the `.raw`
 * allele counts) or `plink2 --export vcf` (haploid calls on X/MT) says, computed now. Also:
 * `countedAllele: 'a2'`, REF from a reference FASTA (with A1/A2 swapped on some lines),
 * ranges and resumes, the FASTA index, and refused inputs (wrong size, sample-major, bad lines,
 * duplicate IIDs, alleles the FASTA does not have).
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../engine/errors.js';
import { GT_MISSING, unpackGt } from '../../engine/genotypes.js';
import type { GenotypeReader, SourceCursor } from '../../ingest/genotype-reader.js';
import { FastaReader } from '../../ingest/plink1/fasta.js';
import { openBedReader } from '../../ingest/plink1/reader.js';
import type { GenotypeOptions } from '../../schemas/release.js';
import { mulberry32 } from '../../stats/random.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PERSONS = 302; // not a multiple of 4: the last byte of each block has padding bits

interface Decoded {
  chrom: string;
  pos: number;
  id: string | null;
  ref: string;
  alt: string;
  /** One code per sample: 0/1/2, 3 missing. */
  calls: number[];
  /** One flag per sample (1 haploid), or null. */
  hap: number[] | null;
}

function plink(cwd: string, args: string[]): void {
  execFileSync('plink2', [...args, '--silent', '--threads', '1'], { cwd, stdio: 'pipe' });
}

/** Read [from, end) into plain arrays, checking the packed layout on the way. */
async function readAll(
  reader: GenotypeReader,
  from: SourceCursor = { variant: 0, byte: 3 },
  end = Number.POSITIVE_INFINITY,
): Promise<Decoded[]> {
  const { samples, nVariants } = await reader.header();
  const n = samples.length;
  const out: Decoded[] = [];
  // Layout checks per step, asserted once (an expect per step would dominate the run time).
  const bad: string[] = [];
  let expectNext = from.variant + 1;
  for await (const step of reader.read(from, Math.min(end, nVariants))) {
    const r = step.records[0];
    if (step.next.variant !== expectNext++) bad.push(`next ${step.next.variant}`);
    if (step.records.length !== 1) bad.push(`${step.records.length} records`);
    if (r.gt.length !== (n + 3) >> 2) bad.push(`gt of ${r.gt.length} bytes`);
    if (n % 4 !== 0 && r.gt[r.gt.length - 1] >> (2 * (n % 4)) !== 0) bad.push(`padding bits set at ${r.id}`);
    if (r.ds !== null) bad.push('ds');
    const calls = Array.from(unpackGt(r.gt, n), (c) => (c === GT_MISSING ? 3 : c));
    const hap = r.hap ? Array.from(unpackGt(r.hap, n), (c) => (c === GT_MISSING ? 1 : c)) : null;
    out.push({ chrom: r.chrom, pos: r.pos, id: r.id, ref: r.ref, alt: r.alt, calls, hap });
  }
  expect(bad).toEqual([]);
  return out;
}

async function readWith(dir: string, options: GenotypeOptions): Promise<Decoded[]> {
  const reader = await openBedReader(dir, options);
  try {
    return await readAll(reader);
  } finally {
    await reader.close();
  }
}

/** The InputError a promise rejects with. */
async function inputError(p: Promise<unknown>): Promise<InputError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  return err as InputError;
}

/** A `.raw` file: per variant column, its id, the counted allele and the counts (NaN = NA). */
function parseRaw(path: string): Array<{ id: string; counted: string; values: number[] }> {
  const rows = readFileSync(path, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/\s+/));
  return rows[0].slice(6).map((col, j) => {
    const cut = col.lastIndexOf('_');
    return {
      id: col.slice(0, cut),
      counted: col.slice(cut + 1),
      values: rows.slice(1).map((r) => (r[6 + j] === 'NA' ? Number.NaN : Number(r[6 + j]))),
    };
  });
}

/** The expected ALT-count code from a `.raw` count of `counted`. */
function fromRaw(value: number, counted: string, rec: Decoded): number {
  if (Number.isNaN(value)) return 3;
  if (counted === rec.alt) return value;
  if (counted === rec.ref) return 2 - value;
  throw new Error(`.raw counts ${counted}, neither REF ${rec.ref} nor ALT ${rec.alt} of ${rec.id}`);
}

/** 2 − x for each called genotype. */
function flipCalls(calls: number[]): number[] {
  return calls.map((c) => (c === 3 ? 3 : 2 - c));
}

/** Rewrite selected whitespace-separated columns of selected lines of a text file. */
function editLines(src: string, dst: string, edit: (fields: string[], i: number) => string[]): void {
  const lines = readFileSync(src, 'utf8').trimEnd().split('\n');
  writeFileSync(dst, `${lines.map((l, i) => edit(l.split(/\s+/), i).join('\t')).join('\n')}\n`);
}

describe('PLINK 1 .bed reader', () => {
  let dir = '';
  let vcfRows: string[][] = [];
  let samples: string[] = [];
  let base: Decoded[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'biobank-plink1-'));
    execFileSync(
      'node',
      [
        join(ROOT, 'bin', 'biobank.mjs'),
        'synth',
        '--out',
        join(dir, 's'),
        '--size',
        'custom',
        '--persons',
        String(PERSONS),
        '--variants',
        '2000',
      ],
      { stdio: 'pipe' },
    );
    const vcf = readdirSync(join(dir, 's')).find((f) => f.endsWith('.vcf.gz'));
    if (!vcf) throw new Error('synth wrote no VCF');
    plink(dir, ['--vcf', join('s', vcf), '--make-bed', '--out', 'b']);
    plink(dir, ['--bfile', 'b', '--export', 'A', '--out', 'ref']);
    const lines = gunzipSync(readFileSync(join(dir, 's', vcf)))
      .toString('latin1')
      .trimEnd()
      .split('\n');
    samples = lines
      .find((l) => l.startsWith('#CHROM'))!
      .split('\t')
      .slice(9);
    vcfRows = lines.filter((l) => !l.startsWith('#')).map((l) => l.split('\t', 5));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('decodes every call as plink2 --export A does', async () => {
    const reader = await openBedReader(dir, { path: 'b.bed' });
    const header = await reader.header();
    expect(header.samples).toEqual(samples);
    expect(header.nVariants).toBe(vcfRows.length);
    base = await readAll(reader);
    await reader.close();

    const raw = parseRaw(join(dir, 'ref.raw'));
    expect(base).toHaveLength(raw.length);
    expect(raw.map((r) => r.id)).toEqual(vcfRows.map((r) => r[2]));
    expect(base.map((r) => [r.chrom, String(r.pos), r.id, r.ref, r.alt])).toEqual(vcfRows);
    expect(base.filter((r) => r.hap !== null)).toEqual([]);
    const want = raw.map((col, v) => col.values.map((x) => fromRaw(x, col.counted, base[v])));
    expect(base.map((r) => r.calls)).toEqual(want);
    // The data exercise missing calls and every genotype.
    const all = new Set(want.flat());
    for (const c of [0, 1, 2, 3]) expect(all.has(c)).toBe(true);
  });

  it('reads planned ranges and resumes from any cursor it returned', async () => {
    const reader = await openBedReader(dir, { path: 'b.bed' });
    const ranges = await reader.plan(4);
    expect(ranges).toHaveLength(4);
    expect(ranges[0].start).toEqual({ variant: 0, byte: 3 });
    const parts: Decoded[] = [];
    let resumeAt: SourceCursor | null = null;
    for (const r of ranges) {
      expect(r.start.byte).toBe(3 + r.start.variant * Math.ceil(PERSONS / 4));
      parts.push(...(await readAll(reader, r.start, r.end)));
      if (r === ranges[2]) {
        let k = 0;
        for await (const step of reader.read(r.start, r.end)) if (++k === 17) resumeAt = step.next;
      }
    }
    expect(parts).toEqual(base);
    const cursor = resumeAt as SourceCursor | null;
    if (!cursor) throw new Error('no resume cursor');
    const rest = await readAll(reader, cursor, ranges[2].end);
    expect(rest).toEqual(base.slice(cursor.variant, ranges[2].end));
    await expect(readAll(reader, { variant: 5, byte: 4 })).rejects.toThrow(/does not start a variant/);
    await reader.close();
  });

  it("countedAllele 'a2' swaps REF/ALT and gives 2 − x", async () => {
    const a2 = await readWith(dir, { path: 'b.bed', countedAllele: 'a2' });
    expect(a2).toEqual(base.map((r) => ({ ...r, ref: r.alt, alt: r.ref, calls: flipCalls(r.calls) })));
  });

  it('takes REF from a reference FASTA, also where A1/A2 are swapped', async () => {
    // Compress positions (pos' = 100·k + 1 per chromosome) so the FASTA stays small; its
    // bases are 'N' except each variant's REF allele from the VCF.
    const contigs = new Map<string, string[]>();
    const newPos: number[] = [];
    for (const [chrom, , , ref] of vcfRows) {
      const seq = contigs.get(chrom) ?? [];
      contigs.set(chrom, seq);
      newPos.push(seq.length + 1);
      seq.push(...ref.padEnd(100, 'N'));
    }
    const swapped = new Set<number>();
    editLines(join(dir, 'b.bim'), join(dir, 'fa.bim'), (f, i) => {
      f[3] = String(newPos[i]);
      // Swap A1/A2 on every third SNP line (for an indel such as A/AA both alleles can match).
      if (i % 3 === 0 && f[4].length === 1 && f[5].length === 1) {
        swapped.add(i);
        return [f[0], f[1], f[2], f[3], f[5], f[4]];
      }
      return f;
    });
    expect(swapped.size).toBeGreaterThan(100);
    // Contigs named chr1…; soft-masked (lower case) on even chromosomes; 60 bases a line.
    let fasta = '';
    const fai: string[] = [];
    for (const [chrom, seq] of contigs) {
      const name = `chr${chrom}`;
      fasta += `>${name} synthetic\n`;
      const text = Number(chrom) % 2 === 0 ? seq.join('').toLowerCase() : seq.join('');
      fai.push([name, text.length, Buffer.byteLength(fasta), 60, 61].join('\t'));
      for (let i = 0; i < text.length; i += 60) fasta += `${text.slice(i, i + 60)}\n`;
    }
    writeFileSync(join(dir, 'ref.fa'), fasta);
    const opts = { path: 'b.bed', bim: 'fa.bim', refFasta: 'ref.fa' };
    const scanned = await readWith(dir, opts);
    writeFileSync(join(dir, 'ref.fa.fai'), `${fai.join('\n')}\n`);
    const indexed = await readWith(dir, opts);
    expect(indexed).toEqual(scanned);
    expect(scanned).toEqual(
      base.map((r, v) => ({ ...r, pos: newPos[v], calls: swapped.has(v) ? flipCalls(r.calls) : r.calls })),
    );
    // With the FASTA, countedAllele decides only where both alleles match it (an indel such
    // as A/AA before another A): there 'a2' makes A2 the ALT.
    const seqText = new Map([...contigs].map(([c, seq]) => [c, seq.join('')]));
    const ambiguous = scanned.map((r) =>
      [r.ref, r.alt].every((a) => seqText.get(r.chrom)!.startsWith(a, r.pos - 1)),
    );
    expect(ambiguous).toContain(true); // the synthetic data have deletions such as AA/A
    expect(await readWith(dir, { ...opts, countedAllele: 'a2' })).toEqual(
      scanned.map((r, v) => (ambiguous[v] ? { ...r, ref: r.alt, alt: r.ref, calls: flipCalls(r.calls) } : r)),
    );

    // Alleles the FASTA does not have: refused at that .bim line, as a strand/assembly problem.
    const bad = vcfRows.findIndex((r, i) => i > 10 && r[3].length === 1 && r[4].length === 1);
    const others = ['A', 'C', 'G', 'T'].filter((b) => b !== vcfRows[bad][3]);
    editLines(join(dir, 'fa.bim'), join(dir, 'fa-bad.bim'), (f, i) =>
      i === bad ? [...f.slice(0, 4), others[0], others[1]] : f,
    );
    const err = await inputError(readWith(dir, { ...opts, bim: 'fa-bad.bim' }));
    expect(err.location).toEqual({ file: 'fa-bad.bim', line: bad + 1, field: 'A1/A2' });
    expect(err.hint).toMatch(/strand|assembly/);

    // A missing allele ('0', PLINK's monomorphic site) is the ALT '.', the other allele REF —
    // unless the FASTA says the present SNP allele is not REF: then it is the ALT.
    const snp = (k: number) =>
      vcfRows.findIndex((r, i) => i % 3 === k && r[3].length === 1 && r[4].length === 1);
    const [i0, i1] = [snp(1), snp(2)];
    editLines(join(dir, 'fa.bim'), join(dir, 'fa-miss.bim'), (f, i) =>
      i === i0 ? [...f.slice(0, 4), '0', f[5]] : i === i1 ? [...f.slice(0, 5), '0'] : f,
    );
    const [r0, r1] = [vcfRows[i0], vcfRows[i1]];
    const withFasta = await readWith(dir, { ...opts, bim: 'fa-miss.bim' });
    expect(withFasta[i0]).toEqual({ ...scanned[i0], ref: r0[3], alt: '.' });
    expect(withFasta[i1]).toEqual({ ...scanned[i1], ref: r1[3], alt: r1[4] });
    const plain = await readWith(dir, { path: 'b.bed', bim: 'fa-miss.bim' });
    expect(plain[i0]).toEqual({ ...scanned[i0], ref: r0[3], alt: '.', calls: base[i0].calls });
    expect(plain[i1]).toEqual({ ...scanned[i1], ref: r1[4], alt: '.', calls: flipCalls(base[i1].calls) });
  });

  it('reads a FASTA by .fai or by a scan, across line breaks, with chr aliases', async () => {
    const rand = mulberry32(7);
    const seqs = [
      ['chr1', 1000, 60, '\n'],
      ['2', 333, 7, '\n'],
      ['chrM', 50, 13, '\r\n'],
    ] as const;
    const text = new Map<string, string>();
    let fa = '';
    const fai: string[] = [];
    for (const [name, len, width, eol] of seqs) {
      const s = Array.from({ length: len }, () => 'ACGTacgtN'[Math.floor(rand() * 9)]).join('');
      text.set(name, s);
      fa += `>${name} desc${eol}`;
      fai.push([name, len, Buffer.byteLength(fa), width, width + eol.length].join('\t'));
      for (let i = 0; i < len; i += width) fa += `${s.slice(i, i + width)}${eol}`;
    }
    const fdir = join(dir, 'fasta');
    mkdirSync(fdir);
    writeFileSync(join(fdir, 'g.fa'), fa);
    writeFileSync(join(fdir, 'h.fa'), fa);
    writeFileSync(join(fdir, 'h.fa.fai'), `${fai.join('\n')}\n`);
    for (const file of ['g.fa', 'h.fa']) {
      const reader = await FastaReader.open(join(fdir, file), file);
      expect(reader.names()).toEqual(['chr1', '2', 'chrM']);
      expect(reader.contig('1')?.name).toBe('chr1');
      expect(reader.contig('chr2')?.name).toBe('2');
      expect(reader.contig('MT')?.name).toBe('chrM');
      expect(reader.contig('3')).toBeNull();
      for (const [name, len] of seqs) {
        const c = reader.contig(name)!;
        expect(c.length).toBe(len);
        for (let k = 0; k < 60; k++) {
          const pos = 1 + Math.floor(rand() * len);
          const n = 1 + Math.floor(rand() * 25);
          expect(reader.bases(c, pos, n)).toBe(
            text
              .get(name)!
              .slice(pos - 1, pos - 1 + n)
              .toUpperCase(),
          );
        }
      }
      await reader.close();
    }
    // Unequal line lengths inside a contig make random access impossible: refused with the line.
    writeFileSync(join(fdir, 'ragged.fa'), '>a\nACGT\nAC\nACGT\n>b\nAAA\n');
    const err = await inputError(FastaReader.open(join(fdir, 'ragged.fa'), 'ragged.fa'));
    expect(err.location).toEqual({ file: 'ragged.fa', line: 4 });
    writeFileSync(join(fdir, 'g.fa.gz'), gzipSync(fa));
    expect((await inputError(FastaReader.open(join(fdir, 'g.fa.gz'), 'g.fa.gz'))).message).toMatch(
      /compressed/,
    );
  });

  it('makes male X calls and all MT calls haploid, as plink2 exports them', async () => {
    const rand = mulberry32(11);
    const n = 41;
    const sex = Array.from({ length: n }, (_, i) => (i % 5 === 4 ? 0 : (i % 2) + 1)); // 1 male, 2 female, 0 unknown
    const names = sex.map((_, i) => `S${i}`);
    const sites: Array<[string, number]> = [
      ...Array.from({ length: 6 }, (_, i): [string, number] => ['1', 1000 + i]),
      ...Array.from({ length: 14 }, (_, i): [string, number] => ['X', 3_000_000 + 10 * i]),
      ...Array.from({ length: 6 }, (_, i): [string, number] => ['MT', 100 + i]),
    ];
    const gt = (haploid: boolean): string => {
      const u = rand();
      if (u < 0.08) return haploid ? '.' : './.';
      if (haploid && u > 0.9) return '0/1'; // a het call where only one allele is possible
      if (haploid) return rand() < 0.4 ? '1' : '0';
      return ['0/0', '0/1', '1/0', '1/1'][Math.floor(rand() * 4)];
    };
    const vcf = [
      '##fileformat=VCFv4.2',
      '##contig=<ID=1,length=248956422>',
      '##contig=<ID=X,length=156040895>',
      '##contig=<ID=MT,length=16569>',
      '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
      ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT', ...names].join('\t'),
      ...sites.map(([c, p], v) =>
        [
          c,
          p,
          `v${v}`,
          'A',
          'G',
          '.',
          '.',
          '.',
          'GT',
          ...sex.map((s) => gt(c === 'MT' || (c === 'X' && s === 1))),
        ].join('\t'),
      ),
    ];
    writeFileSync(join(dir, 'x.vcf'), `${vcf.join('\n')}\n`);
    writeFileSync(join(dir, 'sex.txt'), `#IID\tSEX\n${names.map((s, i) => `${s}\t${sex[i]}`).join('\n')}\n`);
    plink(dir, ['--vcf', 'x.vcf', '--update-sex', 'sex.txt', '--make-bed', '--out', 'x']);
    plink(dir, ['--bfile', 'x', '--export', 'vcf', '--out', 'xref']);
    const exported = readFileSync(join(dir, 'xref.vcf'), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split('\t'));

    const got = await readWith(dir, { path: 'x.bed' });
    expect(got).toHaveLength(sites.length);
    let haploidCalls = 0;
    got.forEach((rec, v) => {
      const f = exported[v];
      expect([rec.chrom, String(rec.pos), rec.ref, rec.alt]).toEqual([f[0], f[1], f[3], f[4]]);
      const haploid = sex.map((s) => rec.chrom === 'MT' || (rec.chrom === 'X' && s === 1));
      expect(rec.hap).toEqual(haploid.some(Boolean) ? haploid.map((h) => (h ? 1 : 0)) : null);
      const want = f.slice(9).map((g, i) => {
        const alleles = g.split(/[/|]/);
        if (alleles.includes('.')) return 3;
        if (alleles.length === 1) {
          expect(haploid[i]).toBe(true); // plink2 writes haploid GTs only where we expect them
          haploidCalls++;
          return Number(alleles[0]);
        }
        const count = Number(alleles[0]) + Number(alleles[1]);
        // A het call of a haploid sample is missing; plink2 keeps it as 0/1.
        return haploid[i] && count === 1 ? 3 : count;
      });
      expect(rec.calls).toEqual(want);
    });
    expect(haploidCalls).toBeGreaterThan(50);

    // PLINK 1.9 numbers X as 23 and MT as 26: same chromosomes, same calls.
    editLines(join(dir, 'x.bim'), join(dir, 'x23.bim'), (f) => [
      f[0] === 'X' ? '23' : f[0] === 'MT' ? '26' : f[0],
      ...f.slice(1),
    ]);
    expect(await readWith(dir, { path: 'x.bed', bim: 'x23.bim' })).toEqual(got);
  });

  it('refuses a .bed whose size does not fit the .bim and .fam, or that is sample-major', async () => {
    const bpv = Math.ceil(PERSONS / 4);
    const size = 3 + vcfRows.length * bpv;
    for (const [name, newSize] of [
      ['cut', size - 5],
      ['long', size + bpv],
    ] as const) {
      copyFileSync(join(dir, 'b.bed'), join(dir, `${name}.bed`));
      if (newSize < size) truncateSync(join(dir, `${name}.bed`), newSize);
      else writeFileSync(join(dir, `${name}.bed`), Buffer.alloc(bpv), { flag: 'a' });
      const err = await inputError(openBedReader(dir, { path: `${name}.bed`, bim: 'b.bim', fam: 'b.fam' }));
      expect(err.location.file).toBe(`${name}.bed`);
      expect(err.message).toContain(`size is ${newSize} bytes`);
      expect(err.message).toContain(`= ${size} bytes`);
      expect(err.message).toContain('b.bim');
    }
    copyFileSync(join(dir, 'b.bed'), join(dir, 'smaj.bed'));
    const fh = await open(join(dir, 'smaj.bed'), 'r+');
    await fh.write(Buffer.from([0]), 0, 1, 2);
    await fh.close();
    const err = await inputError(openBedReader(dir, { path: 'smaj.bed', bim: 'b.bim', fam: 'b.fam' }));
    expect(err.message).toMatch(/sample-major/);
  });

  it('refuses malformed .bim/.fam lines and duplicate IIDs, naming file, line and field', async () => {
    const cases: Array<
      [string, (f: string[], i: number) => string[], { file: string; line: number; field: string }]
    > = [
      ['bad1.bim', (f, i) => (i === 6 ? f.slice(0, 5) : f), { file: 'bad1.bim', line: 7, field: 'A2' }],
      [
        'bad2.bim',
        (f, i) => (i === 8 ? [...f.slice(0, 3), '12x', ...f.slice(4)] : f),
        { file: 'bad2.bim', line: 9, field: 'pos' },
      ],
      [
        'dup.fam',
        (f, i) => (i === 4 ? [f[0], samples[1], ...f.slice(2)] : f),
        { file: 'dup.fam', line: 5, field: 'IID' },
      ],
      ['bad.fam', (f, i) => (i === 2 ? [...f, 'extra'] : f), { file: 'bad.fam', line: 3, field: 'column 7' }],
    ];
    for (const [file, edit, where] of cases) {
      const isBim = file.endsWith('.bim');
      editLines(join(dir, isBim ? 'b.bim' : 'b.fam'), join(dir, file), edit);
      const err = await inputError(
        openBedReader(dir, { path: 'b.bed', ...(isBim ? { bim: file } : { fam: file }) }),
      );
      expect(err.location).toEqual(where);
      if (file === 'dup.fam') expect(err.message).toContain('lines 2 and 5');
    }
  });
});
