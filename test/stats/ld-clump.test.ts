/**
 * LD clumping rules (stats/ld-clump.ts) on hand-made cases whose answer follows from the rules
 * (window, thresholds, claimed variants, ties), the haplotype r² against phase-known counting
 * and a plain iterative EM, and the bit-plane genotype tables of gwas/ld.ts against counting
 * the unpacked calls one by one.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { packedMask, packGt } from '../../engine/genotypes.js';
import { LdGenotypes, ldClumpRelease, loadLdGenotypes } from '../../gwas/ld.js';
import {
  type ClumpVariants,
  clumpRadiusBp,
  cubicRealRoots,
  haplotypeR2,
  type LdClumpResult,
  ldClump,
  ldClumpCandidates,
} from '../../stats/ld-clump.js';
import { writeReleaseFixture } from '../helpers/release-fixture.js';
import { rng } from '../helpers/rng.js';
import { tempDir, testConfig } from '../ingest/helpers.js';

function variants(rows: [string, number, number][]): ClumpVariants {
  return {
    chrom: rows.map((r) => r[0]),
    pos: rows.map((r) => r[1]),
    p: rows.map((r) => r[2]),
  };
}

/** r² from a symmetric table of pairs "i,j" (default `fallback`). */
function r2Of(pairs: Record<string, number>, fallback = 0) {
  return (i: number, j: number) => pairs[`${Math.min(i, j)},${Math.max(i, j)}`] ?? fallback;
}

/** index → listed members, the shape the assertions compare. */
function shape(res: LdClumpResult): [number, number[]][] {
  return res.clumps.map((c) => [c.index, Array.from(c.members)]);
}

