/**
 * BGEN reader (ingest/bgen/) against plink2 and the synthetic VCF it came from.
 *
 * - plink2 exports of a synthetic VCF (phased, and the same calls unphased): BGEN 1.1 (layout 1,
 *   zlib), 1.2 (layout 2, zlib) at 1, 8 and 16 bits, 1.3 (zstd) at 3 and 16 bits, with and
 *   without `ref-first` (without it plink2 writes the VCF's ALT first, so our REF is its ALT).
 *   Every call is a hard call, so every `ds` must be the VCF's ALT count exactly and `gt` equal
 *   it (missing where the VCF call is). `ds` is also compared with plink2's own decoding of the
 *   same file (`--bgen … --export A` counting our ALT allele), which must agree exactly.
 * - Real dosages and haploid chrX calls: the fixture VCF's biallelic records with DS, males set
 *   by `--update-sex`, exported at 8 and 16 bits; `ds` against plink2's `.raw` (which prints
 *   haploid dosages doubled), `hap` against the males.
 * - Spec-built files (plink2 cannot write multi-allelic BGEN nor 17–32 bits): layout 2 written
 *   byte by byte in this test from random probabilities, with multi-allelic variants, ploidy
 *   0/1/2, missing samples, phased and unphased data, 1–32 bits, uncompressed and zlib, plus an
 *   uncompressed layout-1 file. Many probabilities sit exactly at a threshold's rounding edge.
 *   Expectations are computed here from the probabilities; the writer itself is checked by
 *   plink2 decoding its biallelic diploid variants of up to 28 bits (plink2's limit).
 * - Sample ids (.sample vs sample block), plan/resume cursors, and refused inputs.
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, gunzipSync, inflateSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../engine/errors.js';
import { unpackGt } from '../../engine/genotypes.js';
import { openBgenReader } from '../../ingest/bgen/reader.js';
import type { GenotypeReader, SourceCursor } from '../../ingest/genotype-reader.js';
import type { GenotypeOptions } from '../../schemas/release.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURE_VCF = join(ROOT, 'test', 'fixtures', 'vcf', 'small.vcf');

let dir = '';

function plink(args: string[]): void {
  execFileSync('plink2', [...args, '--threads', '1', '--memory', '1000'], { cwd: dir, stdio: 'pipe' });
}

// ---------------------------------------------------------------------------------------------
// Reading everything a reader gives

interface Rec {
  chrom: string;
  pos: number;
  id: string | null;
  ref: string;
  alt: string;
  gt: Uint8Array;
  ds: Float32Array;
  hap: Uint8Array | null;
}

async function readRange(r: GenotypeReader, from: SourceCursor, end: number): Promise<Rec[]> {
  const { samples } = await r.header();
  const out: Rec[] = [];
  const rem = samples.length & 3;
  for await (const step of r.read(from, end)) {
    for (const x of step.records) {
      // ⌈n/4⌉ bytes with the unused high bits of the last byte 0.
      for (const packed of x.hap ? [x.gt, x.hap] : [x.gt]) {
        expect(packed.length).toBe((samples.length + 3) >> 2);
        if (rem) expect(packed[packed.length - 1] >> (2 * rem)).toBe(0);
      }
      out.push({
        chrom: x.chrom,
        pos: x.pos,
        id: x.id,
        ref: x.ref,
        alt: x.alt,
        gt: unpackGt(x.gt, samples.length).slice(),
        // No ds: every dosage is its hard call (the reader leaves out dosages that repeat the calls).
        ds: x.ds
          ? Float32Array.from(x.ds)
          : Float32Array.from(unpackGt(x.gt, samples.length), (c) => (c === 255 ? Number.NaN : c)),
        hap: x.hap ? unpackGt(x.hap, samples.length).slice() : null,
      });
    }
  }
  return out;
}

/** Records as one string per record (typed arrays compared by their bytes): cheap to compare. */
function digest(recs: Rec[]): string[] {
  return recs.map((r) =>
    [
      r.chrom,
      r.pos,
      r.id,
      r.ref,
      r.alt,
      Buffer.from(r.gt).toString('hex'),
      Buffer.from(r.ds.buffer).toString('base64'),
      r.hap ? Buffer.from(r.hap).toString('hex') : '-',
    ].join(' '),
  );
}

async function readAll(opts: GenotypeOptions): Promise<{ samples: string[]; recs: Rec[] }> {
  const r = await openBgenReader(dir, opts);
  try {
    const { samples } = await r.header();
    const [range] = await r.plan(1);
    return { samples, recs: range ? await readRange(r, range.start, range.end) : [] };
  } finally {
    await r.close();
  }
}

/** The InputError message an async call throws (fails the test when it does not throw one). */
async function inputError(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as Error).message;
  }
  throw new Error('expected an InputError');
}

// ---------------------------------------------------------------------------------------------
// The truth: a VCF's hard calls

