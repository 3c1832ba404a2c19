/**
 * β and SE on every logistic GWAS row, and SPA p-values in the logistic GWAS (issue 14), through
 * the engine's own path: a release fixture in Parquet, `planGwasShards` + `runGwasShard` with the
 * spec's `gwas` options, rows read back from the shard file.
 *
 * - A balanced trait (30 % cases; `spa: 'auto'` does not apply): every `ok` row has a finite β
 *   and SE; score rows carry β = U/V, SE = 1/√V, checked against R (glm null fit, U and V of the
 *   C(α) score on the called samples written out in matrix algebra), and β/SE = the signed z.
 * - An unbalanced trait (2 % cases, an analysis subset of the genotyped samples) under
 *   `spa: 'always'` and `'auto'`: every tested row's p equals `spaScoreTestDense` run directly
 *   on the same data (null fit on the analysis samples, mean-imputed, minor-allele coded
 *   genotypes); rows with a Wald/Firth fit keep exactly the fit's β and SE of the `spa: 'never'`
 *   run, the others carry β = S/V and β/SE = the SPA z. The test names the estimate: `spa_wald`
 *   rows' β and SE are R glm's, `spa_firth` rows' are those of a Firth fit written out in R
 *   (modified score, Firth 1993), and the score-based rows say `spa`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import erfc from '@stdlib/math-base-special-erfc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGwasActivities } from '../../activities/gwas.js';
import { specHash } from '../../engine/study.js';
import { gwasSpecSchema, type PhenotypeFirstSpec, studySpecSchema } from '../../schemas/study.js';
import type { AnalysisTable, RunContext } from '../../schemas/study-io.js';
import { logisticFit } from '../../stats/logistic-fit.js';
import { newSpaResult, type SpaResult, spaNullModel, spaScoreTestDense } from '../../stats/spa.js';
import { loadConfig } from '../../temporal.config.js';
import { runActivity } from '../helpers/activity.js';
import {
  type FixtureVariant,
  writeAnalysisFixture,
  writeReleaseFixture,
} from '../helpers/release-fixture.js';
import { rng } from '../helpers/rng.js';

const N = 2000;
const M = 240;
let dir = '';
let run: RunContext;
let balanced: AnalysisTable;
let unbalanced: AnalysisTable;
let gts: Uint8Array[] = [];
let yb: Float64Array;
let yu: Float64Array;
let c1: Float64Array;
let c2: Float64Array;
/** genotype positions of the unbalanced trait's analysis samples. */
let keep: number[] = [];
/** QC open enough that rare, ALT-major and 12 %-missing variants are tested. */
const open = { minMac: 5, minMaf: 0.001, maxMissing: 0.2, hweP: 0 };

interface Row {
  variant_idx: bigint;
  n: number;
  beta: number;
  se: number;
  stat: number;
  p: number;
  neg_log10_p: number;
  test: string;
  status: string;
}

async function readRows(path: string): Promise<Row[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const rows = (
    await conn.runAndReadAll(`SELECT * FROM read_parquet('${path}') ORDER BY variant_idx`)
  ).getRowObjectsJS() as unknown as Row[];
  conn.closeSync();
  db.closeSync();
  return rows;
}