describe('ldClump rules', () => {
  it('the window is |Δpos| < kb·1000 on the same chromosome', () => {
    const v = variants([
      ['1', 750_000, 2e-9],
      ['1', 750_001, 3e-9],
      ['1', 1_000_000, 1e-10],
      ['1', 1_249_999, 4e-9],
      ['1', 1_250_000, 5e-9],
      ['2', 1_000_000, 6e-9],
    ]);
    const res = ldClump(v, () => 1, { p1: 1e-8, r2: 0.1, kb: 250 });
    // row 2 claims rows 1 and 3 (249,999 bp away), not rows 0 and 4 (250,000 bp) nor chr2;
    // row 0's and row 4's only neighbours in LD are claimed already
    expect(shape(res)).toEqual([
      [2, [1, 3]],
      [0, []],
      [4, []],
      [5, []],
    ]);
    expect(Array.from(res.clumpOf)).toEqual([0, 2, 2, 2, 4, 5]);
    expect(clumpRadiusBp(250)).toBe(249_999);
    expect(clumpRadiusBp(500)).toBe(499_999);
    expect(clumpRadiusBp(0.5)).toBe(499);
  });

  it('index p ≤ p1, member p < p2, r² > threshold; claimed-but-unlisted rows are counted', () => {
    const v = variants([
      ['1', 100, 1e-6], // 0: p = p1, an index
      ['1', 200, 1e-4], // 1: p = p2: claimed, not listed (S001)
      ['1', 300, 5e-5], // 2: r² = threshold: not claimed
      ['1', 400, 5e-5], // 3: listed (S0001)
      ['1', 500, 0.2], // 4: claimed, NSIG
      ['1', 600, Number.NaN], // 5: no p: ignored
      ['1', 700, 0.03], // 6: undefined r²: not claimed
    ]);
    const calls: [number, number][] = [];
    const r2 = (i: number, j: number) => {
      calls.push([i, j]);
      return ({ 1: 0.9, 2: 0.5, 3: 0.51, 4: 0.9, 5: 0.9, 6: Number.NaN } as Record<number, number>)[j];
    };
    const res = ldClump(v, r2, { p1: 1e-6, p2: 1e-4, r2: 0.5, kb: 1 });
    expect(res.clumps).toHaveLength(1);
    const c = res.clumps[0];
    expect(c.index).toBe(0);
    expect(Array.from(c.members)).toEqual([3]);
    expect(Array.from(c.r2)).toEqual([0.51]);
    expect([c.total, c.nsig, c.s05, c.s01, c.s001, c.s0001]).toEqual([3, 1, 0, 0, 1, 1]);
    expect(Array.from(res.clumpOf)).toEqual([0, 0, -1, 0, 0, -1, -1]);
    expect(calls).toEqual([
      [0, 1],
      [0, 2],
      [0, 3],
      [0, 4],
      [0, 6],
    ]);
    expect(res.nR2).toBe(5);
  });

  it('a variant claimed by an earlier clump never becomes an index', () => {
    // A claims B; C is not in LD with A, so it leads its own clump although B (its LD partner,
    // more significant than C) is in the window: B was claimed and cannot be a member again.
    const v = variants([
      ['1', 1000, 1e-12], // A
      ['1', 2000, 1e-10], // B
      ['1', 3000, 1e-9], // C
    ]);
    const res = ldClump(v, r2Of({ '0,1': 0.8, '0,2': 0.05, '1,2': 0.8 }), { p1: 1e-8, r2: 0.1 });
    expect(shape(res)).toEqual([
      [0, [1]],
      [2, []],
    ]);
    // with r²(A, C) above the threshold A takes all
    const all = ldClump(v, r2Of({ '0,1': 0.8, '0,2': 0.2, '1,2': 0.8 }), { p1: 1e-8, r2: 0.1 });
    expect(shape(all)).toEqual([[0, [1, 2]]]);
  });

  it('equal p: the earlier row leads; −log10 p orders p-values that underflow', () => {
    const tie = variants([
      ['1', 100, 1e-9],
      ['1', 200, 1e-9],
    ]);
    expect(shape(ldClump(tie, () => 1, { p1: 1e-8 }))).toEqual([[0, [1]]]);
    const underflow: ClumpVariants = {
      ...variants([
        ['1', 100, 0],
        ['1', 200, 0],
      ]),
      mlog10p: [350, 400],
    };
    expect(shape(ldClump(underflow, () => 1, { p1: 1e-8 }))).toEqual([[1, [0]]]);
  });

  it('defaults are All of Us: p1 = p2 = 5e-8, r² 0.1, 500 kb', () => {
    const v = variants(
      [
        ['1', 1_000_000, 1e-20],
        ['1', 1_499_999, 4e-8], // in window, r² 0.11: member
        ['1', 1_500_000, 4e-8], // out of window: its own index
        ['1', 1_000_100, 5e-8], // p = p2: claimed but not listed, so never an index
      ].sort((a, b) => (a[1] as number) - (b[1] as number)) as [string, number, number][],
    );
    const res = ldClump(v, () => 0.11);
    expect(shape(res)).toEqual([
      [0, [2]],
      [3, []],
    ]);
    expect(res.clumps[0].total).toBe(2);
    // r² = 0.1 is not above the threshold: every candidate leads alone, in order of p
    expect(shape(ldClump(v, () => 0.1))).toEqual([
      [0, []],
      [2, []],
      [3, []],
      [1, []],
    ]);
  });

  it('candidates are the rows within a window of an index candidate', () => {
    const v = variants([
      ['1', 100, 0.5],
      ['1', 10_000, 0.2],
      ['1', 20_000, 1e-9],
      ['1', 25_000, Number.NaN],
      ['1', 29_999, 0.9],
      ['1', 30_000, 0.9],
      ['2', 20_000, 0.9],
    ]);
    expect(Array.from(ldClumpCandidates(v, { p1: 1e-8, kb: 10 }))).toEqual([2, 4]);
    expect(Array.from(ldClumpCandidates(v, { p1: 1e-8, kb: 20 }))).toEqual([0, 1, 2, 4, 5]);
  });

  it('rejects unsorted rows and bad thresholds', () => {
    expect(() =>
      ldClump(
        variants([
          ['1', 200, 1e-9],
          ['1', 100, 1e-9],
        ]),
        () => 1,
      ),
    ).toThrow(/not sorted/);
    expect(() =>
      ldClump(
        variants([
          ['1', 100, 1e-9],
          ['2', 100, 1e-9],
          ['1', 300, 1e-9],
        ]),
        () => 1,
      ),
    ).toThrow(/not contiguous/);
    expect(() => ldClump(variants([]), () => 1, { p1: 1e-4, p2: 1e-5 })).toThrow(/p2/);
    expect(() => ldClump(variants([]), () => 1, { r2: 1 })).toThrow(/r2/);
  });
});

