/**
 * The PLINK 2 reader (ingest/pgen) against plink2 itself: filesets made now by
 * `plink2 --make-pgen` (variable-width records, LD-compressed and difflist types, phase and
 * dosage tracks, `.pvar.zst`), `format=2` (fixed-width) and `--make-bed` (a PLINK 1 `.bed`
 * read as a `.pgen`), decoded call by call and compared with what plink2 exports from the same
 * files (`--export A` counting the ALT allele, or `--export vcf`). Also: resuming at any cursor,
 * multi-allelic splitting, haploid calls, and refusal of truncated or inconsistent filesets.
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../engine/errors.js';
import type { SourceCursor } from '../../ingest/genotype-reader.js';
import { openPgenReader, type PgenReader } from '../../ingest/pgen/reader.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'biobank.mjs');
const N_BIG = 2000;
const M_BIG = 3000;

let dir = '';

function plink2(...args: string[]): void {
  execFileSync('plink2', [...args, '--silent', '--threads', '2'], { cwd: dir, stdio: 'pipe' });
}

/** One decoded record, copied out of the reader's buffers; calls as strings of codes 0-3. */
interface Rec {
  chrom: string;
  pos: number;
  id: string | null;
  ref: string;
  alt: string;
  gt: string;
  ds: number[] | null;
  hap: string | null;
}

/** byte → its four 2-bit codes as text, first sample first. */
const BYTE_CODES = Array.from({ length: 256 }, (_, b) => [0, 2, 4, 6].map((s) => (b >> s) & 3).join(''));

function codes(packed: Uint8Array, n: number): string {
  let s = '';
  for (const b of packed) s += BYTE_CODES[b];
  return s.slice(0, n);
}

/** Read [from, end) (default: everything), one entry per input variant. */
async function readAll(r: PgenReader, from?: SourceCursor, end?: number): Promise<Rec[][]> {
  const h = await r.header();
  const n = h.samples.length;
  const start = from ?? (await r.plan(1))[0]?.start ?? { variant: 0, byte: 0 };
  const out: Rec[][] = [];
  for await (const step of r.read(start, end ?? h.nVariants)) {
    out.push(
      step.records.map((x) => {
        if (x.gt.length !== Math.ceil(n / 4)) throw new Error(`gt of ${x.gt.length} bytes for ${n} samples`);
        if (n % 4 && x.gt[x.gt.length - 1] >> (2 * (n % 4))) throw new Error('gt padding bits set');
        return {
          chrom: x.chrom,
          pos: x.pos,
          id: x.id,
          ref: x.ref,
          alt: x.alt,
          gt: codes(x.gt, n),
          ds: x.ds ? Array.from(x.ds.subarray(0, n)) : null,
          hap: x.hap ? codes(x.hap, n) : null,
        };
      }),
    );
  }
  return out;
}

/** One variant of plink2 --export A-transpose: its id, the counted allele and the values. */
interface ExportedA {
  id: string;
  counted: string;
  /** The values as codes 0-3 (NA = 3), for files without dosages. */
  gt: string;
  /** The values as numbers (NaN = NA). */
  values: () => number[];
}

/** plink2 --export A-transpose of a fileset, counting each variant's ALT allele. */
function exportA(stem: string): ExportedA[] {
  const alts = readFileSync(join(dir, `${stem}.pvar`), 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split('\t'))
    .map((f) => `${f[2]}\t${f[4]}`);
  writeFileSync(join(dir, `${stem}.alt`), `${alts.join('\n')}\n`);
  plink2('--pfile', stem, '--export', 'A-transpose', '--export-allele', `${stem}.alt`, '--out', stem);
  // Parsed as bytes: splitting millions of cells as strings is slow.
  const buf = readFileSync(join(dir, `${stem}.traw`));
  const out: ExportedA[] = [];
  for (let p = buf.indexOf(10) + 1; p < buf.length; ) {
    let e = buf.indexOf(10, p);
    if (e < 0) e = buf.length;
    const f: string[] = [];
    let q = p;
    for (let k = 0; k < 6; k++) {
      const t = buf.indexOf(9, q);
      f.push(buf.toString('latin1', q, t));
      q = t + 1;
    }
    const codes = Buffer.allocUnsafe(e - q);
    let o = 0;
    for (let i = q; i < e; i++) {
      const c = buf[i];
      if (c === 9) continue;
      if (c === 78 /* NA */) {
        codes[o++] = 51;
        i++;
      } else codes[o++] = c;
    }
    const cells = buf.toString('latin1', q, e);
    out.push({
      id: f[1],
      counted: f[4],
      gt: codes.toString('latin1', 0, o),
      values: () => cells.split('\t').map((x) => (x === 'NA' ? Number.NaN : Number(x))),
    });
    p = e + 1;
  }
  return out;
}

