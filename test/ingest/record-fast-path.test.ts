/**
 * The record parser's fast paths (four calls a word for GT-only records, one pass for
 * `GT:DS` columns) against a plain string decoder of the same conventions, on records that
 * take each path fully, partly (a column of another form in the middle) or not at all.
 * Also the packed `gt` the parser hands out must equal `packGt` of its unpacked codes.
 */
import { describe, expect, it } from 'vitest';
import { packGt } from '../../engine/genotypes.js';
import { type AlleleCounts, RecordParser, splitAllele } from '../../ingest/vcf/record.js';
import { mulberry32 } from '../../stats/random.js';

/** Deterministic pseudo-random numbers (mulberry32). */
const rng = mulberry32;

interface Expected {
  gt: number[];
  ds: number[] | null;
  ac: number;
  an: number;
  nCalled: number;
  homRef: number;
  het: number;
  homAlt: number;
}

/** Reference decoding of a biallelic record's sample columns. */
function reference(columns: string[], format: string[]): Expected {
  const gtAt = format.indexOf('GT');
  const dsAt = format.indexOf('DS');
  const gt: number[] = [];
  const ds: number[] | null = dsAt >= 0 ? [] : null;
  let ac = 0;
  let an = 0;
  let nCalled = 0;
  let homRef = 0;
  let het = 0;
  let homAlt = 0;
  for (const col of columns) {
    const fields = col.split(':');
    const alleles = (fields[gtAt] ?? '.').split(/[|/]/);
    if (alleles.some((a) => a === '.')) gt.push(255);
    else {
      const g = alleles.reduce((s, a) => s + Number(a), 0);
      gt.push(g);
      ac += g;
      an += alleles.length;
      nCalled++;
      if (alleles.length === 2) {
        if (g === 0) homRef++;
        else if (g === 1) het++;
        else homAlt++;
      }
    }
    if (ds) {
      const v = fields[dsAt];
      ds.push(v === undefined || v === '.' ? Number.NaN : Math.fround(Number(v)));
    }
  }
  return { gt, ds, ac, an, nCalled, homRef, het, homAlt };
}

function parseLine(samples: string[], line: string) {
  const parser = new RecordParser(samples);
  const buf = Buffer.from(line, 'latin1');
  parser.parse(buf, 0, buf.length);
  const counts: AlleleCounts = { ac: 0, an: 0, nCalled: 0, homRef: 0, het: 0, homAlt: 0, dosageSum: 0 };
  const gt = splitAllele(parser, 1, new Uint8Array(samples.length), counts);
  return { parser, gt: [...gt], counts };
}

function check(columns: string[], format: string[]): { packedReady: boolean } {
  const samples = columns.map((_, i) => `S${i}`);
  const line = `1\t100\t.\tA\tG\t.\tPASS\t.\t${format.join(':')}\t${columns.join('\t')}`;
  const { parser, gt, counts } = parseLine(samples, line);
  const want = reference(columns, format);
  expect(gt).toEqual(want.gt);
  expect({
    ac: counts.ac,
    an: counts.an,
    nCalled: counts.nCalled,
    homRef: counts.homRef,
    het: counts.het,
    homAlt: counts.homAlt,
  }).toEqual({
    ac: want.ac,
    an: want.an,
    nCalled: want.nCalled,
    homRef: want.homRef,
    het: want.het,
    homAlt: want.homAlt,
  });
  if (want.ds) expect([...parser.dosage.subarray(0, samples.length)]).toEqual(want.ds);
  if (parser.packedReady)
    expect([...parser.packed]).toEqual([...packGt(Uint8Array.from(want.gt), samples.length)]);
  return { packedReady: parser.packedReady };
}

const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 13, 64, 101];

describe('record parser fast paths', () => {
  it('GT-only records: plain, mixed separators, missing calls and other forms', () => {
    const r = rng(7);
    const plain = () => `${r() < 0.5 ? 0 : 1}|${r() < 0.3 ? 0 : 1}`;
    const mixed = () => `${r() < 0.5 ? 0 : 1}${r() < 0.5 ? '|' : '/'}${r() < 0.5 ? 0 : 1}`;
    const withMissing = () => (r() < 0.1 ? (r() < 0.5 ? './.' : '.|.') : mixed());
    const odd = ['./1', '1|.', '1', '.', '0/0/1'.slice(0, 3), '0|0'];
    let packedRecords = 0;
    for (const n of SIZES) {
      for (const make of [plain, mixed, withMissing]) {
        const cols = Array.from({ length: n }, make);
        if (check(cols, ['GT']).packedReady) packedRecords++;
        // One column of another form somewhere: the rest must still be right.
        for (const o of odd) {
          const c = [...cols];
          c[Math.floor(r() * n)] = o;
          check(c, ['GT']);
        }
      }
    }
    expect(packedRecords).toBeGreaterThan(0);
  });

  it('GT:DS records: common values, missing dosages and other number forms', () => {
    const r = rng(11);
    const dsValue = () => {
      const x = r();
      if (x < 0.5) return String(Math.floor(r() * 3));
      if (x < 0.8) return (r() * 2).toFixed(3);
      if (x < 0.9) return '.';
      return ['1e-3', '2.', '.5', '-0', '1.25E0', '0.1234567890123456789'][Math.floor(r() * 6)];
    };
    const col = () => {
      if (r() < 0.05) return './.:.';
      return `${r() < 0.5 ? 0 : 1}${r() < 0.5 ? '|' : '/'}${r() < 0.5 ? 0 : 1}:${dsValue()}`;
    };
    for (const n of SIZES) {
      check(
        Array.from(
          { length: n },
          () => `${r() < 0.5 ? 0 : 1}|${r() < 0.5 ? 0 : 1}:${r() < 0.5 ? '0' : '1.5'}`,
        ),
        ['GT', 'DS'],
      );
      check(Array.from({ length: n }, col), ['GT', 'DS']);
      // Haploid and missing-GT columns in between.
      const c = Array.from({ length: n }, col);
      c[Math.floor(r() * n)] = '1:0.9';
      check(c, ['GT', 'DS']);
    }
  });
});
