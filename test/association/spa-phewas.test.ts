/**
 * Saddlepoint (SPA) p-values in the PheWAS and in the burden tests (issue 14), through the
 * engine's own code: `fitPhecodes` (phewas/fit.ts, the single-predictor PheWAS), `scorePhecodes`
 * (phewas/many-fit.ts, the many-predictor PheWAS), `writePhewas` (the results contract) and
 * `runBurdenTests` (burden/tests.ts, on Parquet through DuckDB).
 *
 * Fixture: 4,000 persons, covariates c1 and sex, four phecodes (2 % prevalence with exclusions,
 * 5 % female-only, 30 % and 1 %) and seven predictors (rare, common and ALT-major dosages, a
 * sparse burden count, a dense continuous score, a dosage with missing values, and a variant
 * carried only by controls of the 2 % phecode: separation).
 *
 * 1. Every `spa` row's p equals `spaScoreTestDense` (stats/spa.ts) run on the same null fit
 *    (logisticFit of the phecode on the covariates over the row's samples) and the same coded
 *    predictor, to 1e-9 relative in −log10 p; and equals an independent base-R implementation
 *    written below (null by glm, the covariate-adjusted predictor by solve(XᵀWX), the CGF and its
 *    derivatives written out, uniroot for the saddlepoint, Lugannani–Rice, the fast split as
 *    Σ_{x=0} w G̃², the minor-"allele" coding of dosages decided in R) to 1e-6 relative.
 * 2. `auto` applies SPA to the unbalanced phecodes only, `always` to all, `never` to none; rows
 *    with a fit keep the fit's β, SE and CI (those of the `never` run) and are named after it
 *    (`spa_wald` / `spa_firth` where `never` says `wald` / `firth`), and rows without one
 *    (separation with Firth off; the many path's rows above the score threshold) say `spa` and
 *    carry β = S/V and an SE with β/SE reproducing the SPA p. With `never`, rows are those of a
 *    batch without the SPA settings (today's path). The many path refitting every row gives the
 *    single path's rows exactly; the results contract accepts the `spa*` rows.
 * 3. Burden tests of a 2 % prevalence binary trait: every mask's row says `spa_wald` or
 *    `spa_firth` (the fit of `phewas.spa: 'never'`, whose rows are Wald/Firth) and has the p,
 *    β, SE and test of the GWAS kernel (prepareLogistic + logisticGwas) on the same data, and
 *    the p of the R implementation.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { runBurdenTests } from '../../burden/tests.js';
import { fitPhecodes, type PhecodeFit, type PhecodeSets, type PhewasBatch } from '../../phewas/fit.js';
import type { PhecodeInfo } from '../../phewas/inputs.js';
import { scorePhecodes } from '../../phewas/many-fit.js';
import { writePhewas } from '../../phewas/write.js';
import { genotypeFirstSpecSchema } from '../../schemas/study.js';
import type { AnalysisTable, BurdenPlan, PhenomeRef, RunContext } from '../../schemas/study-io.js';
import { mlog10PTwoSidedNormal } from '../../stats/distributions.js';
import { logisticGwas, prepareLogistic } from '../../stats/logistic.js';
import { logisticFit } from '../../stats/logistic-fit.js';
import { spaNullModel, spaScoreTestDense } from '../../stats/spa.js';
import { STATUS, TEST } from '../../stats/status.js';
import { loadConfig } from '../../temporal.config.js';
import { writeAnalysisFixture, writeReleaseFixture } from '../helpers/release-fixture.js';
import { rng } from '../helpers/rng.js';

const dir = mkdtempSync(join(tmpdir(), 'biobank-spa-phewas-'));
afterAll(() => {
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

const expit = (t: number) => 1 / (1 + Math.exp(-t));

/**
 * The independent R implementation: for every predictor column x_* of data.csv and phecode k of
 * phecodes.csv (status column s_k: 1 case, 0 control, NA excluded; `restricted` drops sex), the
 * two-sided SPA p of the score of x against glm(y ~ c1 [+ sex]) over the samples with a status
 * and a predictor value, as stats/spa.ts defines it (cutoff 2, fast split when at most half the
 * samples carry x ≠ 0). A dosage-like x (all values in [0, 2], mean > 1 over its non-missing
 * samples) is tested as 2 − x.
 */
