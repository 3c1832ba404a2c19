/**
 * Meta-analysis and allele alignment (stats/meta.ts) against R `metafor`, computed at test time:
 *  1. a fixture of three inputs × 80 variants (homogeneous and heterogeneous effects, a swapped
 *     variant, strand flips, strand-ambiguous A/T and C/G SNPs resolved by EAF or dropped, an
 *     allele mismatch, a variant missing from one input, a one-input variant, identical βs, and
 *     a hit with p far below 1e-308) is presented as the sites would write it and run through
 *     `alignAlleles` + `applyAlignment` + `metaAnalyse`. The aligned βs must equal the fixture's
 *     truth, and fixed-effect β, SE, z, p, Q, Q p, I², DerSimonian–Laird τ², β, SE, z, p must
 *     equal `rma(yi, sei = …, method = "FE")` / `method = "DL"` on the truth to 1e-8 relative;
 *     leave-one-out equals `leave1out(rma(…, method = "FE"))`; the sample-size-weighted z
 *     equals an R one-liner;
 *  2. the documented edge cases (no input, one input, SE = 0, missing N, τ² = 0) give statuses.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ALIGN,
  type AlignAction,
  alignAlleles,
  alleleCoder,
  applyAlignment,
  droppedEntries,
  LOO_STATUS,
  META_N_STATUS,
  META_STATUS,
  metaAnalyse,
  metaLeaveOneOut,
} from '../../stats/meta.js';
import { rng } from '../helpers/rng.js';
import { runR } from './fixture.js';

const K = 3;
const COMP: Record<string, string> = { A: 'T', C: 'G', G: 'C', T: 'A' };

/** One entry as a site reports it, plus what alignment must do with it. */
interface Entry {
  effect: string;
  other: string;
  eaf: number;
  beta: number;
  se: number;
  n: number;
  /** β in the reference orientation (what R gets), undefined when the entry must be dropped. */
  truth?: number;
  expect: AlignAction;
}

interface Fixture {
  m: number;
  /** entries[j][i], undefined where input i lacks variant j. */
  entries: (Entry | undefined)[][];
  /** special variants by name. */
  special: Record<string, number>;
}

