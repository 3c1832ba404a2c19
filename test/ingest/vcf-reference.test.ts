/**
 * The engine's own VCF record parser (ingest/vcf/record.ts: fast paths that decode four calls
 * per step) against an independent reference, @gmod/vcf: on the fixture VCF (multi-allelic,
 * haploid X calls, missing calls, GT:DS) and on generated lines of every call shape (phased and
 * unphased, haploid, missing halves, multi-digit alleles, GT not first, extra FORMAT fields),
 * both must agree on the fixed columns and, per sample, on the alleles and the DS dosage.
 */
import { readFileSync } from 'node:fs';
import VCF from '@gmod/vcf';
import { describe, expect, it } from 'vitest';
import { type AlleleCounts, RecordParser, splitAllele } from '../../ingest/vcf/record.js';
import { rng } from '../helpers/rng.js';
import { FIXTURE_VCF } from './helpers.js';

/** Copies of ALT `alt` in a GT string (255 for a missing call), as ingest writes `gt`. */
function expectedCopies(gt: string | undefined, alt: number): number {
  if (gt === undefined) return 255;
  const parts = gt.split(/[/|]/);
  if (parts.some((a) => a === '.' || a === '')) return 255;
  return parts.filter((a) => Number(a) === alt).length;
}

function compareFile(text: string): number {
  const lines = text.trimEnd().split('\n');
  const header = lines.filter((l) => l.startsWith('#')).join('\n');
  const samples = lines
    .find((l) => l.startsWith('#CHROM'))!
    .split('\t')
    .slice(9);
  const reference = new VCF({ header });
  const ours = new RecordParser(samples);
  const scratch = new Uint8Array(samples.length);
  const counts: AlleleCounts = { ac: 0, an: 0, nCalled: 0, homRef: 0, het: 0, homAlt: 0, dosageSum: 0 };
  let compared = 0;
  for (const line of lines.filter((l) => !l.startsWith('#'))) {
    const buf = Buffer.from(line, 'latin1');
    ours.parse(buf, 0, buf.length);
    const v = reference.parseLine(line);
    expect(ours.chrom).toBe(v.CHROM);
    expect(ours.pos).toBe(v.POS);
    expect(ours.ref).toBe(v.REF);
    expect(ours.alts).toEqual(v.ALT ?? []);
    const gts = v.GENOTYPES();
    const fields = v.SAMPLES() as Record<string, Record<string, unknown[] | undefined>>;
    for (let a = 1; a <= ours.alts.length; a++) {
      const copies = splitAllele(ours, a, scratch, counts);
      samples.forEach((name, s) => {
        const where = `${v.CHROM}:${v.POS} ALT ${a} ${name} (${gts[name]})`;
        expect(copies[s], where).toBe(expectedCopies(gts[name], a));
        const ds = fields[name]?.DS?.[a - 1];
        if (ours.hasDosage && typeof ds === 'number')
          expect(ours.dosage[(a - 1) * samples.length + s], where).toBeCloseTo(ds, 6);
        compared++;
      });
    }
  }
  return compared;
}

describe('VCF record parser against @gmod/vcf', () => {
  it('agrees on the fixture VCF', () => {
    expect(compareFile(readFileSync(FIXTURE_VCF, 'latin1'))).toBeGreaterThan(50);
  });

  it('agrees on generated lines of every call shape', () => {
    const r = rng(11);
    const n = 37; // not a multiple of 4: the word-at-a-time path has a tail
    const samples = Array.from({ length: n }, (_, i) => `P${i}`);
    const pick = <T>(xs: T[]) => xs[Math.floor(r.next() * xs.length)];
    const lines = [
      '##fileformat=VCFv4.2',
      '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
      '##FORMAT=<ID=DS,Number=A,Type=Float,Description="Dosage">',
      '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
      ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT', ...samples].join('\t'),
    ];
    for (let v = 0; v < 200; v++) {
      const nAlt = v % 7 === 0 ? 11 : v % 3 === 0 ? 2 : 1; // 11 ALTs: two-digit alleles
      const alts = Array.from({ length: nAlt }, (_, k) => 'ACGT'[k % 4].repeat(1 + Math.floor(k / 4)));
      const plain = v % 5 === 0; // all diploid single-digit calls: the fast path
      const format = pick(['GT', 'GT:DS', 'GT:DP', 'DP:GT', 'GT:DS:DP']);
      const call = () => {
        const allele = () => String(Math.floor(r.next() * (nAlt + 1)));
        if (plain) return `${Math.floor(r.next() * 2)}${pick(['|', '/'])}${Math.floor(r.next() * 2)}`;
        return pick([
          `${allele()}/${allele()}`,
          `${allele()}|${allele()}`,
          allele(),
          '.',
          './.',
          `.|${allele()}`,
        ]);
      };
      const cols = samples.map(() => {
        const gt = plain ? call() : call();
        return format
          .split(':')
          .map((f) =>
            f === 'GT'
              ? gt
              : f === 'DS'
                ? Array.from({ length: nAlt }, () => (r.next() * 2).toFixed(3)).join(',')
                : String(Math.floor(r.next() * 40)),
          )
          .join(':');
      });
      lines.push(
        ['1', String(1000 + v), '.', 'N', alts.join(','), '.', 'PASS', '.', format, ...cols].join('\t'),
      );
    }
    expect(compareFile(`${lines.join('\n')}\n`)).toBeGreaterThan(200 * n);
  });
});