const R_SCRIPT = (dirs: string[]) => `
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
# log P(S >= s) for s > 0, log P(S <= s) for s < 0: Lugannani-Rice with the Bernoulli CGF of the
# exact terms (ge, me) plus a N(0, vr) remainder
lr_tail <- function(s, ge, me, vr) {
  K0 <- function(t) sum(log1p(me * expm1(ge * t))) - t * sum(ge * me) + vr * t^2 / 2
  K1 <- function(t) { e <- exp(ge * t); sum(ge * me * e / (1 - me + me * e)) - sum(ge * me) + vr * t }
  K2 <- function(t) { e <- exp(ge * t); sum(ge^2 * me * (1 - me) * e / (1 - me + me * e)^2) + vr }
  lo <- if (s > 0) 0 else -1
  hi <- if (s > 0) 1 else 0
  zeta <- uniroot(function(t) K1(t) - s, c(lo, hi), extendInt = 'upX', tol = 1e-15, maxiter = 10000)$root
  w <- sign(zeta) * sqrt(2 * (zeta * s - K0(zeta)))
  u <- w + log(zeta * sqrt(K2(zeta)) / w) / w
  if (s > 0) pnorm(u, lower.tail = FALSE, log.p = TRUE) else pnorm(u, log.p = TRUE)
}
for (dir in c(${dirs.map((d) => JSON.stringify(d)).join(', ')})) {
  d <- read.csv(file.path(dir, 'data.csv'))
  phe <- read.csv(file.path(dir, 'phecodes.csv'))
  for (v in grep('^x_', names(d), value = TRUE)) {
    x <- d[[v]]
    has <- !is.na(x)
    if (all(x[has] >= 0 & x[has] <= 2) && mean(x[has]) > 1) x <- 2 - x
    for (j in seq_len(nrow(phe))) {
      k <- phe$k[j]
      y <- d[[paste0('s_', k)]]
      keep <- !is.na(y) & has
      e <- data.frame(y = y[keep], c1 = d$c1[keep], sex = d$sex[keep])
      form <- if (phe$restricted[j] == 1) y ~ c1 else y ~ c1 + sex
      f0 <- glm(form, family = binomial, data = e, control = ctl)
      for (it in 1:2) f0 <- glm(form, family = binomial, data = e, control = ctl, start = coef(f0))
      mu <- fitted(f0); X <- model.matrix(f0); W <- mu * (1 - mu)
      g <- x[keep]
      gt <- as.vector(g - X %*% solve(crossprod(X, X * W), crossprod(X, W * g)))
      S <- sum(gt * (e$y - mu)); V <- sum(W * gt^2); z <- S / sqrt(V)
      if (!(V > 1e-8 * sum(W * g^2))) { cat(dir, v, k, 'none NaN NaN NaN\\n'); next }
      nz <- g != 0
      if (abs(z) < 2) {
        lp <- log(2) + pnorm(-abs(z), log.p = TRUE); method <- 'normal'
      } else {
        if (2 * sum(nz) <= length(g)) { ge <- gt[nz]; me <- mu[nz]; vr <- sum(W[!nz] * gt[!nz]^2) }
        else { ge <- gt; me <- mu; vr <- 0 }
        a <- lr_tail(abs(S), ge, me, vr); b <- lr_tail(-abs(S), ge, me, vr)
        lp <- min(max(a, b) + log1p(exp(min(a, b) - max(a, b))), 0); method <- 'spa'
      }
      cat(dir, v, k, method, sprintf('%.17g', -lp / log(10)), sprintf('%.17g', S), sprintf('%.17g', V), '\\n')
    }
  }
}
`;

interface RRef {
  method: string;
  mlog10p: number;
  s: number;
  v: number;
}