function makeFixture(seed: number): Fixture {
  const { next, normal } = rng(seed);
  const pairs: [string, string][] = [
    ['A', 'G'],
    ['C', 'T'],
    ['G', 'A'],
    ['T', 'C'],
    ['A', 'C'],
    ['G', 'T'],
  ];
  const entries: (Entry | undefined)[][] = [];
  const special: Record<string, number> = {};
  /** a variant with reference alleles (e, o), EAF f, common effect mu and heterogeneity sd tau. */
  const variant = (e: string, o: string, f: number, mu: number, tau: number): Entry[] =>
    Array.from({ length: K }, (_, i) => {
      const se = 0.02 + 0.06 * next();
      const beta = mu + tau * normal() + se * normal();
      return {
        effect: e,
        other: o,
        eaf: Math.min(0.99, Math.max(0.01, f + 0.02 * normal())),
        beta,
        se,
        n: Math.round(1000 + 19000 * next()) + i,
        truth: beta,
        expect: i === 0 ? 'reference' : 'same',
      };
    });
  for (let j = 0; j < 60; j++) {
    const [e, o] = pairs[j % pairs.length];
    const f = next() < 0.5 ? 0.05 + 0.3 * next() : 0.65 + 0.3 * next();
    entries.push(variant(e, o, f, 0.1 * normal(), j % 2 === 0 ? 0 : 0.1 + 0.1 * next()));
  }
  const add = (name: string, row: (Entry | undefined)[]) => {
    special[name] = entries.length;
    entries.push(row);
  };
  const swap = (x: Entry): Entry => ({
    ...x,
    effect: x.other,
    other: x.effect,
    beta: -x.beta,
    eaf: 1 - x.eaf,
  });
  const strand = (x: Entry): Entry => ({ ...x, effect: COMP[x.effect], other: COMP[x.other] });
  // input 1 reports the other allele as effect allele
  {
    const v = variant('A', 'G', 0.2, 0.15, 0.05);
    add('swapped', [v[0], { ...swap(v[1]), expect: 'swapped' }, v[2]]);
  }
  // input 2 does not have the variant
  {
    const v = variant('C', 'T', 0.7, -0.05, 0.1);
    add('missing', [v[0], v[1], undefined]);
  }
  // input 2 on the opposite strand; input 1 on the opposite strand and swapped
  {
    const v = variant('A', 'G', 0.3, 0.08, 0);
    add('strand', [
      v[0],
      { ...strand(swap(v[1])), expect: 'strand_swapped' },
      { ...strand(v[2]), expect: 'strand' },
    ]);
  }
  // A/T with EAF 0.2: input 1 has the same letters but is on the other strand (EAF 0.8: a swap),
  // input 2 swapped the letters on the forward strand (EAF 0.8: a swap)
  {
    const v = variant('A', 'T', 0.2, 0.12, 0.02);
    const flipped = { ...swap(v[1]), effect: 'A', other: 'T', expect: 'strand_swapped' as const };
    add('palindromic', [v[0], flipped, { ...swap(v[2]), expect: 'swapped' }]);
  }
  // A/T swapped letters, same-side EAF: a strand flip only (β kept)
  {
    const v = variant('T', 'A', 0.25, -0.1, 0);
    add('palindromic_strand', [v[0], v[1], { ...v[2], effect: 'A', other: 'T', expect: 'strand' }]);
  }
  // C/G with EAF 0.45 in input 1: dropped there
  {
    const v = variant('C', 'G', 0.3, 0.05, 0);
    add('ambiguous', [
      v[0],
      { ...v[1], eaf: 0.45, truth: undefined, expect: 'strand_ambiguous' },
      { ...v[2], eaf: 0.33 },
    ]);
  }
  // A/T with EAF 0.5 in input 0: dropped, input 1 becomes the reference
  {
    const v = variant('A', 'T', 0.15, 0.2, 0);
    add('ambiguous_first', [
      { ...v[0], eaf: 0.5, truth: undefined, expect: 'strand_ambiguous' },
      { ...v[1], expect: 'reference' },
      v[2],
    ]);
  }
  // input 2 has other alleles at the site
  {
    const v = variant('A', 'C', 0.4, 0.03, 0);
    add('mismatch', [v[0], v[1], { ...v[2], other: 'G', truth: undefined, expect: 'allele_mismatch' }]);
  }
  // only input 1 has the variant
  {
    const v = variant('G', 'T', 0.1, 0.3, 0);
    add('single', [undefined, { ...v[1], expect: 'reference' }, undefined]);
  }
  // identical β: Q = 0
  {
    const v = variant('T', 'G', 0.6, 0, 0).map((x) => ({ ...x, beta: 0.07, truth: 0.07 }));
    add('identical', v);
  }
  // a hit with p far below the double-precision floor (z ≈ 60)
  {
    const v = variant('C', 'A', 0.3, 0, 0).map((x) => ({ ...x, beta: 0.7 + 0.01 * x.n * 1e-4, se: 0.02 }));
    for (const x of v) x.truth = x.beta;
    add('extreme', v);
  }
  return { m: entries.length, entries, special };
}

/** The fixture as site-reported arrays (input-major). */
function present(fx: Fixture) {
  const { m } = fx;
  const coder = alleleCoder();
  const size = K * m;
  const effect = new Int32Array(size).fill(-1);
  const other = new Int32Array(size).fill(-1);
  const eaf = new Float64Array(size).fill(Number.NaN);
  const beta = new Float64Array(size).fill(Number.NaN);
  const se = new Float64Array(size).fill(Number.NaN);
  const n = new Float64Array(size).fill(Number.NaN);
  for (let j = 0; j < m; j++)
    for (let i = 0; i < K; i++) {
      const x = fx.entries[j][i];
      if (!x) continue;
      const at = i * m + j;
      effect[at] = coder.code(x.effect);
      other[at] = coder.code(x.other);
      eaf[at] = x.eaf;
      beta[at] = x.beta;
      se[at] = x.se;
      n[at] = x.n;
    }
  return { coder, alleles: { k: K, m, effect, other, eaf }, stats: { k: K, m, beta, se, n, eaf } };
}

/** Relative agreement with a floor for values that are 0 in exact arithmetic. */
function expectClose(actual: number, expected: number, label: string, rel = 1e-8, abs = 0): void {
  if (Number.isNaN(expected)) {
    expect(actual, label).toBeNaN();
    return;
  }
  const tol = rel * Math.max(Math.abs(actual), Math.abs(expected)) + abs;
  expect(Math.abs(actual - expected), `${label}: ${actual} vs metafor ${expected}`).toBeLessThanOrEqual(tol);
}