/** Cases = the top `fraction` of a liability. */
function topFraction(liability: Float64Array, fraction: number): Float64Array {
  const cut = [...liability].sort((a, b) => a - b)[Math.floor(liability.length * (1 - fraction))];
  return Float64Array.from(liability, (l) => (l >= cut ? 1 : 0));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'biobank-spa-gwas-'));
  const r = rng(2024);
  const ids = Array.from({ length: N }, (_, i) => `S${i + 1}`);
  const variants: FixtureVariant[] = [];
  for (let j = 0; j < M; j++) {
    // ALT-major (coded 2 − g for the SPA), rare, common
    const af =
      j % 40 === 0 ? 0.75 + 0.15 * r.next() : j % 7 === 0 ? 0.005 + 0.015 * r.next() : 0.02 + 0.43 * r.next();
    const miss = j % 11 === 2 ? 0.12 : j % 5 === 1 ? 0.03 : 0;
    const gt = new Uint8Array(N);
    for (let i = 0; i < N; i++)
      gt[i] = r.next() < miss ? 255 : (r.next() < af ? 1 : 0) + (r.next() < af ? 1 : 0);
    variants.push({ chrom: '1', pos: 1000 + 100 * j, ref: 'A', alt: 'G', gt, shard: 's0' });
  }
  gts = variants.map((v) => v.gt);
  c1 = Float64Array.from({ length: N }, () => r.normal());
  c2 = Float64Array.from({ length: N }, () => r.normal());
  const g = (j: number, i: number) => (gts[j][i] === 255 ? 0 : gts[j][i]);
  const logisticNoise = () => {
    const u = Math.min(Math.max(r.next(), 1e-12), 1 - 1e-12);
    return Math.log(u / (1 - u));
  };
  yb = topFraction(
    Float64Array.from(
      { length: N },
      (_, i) => 0.6 * g(3, i) + 0.5 * g(40, i) + 0.3 * c1[i] + logisticNoise(),
    ),
    0.3,
  );
  // 2 % cases: a rare risk variant (14), a common one (5), the minor allele of an ALT-major one (80)
  yu = topFraction(
    Float64Array.from(
      { length: N },
      (_, i) => 1.5 * g(14, i) + 0.9 * g(5, i) - 0.9 * g(80, i) + 0.4 * c2[i] + logisticNoise(),
    ),
    0.02,
  );
  const releaseDir = join(dir, 'release');
  await writeReleaseFixture(releaseDir, ids, variants);
  await writeAnalysisFixture(join(dir, 'balanced.parquet'), ids, yb, { c1, c2 });
  // The unbalanced trait on a subset of the genotyped samples (genotype positions ≠ analysis rows).
  await writeAnalysisFixture(join(dir, 'unbalanced-all.parquet'), ids, yu, { c1, c2 });
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(
    `COPY (SELECT * FROM read_parquet('${join(dir, 'unbalanced-all.parquet')}') WHERE sample_idx % 7 <> 3)
     TO '${join(dir, 'unbalanced.parquet')}' (FORMAT parquet)`,
  );
  conn.closeSync();
  db.closeSync();
  keep = Array.from({ length: N }, (_, i) => i).filter((i) => i % 7 !== 3);

  run = {
    runId: 'spa-test',
    studyId: 'spa-test',
    releaseId: 'fixture',
    releaseFingerprint: 'f'.repeat(64),
    releaseDir,
    specHash: 'e'.repeat(64),
    runDir: join(dir, 'run'),
  };
  const base = { trait: 'binary' as const, covariates: ['c1', 'c2'], droppedCovariates: [] };
  balanced = { ...base, path: join(dir, 'balanced.parquet'), nSamples: N };
  unbalanced = { ...base, path: join(dir, 'unbalanced.parquet'), nSamples: keep.length };
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** One shard over all variants, tested by the GWAS activity; its rows. */
async function gwasRows(sub: string, analysis: AnalysisTable, gwas: PhenotypeFirstSpec['gwas']) {
  const config = loadConfig({ BIOBANK_DATA_DIR: join(dir, 'data'), BIOBANK_DUCKDB_THREADS: '1' });
  const acts = createGwasActivities(config);
  const runFor = { ...run, runDir: join(dir, sub) };
  const [shard, ...more] = await runActivity(acts.planGwasShards, {
    run: runFor,
    chromosomes: null,
    shardVariants: 1000,
  });
  expect(more).toHaveLength(0);
  const res = await runActivity(acts.runGwasShard, { run: runFor, shard, analysis, gwas });
  return readRows(res.path);
}