/** Runs the R implementation on the dataset folders; results keyed `dir:predictor:phecode`. */
function rReference(dirs: string[]): Map<string, RRef> {
  const path = join(dir, 'spa.R');
  writeFileSync(path, R_SCRIPT(dirs));
  const out = execFileSync('Rscript', ['--vanilla', path], { encoding: 'utf8' });
  const ref = new Map<string, RRef>();
  for (const line of out.trim().split('\n')) {
    const [d, v, k, method, mlog10p, s, v2] = line.trim().split(/\s+/);
    ref.set(`${d}:${v.slice(2)}:${k}`, { method, mlog10p: Number(mlog10p), s: Number(s), v: Number(v2) });
  }
  return ref;
}

/** data.csv (c1, sex, x_<name>, s_<k>) and phecodes.csv for R. */
function writeRData(
  folder: string,
  c1: Float64Array,
  sex: Float64Array,
  xs: Record<string, ArrayLike<number>>,
  status: Int8Array[],
  restricted: boolean[],
) {
  const names = Object.keys(xs);
  const lines = [['c1', 'sex', ...names.map((v) => `x_${v}`), ...status.map((_, k) => `s_${k}`)].join(',')];
  for (let i = 0; i < c1.length; i++) {
    const xv = names.map((v) => (Number.isNaN(xs[v][i]) ? 'NA' : String(xs[v][i])));
    const sv = status.map((s) => (s[i] < 0 ? 'NA' : String(s[i])));
    lines.push([c1[i], sex[i], ...xv, ...sv].join(','));
  }
  writeFileSync(join(folder, 'data.csv'), `${lines.join('\n')}\n`);
  writeFileSync(
    join(folder, 'phecodes.csv'),
    `k,restricted\n${restricted.map((r, k) => `${k},${r ? 1 : 0}`).join('\n')}\n`,
  );
}

// --- the PheWAS fixture ---------------------------------------------------------------------

const N = 4000;
const r = rng(20170706);
const c1 = Float64Array.from({ length: N }, () => r.normal());
const sex = Float64Array.from({ length: N }, (_, i) => i % 2); // 1 = male
const hwe = (f: number) =>
  Float64Array.from({ length: N }, () => (r.next() < f ? 1 : 0) + (r.next() < f ? 1 : 0));
const xs: Record<string, Float64Array> = {
  rare: hwe(0.01),
  common: hwe(0.3),
  /** ALT allele frequency 0.85: mean 1.7, tested as 2 − x. */
  altMajor: hwe(0.85),
  /** qualifying-allele counts 1–3 in 3 % of persons. */
  burden: Float64Array.from({ length: N }, () => (r.next() < 0.03 ? 1 + Math.floor(3 * r.next()) : 0)),
  /** dense, positive and continuous: every CGF term exact. */
  score: Float64Array.from({ length: N }, () => Math.exp(0.5 * r.normal())),
  missing: Float64Array.from(hwe(0.02), (g) => (r.next() < 0.05 ? Number.NaN : g)),
};
const planted: { prev: number; eta: (i: number) => number; sex: 'F' | null }[] = [
  {
    prev: 0.02,
    eta: (i) =>
      -4.4 + 0.3 * c1[i] + 0.2 * sex[i] + 1.4 * xs.rare[i] + 0.8 * xs.burden[i] + 1.2 * (xs.missing[i] || 0),
    sex: null,
  },
  { prev: 0.05, eta: (i) => -4.0 + 0.3 * c1[i] + 0.6 * xs.altMajor[i], sex: 'F' },
  { prev: 0.3, eta: (i) => -1.0 + 0.3 * c1[i] + 0.3 * xs.common[i], sex: null },
  { prev: 0.01, eta: (i) => -4.9 + 0.3 * c1[i] + 0.9 * xs.burden[i] + 0.3 * xs.score[i], sex: null },
];
/** per phecode: 1 case, 0 control, −1 excluded. */
const statusOf = planted.map(({ eta, sex: only }) =>
  Int8Array.from({ length: N }, (_, i) => {
    if (only === 'F' && sex[i] === 1) return -1;
    const y = r.next() < expit(eta(i)) ? 1 : 0;
    return y === 0 && r.next() < 0.02 ? -1 : y;
  }),
);
// carried only by 4 controls of the 2 % phecode: separation there
xs.controlsOnly = new Float64Array(N);
for (let i = 0, k = 0; i < N && k < 4; i += 97) {
  if (statusOf[0][i] === 0) {
    xs.controlsOnly[i] = 1;
    k++;
  }
}
const names = Object.keys(xs);
const sets: PhecodeSets[] = statusOf.map((s, k) => ({
  index: k,
  sex: planted[k].sex,
  cases: Int32Array.from(s.keys()).filter((i) => s[i] === 1),
  excluded: Int32Array.from(s.keys()).filter((i) => s[i] === -1),
}));
const cov = new Float64Array(2 * N);
cov.set(c1, 0);
cov.set(sex, N);
const base: Omit<PhewasBatch, 'x' | 'phecodes'> = {
  n: N,
  cov,
  nCov: 2,
  sexCols: [1],
  minCases: 10,
  minControls: 10,
  firth: 'fallback',
};

