/**
 * The saddlepoint-approximated score test (stats/spa.ts):
 *  1. against an independent base-R implementation of the same formulas, written below (null
 *     model by glm(binomial), covariate-adjusted genotype by solve(XᵀWX), the CGF and its
 *     derivatives, uniroot for the saddlepoint, pnorm(log.p = TRUE) for the tails, and the
 *     fast split computed directly as Σ_{g=0} w G̃²): −log10 p to 1e-6 relative, on a few hundred
 *     rare, low-frequency and common variants (some causal, one with p < 1e-300) of a 10 % and a
 *     1 % prevalence trait, for the fast SPA at cutoffs 2 and 0.1 and the full SPA at 0.1;
 *  2. type-I error on a 1 % prevalence trait: over 200,000 null low-frequency variants the SPA
 *     rejection count at α = 1e-4 lies in its 99 % binomial interval, the plain score test's does
 *     not (it is inflated);
 *  3. edge cases: monomorphic, collinear, no saddlepoint root (normal fallback, flagged), p below
 *     1e-300, and β/SE reproducing the reported p.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mlog10PTwoSidedNormal } from '../../stats/distributions.js';
import { designMatrix, logisticFit } from '../../stats/logistic-fit.js';
import { boxMullerNormal, mulberry32 } from '../../stats/random.js';
import {
  lnUpperNormal,
  newSpaResult,
  type SpaNullModel,
  type SpaOptions,
  spaNullModel,
  spaScoreTest,
  spaScoreTestDense,
  zFromLnTwoSidedP,
} from '../../stats/spa.js';
import { runR } from './fixture.js';

const expit = (x: number) => 1 / (1 + Math.exp(-x));

/** Null model y ~ 1 + covariates through the engine's own logistic fit. */
function fitNull(y: Float64Array, covariates: Float64Array[]): SpaNullModel {
  const x = designMatrix(y.length, covariates);
  const q = covariates.length + 1;
  const fit = logisticFit(y, x, q);
  expect(fit.status).toBe('ok');
  return spaNullModel(y, fit.fitted, x, q);
}

/** β/SE must reproduce the reported p: 2Φ̄(|β|/SE) = p (checked through distributions.ts). */
function expectSeReproducesP(r: ReturnType<typeof newSpaResult>, label: string) {
  const back = mlog10PTwoSidedNormal(r.beta / r.se);
  expect(
    Math.abs(back - r.mlog10p),
    `${label}: −log10 p from β/SE ${back} vs ${r.mlog10p}`,
  ).toBeLessThanOrEqual(1e-9 * Math.max(1, r.mlog10p));
}

const MODES: Record<string, SpaOptions> = {
  fast2: { cutoff: 2, fast: true },
  fast01: { cutoff: 0.1, fast: true },
  full01: { cutoff: 0.1, fast: false },
};