/** Haplotype pairs → the 3×3 genotype table (allele 1 = 0, allele 2 = 1 at each variant). */
function tableOf(haps: [number, number][][]): number[] {
  const t = new Array<number>(9).fill(0);
  for (const [h1, h2] of haps) t[3 * (h1[0] + h2[0]) + (h1[1] + h2[1])]++;
  return t;
}

/** r² from haplotype counts n11, n12, n21, n22. */
function directR2(n: number[]): number {
  const tot = n[0] + n[1] + n[2] + n[3];
  const p = (n[0] + n[1]) / tot;
  const q = (n[0] + n[2]) / tot;
  const d = n[0] / tot - p * q;
  return (d * d) / (p * (1 - p) * q * (1 - q));
}

/** Plain two-locus EM (Excoffier & Slatkin 1995) from equal frequencies, to convergence. */
function emR2(t: ArrayLike<number>): number {
  const k11 = 2 * t[0] + t[1] + t[3];
  const k12 = 2 * t[2] + t[1] + t[5];
  const k21 = 2 * t[6] + t[3] + t[7];
  const k22 = 2 * t[8] + t[5] + t[7];
  const dh = t[4];
  const tot = k11 + k12 + k21 + k22 + 2 * dh;
  let f = [0.25, 0.25, 0.25, 0.25];
  for (let it = 0; it < 100_000; it++) {
    const cis = f[0] * f[3];
    const share = cis / (cis + f[1] * f[2]);
    const next = [
      (k11 + dh * share) / tot,
      (k12 + dh * (1 - share)) / tot,
      (k21 + dh * (1 - share)) / tot,
      (k22 + dh * share) / tot,
    ];
    const delta = Math.max(...next.map((x, i) => Math.abs(x - f[i])));
    f = next;
    if (delta < 1e-15) break;
  }
  return directR2(f);
}