const R_SCRIPT = (dir: string) => `
suppressPackageStartupMessages(library(metafor))
d <- read.csv(${JSON.stringify(join(dir, 'truth.csv'))})
g <- function(df) { df[] <- lapply(df, function(c) if (is.numeric(c)) sprintf('%.17g', c) else c); df }
out <- list(); loo <- list()
for (v in unique(d$variant)) {
  s <- d[d$variant == v, ]
  fe <- rma(yi = s$yi, sei = s$sei, method = "FE")
  dl <- rma(yi = s$yi, sei = s$sei, method = "DL")
  zn <- sum(sqrt(s$n) * s$yi / s$sei) / sqrt(sum(s$n))
  out[[length(out) + 1]] <- data.frame(variant = v, k = nrow(s), beta = fe$beta[1], se = fe$se,
    z = fe$zval, p = fe$pval, mlog10p = -(log(2) + pnorm(-abs(fe$zval), log.p = TRUE)) / log(10),
    q = fe$QE, qp = fe$QEp, i2 = fe$I2, tau2 = dl$tau2, beta_re = dl$beta[1], se_re = dl$se,
    z_re = dl$zval, p_re = dl$pval, i2_re = dl$I2, zn = zn, pn = 2 * pnorm(-abs(zn)))
  if (nrow(s) >= 2) {
    l <- leave1out(fe)
    loo[[length(loo) + 1]] <- data.frame(variant = v, input = s$input, beta = l$estimate, se = l$se,
      z = l$zval, p = l$pval, q = l$Q, qp = l$Qp, i2 = l$I2)
  }
}
write.csv(g(do.call(rbind, out)), ${JSON.stringify(join(dir, 'rma.csv'))}, row.names = FALSE, quote = FALSE)
write.csv(g(do.call(rbind, loo)), ${JSON.stringify(join(dir, 'loo.csv'))}, row.names = FALSE, quote = FALSE)
`;

function readCsv(path: string): Record<string, number>[] {
  const [head, ...rows] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = head.split(',');
  return rows.map((r) => Object.fromEntries(r.split(',').map((v, c) => [cols[c], Number(v)])));
}