const R_SCRIPT = (dir: string, n: number) => `
d <- read.csv(${JSON.stringify(join(dir, 'pheno.csv'))})
G <- matrix(scan(${JSON.stringify(join(dir, 'geno.txt'))}, quiet = TRUE), nrow = ${n})
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
# log P(S >= s) (s > 0) or log P(S <= s) (s < 0) by Lugannani-Rice, CGF over (ge, me) plus N(0, vr)
logtail <- function(s, ge, me, vr) {
  K <- function(t) sum(log(1 - me + me * exp(ge * t))) - t * sum(ge * me) + vr * t^2 / 2
  K1 <- function(t) sum(me * ge * exp(ge * t) / (1 - me + me * exp(ge * t))) - sum(ge * me) + vr * t
  K2 <- function(t) { e <- exp(ge * t); sum(me * (1 - me) * ge^2 * e / (1 - me + me * e)^2) + vr }
  iv <- if (s > 0) c(0, 1) else c(-1, 0)
  zeta <- uniroot(function(t) K1(t) - s, iv, extendInt = 'upX', tol = 1e-14, maxiter = 10000)$root
  w <- sign(zeta) * sqrt(2 * (zeta * s - K(zeta)))
  v <- zeta * sqrt(K2(zeta))
  u <- w + log(v / w) / w
  if (s > 0) pnorm(u, lower.tail = FALSE, log.p = TRUE) else pnorm(u, log.p = TRUE)
}
modes <- list(fast2 = c(2, 1), fast01 = c(0.1, 1), full01 = c(0.1, 0))
for (k in 0:1) {
  y <- d[[paste0('y', k)]]
  f0 <- glm(y ~ x1 + x2, family = binomial, data = d, control = ctl)
  for (it in 1:2) f0 <- glm(y ~ x1 + x2, family = binomial, data = d, control = ctl, start = coef(f0))
  mu <- fitted(f0); X <- model.matrix(f0); W <- mu * (1 - mu)
  XWX <- crossprod(X, X * W)
  for (j in seq_len(ncol(G))) {
    g <- G[, j]
    gt <- as.vector(g - X %*% solve(XWX, crossprod(X, W * g)))
    S <- sum(gt * (y - mu)); V <- sum(W * gt^2); z <- S / sqrt(V)
    nz <- g != 0
    for (mode in names(modes)) {
      cutoff <- modes[[mode]][1]; fast <- modes[[mode]][2] == 1 && 2 * sum(nz) <= length(g)
      if (abs(z) < cutoff) {
        lp <- log(2) + pnorm(-abs(z), log.p = TRUE); method <- 'normal'
      } else {
        if (fast) { ge <- gt[nz]; me <- mu[nz]; vr <- sum(W[!nz] * gt[!nz]^2) } else { ge <- gt; me <- mu; vr <- 0 }
        a <- logtail(abs(S), ge, me, vr); b <- logtail(-abs(S), ge, me, vr)
        lp <- min(max(a, b) + log1p(exp(min(a, b) - max(a, b))), 0); method <- 'spa'
      }
      cat(k, j - 1, mode, method, sprintf('%.17g', -lp / log(10)), sprintf('%.17g', S), sprintf('%.17g', V), '\\n')
    }
  }
}
`;