/** Expected records of plink2 --export vcf text: one per ALT, with our haploid rule. */
function exportVcf(stem: string, males: Set<string>, dosage: boolean): Rec[][] {
  plink2('--pfile', stem, '--export', 'vcf', ...(dosage ? ['vcf-dosage=DS'] : []), '--out', `${stem}-x`);
  const lines = readFileSync(join(dir, `${stem}-x.vcf`), 'utf8')
    .trim()
    .split('\n');
  const samples = lines
    .find((l) => l.startsWith('#CHROM'))!
    .split('\t')
    .slice(9);
  const out: Rec[][] = [];
  for (const line of lines.filter((l) => !l.startsWith('#'))) {
    const f = line.split('\t');
    const chrom = f[0];
    const alts = f[4].split(',');
    const fmt = f[8].split(':');
    const dsAt = fmt.indexOf('DS');
    const haploid = samples.map((s) => chrom === 'MT' || ((chrom === 'X' || chrom === 'Y') && males.has(s)));
    out.push(
      alts.map((alt, a) => {
        const k = String(a + 1);
        const gt: number[] = [];
        const ds: number[] = [];
        samples.forEach((_, i) => {
          const parts = f[9 + i].split(':');
          const alleles = parts[0].split(/[/|]/);
          let code: number;
          if (alleles.includes('.')) code = 3;
          else if (haploid[i] && alleles.length === 2 && alleles[0] !== alleles[1]) code = 3;
          else if (haploid[i]) code = alleles[0] === k ? 1 : 0;
          else code = alleles.filter((x) => x === k).length;
          gt.push(code);
          const d = dsAt >= 0 ? parts[dsAt] : undefined;
          ds.push(d !== undefined && d !== '.' ? Number(d) : code === 3 ? Number.NaN : code);
        });
        return {
          chrom,
          pos: Number(f[1]),
          id: f[2] === '.' ? null : f[2],
          ref: f[3],
          alt,
          gt: gt.join(''),
          ds: dosage ? ds : null,
          hap: haploid.some(Boolean) ? haploid.map((h) => (h ? 3 : 0)).join('') : null,
        };
      }),
    );
  }
  return out;
}

function expectSameCalls(got: Rec[][], want: Rec[][]): void {
  expect(got.length).toBe(want.length);
  got.forEach((recs, v) => {
    expect(recs.map((r) => [r.chrom, r.pos, r.id, r.ref, r.alt])).toEqual(
      want[v].map((r) => [r.chrom, r.pos, r.id, r.ref, r.alt]),
    );
    recs.forEach((r, k) => {
      const w = want[v][k];
      expect(r.gt, `variant ${v} ALT ${k}`).toEqual(w.gt);
      expect(r.hap, `variant ${v} ALT ${k} hap`).toEqual(w.hap);
      if (w.ds === null) expect(r.ds).toBeNull();
      else {
        expect(r.ds).not.toBeNull();
        r.ds!.forEach((x, i) => {
          if (Number.isNaN(w.ds![i])) expect(x, `variant ${v} sample ${i}`).toBeNaN();
          else
            expect(Math.abs(x - w.ds![i]), `variant ${v} sample ${i}: ${x} vs ${w.ds![i]}`).toBeLessThan(
              6e-4,
            );
        });
      }
    });
  });
}