const relClose = (a: number, b: number, tol: number) =>
  Math.abs(a - b) <= tol * Math.max(Math.abs(b), 1e-300);

interface RFit {
  beta: number;
  se: number;
  converged: boolean;
}

/**
 * R on the unbalanced trait's analysis samples, for each variant j (called samples only, as the
 * GWAS's `missing: 'drop'`): glm(y ~ c1 + c2 + g), and Firth's penalised ML written out (modified
 * score U* = Xᵀ(y − μ + h(½ − μ)), h the hat diagonal of W^½X; Newton steps on I = XᵀWX, halved
 * until the penalised log-likelihood ℓ + ½ log|I| does not fall; SE from I⁻¹ at the estimate).
 */
function fitsInR(variants: number[]): Map<number, { glm: RFit; firth: RFit }> {
  const lines = [`y,c1,c2,${variants.map((j) => `v${j}`).join(',')}`];
  for (const i of keep)
    lines.push(
      [yu[i], c1[i], c2[i], ...variants.map((j) => (gts[j][i] === 255 ? 'NA' : gts[j][i]))].join(','),
    );
  const csv = join(dir, 'spa-fits.csv');
  writeFileSync(csv, `${lines.join('\n')}\n`);
  const out = execFileSync(
    'Rscript',
    [
      '-e',
      `d <- read.csv('${csv}')
pl <- function(b, X, y) {
  eta <- drop(X %*% b); mu <- plogis(eta); w <- mu * (1 - mu)
  sum(y * eta - log1p(exp(eta))) + 0.5 * determinant(crossprod(X, w * X))$modulus
}
firth <- function(X, y) {
  b <- rep(0, ncol(X)); l <- pl(b, X, y)
  for (it in 1:200) {
    mu <- plogis(drop(X %*% b)); w <- mu * (1 - mu)
    I <- crossprod(X, w * X); Ii <- solve(I)
    h <- rowSums((X %*% Ii) * X) * w
    U <- crossprod(X, y - mu + h * (0.5 - mu))
    step <- drop(Ii %*% U); t <- 1
    repeat { nb <- b + t * step; nl <- pl(nb, X, y); if (nl >= l - 1e-12 * abs(l) || t < 1e-10) break; t <- t / 2 }
    b <- nb; l <- nl
    if (max(abs(t * step)) < 1e-12) break
  }
  mu <- plogis(drop(X %*% b)); w <- mu * (1 - mu)
  list(beta = b[ncol(X)], se = sqrt(solve(crossprod(X, w * X))[ncol(X), ncol(X)]))
}
for (v in names(d)[-(1:3)]) {
  s <- !is.na(d[[v]]); X <- cbind(1, d$c1[s], d$c2[s], d[[v]][s]); y <- d$y[s]
  f <- suppressWarnings(glm.fit(X, y, family = binomial(), control = glm.control(epsilon = 1e-14, maxit = 100)))
  cf <- summary.glm(f)$coefficients
  fr <- firth(X, y)
  cat(v, sprintf('%.15g', c(cf[4, 1], cf[4, 2], fr$beta, fr$se)), as.integer(f$converged), '\\n')
}`,
    ],
    { encoding: 'utf8' },
  );
  const ref = new Map<number, { glm: RFit; firth: RFit }>();
  for (const line of out.trim().split('\n')) {
    const [v, gb, gse, fb, fse, conv] = line.trim().split(/\s+/);
    ref.set(Number(v.slice(1)), {
      glm: { beta: Number(gb), se: Number(gse), converged: conv === '1' },
      firth: { beta: Number(fb), se: Number(fse), converged: true },
    });
  }
  expect([...ref.keys()].sort((a, b) => a - b)).toEqual([...variants].sort((a, b) => a - b));
  return ref;
}