/** Every predictor's rows through the single-predictor path, keyed predictor → phecode rows. */
function single(settings: Partial<PhewasBatch>): Record<string, PhecodeFit[]> {
  return Object.fromEntries(
    names.map((v) => [v, fitPhecodes({ ...base, ...settings, x: xs[v], phecodes: sets })]),
  );
}

/** The many-predictor path; rows re-keyed predictor → phecode rows. */
function many(settings: Partial<PhewasBatch> & { scoreThreshold: number }): Record<string, PhecodeFit[]> {
  const rows = scorePhecodes({
    ...base,
    ...settings,
    xs: names.map((v) => xs[v]),
    minCarriers: 0,
    phecodes: sets,
  });
  return Object.fromEntries(names.map((v, p) => [v, rows.map((ph) => ph.fits[p])]));
}

/**
 * spa.ts's dense SPA on the same null fit: logisticFit of the phecode on [1, c1, (sex)] over the
 * samples with a status and a predictor value (started, as the engine's fits, at the
 * intercept-only estimate), the predictor coded 2 − x when it is dosage-like with mean > 1.
 */
function denseSpa(k: number, v: string) {
  const x = xs[v];
  const rows: number[] = [];
  for (let i = 0; i < N; i++) if (statusOf[k][i] >= 0 && !Number.isNaN(x[i])) rows.push(i);
  const m = rows.length;
  const y = Float64Array.from(rows, (i) => statusOf[k][i]);
  const cols = planted[k].sex ? [c1] : [c1, sex];
  const q = 1 + cols.length;
  const z = new Float64Array(m * q);
  z.fill(1, 0, m);
  cols.forEach((c, j) => {
    rows.forEach((i, t) => {
      z[(1 + j) * m + t] = c[i];
    });
  });
  let cases = 0;
  for (const yi of y) cases += yi;
  const init = new Float64Array(q);
  init[0] = Math.log(cases / (m - cases));
  const fit = logisticFit(y, z, q, { init });
  expect(fit.status).toBe('ok');
  const model = spaNullModel(y, fit.fitted, z, q);
  const called = [...x].filter((t) => !Number.isNaN(t));
  const flip = called.every((t) => t >= 0 && t <= 2) && called.reduce((a, b) => a + b, 0) / called.length > 1;
  const g = Float64Array.from(rows, (i) => (flip ? 2 - x[i] : x[i]));
  const res = { ...spaScoreTestDense(model, g, { cutoff: 2, fast: true }) };
  if (flip) res.beta = -res.beta;
  return res;
}

function expectClose(a: number, b: number, rel: number, label: string) {
  expect(Math.abs(a - b), `${label}: ${a} vs ${b}`).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(b)));
}

/** An SPA row, whichever estimate its β and SE are (`spa`, `spa_wald`, `spa_firth`). */
const isSpa = (test: string | null) => test === 'spa' || test === 'spa_wald' || test === 'spa_firth';