/** Hard calls against plink2 --export A-transpose (no dosages in the file). */
function expectCallsMatchA(got: Rec[][], ref: ExportedA[], n: number): void {
  expect(got.length).toBe(ref.length);
  const view = (recs: Rec[]) => recs.map((r) => ({ id: r.id, alt: r.alt, gt: r.gt, ds: r.ds, hap: r.hap }));
  const want = (v: number) => [{ id: ref[v].id, alt: ref[v].counted, gt: ref[v].gt, ds: null, hap: null }];
  // Compare cheaply; show the first differing variant in full.
  const bad = got.findIndex((recs, v) => JSON.stringify(view(recs)) !== JSON.stringify(want(v)));
  if (bad >= 0) expect(view(got[bad]), `variant ${bad}`).toEqual(want(bad));
  expect(ref.every((x) => x.gt.length === n)).toBe(true);
}

/** A small deterministic random generator (mulberry32). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A VCF with GT:DS: variants where every sample has a dosage (a few missing), where a few
 * samples do, and none; autosomes and X (males haploid). Hard calls are the nearest genotype.
 */
function dosageVcf(nSamples: number, males: Set<string>, names: string[]): string {
  const rand = rng(7);
  const lines = [
    '##fileformat=VCFv4.2',
    '##contig=<ID=1,length=248956422>',
    '##contig=<ID=X,length=156040895>',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    '##FORMAT=<ID=DS,Number=A,Type=Float,Description="ALT dosage">',
    ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT', ...names].join('\t'),
  ];
  const pick = (max: number) => {
    // A dosage away from the rounding boundaries, so the nearest hard call is clear.
    for (;;) {
      const d = Math.round(rand() * max * 1000) / 1000;
      if (Math.abs((d % 1) - 0.5) > 0.05) return d;
    }
  };
  for (let v = 0; v < 40; v++) {
    const chrom = v < 28 ? '1' : 'X';
    const kind = ['all', 'few', 'none', 'all', 'few'][v % 5];
    const cells: string[] = [];
    for (let i = 0; i < nSamples; i++) {
      const haploid = chrom === 'X' && males.has(names[i]);
      const max = haploid ? 1 : 2;
      const withDs = kind === 'all' || (kind === 'few' && i % 13 === v % 13);
      if (withDs && rand() < 0.05) {
        cells.push(haploid ? '.:.' : './.:.');
        continue;
      }
      const d = withDs ? pick(max) : Math.floor(rand() * (max + 1));
      const hard = Math.round(d);
      const gt = haploid ? String(hard) : ['0/0', '0/1', '1/1'][hard];
      cells.push(withDs ? `${gt}:${d}` : gt);
    }
    lines.push([chrom, 1000 + v * 10, `d${v}`, 'A', 'G', '.', 'PASS', '.', 'GT:DS', ...cells].join('\t'));
  }
  return `${lines.join('\n')}\n`;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'biobank-pgen-'));
  execFileSync(
    'node',
    [
      BIN,
      'synth',
      '--out',
      join(dir, 's'),
      '--size',
      'custom',
      '--persons',
      String(N_BIG),
      '--variants',
      String(M_BIG),
    ],
    { stdio: 'pipe' },
  );
  const vcf = readdirSync(join(dir, 's')).find((f) => f.endsWith('.vcf.gz'))!;
  plink2('--vcf', join('s', vcf), '--make-pgen', '--out', 'big');
  plink2('--pfile', 'big', '--thin-indiv-count', '256', '--make-pgen', '--out', 's256');
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The big fileset read once, shared by the tests that compare against it. */
let bigRead: Promise<Rec[][]> | null = null;
function readBig(): Promise<Rec[][]> {
  bigRead ??= openPgenReader(dir, { path: 'big.pgen' }).then(async (r) => {
    try {
      return await readAll(r);
    } finally {
      await r.close();
    }
  });
  return bigRead;
}