interface VcfVariant {
  id: string;
  ref: string;
  alt: string;
  /** ALT count per sample, -1 missing. */
  count: Int8Array;
}

function parseVcf(text: string): { samples: string[]; variants: VcfVariant[] } {
  let samples: string[] = [];
  const variants: VcfVariant[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('##')) continue;
    const f = line.split('\t');
    if (line.startsWith('#')) {
      samples = f.slice(9);
      continue;
    }
    expect(f[4]).not.toContain(',');
    const count = new Int8Array(samples.length);
    for (let s = 0; s < samples.length; s++) {
      const gt = f[9 + s].split(':')[0].split(/[|/]/);
      count[s] = gt.includes('.') ? -1 : gt.filter((a) => a === '1').length;
    }
    variants.push({ id: f[2], ref: f[3], alt: f[4], count });
  }
  return { samples, variants };
}

/** Unphase a VCF's calls (`|` → `/` in the sample columns). */
function unphase(text: string): string {
  return text
    .split('\n')
    .map((l) => {
      if (!l || l.startsWith('#')) return l;
      const f = l.split('\t');
      return [...f.slice(0, 9), ...f.slice(9).map((x) => x.replaceAll('|', '/'))].join('\t');
    })
    .join('\n');
}

/**
 * plink2's own decoding of a BGEN: the dosage of the named allele per variant id and sample, from
 * `--export A` with `--export-allele` (NaN for NA).
 */
function plinkDosages(
  bgen: string,
  sample: string,
  counted: Array<[string, string]>,
): Map<string, Float64Array> {
  const out = `raw-${bgen.replace(/\W/g, '_')}`;
  writeFileSync(join(dir, `${out}.alleles`), counted.map(([id, a]) => `${id}\t${a}`).join('\n'));
  plink([
    '--bgen',
    bgen,
    'ref-first',
    '--sample',
    sample,
    '--export',
    'A',
    '--export-allele',
    `${out}.alleles`,
    '--out',
    out,
  ]);
  const lines = readFileSync(join(dir, `${out}.raw`), 'utf8')
    .trim()
    .split('\n');
  const head = lines[0].split('\t');
  const rows = lines.slice(1).map((l) => l.split('\t'));
  const m = new Map<string, Float64Array>();
  for (let c = 6; c < head.length; c++) {
    const id = head[c].slice(0, head[c].lastIndexOf('_'));
    m.set(
      id,
      Float64Array.from(rows, (r) => (r[c] === 'NA' ? Number.NaN : Number(r[c]))),
    );
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Inspecting and patching BGEN bytes (layout 2, compressed)

interface FirstBlock {
  /** Offsets of the C and D fields and of the compressed data of the first variant. */
  cAt: number;
  data: Uint8Array;
  flagsAt: number;
  flags: number;
  nSamples: number;
}

function firstBlock(b: Buffer): FirstBlock {
  const lh = b.readUInt32LE(4);
  let p = b.readUInt32LE(0) + 4;
  for (let k = 0; k < 3; k++) p += 2 + b.readUInt16LE(p);
  p += 4;
  const nAlleles = b.readUInt16LE(p);
  p += 2;
  for (let k = 0; k < nAlleles; k++) p += 4 + b.readUInt32LE(p);
  const c = b.readUInt32LE(p);
  return {
    cAt: p,
    data: b.subarray(p + 8, p + 4 + c),
    flagsAt: lh,
    flags: b.readUInt32LE(lh),
    nSamples: b.readUInt32LE(12),
  };
}

/** Phased flag and bit depth of a layout-2 file's first variant. */
function firstBlockInfo(path: string): { phased: number; bits: number } {
  const b = readFileSync(path);
  const fb = firstBlock(b);
  const raw = (fb.flags & 3) === 1 ? inflateSync(fb.data) : zstdDecompress(fb.data);
  return { phased: raw[8 + fb.nSamples], bits: raw[9 + fb.nSamples] };
}

/** A copy of a zlib layout-2 file whose first genotype block is `patch`ed (then recompressed). */
function patchFirstBlock(
  src: string,
  dst: string,
  patch: (raw: Buffer, fb: FirstBlock) => void,
  declared = 0,
): void {
  const b = readFileSync(join(dir, src));
  const fb = firstBlock(b);
  const raw = inflateSync(fb.data);
  patch(raw, fb);
  const z = deflateSync(raw);
  const len = Buffer.alloc(8);
  len.writeUInt32LE(z.length + 4, 0);
  len.writeUInt32LE(raw.length + declared, 4);
  const rest = b.subarray(fb.cAt + 4 + b.readUInt32LE(fb.cAt));
  writeFileSync(join(dir, dst), Buffer.concat([b.subarray(0, fb.cAt), len, z, rest]));
}

// ---------------------------------------------------------------------------------------------
// Spec-built BGEN files

/** mulberry32: a small seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SpecVariant {
  chrom: string;
  pos: number;
  varid: string;
  rsid: string;
  alleles: string[];
  bits: number;
  phased: boolean;
  ploidy: number[];
  missing: boolean[];
  /**
   * Per sample, full integer probability vectors summing to 2^bits − 1: one per haplotype (K
   * alleles) when phased or haploid, else one over the diploid genotypes in colex order.
   */
  probs: number[][][];
}

/** Diploid genotypes of K alleles in colex order: (a, b), a ≤ b, b outer. */
function diploidGenotypes(k: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let b = 0; b < k; b++) for (let a = 0; a <= b; a++) out.push([a, b]);
  return out;
}

