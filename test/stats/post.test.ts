import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { burdenScore } from '../../stats/burden.js';
import { distanceClump } from '../../stats/clump.js';
import { cholesky, choleskyInverse, orthonormalBasis, spdInverse, spdSolve } from '../../stats/linalg.js';
import {
  benjaminiHochberg,
  bonferroni,
  CHISQ1_MEDIAN,
  lambdaGcFromChiSq,
  lambdaGcFromMiddleP,
  lambdaGcFromP,
} from '../../stats/multiple-testing.js';
import { rng, runR } from './fixture.js';

describe('multiple testing', () => {
  it('Bonferroni and BH on a hand-checkable vector (NaN = untested)', () => {
    const p = [0.01, 0.04, Number.NaN, 0.03, 0.5];
    expect(Array.from(bonferroni(p))).toEqual([0.04, 0.16, Number.NaN, 0.12, 1]);
    // sorted 0.01, 0.03, 0.04, 0.5 (m = 4): raw 0.04, 0.06, 0.0533, 0.5 → step-up min from the top
    const q = benjaminiHochberg(p);
    expect(q[0]).toBeCloseTo(0.04, 15);
    expect(q[3]).toBeCloseTo(0.16 / 3, 15);
    expect(q[1]).toBeCloseTo(0.16 / 3, 15);
    expect(q[4]).toBeCloseTo(0.5, 15);
    expect(Number.isNaN(q[2])).toBe(true);
  });

  it('BH and Bonferroni equal R p.adjust on random p-values with ties', () => {
    const u = rng(3);
    const p = Array.from({ length: 200 }, (_, i) => (i % 17 === 0 ? 0.02 : u() ** 3));
    const dir = mkdtempSync(join(tmpdir(), 'padj-'));
    const out = runR(
      `p <- c(${p.map((v) => v.toPrecision(17)).join(',')})
cat(sprintf('%.17g', p.adjust(p, 'BH')), '\\n'); cat(sprintf('%.17g', p.adjust(p, 'bonferroni')), '\\n')`,
      dir,
    );
    const [bh, bf] = out
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).map(Number));
    const q = benjaminiHochberg(p);
    const b = bonferroni(p);
    for (let i = 0; i < p.length; i++) {
      expect(q[i]).toBeCloseTo(bh[i], 14);
      expect(b[i]).toBeCloseTo(bf[i], 14);
    }
  });

  it('λGC: median χ² over the χ²(1) median; from p the same', () => {
    expect(lambdaGcFromChiSq([0.1, CHISQ1_MEDIAN, 5])).toBeCloseTo(1, 12);
    expect(lambdaGcFromChiSq([0.1, 2 * CHISQ1_MEDIAN, 5, Number.NaN])).toBeCloseTo(2, 12);
    // p = 0.5 ↔ χ² = median exactly
    expect(lambdaGcFromP([0.9, 0.5, 0.001])).toBeCloseTo(1, 9);
    // uniform p-values: λ near 1
    const u = rng(8);
    const lam = lambdaGcFromP(Array.from({ length: 20001 }, () => u()));
    expect(lam).toBeGreaterThan(0.95);
    expect(lam).toBeLessThan(1.05);
    // from the middle p-values only (odd and even counts): the same λ
    for (const n of [20001, 20000, 1, 2]) {
      const p = Array.from({ length: n }, () => u());
      const sorted = [...p].sort((a, b) => a - b);
      const middle = [...new Set([Math.ceil(n / 2) - 1, Math.floor(n / 2)])].map((i) => sorted[i]);
      expect(lambdaGcFromMiddleP(middle), `n=${n}`).toBeCloseTo(lambdaGcFromP(p), 12);
    }
  });
});

describe('distance clumping', () => {
  it('greedy by p within ±500 kb per chromosome', () => {
    const chrom = ['1', '1', '1', '1', '2', '2', '1'];
    const pos = [1_000_000, 1_400_000, 1_850_000, 3_000_000, 1_200_000, 1_000_000, 1_500_000];
    const p = [1e-10, 1e-12, 1e-9, 1e-7, 1e-20, 1e-9, 1e-300];
    const mlog10p = p.map((v) => -Math.log10(v));
    mlog10p[6] = Number.NaN; // untested row never leads
    const { leads, leadOf } = distanceClump(chrom, pos, mlog10p);
    // chr2 1.2M (1e-20) leads and claims chr2 1.0M; chr1 1.4M (1e-12) claims 1.0M and 1.85M;
    // chr1 3.0M is not significant
    expect(Array.from(leads)).toEqual([4, 1]);
    expect(Array.from(leadOf)).toEqual([1, 1, 1, -1, 4, 4, -1]);
    // ±400 kb: 1.0M is still claimed (boundary inclusive), 1.85M becomes its own lead
    const narrow = distanceClump(chrom, pos, mlog10p, { windowBp: 400_000 });
    expect(Array.from(narrow.leads)).toEqual([4, 1, 2]);
  });
});

describe('burden scores', () => {
  it('max / sum / comphet with missing calls counted as 0', () => {
    const a = Uint8Array.of(0, 1, 2, 255, 1, 0);
    const b = Uint8Array.of(0, 1, 1, 1, 255, 0);
    const c = Uint8Array.of(255, 0, 1, 0, 0, 0);
    expect(Array.from(burdenScore([a, b, c], 'max').score)).toEqual([0, 1, 2, 1, 1, 0]);
    expect(Array.from(burdenScore([a, b, c], 'sum').score)).toEqual([0, 2, 4, 1, 1, 0]);
    const ch = burdenScore([a, b, c], 'comphet');
    expect(Array.from(ch.score)).toEqual([0, 2, 2, 1, 1, 0]);
    expect(ch.carriers).toBe(4);
    expect(ch.nVariants).toBe(3);
  });
});

describe('linalg', () => {
  it('Cholesky inverse and solve on a 3×3 SPD matrix; singular detection', () => {
    const a = Float64Array.of(4, 2, 0.6, 2, 5, 1, 0.6, 1, 3);
    const inv = spdInverse(a, 3)!;
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let k = 0; k < 3; k++) s += a[i + k * 3] * inv[k + j * 3];
        expect(s).toBeCloseTo(i === j ? 1 : 0, 13);
      }
    }
    const x = spdSolve(a, 3, Float64Array.of(1, 2, 3))!;
    expect(a[0] * x[0] + a[3] * x[1] + a[6] * x[2]).toBeCloseTo(1, 13);
    expect(spdInverse(Float64Array.of(1, 2, 2, 4), 2)).toBeNull();
    const l = Float64Array.of(9, 3, 3, 5);
    expect(cholesky(l, 2)).toBe(true);
    expect(Array.from(choleskyInverse(l, 2)).map((v) => Math.round(v * 36))).toEqual([5, -3, -3, 9]);
  });

  it('orthonormalBasis drops the collinear column and names it', () => {
    const n = 5;
    const x = Float64Array.of(1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 3, 5, 7, 9, 11, 0, 1, 0, 1, 0);
    const b = orthonormalBasis(x, n, 4);
    expect(b.kept).toEqual([0, 1, 3]);
    expect(b.dropped).toEqual([2]);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let t = 0; t < n; t++) s += b.q[i * n + t] * b.q[j * n + t];
        expect(s).toBeCloseTo(i === j ? 1 : 0, 13);
      }
    }
  });
});