/** β/SE of a row reproduces its p (2Φ̄(|β|/SE) = p, in −log10). */
function expectSeReproducesP(row: PhecodeFit, label: string) {
  const back = mlog10PTwoSidedNormal((row.beta as number) / (row.se as number));
  expectClose(back, row.neg_log10_p as number, 1e-9, `${label}: −log10 p from β/SE`);
}

describe('SPA in the PheWAS (phewas/fit.ts, phewas/many-fit.ts)', () => {
  const auto = single({ spa: 'auto', spaCaseFraction: 0.2 });
  const always = single({ spa: 'always', spaCaseFraction: 0.2 });
  const never = single({ spa: 'never', spaCaseFraction: 0.2 });

  it('the fixture: prevalences, flip and separation as intended', () => {
    const prev = statusOf.map((s) => {
      let cases = 0;
      let used = 0;
      for (const t of s) {
        if (t >= 0) used++;
        if (t === 1) cases++;
      }
      return cases / used;
    });
    expect(prev[0]).toBeGreaterThan(0.012);
    expect(prev[0]).toBeLessThan(0.03);
    expect(prev[1]).toBeLessThan(0.1);
    expect(prev[2]).toBeGreaterThan(0.2);
    expect(prev[3]).toBeLessThan(0.02);
    expect(auto.controlsOnly[0].test).toBe('spa_firth');
    expect(never.controlsOnly[0].test).toBe('firth');
    expect(auto.rare[0].test).toBe('spa_wald');
    expect(never.rare[0].test).toBe('wald');
  });

  it('p of every spa row = spa.ts dense SPA on the same null fit (1e-9) = base-R SPA (1e-6)', () => {
    const folder = join(dir, 'phewas');
    execFileSync('mkdir', ['-p', folder]);
    writeRData(
      folder,
      c1,
      sex,
      xs,
      statusOf,
      planted.map((p) => p.sex !== null),
    );
    const ref = rReference([folder]);
    const count = { spa: 0, normal: 0, rows: 0, maxRel: 0 };
    for (const [label, rows] of [
      ['auto', auto],
      ['always', always],
    ] as const) {
      for (const v of names) {
        rows[v].forEach((row, k) => {
          const what = `${label} ${v} phecode ${k}`;
          expect(row.status, what).toBe('ok');
          if (!isSpa(row.test)) return;
          count.rows++;
          const dense = denseSpa(k, v);
          expect(dense.status, what).toBe('ok');
          expectClose(
            row.neg_log10_p as number,
            dense.mlog10p,
            1e-9,
            `${what}: −log10 p vs spaScoreTestDense`,
          );
          expect(row.p, what).toBeCloseTo(dense.p, 12);
          const e = ref.get(`${folder}:${v}:${k}`);
          expect(e, what).toBeDefined();
          expect(dense.method, what).toBe(e?.method);
          const rel =
            Math.abs((row.neg_log10_p as number) - (e?.mlog10p ?? 0)) / Math.max(e?.mlog10p ?? 0, 1e-3);
          expect(rel, `${what}: −log10 p ${row.neg_log10_p} vs R ${e?.mlog10p}`).toBeLessThanOrEqual(1e-6);
          count.maxRel = Math.max(count.maxRel, rel);
          count[dense.method === 'spa' ? 'spa' : 'normal']++;
        });
      }
    }
    // both branches (saddlepoint and normal below |z| = 2) were compared
    expect(count.spa).toBeGreaterThanOrEqual(10);
    expect(count.normal).toBeGreaterThanOrEqual(30);
    expect(count.rows).toBe(count.spa + count.normal);
  });

  it('auto: unbalanced phecodes only; fits keep β/SE/CI; never: the rows of a batch without SPA', () => {
    const today = single({});
    for (const v of names) {
      expect(never[v], v).toEqual(today[v]);
      never[v].forEach((row, k) => {
        expect(['wald', 'firth'], `${v} ${k}`).toContain(row.test);
        // auto: SPA for the 2 %, 5 % and 1 % phecodes, not the 30 % one; always: every one. The
        // name says which fit gave β and SE: the `never` row's
        expect(auto[v][k].test, `${v} ${k}`).toBe(k === 2 ? row.test : `spa_${row.test}`);
        expect(always[v][k].test, `${v} ${k}`).toBe(`spa_${row.test}`);
        for (const rows of [auto, always]) {
          const s = rows[v][k];
          // a fit ran for every row here (Firth where separated): its β, SE and CI are kept
          expect([s.beta, s.se, s.odds_ratio, s.ci_low, s.ci_high], `${v} ${k}`).toEqual([
            row.beta,
            row.se,
            row.odds_ratio,
            row.ci_low,
            row.ci_high,
          ]);
          expect([s.status, s.n_cases, s.n_controls, s.n_excluded]).toEqual([
            row.status,
            row.n_cases,
            row.n_controls,
            row.n_excluded,
          ]);
        }
      });
    }
    // the p-values did change where SPA applies, most for the rare predictors
    expect(auto.rare[0].p).not.toBe(never.rare[0].p);
  });

  it('a fit that separates (Firth off): the score-based β = S/V with β/SE reproducing the SPA p', () => {
    const off = fitPhecodes({ ...base, firth: 'never', spa: 'auto', x: xs.controlsOnly, phecodes: sets });
    const offNever = fitPhecodes({
      ...base,
      firth: 'never',
      spa: 'never',
      x: xs.controlsOnly,
      phecodes: sets,
    });
    expect(offNever[0].status).toBe('separation');
    const row = off[0];
    expect([row.status, row.test]).toEqual(['ok', 'spa']);
    const dense = denseSpa(0, 'controlsOnly');
    expectClose(row.beta as number, dense.beta, 1e-9, 'β = S/V');
    expect(row.beta as number).toBeLessThan(0);
    expectClose(row.neg_log10_p as number, dense.mlog10p, 1e-9, '−log10 p');
    expectSeReproducesP(row, 'separated');
    expect(row.odds_ratio).toBeCloseTo(Math.exp(row.beta as number), 12);
  });

  it('many predictors: refitting every row gives the single path; score-threshold rows carry S/V', () => {
    const all = many({ spa: 'auto', spaCaseFraction: 0.2, scoreThreshold: 1 });
    for (const v of names) expect(all[v], v).toEqual(auto[v]);
    const dflt = many({ spa: 'auto', spaCaseFraction: 0.2, scoreThreshold: 0.05 });
    let refitted = 0;
    let scoreBased = 0;
    for (const v of names) {
      dflt[v].forEach((row, k) => {
        const what = `${v} phecode ${k}`;
        if (k === 2) {
          expect(isSpa(row.test), what).toBe(false);
          return;
        }
        expect(isSpa(row.test), what).toBe(true);
        // the same SPA p as the single path either way
        expect(row.neg_log10_p, what).toBe(auto[v][k].neg_log10_p);
        if (row.beta === auto[v][k].beta) {
          refitted++;
          expect(row, what).toEqual(auto[v][k]);
          expect(['spa_wald', 'spa_firth'], what).toContain(row.test);
        } else {
          scoreBased++;
          expect(row.test, what).toBe('spa');
          expect(row.p as number, what).toBeGreaterThanOrEqual(0.05);
          expectClose(row.beta as number, denseSpa(k, v).beta, 1e-9, `${what}: β = S/V`);
          expectSeReproducesP(row, what);
        }
      });
    }
    expect(refitted).toBeGreaterThanOrEqual(4);
    expect(scoreBased).toBeGreaterThanOrEqual(10);
    // never: the many path's score rows stay `score` rows
    const dNever = many({ spa: 'never', scoreThreshold: 0.05 });
    const tests = new Set(names.flatMap((v) => dNever[v].map((row) => row.test)));
    expect([...tests].some(isSpa)).toBe(false);
    expect(tests.has('score')).toBe(true);
  });

  it('spa* rows pass the results contract (writePhewas staging table) and read back by name', async () => {
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const run = runContext('write');
      const phenome: PhenomeRef = {
        dir,
        phecodesPath: join(dir, 'none.parquet'),
        phecodeVersion: '1.2',
        nPhecodes: sets.length,
        maps: [],
      };
      const phecodes: PhecodeInfo[] = sets.map((_, k) => ({
        phecode: `90${k}`,
        description: null,
        category: null,
        sex: planted[k].sex,
        cases: null,
        excluded: null,
      }));
      const predictor = { type: 'burden' as const, id: 'rare', path: join(dir, 'x.parquet'), column: 'rare' };
      const res = await writePhewas(conn, run, phenome, predictor, phecodes, auto.rare);
      const rows = (
        await conn.runAndReadAll(`SELECT phecode, test, p FROM read_parquet('${res.path}') ORDER BY phecode`)
      ).getRowObjectsJS();
      expect(rows.map((x) => x.test)).toEqual(auto.rare.map((x) => x.test));
      expect(rows.filter((x) => x.test === 'spa_wald')).toHaveLength(3);
      expect(rows.map((x) => x.p)).toEqual(auto.rare.map((x) => x.p));
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });
});