/** The hard-call thresholds the spec-built files are read with. */
const THRESHOLDS = [0.5, 0.9, 0.99];

/** `n` non-negative integers summing to `max`: confident (one large) or spread out. */
function randomVector(n: number, max: number, r: () => number): number[] {
  if (r() < 0.5) {
    // Often right at a hard-call threshold (t·max rounded down or up), else a confident value.
    const edge = THRESHOLDS[Math.floor(r() * THRESHOLDS.length)] * max;
    const big =
      r() < 0.4 ? (r() < 0.5 ? Math.floor(edge) : Math.ceil(edge)) : Math.round(max * (0.85 + 0.15 * r()));
    const v = new Array<number>(n).fill(0);
    v[Math.floor(r() * n)] = big;
    let left = max - big;
    for (let i = 0; i < n && left > 0; i++) {
      const x = i === n - 1 ? left : Math.floor(left * r());
      v[i] += x;
      left -= x;
    }
    if (left > 0) v[0] += left;
    return v;
  }
  const cuts = Array.from({ length: n - 1 }, () => Math.floor(r() * (max + 1))).sort((x, y) => x - y);
  return [...cuts, max].map((c, i) => c - (i === 0 ? 0 : [...cuts, max][i - 1]));
}

function randomVariant(
  r: () => number,
  i: number,
  n: number,
  k: number,
  bits: number,
  phased: boolean,
  haploid: boolean,
): SpecVariant {
  const max = 2 ** bits - 1;
  const ploidy: number[] = [];
  const missing: boolean[] = [];
  const probs: number[][][] = [];
  for (let s = 0; s < n; s++) {
    const u = r();
    const z = haploid && u < 0.3 ? 1 : haploid && u < 0.35 ? 0 : 2;
    ploidy.push(z);
    missing.push(r() < 0.1);
    if (z === 0) probs.push([]);
    else if (phased || z === 1) probs.push(Array.from({ length: z }, () => randomVector(k, max, r)));
    else probs.push([randomVector(diploidGenotypes(k).length, max, r)]);
  }
  const alleles = ['A', 'C', 'GT', 'TTA', 'G'].slice(0, k);
  return {
    chrom: '1',
    pos: 1000 + i,
    varid: `v${i}`,
    rsid: i % 3 === 0 ? '.' : `rs${i}`,
    alleles,
    bits,
    phased,
    ploidy,
    missing,
    probs,
  };
}

/** The values of `vs` packed into a little-endian bit stream of `bits` bits each. */
function packBits(vs: number[], bits: number): Buffer {
  const out = Buffer.alloc(Math.ceil((vs.length * bits) / 8));
  let pos = 0;
  for (const v of vs) {
    for (let i = 0; i < bits; i++, pos++) if (Math.floor(v / 2 ** i) % 2) out[pos >> 3] |= 1 << (pos & 7);
  }
  return out;
}

function u16(x: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(x);
  return b;
}

function u32(x: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(x >>> 0);
  return b;
}

function str16(s: string): Buffer {
  return Buffer.concat([u16(Buffer.byteLength(s)), Buffer.from(s)]);
}

function genotypeData2(v: SpecVariant): Buffer {
  const n = v.ploidy.length;
  const stored: number[] = [];
  v.probs.forEach((vecs, s) => {
    for (const vec of vecs) for (const x of vec.slice(0, -1)) stored.push(v.missing[s] ? 0 : x);
  });
  return Buffer.concat([
    u32(n),
    u16(v.alleles.length),
    Buffer.from([Math.min(...v.ploidy), Math.max(...v.ploidy)]),
    Buffer.from(v.ploidy.map((z, s) => z | (v.missing[s] ? 0x80 : 0))),
    Buffer.from([v.phased ? 1 : 0, v.bits]),
    packBits(stored, v.bits),
  ]);
}

