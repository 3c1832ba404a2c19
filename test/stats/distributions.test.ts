import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { describe, expect, it } from 'vitest';
import {
  HILL_MIN_DF,
  mlog10PChiSq,
  mlog10PChiSq1,
  mlog10PTwoSidedNormal,
  mlog10PTwoSidedT,
  pChiSq,
  pTwoSidedT,
  pTwoSidedTBeta,
  Z_975,
} from '../../stats/distributions.js';
import { runR } from './fixture.js';

// statistic grid from ordinary to far below the double floor (p ≈ 1e-5000)
const tCases: [number, number][] = [
  [0.3, 10],
  [-2.1, 25],
  [4.5, 998],
  [12, 5000],
  [-40, 300],
  [80, 9996],
  [150, 1e5],
  [7.5, 50_000],
  [-30, 20_000],
  [2.2, 10_000],
  [1e3, 50],
];
const zCases = [0.01, 1.96, -5, 20, 38, 45, 100, -400];
const chiCases: [number, number][] = [
  [0.5, 2],
  [7.8, 3],
  [100, 4],
  [1500, 2],
  [4000, 5],
  [20000, 10],
];

describe('distributions agree with R (log.p = TRUE) in the tails', () => {
  it('t, normal and χ² −log10 p match R to 1e-9 relative, also where p underflows', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dist-'));
    const out = runR(
      `f <- function(x) cat(sprintf('%.17g', x), '\\n')
${tCases.map(([t, df]) => `f(-(log(2) + pt(abs(${t}), ${df}, lower.tail = FALSE, log.p = TRUE)) / log(10))`).join('\n')}
${zCases.map((z) => `f(-(log(2) + pnorm(abs(${z}), lower.tail = FALSE, log.p = TRUE)) / log(10))`).join('\n')}
${chiCases.map(([x, k]) => `f(-pchisq(${x}, ${k}, lower.tail = FALSE, log.p = TRUE) / log(10))`).join('\n')}
${zCases.map((z) => `f(-pchisq(${z * z}, 1, lower.tail = FALSE, log.p = TRUE) / log(10))`).join('\n')}
`,
      dir,
    );
    const ref = out.trim().split('\n').map(Number);
    const ours = [
      ...tCases.map(([t, df]) => mlog10PTwoSidedT(t, df)),
      ...zCases.map((z) => mlog10PTwoSidedNormal(z)),
      ...chiCases.map(([x, k]) => mlog10PChiSq(x, k)),
      ...zCases.map((z) => mlog10PChiSq1(z * z)),
    ];
    expect(ref).toHaveLength(ours.length);
    ours.forEach((v, i) => {
      expect(Number.isFinite(v), `case ${i}`).toBe(true);
      expect(Math.abs(v - ref[i]) / Math.max(ref[i], 1e-3), `case ${i}: ${v} vs R ${ref[i]}`).toBeLessThan(
        1e-9,
      );
    });
    // the extreme cases really are below the double floor
    expect(Math.max(...ours.slice(0, tCases.length))).toBeGreaterThan(308);
    expect(Math.max(...ours.slice(tCases.length, tCases.length + zCases.length))).toBeGreaterThan(308);
    expect(
      Math.max(...ours.slice(tCases.length + zCases.length, tCases.length + zCases.length + chiCases.length)),
    ).toBeGreaterThan(308);
  });

  it('p and −log10 p are continuous across the log-space switch', () => {
    for (const df of [30, 1000, 1e5]) {
      for (let t = 5; t < 400; t *= 1.05) {
        const p = pTwoSidedT(t, df);
        if (p > 1e-280 && p < 1e-250)
          expect(Math.abs(mlog10PTwoSidedT(t, df) + Math.log10(p))).toBeLessThan(1e-9);
      }
    }
    const p = pChiSq(1200, 3);
    expect(Math.abs(mlog10PChiSq(1200, 3) + Math.log10(p))).toBeLessThan(1e-9);
  });

  it('edge inputs', () => {
    expect(pTwoSidedT(0, 10)).toBe(1);
    expect(mlog10PTwoSidedT(Number.POSITIVE_INFINITY, 10)).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isNaN(mlog10PTwoSidedT(Number.NaN, 10))).toBe(true);
    expect(Number.isNaN(pTwoSidedT(1, 0))).toBe(true);
    expect(mlog10PChiSq(0, 3)).toBe(0);
    expect(Z_975).toBeCloseTo(normalQuantile(0.975, 0, 1), 14);
  });

  it("Hill's expansion (used from 5,000 df) equals the incomplete beta to 1e-10 relative", () => {
    let worst = 0;
    for (const df of [HILL_MIN_DF, 12_345, 100_000, 2_000_000]) {
      for (let t = 0.001; t < 60; t *= 1.07) {
        const exact = pTwoSidedTBeta(t * t, df);
        if (exact < 1e-300) break;
        worst = Math.max(worst, Math.abs(pTwoSidedT(t, df) - exact) / exact);
        expect(pTwoSidedT(-t, df)).toBe(pTwoSidedT(t, df));
      }
    }
    expect(worst).toBeLessThan(1e-10);
    expect(worst).toBeGreaterThan(0); // the fast path did run
    expect(pTwoSidedT(0, HILL_MIN_DF)).toBe(1);
  });
});