describe('meta-analysis against R metafor', () => {
  it('alignment recovers the reference orientation; FE, DL, Q, I², τ², LOO and sample-size z agree to 1e-8', () => {
    const fx = makeFixture(20100715);
    const { coder, alleles, stats } = present(fx);
    // the fixture plants strand-flipped A/T and C/G entries of one population: infer strand from EAF
    const al = alignAlleles(alleles, { inferStrand: true });
    const aligned = applyAlignment(stats, al);
    // by default letters decide: no palindromic entry is taken as strand-flipped
    const byLetters = alignAlleles(alleles);
    const palindromic = (t: number) => {
      const e = alleles.effect[t];
      const o = alleles.other[t];
      return e >= 0 && e < 4 && o === 3 - e;
    };
    let nPal = 0;
    for (let t = 0; t < byLetters.action.length; t++) {
      if (!palindromic(t)) continue;
      nPal++;
      expect(['strand', 'strand_swapped']).not.toContain(ALIGN[byLetters.action[t]]);
    }
    expect(nPal).toBeGreaterThan(0);

    // 1. alignment: actions as planted, aligned β equal to the truth, drops reported
    const truthRows = ['variant,input,yi,sei,n'];
    for (let j = 0; j < fx.m; j++)
      for (let i = 0; i < K; i++) {
        const x = fx.entries[j][i];
        const at = i * fx.m + j;
        expect(ALIGN[al.action[at]], `variant ${j} input ${i}`).toBe(x ? x.expect : 'absent');
        if (!x || x.truth === undefined) {
          expect(aligned.beta[at], `variant ${j} input ${i} dropped`).toBeNaN();
          continue;
        }
        expect(aligned.beta[at], `variant ${j} input ${i} aligned β`).toBe(x.truth);
        truthRows.push(`${j},${i},${x.truth},${x.se},${x.n}`);
      }
    const { special } = fx;
    expect(coder.alleles[al.refEffect[special.swapped]]).toBe('A');
    expect(coder.alleles[al.refOther[special.swapped]]).toBe('G');
    expect(al.refInput[special.ambiguous_first]).toBe(1);
    // the swapped entry's EAF is turned back to the reference allele's
    expect(aligned.eaf?.[1 * fx.m + special.swapped]).toBe(1 - fx.entries[special.swapped][1]!.eaf);
    expect(Array.from(al.dropped.strand_ambiguous)).toEqual([1, 1, 0]);
    expect(Array.from(al.dropped.allele_mismatch)).toEqual([0, 0, 1]);
    const dropped = droppedEntries(al);
    expect(Array.from(dropped.variant)).toEqual([
      special.ambiguous_first,
      special.ambiguous,
      special.mismatch,
    ]);
    expect(Array.from(dropped.reason, (r) => ALIGN[r])).toEqual([
      'strand_ambiguous',
      'strand_ambiguous',
      'allele_mismatch',
    ]);

    // 2. meta-analysis of the aligned inputs vs metafor on the truth
    const res = metaAnalyse(aligned);
    const loo = metaLeaveOneOut(aligned);
    const dir = mkdtempSync(join(tmpdir(), 'biobank-meta-'));
    try {
      writeFileSync(join(dir, 'truth.csv'), `${truthRows.join('\n')}\n`);
      runR(R_SCRIPT(dir), dir);
      const rma = readCsv(join(dir, 'rma.csv'));
      expect(rma).toHaveLength(fx.m);
      let heterogeneous = 0;
      for (const r of rma) {
        const j = r.variant;
        const at = `variant ${j}`;
        expect(res.nInputs[j], at).toBe(r.k);
        expectClose(res.beta[j], r.beta, `${at} β`);
        expectClose(res.se[j], r.se, `${at} SE`);
        expectClose(res.z[j], r.z, `${at} z`);
        if (r.p > 0) expectClose(res.p[j], r.p, `${at} p`);
        expectClose(res.mlog10p[j], r.mlog10p, `${at} −log10 p`);
        // Q is 0 in exact arithmetic for identical βs: metafor's value there is rounding noise
        expectClose(res.q[j], r.q, `${at} Q`, 1e-8, 1e-20);
        expectClose(res.tau2[j], r.tau2, `${at} τ²`, 1e-8, 1e-20);
        if (r.tau2 > 0) heterogeneous++;
        if (r.k >= 2) {
          expectClose(res.qP[j], r.qp, `${at} Q p`);
          expectClose(res.i2[j], r.i2, `${at} I²`, 1e-8, 1e-12);
          expectClose(res.i2[j], r.i2_re, `${at} I² (DL)`, 1e-8, 1e-12);
          expect(META_STATUS[res.status[j]]).toBe('ok');
        } else {
          // our documented choice for one input: Q p and I² undefined, flagged by the status
          expect(res.qP[j]).toBeNaN();
          expect(res.i2[j]).toBeNaN();
          expect(META_STATUS[res.status[j]]).toBe('single_input');
        }
        expectClose(res.betaRe[j], r.beta_re, `${at} β RE`);
        expectClose(res.seRe[j], r.se_re, `${at} SE RE`);
        expectClose(res.zRe[j], r.z_re, `${at} z RE`);
        if (r.p_re > 0) expectClose(res.pRe[j], r.p_re, `${at} p RE`);
        expectClose(res.zN[j], r.zn, `${at} sample-size z`);
        if (r.pn > 0) expectClose(res.pN[j], r.pn, `${at} sample-size p`);
      }
      // both branches of DL ran: τ² > 0 and τ² = 0
      expect(heterogeneous).toBeGreaterThan(10);
      expect(heterogeneous).toBeLessThan(fx.m - 10);
      // the extreme hit: p underflows in double precision, −log10 p does not
      expect(res.p[special.extreme]).toBe(0);
      expect(res.mlog10p[special.extreme]).toBeGreaterThan(400);

      const rLoo = readCsv(join(dir, 'loo.csv'));
      expect(rLoo.length).toBeGreaterThan(2 * fx.m);
      for (const r of rLoo) {
        const o = r.input * fx.m + r.variant;
        const at = `variant ${r.variant} without input ${r.input}`;
        expectClose(loo.beta[o], r.beta, `${at} β`);
        expectClose(loo.se[o], r.se, `${at} SE`);
        expectClose(loo.z[o], r.z, `${at} z`);
        if (r.p > 0) expectClose(loo.p[o], r.p, `${at} p`);
        expectClose(loo.q[o], r.q, `${at} Q`, 1e-8, 1e-20);
        const single = LOO_STATUS[loo.status[o]] === 'single_left';
        if (!single) {
          expectClose(loo.qP[o], r.qp, `${at} Q p`);
          expectClose(loo.i2[o], r.i2, `${at} I²`, 1e-8, 1e-12);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // 3. direction strings, METAL style
    expect(res.direction[special.missing]).toMatch(/^[+-][+-]\?$/);
    expect(res.direction[special.single]).toMatch(/^\?[+-]\?$/);
    expect(res.direction[special.ambiguous]).toMatch(/^[+-]\?[+-]$/);
    for (let j = 0; j < fx.m; j++) {
      const want = Array.from({ length: K }, (_, i) => {
        const t = fx.entries[j][i]?.truth;
        return t === undefined ? '?' : t > 0 ? '+' : t < 0 ? '-' : '0';
      }).join('');
      expect(res.direction[j], `variant ${j}`).toBe(want);
    }
  });
});

describe('meta-analysis edge cases', () => {
  const nan = Number.NaN;
  it('no input, SE = 0 and non-finite β, missing N, τ² = 0, a given reference', () => {
    // 4 variants × 2 inputs, input-major
    const x = {
      k: 2,
      m: 4,
      beta: Float64Array.from([nan, 0.1, 0.25, 0.3, nan, Number.POSITIVE_INFINITY, 0.25, 0.31]),
      se: Float64Array.from([nan, 0, 0.5, 0.1, nan, 0.1, 0.25, 0.1]),
      n: Float64Array.from([100, 100, 100, nan, 100, 100, 100, 100]),
    };
    const r = metaAnalyse(x);
    expect(META_STATUS[r.status[0]]).toBe('no_inputs');
    expect(META_N_STATUS[r.nStatus[0]]).toBe('no_inputs');
    expect(r.direction[0]).toBe('??');
    expect(r.beta[0]).toBeNaN();
    // variant 1: SE 0 in input 0 and β = ∞ in input 1 are unusable
    expect(META_STATUS[r.status[1]]).toBe('no_inputs');
    expect(r.nInvalid[1]).toBe(2);
    // variant 2: identical β: Q = 0, I² = 0, τ² = 0, RE = FE
    expect(r.q[2]).toBe(0);
    expect(r.i2[2]).toBe(0);
    expect(r.tau2[2]).toBe(0);
    expect(r.betaRe[2]).toBe(r.beta[2]);
    expect(r.seRe[2]).toBe(r.se[2]);
    expect(r.qP[2]).toBe(1);
    // variant 3: N missing in input 0 → no sample-size z, FE still there
    expect(META_N_STATUS[r.nStatus[3]]).toBe('n_missing');
    expect(r.zN[3]).toBeNaN();
    expect(r.beta[3]).toBeCloseTo(0.305, 12);
    // leave-one-out on a two-input variant leaves one: Q p and I² undefined
    const loo = metaLeaveOneOut(x, Int32Array.from([2, 1]));
    expect(Array.from(loo.status, (s) => LOO_STATUS[s])).toEqual([
      'single_left',
      'absent',
      'single_left',
      'absent',
    ]);
    expect(loo.beta[0]).toBe(0.25);
    expect(loo.qP[0]).toBeNaN();

    // a given reference (e.g. REF/ALT): an A/T SNP with no usable reference EAF is matched by letters
    const c = alleleCoder();
    const al = alignAlleles(
      {
        k: 2,
        m: 2,
        effect: Int32Array.from([c.code('T'), c.code('A'), c.code('A'), c.code('TA')]),
        other: Int32Array.from([c.code('A'), c.code('G'), c.code('T'), c.code('T')]),
        eaf: Float64Array.from([0.2, 0.3, 0.5, 0.1]),
      },
      {
        reference: {
          effect: Int32Array.from([c.code('A'), c.code('A')]),
          other: Int32Array.from([c.code('T'), c.code('G')]),
        },
      },
    );
    expect(Array.from(al.action, (a) => ALIGN[a])).toEqual([
      'swapped',
      'same',
      'strand_ambiguous',
      'allele_mismatch',
    ]);
    expect(Array.from(al.refInput)).toEqual([-1, -1]);
  });
});