/** A layout-2 BGEN of `variants` (uncompressed or zlib), with or without a sample block. */
function writeBgen2(
  path: string,
  samples: string[],
  variants: SpecVariant[],
  zlib: boolean,
  sampleBlock: boolean,
): void {
  const ids = Buffer.concat(samples.map(str16));
  const block = sampleBlock
    ? Buffer.concat([u32(8 + ids.length), u32(samples.length), ids])
    : Buffer.alloc(0);
  const flags = ((zlib ? 1 : 0) | (2 << 2) | (sampleBlock ? 0x80000000 : 0)) >>> 0;
  const header = Buffer.concat([
    u32(20),
    u32(variants.length),
    u32(samples.length),
    Buffer.from('bgen'),
    u32(flags),
  ]);
  const parts = [u32(header.length + block.length), header, block];
  for (const v of variants) {
    parts.push(str16(v.varid), str16(v.rsid), str16(v.chrom), u32(v.pos), u16(v.alleles.length));
    for (const a of v.alleles) parts.push(u32(a.length), Buffer.from(a));
    const raw = genotypeData2(v);
    if (zlib) {
      const z = deflateSync(raw);
      parts.push(u32(z.length + 4), u32(raw.length), z);
    } else parts.push(u32(raw.length), raw);
  }
  writeFileSync(path, Buffer.concat(parts));
}

function writeSampleFile(path: string, ids: string[]): void {
  writeFileSync(path, ['ID_1 ID_2 missing', '0 0 0', ...ids.map((id) => `${id} ${id} 0`)].join('\n') + '\n');
}

/** What the spec says the records of `v` are, with hard-call threshold `t`. */
function expectedRecords(v: SpecVariant, t: number): Array<{ ds: number[]; gt: number[]; hap: number[] }> {
  const max = 2 ** v.bits - 1;
  const k = v.alleles.length;
  const geno = diploidGenotypes(k);
  const n = v.ploidy.length;
  /** The index of the largest entry when its probability is ≥ t, else -1. */
  const call = (vec: number[]): number => {
    const best = vec.indexOf(Math.max(...vec));
    return vec[best] / max >= t ? best : -1;
  };
  return Array.from({ length: k - 1 }, (_, j) => {
    const alt = j + 1;
    const ds: number[] = [];
    const gt: number[] = [];
    const hap: number[] = [];
    for (let s = 0; s < n; s++) {
      const z = v.ploidy[s];
      hap.push(z === 1 && !v.missing[s] ? 255 : 0);
      if (v.missing[s] || z === 0) {
        ds.push(Number.NaN);
        gt.push(255);
        continue;
      }
      if (v.phased || z === 1) {
        ds.push(v.probs[s].reduce((acc, vec) => acc + vec[alt] / max, 0));
        const calls = v.probs[s].map(call);
        gt.push(calls.includes(-1) ? 255 : calls.filter((c) => c === alt).length);
      } else {
        const vec = v.probs[s][0];
        ds.push(
          geno.reduce(
            (acc, [a, b], g) => acc + (vec[g] / max) * ((a === alt ? 1 : 0) + (b === alt ? 1 : 0)),
            0,
          ),
        );
        const c = call(vec);
        gt.push(c < 0 ? 255 : (geno[c][0] === alt ? 1 : 0) + (geno[c][1] === alt ? 1 : 0));
      }
    }
    return { ds, gt, hap };
  });
}

// ---------------------------------------------------------------------------------------------