describe('logistic GWAS: β and SE on every row', () => {
  it('balanced trait, spa auto (not applied): finite β/SE everywhere; score rows β = U/V, SE = 1/√V (R), β/SE = z', async () => {
    const gwas = gwasSpecSchema.parse(open);
    expect(gwas.spa).toBe('auto');
    const rows = await gwasRows('run-balanced', balanced, gwas);
    expect(rows).toHaveLength(M);
    const ok = rows.filter((x) => x.status === 'ok');
    expect(ok.length).toBeGreaterThan(M - 10);
    const byTest: Record<string, number> = {};
    for (const x of ok) {
      byTest[x.test] = (byTest[x.test] ?? 0) + 1;
      expect(Number.isFinite(x.beta) && Number.isFinite(x.se) && x.se > 0, `variant ${x.variant_idx}`).toBe(
        true,
      );
      if (x.test !== 'score') continue;
      expect(x.p).toBeGreaterThanOrEqual(0.05);
      expect(
        relClose(x.beta / x.se, x.stat, 1e-9),
        `variant ${x.variant_idx}: β/SE ${x.beta / x.se} vs z ${x.stat}`,
      ).toBe(true);
    }
    expect(Object.keys(byTest).sort()).toEqual(expect.arrayContaining(['score', 'wald']));
    expect(byTest.spa).toBeUndefined();
    expect(byTest.score).toBeGreaterThan(150);

    // R: U and V of the score test from glm's null fit, projected on each variant's called samples
    const score = ok.filter((x) => x.test === 'score').map((x) => Number(x.variant_idx));
    const lines = [`y,c1,c2,${score.map((j) => `v${j}`).join(',')}`];
    for (let i = 0; i < N; i++)
      lines.push(
        [yb[i], c1[i], c2[i], ...score.map((j) => (gts[j][i] === 255 ? 'NA' : gts[j][i]))].join(','),
      );
    const csv = join(dir, 'score-rows.csv');
    await writeFile(csv, `${lines.join('\n')}\n`);
    const out = execFileSync(
      'Rscript',
      [
        '-e',
        `d <- read.csv('${csv}')
X <- cbind(1, d$c1, d$c2)
f0 <- glm(y ~ c1 + c2, family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100))
mu <- fitted(f0); w <- mu * (1 - mu); r <- d$y - mu
for (v in names(d)[-(1:3)]) {
  s <- !is.na(d[[v]]); g <- d[[v]][s]; Xs <- X[s, , drop = FALSE]
  A <- crossprod(Xs, w[s] * Xs); h <- crossprod(Xs, w[s] * g); ua <- crossprod(Xs, r[s])
  U <- sum(g * r[s]) - drop(crossprod(h, solve(A, ua)))
  V <- sum(w[s] * g^2) - drop(crossprod(h, solve(A, h)))
  cat(v, sprintf('%.15g', U / V), sprintf('%.15g', 1 / sqrt(V)), '\\n')
}`,
      ],
      { encoding: 'utf8' },
    );
    const ref = new Map(
      out
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .map(([v, b, se]) => [Number(v.slice(1)), [Number(b), Number(se)]] as const),
    );
    expect(ref.size).toBe(score.length);
    let withMissing = 0;
    for (const x of ok.filter((x) => x.test === 'score')) {
      const j = Number(x.variant_idx);
      const [b, se] = ref.get(j)!;
      if (gts[j].includes(255)) withMissing++;
      expect(Math.abs(x.beta - b), `variant ${j}: β ${x.beta} vs R ${b}`).toBeLessThanOrEqual(1e-6 * se);
      expect(relClose(x.se, se, 1e-6), `variant ${j}: SE ${x.se} vs R ${se}`).toBe(true);
    }
    expect(withMissing).toBeGreaterThan(20);
  });
});