describe('haplotypeR2', () => {
  it('equals haplotype counting when no sample is a double heterozygote', () => {
    const r = rng(3);
    for (let rep = 0; rep < 20; rep++) {
      const haps: [number, number][][] = [];
      const n = [0, 0, 0, 0];
      for (let i = 0; i < 200; i++) {
        const draw = (): [number, number] => {
          const a = r.next() < 0.4 ? 1 : 0;
          const b = r.next() < (a ? 0.7 : 0.2) ? 1 : 0;
          return [a, b];
        };
        const h1 = draw();
        let h2 = draw();
        // no double heterozygotes: make the second haplotype equal at one variant
        if (h1[0] !== h2[0] && h1[1] !== h2[1]) h2 = [h2[0], h1[1]];
        [h1, h2].forEach((h) => {
          n[2 * h[0] + h[1]]++;
        });
        haps.push([h1, h2]);
      }
      expect(haplotypeR2(tableOf(haps))).toBeCloseTo(directR2(n), 12);
    }
  });

  it('is the EM maximum-likelihood estimate with double heterozygotes', () => {
    const r = rng(8);
    for (let rep = 0; rep < 50; rep++) {
      const f = [r.next(), r.next(), r.next(), r.next()];
      const s = f.reduce((a, b) => a + b, 0);
      const cum = [f[0] / s, (f[0] + f[1]) / s, (f[0] + f[1] + f[2]) / s];
      const draw = (): [number, number] => {
        const u = r.next();
        const k = u < cum[0] ? 0 : u < cum[1] ? 1 : u < cum[2] ? 2 : 3;
        return [k >> 1, k & 1];
      };
      const t = tableOf(Array.from({ length: 300 }, () => [draw(), draw()]));
      expect(t[4]).toBeGreaterThan(0);
      expect(haplotypeR2(t)).toBeCloseTo(emR2(t), 6);
    }
  });

  it('perfect LD gives 1, independence 0, a monomorphic variant NaN', () => {
    expect(haplotypeR2([30, 0, 0, 0, 50, 0, 0, 0, 20])).toBeCloseTo(1, 12);
    expect(haplotypeR2([0, 0, 30, 0, 50, 0, 20, 0, 0])).toBeCloseTo(1, 12);
    // HWE genotype frequencies at p = q = 0.5, independent: expected counts
    expect(haplotypeR2([25, 50, 25, 50, 100, 50, 25, 50, 25])).toBeLessThan(1e-12);
    expect(haplotypeR2([40, 30, 30, 0, 0, 0, 0, 0, 0])).toBeNaN();
    expect(haplotypeR2(new Array(9).fill(0))).toBeNaN();
  });

  it('counts a sample haploid at both variants as one haplotype', () => {
    // 60 diploids with known phase (no double hets) and 40 haploid samples
    const r = rng(4);
    const n = [0, 0, 0, 0];
    const t = new Array<number>(9).fill(0);
    const hap = [0, 0, 0, 0];
    const draw = (): [number, number] => {
      const a = r.next() < 0.5 ? 1 : 0;
      return [a, r.next() < (a ? 0.8 : 0.3) ? 1 : 0];
    };
    for (let i = 0; i < 60; i++) {
      const h1 = draw();
      let h2 = draw();
      if (h1[0] !== h2[0] && h1[1] !== h2[1]) h2 = [h2[0], h1[1]];
      n[2 * h1[0] + h1[1]]++;
      n[2 * h2[0] + h2[1]]++;
      t[3 * (h1[0] + h2[0]) + h1[1] + h2[1]]++;
    }
    for (let i = 0; i < 40; i++) {
      const h = draw();
      n[2 * h[0] + h[1]]++;
      t[3 * 2 * h[0] + 2 * h[1]]++; // stored as the homozygous class
      hap[2 * h[0] + h[1]]++;
    }
    expect(haplotypeR2(t, hap)).toBeCloseTo(directR2(n), 12);
    expect(Math.abs(haplotypeR2(t) - directR2(n))).toBeGreaterThan(1e-4);
  });

  it('cubicRealRoots finds the real roots in ascending order', () => {
    const close = (xs: number[], want: number[]) => {
      expect(xs).toHaveLength(want.length);
      xs.forEach((x, i) => {
        expect(x).toBeCloseTo(want[i], 9);
      });
    };
    close(cubicRealRoots(-6, 11, -6), [1, 2, 3]);
    close(cubicRealRoots(0, 0, -1), [1]);
    close(cubicRealRoots(0, -3, 2), [-2, 1]);
  });
});

describe('LdGenotypes (bit planes of packed calls)', () => {
  it('3×3 tables and haploid cells equal counting the calls one by one', () => {
    const r = rng(21);
    const nGeno = 77;
    const nVar = 6;
    const codes: Uint8Array[] = [];
    const haps: (Uint8Array | null)[] = [];
    for (let v = 0; v < nVar; v++) {
      const c = new Uint8Array(nGeno);
      const h = new Uint8Array(nGeno);
      for (let i = 0; i < nGeno; i++) {
        const haploid = v >= 3 && i % 3 === 0; // variants 3..5: every third sample haploid
        const u = r.next();
        c[i] = u < 0.1 ? 255 : haploid ? (u < 0.55 ? 0 : 1) : u < 0.4 ? 0 : u < 0.75 ? 1 : 2;
        if (haploid && c[i] !== 255) h[i] = 3;
      }
      codes.push(c);
      haps.push(v >= 3 ? packGt(h) : null);
    }
    const analysis = Array.from({ length: nGeno }, (_, i) => i).filter((i) => i % 5 !== 2);
    const inAnalysis = new Set(analysis);
    for (const samples of [{ sampleIdx: analysis }, { mask: packedMask(analysis, nGeno) }]) {
      const ld = new LdGenotypes(nGeno, samples, [10, 11, 12, 13, 14, 15]);
      codes.forEach((c, v) => {
        ld.set(v, packGt(c), haps[v]);
      });
      const table = new Float64Array(9);
      const haploid = new Float64Array(4);
      for (let a = 0; a < nVar; a++)
        for (let b = 0; b < nVar; b++) {
          ld.table(a, b, table, haploid);
          const want = new Array<number>(9).fill(0);
          const wantHap = [0, 0, 0, 0];
          for (let i = 0; i < nGeno; i++) {
            const x = codes[a][i];
            const y = codes[b][i];
            if (!inAnalysis.has(i) || x === 255 || y === 255) continue;
            const hx = a >= 3 && i % 3 === 0;
            const hy = b >= 3 && i % 3 === 0;
            const gx = hx ? 2 * x : x; // a haploid ALT call is the homozygous class
            const gy = hy ? 2 * y : y;
            want[3 * gx + gy]++;
            if (hx && hy) wantHap[2 * x + y]++;
          }
          expect(Array.from(table)).toEqual(want);
          expect(Array.from(haploid)).toEqual(wantHap);
          const r2 = ld.r2(10 + a, 10 + b);
          const ref = haplotypeR2(want, a >= 3 && b >= 3 ? wantHap : undefined);
          if (Number.isNaN(ref)) expect(r2).toBeNaN();
          else expect(r2).toBe(ref);
        }
    }
  });
});