let vcfSamples: string[] = [];
let truth: VcfVariant[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'biobank-bgen-'));
  execFileSync(
    'node',
    [join(ROOT, 'bin', 'biobank.mjs'), 'synth', '--out', join(dir, 's'), '--size', 'custom'].concat([
      '--persons',
      '300',
      '--variants',
      '1000',
    ]),
    { stdio: 'pipe' },
  );
  const vcfGz = readdirSync(join(dir, 's')).find((f) => f.endsWith('.vcf.gz'));
  if (!vcfGz) throw new Error('synth wrote no VCF');
  const text = gunzipSync(readFileSync(join(dir, 's', vcfGz))).toString('utf8');
  writeFileSync(join(dir, 'phased.vcf'), text);
  writeFileSync(join(dir, 'unphased.vcf'), unphase(text));
  ({ samples: vcfSamples, variants: truth } = parseVcf(text));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('BGEN reader agrees with plink2', () => {
  it('decodes plink2 exports: layouts 1 and 2, zlib and zstd, 1-16 bits, phased and unphased', async () => {
    const configs: Array<{ vcf: string; export: string[]; phased?: number; bits?: number }> = [
      { vcf: 'phased', export: ['bgen-1.2', 'bits=8'], phased: 1, bits: 8 },
      { vcf: 'phased', export: ['bgen-1.2', 'bits=16', 'ref-first'], phased: 1, bits: 16 },
      { vcf: 'phased', export: ['bgen-1.2', 'bits=1', 'ref-first'], phased: 1, bits: 1 },
      { vcf: 'phased', export: ['bgen-1.3', 'ref-first'], phased: 1, bits: 16 },
      { vcf: 'phased', export: ['bgen-1.1', 'ref-first'] },
      { vcf: 'unphased', export: ['bgen-1.2', 'bits=8', 'ref-first'], phased: 0, bits: 8 },
      { vcf: 'unphased', export: ['bgen-1.2', 'bits=16'], phased: 0, bits: 16 },
      { vcf: 'unphased', export: ['bgen-1.3', 'bits=3', 'ref-first'], phased: 0, bits: 3 },
    ];
    for (const cfg of configs) {
      const name = `${cfg.vcf}-${cfg.export.join('-').replace(/\W/g, '')}`;
      plink(['--vcf', `${cfg.vcf}.vcf`, '--export', ...cfg.export, '--out', name]);
      if (cfg.phased !== undefined)
        expect(firstBlockInfo(join(dir, `${name}.bgen`))).toEqual({ phased: cfg.phased, bits: cfg.bits });
      const refFirst = cfg.export.includes('ref-first');
      const { samples, recs } = await readAll({ path: `${name}.bgen` });
      expect(samples).toEqual(vcfSamples);
      expect(recs.length).toBe(truth.length);
      const raw = plinkDosages(
        `${name}.bgen`,
        `${name}.sample`,
        truth.map((v) => [v.id, refFirst ? v.alt : v.ref]),
      );
      recs.forEach((rec, i) => {
        const v = truth[i];
        expect([rec.id, rec.ref, rec.alt]).toEqual(refFirst ? [v.id, v.ref, v.alt] : [v.id, v.alt, v.ref]);
        expect(rec.hap).toBeNull();
        const ref = raw.get(v.id);
        if (!ref) throw new Error(`${v.id} missing from plink2's .raw`);
        for (let s = 0; s < samples.length; s++) {
          const c = v.count[s] < 0 ? -1 : refFirst ? v.count[s] : 2 - v.count[s];
          if (c < 0) {
            expect(rec.gt[s]).toBe(255);
            expect(rec.ds[s]).toBeNaN();
            expect(ref[s]).toBeNaN();
          } else if (rec.gt[s] !== c || rec.ds[s] !== c || ref[s] !== c) {
            throw new Error(
              `${name} ${v.id} sample ${s}: gt ${rec.gt[s]} ds ${rec.ds[s]} plink2 ${ref[s]}; VCF ${c}`,
            );
          }
        }
      });
    }
  });

  it('reads real dosages and haploid chrX calls as plink2 does', async () => {
    const keep = readFileSync(FIXTURE_VCF, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('#') || (l && !l.split('\t')[4].includes(',')));
    writeFileSync(join(dir, 'fix.vcf'), `${keep.join('\n')}\n`);
    writeFileSync(join(dir, 'fix.sex'), '#IID\tSEX\nHG00096\t1\nNA12891\t1\nHG00097\t2\nHG00099\t2\n');
    const males = ['HG00096', 'NA12891'];
    for (const bits of [8, 16]) {
      const name = `fix${bits}`;
      plink([
        '--vcf',
        'fix.vcf',
        'dosage=DS',
        '--update-sex',
        'fix.sex',
        '--export',
        'bgen-1.2',
        `bits=${bits}`,
        'ref-first',
        '--out',
        name,
      ]);
      const { samples, recs } = await readAll({ path: `${name}.bgen` });
      const raw = plinkDosages(
        `${name}.bgen`,
        `${name}.sample`,
        recs.map((r) => [r.id ?? '', r.alt]),
      );
      expect(recs.length).toBe(keep.filter((l) => !l.startsWith('#')).length);
      let haploid = 0;
      let fractional = 0;
      for (const rec of recs) {
        const ref = raw.get(rec.id ?? '');
        if (!ref) throw new Error(`${rec.id} missing from plink2's .raw`);
        for (let s = 0; s < samples.length; s++) {
          const isHap = rec.chrom === 'X' && males.includes(samples[s]) && !Number.isNaN(rec.ds[s]);
          expect(rec.hap?.[s] ?? 0).toBe(isHap ? 255 : 0);
          if (isHap) haploid++;
          if (Number.isNaN(ref[s])) {
            expect(rec.ds[s]).toBeNaN();
            expect(rec.gt[s]).toBe(255);
            continue;
          }
          // plink2 stores dosages in 1/16384 units and prints them rounded; it doubles haploid ones.
          expect(Math.abs(rec.ds[s] - (isHap ? ref[s] / 2 : ref[s]))).toBeLessThanOrEqual(1e-3);
          if (rec.ds[s] !== Math.round(rec.ds[s])) fractional++;
          // A call at threshold 0.9 leaves at most 0.1 of probability elsewhere: ≤ 0.2 ALT copies.
          if (rec.gt[s] !== 255) expect(Math.abs(rec.ds[s] - rec.gt[s])).toBeLessThanOrEqual(0.2 + 1e-6);
          if (isHap) expect(rec.gt[s]).toBeLessThanOrEqual(1);
        }
      }
      expect(haploid).toBeGreaterThan(0);
      expect(fractional).toBeGreaterThan(5);
    }
  });
});