describe('logistic GWAS: SPA p-values', () => {
  it('unbalanced trait (2 % cases), spa always: every row is spa*, its p is spaScoreTestDense on the same data', async () => {
    const cases = keep.reduce((s, i) => s + yu[i], 0);
    expect(cases / keep.length).toBeLessThan(0.025);
    const never = await gwasRows('run-never', unbalanced, gwasSpecSchema.parse({ ...open, spa: 'never' }));
    const always = await gwasRows('run-always', unbalanced, gwasSpecSchema.parse({ ...open, spa: 'always' }));
    const auto = await gwasRows('run-auto', unbalanced, gwasSpecSchema.parse(open));
    expect(auto).toEqual(always);
    expect(never.map((x) => x.status)).toEqual(always.map((x) => x.status));
    for (const t of ['spa', 'spa_wald', 'spa_firth'])
      expect(new Set(never.map((x) => x.test))).not.toContain(t);

    // the reference: null fit on the analysis samples, one SPA test per variant
    const n = keep.length;
    const y = Float64Array.from(keep, (i) => yu[i]);
    const x = new Float64Array(3 * n);
    keep.forEach((i, k) => {
      x[k] = 1;
      x[n + k] = c1[i];
      x[2 * n + k] = c2[i];
    });
    const fit = logisticFit(y, x, 3);
    expect(fit.status).toBe('ok');
    const model = spaNullModel(y, fit.fitted, x, 3, { rows: Int32Array.from(keep), nAll: N });
    const res: SpaResult = newSpaResult();
    const count = { spa: 0, fitted: 0, fittedUnderSpa: 0, scoreBased: 0, flipped: 0, differs: 0 };
    for (const [j, row] of always.entries()) {
      expect(Number(row.variant_idx)).toBe(j);
      if (row.status !== 'ok') continue;
      expect(['spa', 'spa_wald', 'spa_firth'], `variant ${j}`).toContain(row.test);
      expect(Number.isFinite(row.beta) && Number.isFinite(row.se) && row.se > 0, `variant ${j}`).toBe(true);
      // mean-imputed over the analysis samples, minor-allele coded
      let sum = 0;
      let called = 0;
      for (const i of keep)
        if (gts[j][i] !== 255) {
          sum += gts[j][i];
          called++;
        }
      const mean = sum / called;
      const flip = mean > 1;
      const dense = new Float64Array(N);
      for (const i of keep) {
        const v = gts[j][i] === 255 ? mean : gts[j][i];
        dense[i] = flip ? 2 - v : v;
      }
      spaScoreTestDense(model, dense, undefined, res);
      expect(res.status).toBe('ok');
      const sign = flip ? -1 : 1;
      expect(
        relClose(row.neg_log10_p, res.mlog10p, 1e-9),
        `variant ${j}: −log10 p ${row.neg_log10_p} vs ${res.mlog10p} (${res.method})`,
      ).toBe(true);
      expect(relClose(row.p, res.p, 1e-9)).toBe(true);
      // stat is the signed z of the SPA p, in the direction of the ALT allele's score
      expect(
        relClose(erfc(Math.abs(row.stat) / Math.SQRT2), row.p, 1e-8),
        `variant ${j}: stat ${row.stat}`,
      ).toBe(true);
      expect(Math.sign(row.stat)).toBe(sign * Math.sign(res.s));
      if (res.method === 'spa') {
        count.spa++;
        if (flip) count.flipped++;
        if (Math.abs(res.mlog10p - res.mlog10pScore) > 0.01) count.differs++;
      }
      const ref = never[j];
      if (ref.test === 'wald' || ref.test === 'firth') {
        // the fit ran: its β and SE, the SPA p, and the test names the fit
        count.fitted++;
        expect(row.test, `variant ${j}`).toBe(`spa_${ref.test}`);
        expect(row.beta).toBe(ref.beta);
        expect(row.se).toBe(ref.se);
      } else if (row.p < 0.05) {
        // a fit that only the SPA p asked for (checked against R below)
        count.fittedUnderSpa++;
        expect(ref.test).toBe('score');
        expect(['spa_wald', 'spa_firth'], `variant ${j}`).toContain(row.test);
      } else {
        // no fit: β = S/V (ALT orientation) and SE with β/SE = the SPA z
        count.scoreBased++;
        expect(ref.test).toBe('score');
        expect(row.test, `variant ${j}`).toBe('spa');
        expect(
          relClose(row.beta, sign * res.beta, 1e-9),
          `variant ${j}: β ${row.beta} vs ${sign * res.beta}`,
        ).toBe(true);
        expect(relClose(row.beta / row.se, row.stat, 1e-9)).toBe(true);
      }
    }
    // SPA engaged (|z| ≥ 2) on several rows, also on a minor-allele-flipped one, and changed p there
    expect(count.spa).toBeGreaterThanOrEqual(3);
    expect(count.flipped).toBeGreaterThanOrEqual(1);
    expect(count.differs).toBeGreaterThanOrEqual(1);
    expect(count.fitted).toBeGreaterThanOrEqual(3);
    expect(count.scoreBased).toBeGreaterThan(100);

    // β and SE of every spa_wald row are R glm's, of every spa_firth row R's Firth fit's
    const named = (t: string) => always.filter((x) => x.status === 'ok' && x.test === t);
    const wald = named('spa_wald');
    const firth = named('spa_firth');
    expect(wald.length).toBeGreaterThanOrEqual(3);
    expect(firth.length).toBeGreaterThanOrEqual(1);
    const ref = fitsInR([...wald, ...firth].map((x) => Number(x.variant_idx)));
    for (const [rows, which] of [
      [wald, 'glm'],
      [firth, 'firth'],
    ] as const)
      for (const row of rows) {
        const j = Number(row.variant_idx);
        const r = ref.get(j)![which];
        const what = `variant ${j} ${row.test}: β ${row.beta} SE ${row.se} vs R ${which} ${r.beta} ${r.se}`;
        expect(Math.abs(row.beta - r.beta), what).toBeLessThanOrEqual(1e-5 * r.se);
        expect(relClose(row.se, r.se, 1e-5), what).toBe(true);
      }
    // the names tell the estimates apart: a Firth row's β is not the ML one (which runs off or
    // is far away under separation), a Wald row's is not Firth's
    for (const row of firth) {
      const r = ref.get(Number(row.variant_idx))!;
      expect(!r.glm.converged || Math.abs(r.glm.beta - row.beta) > 0.01 * row.se).toBe(true);
    }
    for (const row of wald) {
      const r = ref.get(Number(row.variant_idx))!;
      expect(Math.abs(r.firth.beta - row.beta), `variant ${row.variant_idx}`).toBeGreaterThan(1e-4 * row.se);
    }
  });

  it('spec: spa defaults to auto with spaCaseFraction 0.2, late defaults that keep older run ids', () => {
    const given = {
      studyId: 's',
      release: 'r1',
      kind: 'phenotype-first',
      phenotype: { type: 'phecode', phecode: '250.2', phecodeVersion: '1.2' },
    } as const;
    const spec = studySpecSchema.parse(given);
    if (spec.kind !== 'phenotype-first') throw new Error('kind');
    expect(spec.gwas.spa).toBe('auto');
    expect(spec.gwas.spaCaseFraction).toBe(0.2);
    const explicit = studySpecSchema.parse({ ...given, gwas: { spa: 'auto', spaCaseFraction: 0.2 } });
    expect(specHash(explicit)).toBe(specHash(spec));
    const other = studySpecSchema.parse({ ...given, gwas: { spa: 'always' } });
    expect(specHash(other)).not.toBe(specHash(spec));
    expect(() => gwasSpecSchema.parse({ spaCaseFraction: 0.7 })).toThrow();
    expect(() => gwasSpecSchema.parse({ spa: 'sometimes' })).toThrow();
  });
});