describe('reading a release', () => {
  it("reads a release's genotypes (no hap column) for the analysis samples and clumps them", async () => {
    const dir = tempDir('ldclump-fixture');
    const r = rng(33);
    const n = 50;
    const base = Uint8Array.from({ length: n }, () => (r.next() < 0.5 ? 0 : r.next() < 0.6 ? 1 : 2));
    const noisy = (flip: number) =>
      Uint8Array.from(base, (g) => (r.next() < 0.05 ? 255 : r.next() < flip ? (g + 1) % 3 : g));
    const gts = [noisy(0), noisy(0.05), noisy(0.6), noisy(0.02)];
    await writeReleaseFixture(
      join(dir, 'release'),
      Array.from({ length: n }, (_, i) => `S${i}`),
      gts.map((gt, i) => ({ chrom: '1', pos: 1000 * (i + 1), ref: 'A', alt: 'G', gt, shard: `s${i % 2}` })),
    );
    const config = testConfig(join(dir, 'data'));
    const samples = { sampleIdx: Array.from({ length: n - 5 }, (_, i) => i + 5) };
    const ld = await withCompute(config, (conn) =>
      loadLdGenotypes(conn, join(dir, 'release'), samples, [0, 1, 3]),
    );
    const want = (a: number, b: number) => {
      const t = new Array<number>(9).fill(0);
      for (let i = 5; i < n; i++) if (gts[a][i] !== 255 && gts[b][i] !== 255) t[3 * gts[a][i] + gts[b][i]]++;
      return haplotypeR2(t);
    };
    expect(ld.r2(0, 1)).toBe(want(0, 1));
    expect(ld.r2(3, 0)).toBe(want(3, 0));
    expect(() => ld.r2(0, 2)).toThrow(/not loaded/);
    await expect(
      withCompute(config, (conn) => loadLdGenotypes(conn, join(dir, 'release'), samples, [0, 7])),
    ).rejects.toThrow(/variant_idx 7 has no genotypes/);
    // variant 0 leads; 1 and 3 follow it closely, 2 does not
    const rows = [1e-12, 1e-10, 1e-9, 1e-11].map((p, i) => ({
      variantIdx: i,
      chrom: '1',
      pos: 1000 * (i + 1),
      p,
    }));
    const res = await ldClumpRelease(config, join(dir, 'release'), samples, rows, { p1: 1e-8, r2: 0.5 });
    const r2 = [0, 1, 2, 3].map((j) => want(0, j));
    expect(r2[1]).toBeGreaterThan(0.5);
    expect(r2[3]).toBeGreaterThan(0.5);
    expect(r2[2]).toBeLessThan(0.5);
    expect(res.clumps.map((c) => [c.index, c.members.map((m) => m.variantIdx)])).toEqual([
      [0, [1, 3]],
      [2, []],
    ]);
    expect(res.clumps[0].members.map((m) => m.r2)).toEqual([r2[1], r2[3]]);
    rmSync(dir, { recursive: true, force: true });
  });
});