describe('SPA score test against an independent R implementation', () => {
  it('−log10 p to 1e-6 relative (fast SPA at cutoffs 2 and 0.1, full SPA), β = S/V, SE from p', () => {
    const n = 5000;
    const u = mulberry32(20170706);
    const x1 = Float64Array.from({ length: n }, () => boxMullerNormal(u));
    const x2 = Float64Array.from({ length: n }, () => (u() < 0.5 ? 1 : 0));
    const hwe = (f: number) => Uint8Array.from({ length: n }, () => (u() < f ? 1 : 0) + (u() < f ? 1 : 0));
    const genos: Uint8Array[] = [];
    // causal: rare, low-frequency and common, with log-ORs 2, 1.5, 1, 0.5, 0.3
    const causal: [number, number][] = [
      [0.004, 2],
      [0.01, 1.5],
      [0.03, 1],
      [0.2, 0.5],
      [0.4, 0.3],
    ];
    for (const [f] of causal) genos.push(hwe(f));
    for (let v = 0; v < 270; v++) {
      const f = v % 3 === 0 ? 0.001 + 0.009 * u() : v % 3 === 1 ? 0.01 + 0.04 * u() : 0.05 + 0.45 * u();
      genos.push(hwe(f));
    }
    const traits = [0.1, 0.01].map((prev) => {
      const a = Math.log(prev / (1 - prev));
      return Float64Array.from({ length: n }, (_, i) => {
        let eta = a + 0.4 * x1[i] + 0.3 * x2[i];
        causal.forEach(([, b], v) => {
          eta += b * genos[v][i];
        });
        return u() < expit(eta) ? 1 : 0;
      });
    });
    // an extreme variant: every case of the 10 % trait and 1 % of its controls carry it (p < 1e-300)
    genos.push(Uint8Array.from(traits[0], (yi) => (yi === 1 || u() < 0.01 ? 1 : 0)));
    const m = genos.length;

    const dir = mkdtempSync(join(tmpdir(), 'biobank-spa-'));
    const lines = ['x1,x2,y0,y1'];
    for (let i = 0; i < n; i++) lines.push(`${x1[i]},${x2[i]},${traits[0][i]},${traits[1][i]}`);
    writeFileSync(join(dir, 'pheno.csv'), `${lines.join('\n')}\n`);
    writeFileSync(join(dir, 'geno.txt'), genos.map((g) => g.join(' ')).join('\n'));
    const ref = new Map<string, { method: string; mlog10p: number; s: number; v: number }>();
    let rOut: string;
    try {
      rOut = runR(R_SCRIPT(dir, n), dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const line of rOut.trim().split('\n')) {
      const [k, j, mode, method, mlog10p, s, v] = line.trim().split(/\s+/);
      ref.set(`${k}:${j}:${mode}`, { method, mlog10p: Number(mlog10p), s: Number(s), v: Number(v) });
    }
    expect(ref.size).toBe(2 * m * Object.keys(MODES).length);

    const out = newSpaResult();
    const g = new Float64Array(n);
    const count = { spa: 0, normal: 0, below300: 0, maxRel: 0 };
    traits.forEach((y, k) => {
      let cases = 0;
      for (const yi of y) cases += yi;
      expect(cases).toBeGreaterThan(k === 0 ? 300 : 35);
      const model = fitNull(y, [x1, x2]);
      for (let j = 0; j < m; j++) {
        g.set(genos[j]);
        for (const [mode, opts] of Object.entries(MODES)) {
          const label = `trait ${k} variant ${j} ${mode}`;
          const r = spaScoreTestDense(model, g, opts, out);
          const e = ref.get(`${k}:${j}:${mode}`)!;
          expect(r.status, label).toBe('ok');
          expect(r.method, label).toBe(e.method);
          const rel = Math.abs(r.mlog10p - e.mlog10p) / Math.max(e.mlog10p, 1e-3);
          expect(rel, `${label}: −log10 p ${r.mlog10p} vs R ${e.mlog10p}`).toBeLessThanOrEqual(1e-6);
          expect(Math.abs(r.s - e.s), `${label}: S`).toBeLessThanOrEqual(1e-6 * Math.sqrt(e.v));
          expect(Math.abs(r.v - e.v), `${label}: V`).toBeLessThanOrEqual(1e-6 * e.v);
          expect(Math.abs(r.beta - e.s / e.v), `${label}: β`).toBeLessThanOrEqual(
            1e-6 * Math.abs(e.s / e.v) + 1e-9,
          );
          expectSeReproducesP(r, label);
          count[r.method === 'spa' ? 'spa' : 'normal']++;
          if (r.mlog10p > 300) count.below300++;
          count.maxRel = Math.max(count.maxRel, rel);
        }
      }
    });
    // the comparison exercised both branches and the far tail
    expect(count.spa).toBeGreaterThan(800);
    expect(count.normal).toBeGreaterThan(200);
    expect(count.below300).toBeGreaterThanOrEqual(3);
  });
});

/** Exact 99 % interval [q(0.005), q(0.995)] of Binomial(N, α) by summing the pmf. */
function binomialInterval(N: number, alpha: number): [number, number] {
  let pmf = Math.exp(N * Math.log1p(-alpha));
  let cdf = pmf;
  let lo = -1;
  for (let k = 0; k <= N; k++) {
    if (lo < 0 && cdf >= 0.005) lo = k;
    if (cdf >= 0.995) return [lo, k];
    pmf *= ((N - k) / (k + 1)) * (alpha / (1 - alpha));
    cdf += pmf;
  }
  return [lo, N];
}

describe('SPA type-I error on a 1 % prevalence trait', () => {
  it('SPA rejections at α = 1e-4 within the 99 % binomial interval over 200,000 null variants; score test inflated', () => {
    const n = 10_000;
    const nVariants = 200_000;
    const alpha = 1e-4;
    const u = mulberry32(1);
    const x1 = Float64Array.from({ length: n }, () => boxMullerNormal(u));
    const x2 = Float64Array.from({ length: n }, () => (u() < 0.5 ? 1 : 0));
    const y = Float64Array.from({ length: n }, (_, i) =>
      u() < expit(-4.75 + 0.3 * x1[i] + 0.2 * x2[i]) ? 1 : 0,
    );
    let cases = 0;
    for (const yi of y) cases += yi;
    expect(cases).toBeGreaterThan(70);
    expect(cases).toBeLessThan(130);
    const model = fitNull(y, [x1, x2]);
    // Null variants drawn independently of y, carriers only: MAF ~ U(0.2 %, 3 %), carrier count
    // from the normal approximation to Binomial(n, 1 − (1 − f)²), carriers chosen uniformly
    // (distinct, marked by a stamp), homozygous with probability f²/(1 − (1 − f)²).
    const idx = new Int32Array(n);
    const val = new Float64Array(n);
    const stamp = new Int32Array(n);
    const out = newSpaResult();
    let rejSpa = 0;
    let rejScore = 0;
    let tested = 0;
    for (let v = 1; v <= nVariants; v++) {
      const f = 0.002 + 0.028 * u();
      const pc = 1 - (1 - f) * (1 - f);
      const phom = (f * f) / pc;
      const k = Math.max(0, Math.round(n * pc + Math.sqrt(n * pc * (1 - pc)) * boxMullerNormal(u)));
      let c = 0;
      while (c < k) {
        const i = Math.floor(u() * n);
        if (stamp[i] === v) continue;
        stamp[i] = v;
        idx[c] = i;
        val[c++] = u() < phom ? 2 : 1;
      }
      spaScoreTest(model, idx, val, undefined, out, c);
      if (out.status !== 'ok') continue;
      tested++;
      expect(out.method).not.toBe('normal_fallback');
      if (out.p < alpha) rejSpa++;
      if (out.pScore < alpha) rejScore++;
    }
    const [lo, hi] = binomialInterval(tested, alpha);
    expect(tested).toBeGreaterThan(nVariants - 10);
    expect(
      rejSpa,
      `SPA rejections ${rejSpa} of ${tested}, 99 % interval [${lo}, ${hi}]`,
    ).toBeGreaterThanOrEqual(lo);
    expect(rejSpa, `SPA rejections ${rejSpa} of ${tested}, 99 % interval [${lo}, ${hi}]`).toBeLessThanOrEqual(
      hi,
    );
    expect(
      rejScore,
      `score-test rejections ${rejScore} of ${tested}, 99 % interval [${lo}, ${hi}]`,
    ).toBeGreaterThan(hi);
  });
});

describe('SPA edge cases', () => {
  const n = 400;
  const u = mulberry32(99);
  const x1 = Float64Array.from({ length: n }, () => boxMullerNormal(u));
  const x2 = Float64Array.from({ length: n }, (_, i) => i % 2);
  const y = Float64Array.from({ length: n }, (_, i) => (u() < expit(-2.5 + 0.5 * x1[i]) ? 1 : 0));

  it('monomorphic and collinear variants, no carrier in the model', () => {
    const model = fitNull(y, [x1, x2]);
    const none = spaScoreTestDense(model, new Float64Array(n));
    expect(none.status).toBe('monomorphic');
    expect(Number.isNaN(none.p) && Number.isNaN(none.beta) && Number.isNaN(none.se)).toBe(true);
    expect(spaScoreTestDense(model, new Float64Array(n).fill(2)).status).toBe('monomorphic');
    const sexCopy = spaScoreTestDense(
      model,
      Float64Array.from(x2, (s) => 2 * s),
    );
    expect(sexCopy.status).toBe('collinear');
    expect(Number.isNaN(sexCopy.p)).toBe(true);
    // a model over a subset: carriers outside it add nothing
    const keep = Int32Array.from({ length: n - 10 }, (_, i) => i);
    const ySub = y.subarray(0, n - 10);
    const xSub = designMatrix(n - 10, [x1.subarray(0, n - 10), x2.subarray(0, n - 10)]);
    const sub = spaNullModel(ySub, logisticFit(ySub, xSub, 3).fitted, xSub, 3, { rows: keep, nAll: n });
    const outside = Float64Array.from({ length: n }, (_, i) => (i >= n - 10 ? 1 : 0));
    expect(spaScoreTestDense(sub, outside).status).toBe('monomorphic');
    // …and a variant tested through the outer index space equals the same test on the subset
    const carrier = Float64Array.from({ length: n }, (_, i) => (i % 13 === 0 || i >= n - 10 ? 1 : 0));
    const direct = spaNullModel(ySub, logisticFit(ySub, xSub, 3).fitted, xSub, 3);
    const viaRows = { ...spaScoreTestDense(sub, carrier, { cutoff: 0.1 }) };
    const onSubset = spaScoreTestDense(direct, carrier.subarray(0, n - 10), { cutoff: 0.1 });
    expect(viaRows.method).toBe('spa');
    expect(viaRows.mlog10p).toBeCloseTo(onSubset.mlog10p, 12);
    expect(viaRows.beta).toBeCloseTo(onSubset.beta, 12);
    expect(() =>
      spaScoreTestDense(
        model,
        Float64Array.from({ length: n }, (_, i) => (i === 3 ? Number.NaN : 0)),
      ),
    ).toThrow(/missing/);
  });

  it('no saddlepoint root at the edge of the support: normal fallback, flagged; fast SPA has a root', () => {
    // intercept-only null, carriers exactly the cases: S is the largest value its distribution
    // can take, so K′(ζ) = S has no root without the normal remainder
    const model = fitNull(y, []);
    const g = Float64Array.from(y);
    const full = spaScoreTestDense(model, g, { fast: false });
    expect(full.status).toBe('ok');
    expect(full.method).toBe('normal_fallback');
    expect(Number.isNaN(full.zetaUpper)).toBe(true);
    expect(full.p).toBe(full.pScore);
    expect(full.se).toBeCloseTo(1 / Math.sqrt(full.v), 12);
    const fast = spaScoreTestDense(model, g, { fast: true });
    expect(fast.method).toBe('spa');
    expect(fast.zetaUpper).toBeGreaterThan(0);
    expect(fast.zetaLower).toBeLessThan(0);
  });

  it('p below 1e-300: finite −log10 p, p = 0, β/SE reproduces it; z from ln p inverts ln Φ̄', () => {
    const big = 20_000;
    const v = mulberry32(3);
    const yy = Float64Array.from({ length: big }, () => (v() < 0.05 ? 1 : 0));
    const model = fitNull(yy, []);
    const g = Float64Array.from(yy, (yi) => (yi === 1 || v() < 0.002 ? 1 : 0));
    const r = spaScoreTestDense(model, g);
    expect(r.method).toBe('spa');
    expect(r.p).toBe(0);
    expect(r.mlog10p).toBeGreaterThan(300);
    expect(Number.isFinite(r.mlog10p)).toBe(true);
    expectSeReproducesP(r, 'extreme');
    for (const lnp of [-1e-3, -2, -50, -600, -700, -5000, -1e5]) {
      const z = zFromLnTwoSidedP(lnp);
      expect(Math.abs(lnUpperNormal(z) + Math.LN2 - lnp)).toBeLessThanOrEqual(1e-10 * Math.max(1, -lnp));
    }
  });

  it('reuses the result object and needs no allocation per call (same answer twice)', () => {
    const model = fitNull(y, [x1, x2]);
    const g = Float64Array.from({ length: n }, (_, i) => (i % 37 === 0 ? 1 : 0));
    const out = newSpaResult();
    const a = { ...spaScoreTestDense(model, g, { cutoff: 0.1 }, out) };
    spaScoreTestDense(model, new Float64Array(n), undefined, out);
    expect(out.status).toBe('monomorphic');
    const b = spaScoreTestDense(model, g, { cutoff: 0.1 }, out);
    expect(b).toBe(out);
    expect(b.mlog10p).toBe(a.mlog10p);
    expect(b.method).toBe('spa');
  });
});