describe('BGEN reader on spec-built files', () => {
  it('splits multi-allelic variants; reads haploid, missing, phased data at 1-32 bits', async () => {
    const r = rng(7);
    const n = 61;
    const samples = Array.from({ length: n }, (_, s) => `S${s + 1}`);
    const variants: SpecVariant[] = [];
    let i = 0;
    for (const bits of [1, 3, 8, 12, 16, 24, 32])
      for (const phased of [false, true])
        for (const k of [2, 3, 4])
          for (const haploid of [false, true])
            variants.push(randomVariant(r, i++, n, k, bits, phased, haploid));
    for (const [zlib, sampleBlock] of [
      [false, true],
      [true, false],
    ]) {
      const name = `spec-${zlib ? 'z' : 'u'}`;
      writeBgen2(join(dir, `${name}.bgen`), samples, variants, zlib, sampleBlock);
      if (!sampleBlock) writeSampleFile(join(dir, `${name}.samples.txt`), samples);
      for (const t of THRESHOLDS) {
        const opts: GenotypeOptions = { path: `${name}.bgen`, hardCallThreshold: t };
        if (!sampleBlock) opts.sample = `${name}.samples.txt`;
        const got = await readAll(opts);
        expect(got.samples).toEqual(samples);
        let j = 0;
        let called = 0;
        for (const v of variants) {
          const exp = expectedRecords(v, t);
          for (let a = 0; a < exp.length; a++, j++) {
            const rec = got.recs[j];
            const what = `variant ${v.varid} (K ${v.alleles.length}, ${v.bits} bits, ${v.phased ? 'phased' : 'unphased'}) ALT ${a + 1}, t ${t}`;
            expect([rec.id, rec.ref, rec.alt], what).toEqual([
              v.rsid === '.' ? v.varid : v.rsid,
              v.alleles[0],
              v.alleles[a + 1],
            ]);
            expect(Array.from(rec.gt), what).toEqual(exp[a].gt);
            expect(rec.hap ? Array.from(rec.hap) : exp[a].hap.map(() => 0), what).toEqual(exp[a].hap);
            exp[a].ds.forEach((d, s) => {
              if (Number.isNaN(d)) expect(rec.ds[s], what).toBeNaN();
              // float32 storage: relative error ≤ 2^-24
              else expect(Math.abs(rec.ds[s] - d), `${what} sample ${s}`).toBeLessThanOrEqual(1e-6);
            });
            called += exp[a].gt.filter((g) => g !== 255).length;
          }
        }
        expect(j).toBe(got.recs.length);
        expect(called).toBeGreaterThan(0);
      }
    }

    // The writer, checked by plink2: biallelic all-diploid variants decoded by plink2 itself.
    // (plink2 reads BGEN up to 28 bits.)
    const diploid = variants.filter(
      (v) => v.alleles.length === 2 && v.bits <= 28 && v.ploidy.every((z) => z === 2),
    );
    writeBgen2(
      join(dir, 'spec-check.bgen'),
      samples,
      diploid.map((v) => ({ ...v, rsid: `c${v.varid}` })),
      true,
      true,
    );
    writeSampleFile(join(dir, 'spec-check.sample'), samples);
    const raw = plinkDosages(
      'spec-check.bgen',
      'spec-check.sample',
      diploid.map((v) => [`c${v.varid}`, v.alleles[1]]),
    );
    for (const v of diploid) {
      const ref = raw.get(`c${v.varid}`);
      if (!ref) throw new Error(`${v.varid} missing from plink2's .raw`);
      expectedRecords(v, 0.9)[0].ds.forEach((d, s) => {
        if (Number.isNaN(d)) expect(ref[s]).toBeNaN();
        else expect(Math.abs(ref[s] - d)).toBeLessThanOrEqual(1e-3);
      });
    }
  });

  it('reads uncompressed layout 1 (u16 triples / 32768, all-zero missing, ties to the first genotype)', async () => {
    const samples = ['a', 'b', 'c', 'd', 'e'];
    const triples = [
      [32768, 0, 0],
      [0, 0, 0],
      [16384, 16384, 0],
      [1000, 2000, 29768],
      [3276, 29492, 0],
    ];
    const n = samples.length;
    const ids = Buffer.concat(samples.map(str16));
    const block = Buffer.concat([u32(8 + ids.length), u32(n), ids]);
    const header = Buffer.concat([u32(20), u32(1), u32(n), Buffer.from('bgen'), u32((1 << 2) | 0x80000000)]);
    const variant = Buffer.concat([
      u32(n),
      str16('snp1'),
      str16('rs1'),
      str16('23'),
      u32(5000),
      u32(1),
      Buffer.from('A'),
      u32(1),
      Buffer.from('G'),
      ...triples.flat().map(u16),
    ]);
    writeFileSync(
      join(dir, 'l1.bgen'),
      Buffer.concat([u32(header.length + block.length), header, block, variant]),
    );
    for (const [t, gt] of [
      [0.5, [0, 255, 0, 2, 1]],
      [0.9, [0, 255, 255, 2, 1]],
      [0.95, [0, 255, 255, 255, 255]],
    ] as Array<[number, number[]]>) {
      const { recs } = await readAll({ path: 'l1.bgen', hardCallThreshold: t });
      expect(recs.map((r) => [r.chrom, r.pos, r.id, r.ref, r.alt])).toEqual([['X', 5000, 'rs1', 'A', 'G']]);
      expect(Array.from(recs[0].gt)).toEqual(gt);
      const ds = triples.map(([, b, c]) => (b + 2 * c) / 32768);
      expect(recs[0].ds[1]).toBeNaN();
      for (const s of [0, 2, 3, 4]) expect(recs[0].ds[s]).toBeCloseTo(ds[s], 6);
    }
  });
});