describe('PLINK 2 .pgen reader', () => {
  it('decodes plink2 --make-pgen output (LD-compressed and difflist records) like plink2 --export A', async () => {
    const r = await openPgenReader(dir, { path: 'big.pgen' });
    expect(r.mode).toBe(0x10);
    const h = await r.header();
    expect([h.samples.length, h.nVariants, h.assembly]).toEqual([N_BIG, M_BIG, 'GRCh38']);
    expect(h.samples[0]).toBe('P0000001');
    const got = await readAll(r);
    bigRead = Promise.resolve(got);
    expectCallsMatchA(got, exportA('big'), N_BIG);
    const types = r.recordTypes();
    // plink2 chose several storages: plain, 1-bit, difflists and LD-compressed ones.
    for (const t of ['raw', '1-bit', 'diff-hom-ref']) expect(types[t], t).toBeGreaterThan(0);
    expect((types.ld ?? 0) + (types['ld-inverted'] ?? 0)).toBeGreaterThan(0);
    expect(types.phased).toBeGreaterThan(0);
    await r.close();
  });

  it('resumes at cursors (also right at LD-compressed records) and plans ranges that cover the file', async () => {
    const r = await openPgenReader(dir, { path: 'big.pgen' });
    const full = await readBig();
    const cursors: SourceCursor[] = [(await r.plan(1))[0].start];
    for await (const step of r.read(cursors[0], M_BIG)) cursors.push(step.next);
    expect(cursors.at(-1)).toEqual({ variant: M_BIG, byte: statSync(join(dir, 'big.pgen')).size });
    // Every LD-compressed variant (whose base is earlier) and a few others.
    const starts = [...Array(M_BIG).keys()].filter((v) => (r.recordType(v) & 6) === 2 || v % 997 === 5);
    expect(starts.length).toBeGreaterThan(3);
    for (const v of starts) {
      const part = await readAll(r, cursors[v], Math.min(M_BIG, v + 3));
      expect(part).toEqual(full.slice(v, v + 3));
    }
    const ranges = await r.plan(7);
    expect(ranges.length).toBe(7);
    const joined: Rec[][] = [];
    for (const range of ranges) {
      expect(range.start).toEqual(cursors[range.start.variant]);
      joined.push(...(await readAll(r, range.start, range.end)));
    }
    expect(joined).toEqual(full);
    await r.close();
  });

  it('reads .pvar.zst, fixed-width (format=2) and PLINK 1 .bed filesets the same way', async () => {
    const r = await openPgenReader(dir, { path: 's256.pgen' });
    const full = await readAll(r);
    await r.close();

    plink2('--pfile', 's256', '--make-pgen', 'vzs', '--out', 'zst');
    const z = await openPgenReader(dir, { path: 'zst.pgen' });
    expect((await z.header()).assembly).toBe('GRCh38');
    expect(await readAll(z)).toEqual(full);
    const mid = (await z.plan(3))[2];
    expect(await readAll(z, mid.start, mid.end)).toEqual(full.slice(mid.start.variant, mid.end));
    await z.close();

    plink2('--pfile', 's256', '--make-pgen', 'format=2', '--out', 'fixed');
    const f = await openPgenReader(dir, { path: 'fixed.pgen' });
    expect(f.mode).toBe(0x02);
    expect(await readAll(f)).toEqual(full);
    await f.close();

    // A variant-major .bed is a .pgen of storage mode 0x01; the .bim and .fam are header-less
    // .pvar and .psam files (A1 = ALT in column 5, as plink2 writes it).
    plink2('--pfile', 's256', '--make-bed', '--out', 'bed');
    for (const [from, to] of [
      ['bed.bed', 'p1.pgen'],
      ['bed.bim', 'p1.pvar'],
      ['bed.fam', 'p1.psam'],
    ])
      copyFileSync(join(dir, from), join(dir, to));
    const b = await openPgenReader(dir, { path: 'p1.pgen' });
    expect(b.mode).toBe(0x01);
    const fromBed = await readAll(b);
    expect(fromBed).toEqual(full);
    await b.close();
  });

  it('handles the 2-byte sample index of difflists at exactly 256 samples', async () => {
    const r = await openPgenReader(dir, { path: 's256.pgen' });
    expect((await r.header()).samples.length).toBe(256);
    expectCallsMatchA(await readAll(r), exportA('s256'), 256);
    const types = r.recordTypes();
    expect((types['diff-hom-ref'] ?? 0) + (types['1-bit'] ?? 0)).toBeGreaterThan(0);
    await r.close();
  });

  it('splits multi-allelic variants and makes male X/Y and all MT calls haploid, like plink2 --export vcf', async () => {
    const fixture = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'vcf', 'small.vcf'), 'utf8');
    const header = fixture.split('\n').filter((l) => l.startsWith('#'));
    const body = fixture.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    const extra = [
      // Male het on X (→ missing), haploid calls, multi-allelic X, Y and MT.
      ['X', '3000000', 'x1', 'A', 'G', '.', 'PASS', '.', 'GT', '0/1', '0/1', '1', '0', '1/1', '0/0', './.'],
      ['X', '3000100', 'x2', 'A', 'C,T', '.', 'PASS', '.', 'GT', '1/2', '2', '0/2', '1/1', '2', '1', '0/0'],
      ['Y', '100', 'y1', 'A', 'G', '.', 'PASS', '.', 'GT', '1', '.', '.', '.', '0', '0/1', '.'],
      ['MT', '100', 'm1', 'A', 'G,C', '.', 'PASS', '.', 'GT', '0/1', '1', '0', '2', '0/0', '.', '2'],
    ].map((f) => f.join('\t'));
    const contigs = ['##contig=<ID=Y,length=57227415>', '##contig=<ID=MT,length=16569>'];
    const vcf = [...header.slice(0, -1), ...contigs, header.at(-1), ...body, ...extra].join('\n');
    writeFileSync(join(dir, 'small.vcf'), `${vcf}\n`);
    const sexes = ['1', '2', '2', '2', '1', '1', '2'];
    const names = header.at(-1)!.split('\t').slice(9);
    writeFileSync(
      join(dir, 'sex.txt'),
      `#IID\tSEX\n${names.map((s, i) => `${s}\t${sexes[i]}`).join('\n')}\n`,
    );
    plink2('--vcf', 'small.vcf', '--update-sex', 'sex.txt', '--make-pgen', '--out', 'small');

    const r = await openPgenReader(dir, { path: 'small.pgen' });
    const got = await readAll(r);
    const males = new Set(names.filter((_, i) => sexes[i] === '1'));
    expectSameCalls(got, exportVcf('small', males, false));
    expect(r.recordTypes().multiallelic).toBeGreaterThan(0);
    // Spot checks by hand: 1/2 → one copy of each ALT; male X het → missing.
    const at = (pos: number) => got.find((v) => v[0].pos === pos)!;
    expect(at(14464).map((x) => x.gt[0])).toEqual(['1', '1']);
    expect(at(3000000)[0].gt.slice(0, 5)).toBe('31201');
    expect(at(3000000)[0].hap).toBe('3000330');
    await r.close();
  });

  it('decodes dosage tracks (deltalist, bitarray, every sample) like plink2 --export vcf vcf-dosage=DS', async () => {
    const n = 60;
    const names = Array.from({ length: n }, (_, i) => `S${i + 1}`);
    const males = new Set(names.filter((_, i) => i % 2 === 0));
    writeFileSync(join(dir, 'ds.vcf'), dosageVcf(n, males, names));
    writeFileSync(
      join(dir, 'ds-sex.txt'),
      `#IID\tSEX\n${names.map((s) => `${s}\t${males.has(s) ? 1 : 2}`).join('\n')}\n`,
    );
    plink2('--vcf', 'ds.vcf', 'dosage=DS', '--update-sex', 'ds-sex.txt', '--make-pgen', '--out', 'ds');
    const r = await openPgenReader(dir, { path: 'ds.pgen' });
    const got = await readAll(r);
    const want = exportVcf('ds', males, true);
    // Variants without a dosage track have ds null; the reference then repeats the hard calls.
    got.forEach((recs, v) => {
      if (recs[0].ds === null) want[v][0].ds = null;
    });
    expectSameCalls(got, want);
    const kinds = new Set([...Array(40).keys()].map((v) => r.recordType(v) & 0x60));
    // plink2 chose both sparse forms: a deltalist and a bitarray of the samples with dosages.
    expect([kinds.has(0x20), kinds.has(0x60)]).toEqual([true, true]);
    expect(r.recordTypes().dosage).toBeGreaterThan(20);
    // A haploid dosage is on the haploid scale: plink2 --export A doubles it.
    const a = exportA('ds');
    const v = got.findIndex((recs) => recs[0].chrom === 'X' && recs[0].ds !== null);
    const i = names.findIndex((s, k) => males.has(s) && !Number.isNaN(got[v][0].ds![k]));
    expect(a[v].counted).toBe('G');
    expect(got[v][0].ds![i] * 2).toBeCloseTo(a[v].values()[i], 3);
    await r.close();
  });

  it('reads two 2^16-variant blocks with phase, dosage and phased-dosage tracks (plink2 --dummy)', async () => {
    const m = 66_000;
    plink2(
      '--dummy',
      '40',
      String(m),
      '0.01,0.2',
      'dosage-freq=0.1',
      'phase-freq=0.5',
      '--make-pgen',
      '--out',
      'dummy',
    );
    const r = await openPgenReader(dir, { path: 'dummy.pgen' });
    const got = await readAll(r);
    expect(got.length).toBe(m);
    // Reference hard calls: the same file without its dosages, exported by plink2.
    plink2('--pfile', 'dummy', '--make-pgen', 'erase-dosage', '--out', 'dummy-hc');
    const hard = exportA('dummy-hc');
    const a = exportA('dummy');
    const bad = got.findIndex((recs, v) => {
      const x = recs[0];
      if (x.gt !== hard[v].gt || x.alt !== a[v].counted || x.hap !== null) return true;
      // Without a dosage track plink2 reports the hard calls.
      if (x.ds === null) return a[v].gt !== x.gt;
      const want = a[v].values();
      return x.ds.some((d, i) =>
        Number.isNaN(want[i]) ? !Number.isNaN(d) : !(Math.abs(d - want[i]) < 6e-4),
      );
    });
    if (bad >= 0)
      expect({ gt: got[bad][0].gt, ds: got[bad][0].ds }, `variant ${bad}`).toEqual({
        gt: hard[bad].gt,
        ds: a[bad].values(),
      });
    const kinds = new Set([...Array(m).keys()].map((v) => r.recordType(v)));
    for (const k of [0x20, 0x40, 0x60, 0x80, 0x10, 0x02, 0x03])
      expect(
        [...kinds].some((t) => (k < 8 ? (t & 7) === k : (t & k) === k)),
        `type bits 0x${k.toString(16)}`,
      ).toBe(true);
    // Resume inside the second block and across the boundary.
    const cursors: SourceCursor[] = [];
    for await (const step of r.read((await r.plan(1))[0].start, m)) cursors.push(step.next);
    const lds = [...Array(m).keys()].filter((v) => v > 65_536 && (r.recordType(v) & 6) === 2);
    for (const v of [65_535, 65_536, 65_537, lds[0], lds.at(-1)!])
      expect(await readAll(r, cursors[v - 1], v + 2)).toEqual(got.slice(v, v + 2));
    await r.close();
  });

  it('reads the fixed-width dosage modes 0x03 and 0x04 as plink2 does', async () => {
    // Hand-made files (plink2 2.00a3 writes only format=2): hard calls + uint16 dosages
    // (65535 missing) [+ int16 dosage-phase deltas]; plink2 decodes the same bytes for reference.
    const n = 21;
    const m = 12;
    const rand = rng(11);
    const width = Math.ceil(n / 4) + 2 * n;
    for (const mode of [3, 4]) {
      const stem = `fixed${mode}`;
      const rec = mode === 3 ? width : width + 2 * n;
      const bytes = Buffer.alloc(12 + m * rec);
      bytes.set([0x6c, 0x1b, mode], 0);
      bytes.writeUInt32LE(m, 3);
      bytes.writeUInt32LE(n, 7);
      bytes[11] = 0x40;
      for (let v = 0; v < m; v++) {
        const at = 12 + v * rec;
        for (let i = 0; i < n; i++) {
          const missing = rand() < 0.1;
          const d = missing ? 65535 : Math.floor(rand() * 32769);
          const hard = missing ? 3 : Math.round(d / 16384);
          bytes[at + (i >> 2)] |= hard << ((i & 3) * 2);
          bytes.writeUInt16LE(d, at + Math.ceil(n / 4) + 2 * i);
          if (mode === 4) bytes.writeInt16LE(missing ? -32768 : 0, at + width + 2 * i);
        }
      }
      writeFileSync(join(dir, `${stem}.pgen`), bytes);
      const pvar = Array.from({ length: m }, (_, v) => `1\t${100 + v}\tf${v}\tA\tC`);
      writeFileSync(join(dir, `${stem}.pvar`), `#CHROM\tPOS\tID\tREF\tALT\n${pvar.join('\n')}\n`);
      const psam = Array.from({ length: n }, (_, i) => `F${i}\t2`);
      writeFileSync(join(dir, `${stem}.psam`), `#IID\tSEX\n${psam.join('\n')}\n`);
      const r = await openPgenReader(dir, { path: `${stem}.pgen` });
      expect(r.mode).toBe(mode);
      const got = await readAll(r);
      await r.close();
      const want = exportVcf(stem, new Set(), false);
      const a = exportA(stem);
      got.forEach((recs, v) => {
        expect(recs[0].gt, `variant ${v}`).toBe(want[v][0].gt);
        a[v].values().forEach((x, i) => {
          if (Number.isNaN(x)) expect(recs[0].ds![i]).toBeNaN();
          else expect(Math.abs(recs[0].ds![i] - x), `variant ${v} sample ${i}`).toBeLessThan(6e-4);
        });
      });
    }
  });

  it('refuses truncated files, count mismatches and duplicate sample ids', async () => {
    const fresh = () => {
      for (const ext of ['pgen', 'pvar', 'psam'])
        copyFileSync(join(dir, `big.${ext}`), join(dir, `bad.${ext}`));
    };
    fresh();
    const size = statSync(join(dir, 'bad.pgen')).size;
    truncateSync(join(dir, 'bad.pgen'), size - 700);
    const err = await openPgenReader(dir, { path: 'bad.pgen' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).location.file).toBe('bad.pgen');
    expect((err as InputError).location.field).toMatch(/^variant \d+ \(/);
    expect((err as Error).message).toMatch(/truncated/);

    fresh();
    const pvar = readFileSync(join(dir, 'bad.pvar'), 'utf8').trimEnd().split('\n');
    writeFileSync(join(dir, 'bad.pvar'), `${pvar.slice(0, -1).join('\n')}\n`);
    await expect(openPgenReader(dir, { path: 'bad.pgen' })).rejects.toThrow(
      /^bad\.pvar: 2999 variants, but bad\.pgen has 3000/,
    );

    fresh();
    const psam = readFileSync(join(dir, 'bad.psam'), 'utf8').trimEnd().split('\n');
    writeFileSync(join(dir, 'bad.psam'), `${psam.slice(0, -1).join('\n')}\n`);
    await expect(openPgenReader(dir, { path: 'bad.pgen' })).rejects.toThrow(
      /^bad\.psam: 1999 samples, but bad\.pgen has 2000/,
    );

    psam[5] = psam[3];
    writeFileSync(join(dir, 'bad.psam'), `${psam.join('\n')}\n`);
    await expect(openPgenReader(dir, { path: 'bad.pgen' })).rejects.toThrow(
      /^bad\.psam, line 6, field IID: duplicate sample id P0000003 \(also on line 4\)/,
    );
  });
});