function runContext(name: string): RunContext {
  return {
    runId: `spa-phewas-${name}-0123456789abcdef`,
    studyId: 'spa-phewas',
    releaseId: 'fixture',
    releaseFingerprint: 'a'.repeat(64),
    releaseDir: join(dir, 'release'),
    specHash: 'b'.repeat(64),
    runDir: join(dir, `run-${name}`),
  };
}

describe('SPA in the burden tests (burden/tests.ts)', () => {
  it('a 2 % prevalence binary trait: spa_wald/spa_firth rows with the GWAS kernel p, β, SE and the R SPA p', async () => {
    const n = 3000;
    const u = rng(14);
    const ids = Array.from({ length: n }, (_, i) => `P${i + 1}`);
    const bc1 = Float64Array.from({ length: n }, () => u.normal());
    const bsex = Float64Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const carriers = (f: number, max = 1) =>
      Float64Array.from({ length: n }, () => (u.next() < f ? 1 + Math.floor(max * u.next()) : 0));
    const masks: Record<string, Float64Array> = {
      m1: carriers(0.01),
      m2: carriers(0.004),
      m3: carriers(0.03, 2),
      m4: carriers(0.1, 2),
    };
    const y = Float64Array.from({ length: n }, (_, i) =>
      u.next() < expit(-4.3 + 0.3 * bc1[i] + 0.3 * bsex[i] + 1.6 * masks.m1[i] + 0.5 * masks.m3[i]) ? 1 : 0,
    );
    let cases = 0;
    for (const t of y) cases += t;
    expect(cases / n).toBeGreaterThan(0.012);
    expect(cases / n).toBeLessThan(0.03);

    const releaseDir = join(dir, 'release');
    await writeReleaseFixture(releaseDir, ids, [
      { chrom: '1', pos: 100, ref: 'A', alt: 'G', gt: new Uint8Array(n), shard: 's0' },
    ]);
    const analysisPath = join(dir, 'burden-analysis.parquet');
    await writeAnalysisFixture(analysisPath, ids, y, { c1: bc1, sex: bsex });
    const analysis: AnalysisTable = {
      path: analysisPath,
      trait: 'binary',
      nSamples: n,
      nCases: cases,
      nControls: n - cases,
      covariates: ['c1', 'sex'],
      droppedCovariates: [],
    };
    const maskNames = Object.keys(masks);
    const scoresPath = join(dir, 'burden-scores.parquet');
    {
      const db = await DuckDBInstance.create(':memory:');
      const conn = await db.connect();
      await conn.run(`CREATE TABLE s (person_id VARCHAR, ${maskNames.map((m) => `${m} DOUBLE`).join(', ')})`);
      const app = await conn.createAppender('s');
      for (let i = 0; i < n; i++) {
        app.appendVarchar(ids[i]);
        for (const m of maskNames) app.appendDouble(masks[m][i]);
        app.endRow();
      }
      app.closeSync();
      await conn.run(`COPY s TO '${scoresPath}' (FORMAT parquet)`);
      conn.closeSync();
      db.closeSync();
    }
    const plan: BurdenPlan = {
      scoresPath,
      masks: maskNames.map((m) => ({
        gene: 'G1',
        mask: m,
        aafBin: '0.01',
        column: m,
        nVariants: 3,
        nCarriers: masks[m].filter((t) => t > 0).length,
      })),
    };
    const config = loadConfig({ BIOBANK_DATA_DIR: join(dir, 'data'), BIOBANK_DUCKDB_THREADS: '1' });
    const specOf = (spa: 'auto' | 'never') =>
      genotypeFirstSpecSchema.parse({
        studyId: 'spa-burden',
        kind: 'genotype-first',
        release: 'fixture',
        genes: ['G1'],
        covariates: ['age', 'sex'],
        traits: [{ type: 'column', table: 'pheno', column: 'D', trait: 'binary' }],
        phewas: { phecodeVersion: '1.2', spa },
      });
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const readTests = async (spa: 'auto' | 'never') => {
      const out = await runBurdenTests(
        conn,
        config,
        runContext(`burden-${spa}`),
        specOf(spa),
        plan,
        async () => analysis,
      );
      return (
        await conn.runAndReadAll(
          `SELECT mask, beta, se, p, test, status FROM read_parquet('${out.path}') ORDER BY mask`,
        )
      ).getRowObjectsJS() as {
        mask: string;
        beta: number;
        se: number;
        p: number;
        test: string;
        status: string;
      }[];
    };
    const auto = await readTests('auto');
    const never = await readTests('never');
    conn.closeSync();
    db.closeSync();
    expect(auto.map((t) => t.mask)).toEqual(maskNames);
    for (const t of never) expect(['wald', 'firth']).toContain(t.test);
    // a fit ran for every mask: the name is the fit's
    expect(auto.map((t) => t.test)).toEqual(never.map((t) => `spa_${t.test}`));

    // the GWAS kernel on the same data (SPA always: the trait is unbalanced anyway)
    const cov = new Float64Array(2 * n);
    cov.set(bc1, 0);
    cov.set(bsex, n);
    const vectors = maskNames.map((m) => Float32Array.from(masks[m]));
    const kernel = logisticGwas(
      prepareLogistic(
        y,
        cov,
        2,
        n,
        Int32Array.from({ length: n }, (_, i) => i),
        {
          fullFitBelow: 1,
          firth: 'fallback',
          spa: 'always',
        },
      ),
      vectors,
    );
    // R on the same data: one "phecode", the trait
    const folder = join(dir, 'burden-r');
    execFileSync('mkdir', ['-p', folder]);
    writeRData(folder, bc1, bsex, masks, [Int8Array.from(y)], [false]);
    const ref = rReference([folder]);
    maskNames.forEach((m, j) => {
      const row = auto[j];
      expect(row.status, m).toBe('ok');
      expect(STATUS[kernel.status[j]], m).toBe('ok');
      expect(TEST[kernel.test[j]], m).toBe(row.test);
      expectClose(row.p, kernel.p[j], 1e-12, `${m}: p vs the GWAS kernel`);
      expectClose(row.beta, kernel.beta[j], 1e-12, `${m}: β vs the GWAS kernel`);
      expectClose(row.se, kernel.se[j], 1e-12, `${m}: SE vs the GWAS kernel`);
      // a fit ran for every mask (fullFitBelow 1): β and SE are the Wald/Firth ones of `never`
      expect([row.beta, row.se], m).toEqual([never[j].beta, never[j].se]);
      const e = ref.get(`${folder}:${m}:0`);
      expect(e, m).toBeDefined();
      const rel = Math.abs(kernel.mlog10p[j] - (e?.mlog10p ?? 0)) / Math.max(e?.mlog10p ?? 0, 1e-3);
      expect(rel, `${m}: −log10 p ${kernel.mlog10p[j]} vs R ${e?.mlog10p}`).toBeLessThanOrEqual(1e-6);
      expectClose(-Math.log10(row.p), e?.mlog10p ?? 0, 1e-6, `${m}: p vs R`);
    });
    // the planted mask went through the saddlepoint, not the normal branch
    expect(ref.get(`${folder}:m1:0`)?.method).toBe('spa');
  });
});