describe('BGEN sample ids, cursors and refused inputs', () => {
  it('takes ids from the .sample file, else the sample block, and refuses bad ones', async () => {
    plink(['--vcf', 'phased.vcf', '--export', 'bgen-1.2', 'bits=8', 'ref-first', '--out', 'ids']);
    plink(['--vcf', 'phased.vcf', '--export', 'bgen-1.1', 'ref-first', '--out', 'ids11']);
    mkdirSync(join(dir, 'noids'));
    copyFileSync(join(dir, 'ids.bgen'), join(dir, 'noids', 'ids.bgen'));
    copyFileSync(join(dir, 'ids11.bgen'), join(dir, 'noids', 'ids11.bgen'));
    // The sample block alone.
    const block = await readAll({ path: 'noids/ids.bgen' });
    expect(block.samples).toEqual(vcfSamples);
    // A .sample beside the file wins over the block.
    const renamed = vcfSamples.map((s) => `X${s}`);
    writeSampleFile(join(dir, 'noids', 'ids.sample'), renamed);
    expect((await readAll({ path: 'noids/ids.bgen' })).samples).toEqual(renamed);
    // Counts that disagree: refused naming both files.
    writeSampleFile(join(dir, 'noids', 'short.sample'), renamed.slice(1));
    const short = await inputError(() =>
      openBgenReader(dir, { path: 'noids/ids.bgen', sample: 'noids/short.sample' }),
    );
    expect(short).toMatch(/noids\/short\.sample.*299 samples.*noids\/ids\.bgen.*300/);
    // Duplicates: refused naming the id.
    writeSampleFile(join(dir, 'noids', 'dup.sample'), [...renamed.slice(0, 299), renamed[7]]);
    const dup = await inputError(() =>
      openBgenReader(dir, { path: 'noids/ids.bgen', sample: 'noids/dup.sample' }),
    );
    expect(dup).toMatch(/duplicate sample ids: XP0000008/);
    // Layout 1 has no sample block: without a .sample there are no ids.
    expect((await readAll({ path: 'ids11.bgen' })).samples).toEqual(vcfSamples);
    const none = await inputError(() => openBgenReader(dir, { path: 'noids/ids11.bgen' }));
    expect(none).toMatch(/^noids\/ids11\.bgen: no sample ids/);
  });

  it('plans ranges whose cursors resume anywhere', async () => {
    plink(['--vcf', 'phased.vcf', '--export', 'bgen-1.3', 'bits=8', 'ref-first', '--out', 'cur']);
    const r = await openBgenReader(dir, { path: 'cur.bgen' });
    try {
      const [whole] = await r.plan(1);
      const all = await readRange(r, whole.start, whole.end);
      const ranges = await r.plan(7);
      expect(ranges.length).toBe(7);
      expect(ranges[0].start).toEqual(whole.start);
      const parts: Rec[] = [];
      for (let k = 0; k < ranges.length; k++) {
        if (k > 0) expect(ranges[k].start.variant).toBe(ranges[k - 1].end);
        parts.push(...(await readRange(r, ranges[k].start, ranges[k].end)));
      }
      expect(digest(parts)).toEqual(digest(all));
      // Resume from the cursor a step returned.
      let resume: SourceCursor | null = null;
      let k = 0;
      for await (const step of r.read(whole.start, whole.end)) if (++k === 123) resume = step.next;
      if (!resume) throw new Error('no cursor');
      expect(digest(await readRange(r, resume, whole.end))).toEqual(digest(all.slice(123)));
      expect((await r.plan(10_000)).length).toBe(truth.length);
    } finally {
      await r.close();
    }
    // Genotype blocks larger than the plan scan's read-ahead (uncompressed, 100 kB each).
    const rand = rng(3);
    const n = 20_000;
    const big = Array.from({ length: 6 }, (_, i) => randomVariant(rand, i, n, 2, 16, false, i % 2 === 1));
    writeBgen2(
      join(dir, 'bigblocks.bgen'),
      Array.from({ length: n }, (_, s) => `s${s}`),
      big,
      false,
      true,
    );
    const rb = await openBgenReader(dir, { path: 'bigblocks.bgen' });
    try {
      const [whole] = await rb.plan(1);
      const all = digest(await readRange(rb, whole.start, whole.end));
      const ranges = await rb.plan(6);
      expect(ranges.map((x) => x.start.variant)).toEqual([0, 1, 2, 3, 4, 5]);
      const parts: Rec[] = [];
      for (const x of ranges) parts.push(...(await readRange(rb, x.start, x.end)));
      expect(digest(parts)).toEqual(all);
      expect(all.length).toBe(6);
    } finally {
      await rb.close();
    }
  });

  it('refuses truncated files, unsupported layouts, bad bit depths and lengths, naming the file', async () => {
    plink(['--vcf', 'phased.vcf', '--export', 'bgen-1.2', 'bits=8', 'ref-first', '--out', 'bad']);
    const good = readFileSync(join(dir, 'bad.bgen'));
    const fb = firstBlock(good);
    // Truncated inside a variant: opening works, reading says where.
    writeFileSync(join(dir, 'trunc.bgen'), good.subarray(0, Math.floor(good.length * 0.6)));
    const trunc = await inputError(() => readAll({ path: 'trunc.bgen', sample: 'bad.sample' }));
    expect(trunc).toMatch(/^trunc\.bgen, field variant \d+ \(.*\) at byte \d+: truncated/);
    const trunc2 = await inputError(async () => {
      const r = await openBgenReader(dir, { path: 'trunc.bgen' });
      await r.plan(4).finally(() => r.close());
    });
    expect(trunc2).toMatch(/^trunc\.bgen, .*truncated/);
    // Truncated inside the sample block.
    writeFileSync(join(dir, 'trunc-head.bgen'), good.subarray(0, 100));
    expect(await inputError(() => openBgenReader(dir, { path: 'trunc-head.bgen' }))).toMatch(
      /^trunc-head\.bgen.*truncated/,
    );
    // Layout 3 and compression 3 in the flags.
    for (const [flags, msg] of [
      [(fb.flags & ~(0xf << 2)) | (3 << 2), /unsupported layout 3/],
      [fb.flags | 3, /unsupported compression 3/],
    ] as Array<[number, RegExp]>) {
      const b = Buffer.from(good);
      b.writeUInt32LE(flags >>> 0, fb.flagsAt);
      writeFileSync(join(dir, 'flags.bgen'), b);
      expect(await inputError(() => openBgenReader(dir, { path: 'flags.bgen' }))).toMatch(msg);
      expect(await inputError(() => openBgenReader(dir, { path: 'flags.bgen' }))).toMatch(
        /^flags\.bgen, field header/,
      );
    }
    // Bit depth 0 and 33 in the first variant's genotype data.
    for (const bits of [0, 33]) {
      patchFirstBlock('bad.bgen', 'bits.bgen', (raw, f) => {
        raw[9 + f.nSamples] = bits;
      });
      const e = await inputError(() => readAll({ path: 'bits.bgen' }));
      expect(e).toMatch(
        new RegExp(`^bits\\.bgen, field variant 1 \\(${truth[0].id}\\) at byte \\d+: bit depth ${bits}`),
      );
    }
    // A declared uncompressed length that differs from the data.
    patchFirstBlock('bad.bgen', 'len.bgen', () => {}, 1);
    expect(await inputError(() => readAll({ path: 'len.bgen' }))).toMatch(
      /^len\.bgen, field variant 1 .*decompresses/,
    );
    // Corrupt zlib data.
    const corrupt = Buffer.from(good);
    corrupt.fill(0x55, fb.cAt + 8, fb.cAt + 40);
    writeFileSync(join(dir, 'corrupt.bgen'), corrupt);
    expect(await inputError(() => readAll({ path: 'corrupt.bgen' }))).toMatch(
      /^corrupt\.bgen, field variant 1 .*zlib/,
    );
    // Stored probabilities that sum to more than 1 (the table path at 8 bits, the generic one at 3).
    for (const [bits, phased, k] of [
      [8, false, 2],
      [3, false, 2],
      [5, true, 3],
    ] as Array<[number, boolean, number]>) {
      const v = randomVariant(rng(bits), 0, 9, k, bits, phased, false);
      v.missing.fill(false);
      const max = 2 ** bits - 1;
      v.probs[4] = v.probs[4].map((vec) => vec.map((_, a) => (a === 0 ? max : a === 1 ? 1 : 0)));
      writeBgen2(
        join(dir, 'sum.bgen'),
        v.ploidy.map((_, s) => `s${s}`),
        [v],
        true,
        true,
      );
      expect(await inputError(() => readAll({ path: 'sum.bgen' }))).toMatch(
        /^sum\.bgen, field variant 1 \(v0\) at byte \d+: sample 5: stored probabilit.*(> 1|more than 1)/,
      );
    }
    // Not a BGEN file; a missing file.
    writeFileSync(join(dir, 'text.bgen'), 'this is not a bgen file, just some text of enough length');
    expect(await inputError(() => openBgenReader(dir, { path: 'text.bgen' }))).toMatch(/^text\.bgen/);
    expect(await inputError(() => openBgenReader(dir, { path: 'nope.bgen' }))).toMatch(
      /^nope\.bgen: BGEN file not found/,
    );
  });
});
