/**
 * REGENIE level 1 (stats/ridge-level1.ts) against independent R code run at test time:
 *  1. quantitative: per-fold closed-form ridge with `solve`, CV MSE per λ, the chosen λ and the
 *     LOCO sums (all written below in base R, with its own column scaling and the paper's h² grid)
 *     — to 1e-8; one fold's fit equals `glmnet(alpha = 0, intercept = FALSE, standardize = FALSE)`
 *     at a fixed λ to 1e-6 (glmnet's gaussian objective is RSS/(2N) + λ_g‖β‖²/2 on y/s_y with
 *     s_y = sqrt(Σy²/N) when intercept = FALSE, so λ_g = λ·s_y/N);
 *  2. binary: one fold's logistic ridge with offset equals `glmnet(family = "binomial", alpha = 0,
 *     offset, intercept = FALSE, standardize = FALSE, lambda = λ/N, thresh = 1e-14)` to 1e-6;
 *     the whole CV (per-fold penalised Newton in base R, CV deviance per λ, its ordering, the
 *     chosen λ, LOCO) equals an R implementation;
 *  3. LOCO on a planted fixture (one strongly predictive chromosome) and the out-of-fold property
 *     (changing fold f's y leaves fold f's predictions unchanged, for ridge and logistic);
 *  4. edge cases: all-zero columns, no predictors, too few samples, a training set without cases,
 *     non-convergence, invalid input.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { boxMullerNormal, mulberry32 } from '../../stats/random.js';
import {
  type Level1Input,
  type Level1Result,
  level1Lambdas,
  level1Logistic,
  level1LogisticLambdas,
  level1Ridge,
} from '../../stats/ridge-level1.js';
import { runR } from './fixture.js';

const expit = (x: number) => 1 / (1 + Math.exp(-x));

interface Fixture {
  input: Level1Input;
  offset: Float64Array;
  /** 0-based index of the all-zero column */
  zeroCol: number;
}

/**
 * n samples in K contiguous folds; nChrom chromosomes × 2 blocks × 3 level-0 shrinkage columns.
 * Each block has a latent genetic value u; its 3 columns are small-variance noisy copies of u
 * (as level-0 predictions are). `effects[c]` is chromosome c's effect on the trait. One column
 * is all zero (a block of constant variants). ~8 % of the trait values are missing.
 */
function makeFixture(seed: number, opts: { n?: number; binary?: boolean; effects?: number[] } = {}): Fixture {
  const n = opts.n ?? 600;
  const effects = opts.effects ?? [0.5, 0.3, 0.4, 0.2];
  const nChrom = effects.length;
  const nFolds = 5;
  const u = mulberry32(seed);
  const z = () => boxMullerNormal(u);
  const blocks = nChrom * 2;
  const P = blocks * 3 + 1;
  const zeroCol = 7;
  const W = new Float64Array(n * P);
  const chromOf = new Int32Array(P);
  const signal = new Float64Array(n);
  let p = 0;
  for (let b = 0; b < blocks; b++) {
    const c = Math.floor(b / 2);
    const lat = Float64Array.from({ length: n }, () => z());
    for (let i = 0; i < n; i++) signal[i] += effects[c] * lat[i];
    for (let r = 0; r < 3; r++) {
      if (p === zeroCol) chromOf[p++] = c; // stays all zero
      const k = 0.02 * (r + 1);
      for (let i = 0; i < n; i++) W[i + p * n] = k * (lat[i] + 0.6 * z());
      chromOf[p++] = c;
    }
  }
  const fold = Uint8Array.from({ length: n }, (_, i) => Math.floor((i * nFolds) / n));
  const observed = Uint8Array.from({ length: n }, () => (u() < 0.92 ? 1 : 0));
  const offset = Float64Array.from({ length: n }, () => -1 + 0.5 * z());
  const y = new Float64Array(n);
  if (opts.binary) {
    for (let i = 0; i < n; i++) y[i] = u() < expit(offset[i] + signal[i]) ? 1 : 0;
  } else {
    for (let i = 0; i < n; i++) y[i] = signal[i] + z();
    let s = 0;
    let ss = 0;
    let m = 0;
    for (let i = 0; i < n; i++) {
      if (!observed[i]) continue;
      s += y[i];
      m++;
    }
    const mean = s / m;
    for (let i = 0; i < n; i++) if (observed[i]) ss += (y[i] - mean) ** 2;
    const sd = Math.sqrt(ss / m);
    for (let i = 0; i < n; i++) y[i] = observed[i] ? (y[i] - mean) / sd : 0;
  }
  return { input: { n, fold, nFolds, W, P, chromOf, nChrom, y, observed }, offset, zeroCol };
}

/** Writes the fixture as CSV (one row per sample: fold, observed, y, offset, W columns). */
function writeFixture(dir: string, f: Fixture): void {
  const { n, P, W, fold, observed, y, chromOf } = f.input;
  const rows = [['fold', 'obs', 'y', 'off', ...Array.from({ length: P }, (_, p) => `w${p}`)].join(',')];
  for (let i = 0; i < n; i++) {
    const w = Array.from({ length: P }, (_, p) => W[i + p * n].toPrecision(17));
    rows.push([fold[i], observed[i], y[i].toPrecision(17), f.offset[i].toPrecision(17), ...w].join(','));
  }
  writeFileSync(join(dir, 'data.csv'), rows.join('\n') + '\n');
  writeFileSync(join(dir, 'chrom.txt'), Array.from(chromOf).join('\n') + '\n');
}

/** Common R preamble: data, the independent column scaling, the paper's h² grid. */
const R_PRE = (dir: string) => `
suppressMessages(library(glmnet))
d <- read.csv(${JSON.stringify(join(dir, 'data.csv'))})
chrom <- scan(${JSON.stringify(join(dir, 'chrom.txt'))}, quiet = TRUE)
W <- as.matrix(d[, grep('^w', names(d))]); P <- ncol(W); n <- nrow(W)
obs <- d$obs == 1; fold <- d$fold; y <- d$y; off <- d$off; K <- max(fold) + 1
s <- sqrt(colMeans(W[obs, , drop = FALSE]^2)); act <- which(s > 0)
Z <- sweep(W[, act, drop = FALSE], 2, s[act], '/')
h2 <- seq(0.01, 0.99, length.out = 5)
out <- function(tag, v) cat(tag, sprintf('%.17g', v), '\\n')
# LOCO from per-fold coefficients on the active columns (z units): rows = chromosomes
loco <- function(B) {
  L <- matrix(0, max(chrom) + 1, n)
  for (f in 0:(K - 1)) {
    i <- which(fold == f); bw <- B[, f + 1] / s[act]
    for (c in 0:(max(chrom))) {
      keep <- chrom[act] != c
      L[c + 1, i] <- W[i, act[keep], drop = FALSE] %*% bw[keep]
    }
  }
  L
}
`;

function parse(text: string): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const line of text.trim().split('\n')) {
    const [tag, ...v] = line.trim().split(/\s+/);
    m.set(tag, v.map(Number));
  }
  return m;
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, label: string): void {
  expect(a.length, `${label}: length`).toBe(b.length);
  let worst = 0;
  let at = -1;
  for (let k = 0; k < a.length; k++) {
    const d = Math.abs(a[k] - b[k]) / (1 + Math.abs(b[k]));
    if (!(d <= worst)) {
      worst = d;
      at = k;
    }
  }
  expect(worst, `${label}: worst relative difference at ${at}: ${a[at]} vs ${b[at]}`).toBeLessThanOrEqual(
    tol,
  );
}

/** Per-fold coefficients on the active columns in z units (= β_w · s), fold-major. */
function zBetas(r: Level1Result, input: Level1Input): number[] {
  const out: number[] = [];
  for (let f = 0; f < input.nFolds; f++)
    for (let p = 0; p < input.P; p++) if (r.scale[p] > 0) out.push(r.beta[f * input.P + p] * r.scale[p]);
  return out;
}

describe('level 1 ridge (quantitative) against R', () => {
  const fx = makeFixture(20210520);
  const dir = mkdtempSync(join(tmpdir(), 'biobank-level1-'));
  writeFixture(dir, fx);
  const res = level1Ridge(fx.input);
  const lambda = 25;
  const fixed = level1Ridge({ ...fx.input, lambdas: Float64Array.of(lambda) });
  let cached: Map<string, number[]> | undefined;
  /** One R run for both tests: the base-R CV and LOCO, and glmnet on two folds at λ = 25. */
  const reference = () =>
    (cached ??= parse(
      runR(
        R_PRE(dir) +
          `
lam <- P * (1 - h2) / h2
mse <- numeric(length(lam)); Bs <- list()
for (l in seq_along(lam)) {
  B <- matrix(0, length(act), K); sse <- 0
  for (f in 0:(K - 1)) {
    tr <- obs & fold != f; te <- obs & fold == f
    b <- solve(crossprod(Z[tr, , drop = FALSE]) + lam[l] * diag(length(act)), crossprod(Z[tr, , drop = FALSE], y[tr]))
    B[, f + 1] <- b; sse <- sse + sum((y[te] - Z[te, , drop = FALSE] %*% b)^2)
  }
  mse[l] <- sse / sum(obs); Bs[[l]] <- B
}
best <- which.min(mse)
out('lambdas', lam); out('mse', mse); out('best', lam[best]); out('beta', as.vector(Bs[[best]]))
out('loco', as.vector(t(loco(Bs[[best]]))))
# glmnet's gaussian objective RSS/(2N) + lambda_g |b|^2 / 2 is applied to y / sy (sy = sqrt(sum(y^2)/N)
# without intercept): lambda_g = lambda * sy / N reproduces (Z'Z + lambda I)^-1 Z'y
for (f in c(0, 3)) {
  tr <- obs & fold != f; N <- sum(tr); sy <- sqrt(sum(y[tr]^2) / N)
  g <- glmnet(Z[tr, ], y[tr], alpha = 0, intercept = FALSE, standardize = FALSE,
              lambda = ${lambda} * sy / N, thresh = 1e-20, maxit = 1e7)
  out(paste0('glmnet', f), as.vector(coef(g))[-1])
}
`,
        dir,
      ),
    ));

  it('CV MSE per λ, chosen λ, per-fold β and LOCO equal a base-R solve() implementation to 1e-8', () => {
    const ref = reference();
    expect(res.status).toBe('ok');
    expectClose(res.lambdas, ref.get('lambdas')!, 1e-12, 'default grid P(1−h²)/h²');
    expectClose(level1Lambdas(fx.input.P), ref.get('lambdas')!, 1e-12, 'level1Lambdas');
    expectClose(res.cvLoss, ref.get('mse')!, 1e-8, 'CV MSE');
    expectClose([res.lambda], ref.get('best')!, 1e-12, 'chosen λ');
    expectClose(zBetas(res, fx.input), ref.get('beta')!, 1e-8, 'per-fold β');
    expectClose(res.loco, ref.get('loco')!, 1e-8, 'LOCO');
    // the grid is informative on this fixture: the CV loss is not flat
    expect(Math.max(...res.cvLoss) - Math.min(...res.cvLoss)).toBeGreaterThan(1e-3);
    // the skipped all-zero column
    expect(res.scale[fx.zeroCol]).toBe(0);
    for (let f = 0; f < fx.input.nFolds; f++) expect(res.beta[f * fx.input.P + fx.zeroCol]).toBe(0);
  });

  it('one fold equals glmnet(alpha = 0, intercept = FALSE, standardize = FALSE) at a fixed λ to 1e-6', () => {
    const ref = reference();
    const zb = zBetas(fixed, fx.input);
    const A = zb.length / fx.input.nFolds;
    for (const f of [0, 3])
      expectClose(zb.slice(f * A, (f + 1) * A), ref.get(`glmnet${f}`)!, 1e-6, `glmnet fold ${f}`);
  });
});

describe('level 1 logistic ridge (binary) against R', () => {
  const fx = makeFixture(1097, { binary: true, n: 700 });
  const dir = mkdtempSync(join(tmpdir(), 'biobank-level1-'));
  writeFixture(dir, fx);
  const input = { ...fx.input, offset: fx.offset };
  const lambda = 8;
  let cached: Map<string, number[]> | undefined;
  /** One R run: glmnet on two folds at λ = 8, and the base-R penalised Newton CV and LOCO. */
  const reference = () =>
    (cached ??= parse(
      runR(
        R_PRE(dir) +
          `
# glmnet binomial: -loglik/N + lambda_g |b|^2 / 2, so lambda_g = lambda / N
for (f in c(1, 4)) {
  tr <- obs & fold != f; N <- sum(tr)
  g <- glmnet(Z[tr, ], y[tr], family = 'binomial', alpha = 0, offset = off[tr], intercept = FALSE,
              standardize = FALSE, lambda = ${lambda} / N, thresh = 1e-14, maxit = 1e7)
  out(paste0('glmnet', f), as.vector(coef(g))[-1])
}
lam <- P * (1 - h2) / (h2 * pi^2 / 3)
fitlog <- function(X, yy, oo, l) {
  b <- rep(0, ncol(X))
  for (it in 1:100) {
    mu <- 1 / (1 + exp(-(oo + X %*% b)))
    H <- crossprod(X, X * as.vector(mu * (1 - mu))) + l * diag(ncol(X))
    dlt <- solve(H, crossprod(X, yy - mu) - l * b); b <- b + as.vector(dlt)
    if (max(abs(dlt)) < 1e-13) break
  }
  b
}
dev <- numeric(length(lam)); Bs <- list()
for (l in seq_along(lam)) {
  B <- matrix(0, length(act), K); tot <- 0
  for (f in 0:(K - 1)) {
    tr <- obs & fold != f; te <- obs & fold == f
    b <- fitlog(Z[tr, , drop = FALSE], y[tr], off[tr], lam[l]); B[, f + 1] <- b
    eta <- off[te] + Z[te, , drop = FALSE] %*% b
    tot <- tot - 2 * sum(y[te] * eta - log1p(exp(eta)))
  }
  dev[l] <- tot / sum(obs); Bs[[l]] <- B
}
best <- which.min(dev)
out('lambdas', lam); out('dev', dev); out('order', order(dev)); out('best', lam[best])
out('beta', as.vector(Bs[[best]])); out('loco', as.vector(t(loco(Bs[[best]]))))
`,
        dir,
      ),
    ));

  it('one fold equals glmnet(binomial, alpha = 0, offset, lambda = λ/N) to 1e-6', () => {
    const fixed = level1Logistic({ ...input, lambdas: Float64Array.of(lambda) });
    expect(fixed.status).toBe('ok');
    const ref = reference();
    const zb = zBetas(fixed, fx.input);
    const A = zb.length / fx.input.nFolds;
    for (const f of [1, 4])
      expectClose(zb.slice(f * A, (f + 1) * A), ref.get(`glmnet${f}`)!, 1e-6, `glmnet fold ${f}`);
  });

  it('CV deviance per λ (and its ordering), chosen λ, β and LOCO equal a base-R penalised Newton', () => {
    const res = level1Logistic(input);
    expect(res.status).toBe('ok');
    expect(res.lambdaStatus.every((s) => s === 'ok')).toBe(true);
    const ref = reference();
    expectClose(res.lambdas, ref.get('lambdas')!, 1e-12, 'default grid P(1−h²)/(h²π²/3)');
    expectClose(level1LogisticLambdas(fx.input.P), ref.get('lambdas')!, 1e-12, 'level1LogisticLambdas');
    expectClose(res.cvLoss, ref.get('dev')!, 1e-9, 'CV deviance');
    const order = Array.from(res.cvLoss.keys())
      .sort((a, b) => res.cvLoss[a] - res.cvLoss[b])
      .map((l) => l + 1);
    expect(order).toEqual(ref.get('order'));
    expectClose([res.lambda], ref.get('best')!, 1e-12, 'chosen λ');
    expectClose(zBetas(res, fx.input), ref.get('beta')!, 1e-7, 'per-fold β');
    expectClose(res.loco, ref.get('loco')!, 1e-7, 'LOCO (logit scale, offset excluded)');
  });
});

/** Pearson correlation over the observed samples. */
function corr(a: Float64Array, b: Float64Array, keep: Uint8Array): number {
  let n = 0;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < a.length; i++) {
    if (!keep[i]) continue;
    n++;
    sa += a[i];
    sb += b[i];
  }
  const ma = sa / n;
  const mb = sb / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    if (!keep[i]) continue;
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe('LOCO predictions', () => {
  it('leaving out the one strongly predictive chromosome removes most of the prediction', () => {
    const fx = makeFixture(77, { n: 1000, effects: [0.15, 0.15, 1.2, 0.15] });
    const { n, nChrom, y, observed } = fx.input;
    const res = level1Ridge(fx.input);
    expect(res.status).toBe('ok');
    const row = (c: number) => res.loco.subarray(c * n, (c + 1) * n);
    const r = Array.from({ length: nChrom }, (_, c) => corr(row(c), y, observed));
    // every LOCO prediction that keeps chromosome 2 predicts y well; the one without it does not
    for (const c of [0, 1, 3]) expect(r[c], `corr(loco_${c}, y)`).toBeGreaterThan(0.6);
    expect(r[2], 'corr(loco_2, y)').toBeLessThan(0.35);
    // and it differs from the others by far more than they differ among themselves
    const rms = (c: number, d: number) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += (row(c)[i] - row(d)[i]) ** 2;
      return Math.sqrt(s / n);
    };
    expect(rms(0, 2)).toBeGreaterThan(4 * rms(0, 1));
    // missing-trait samples get predictions too (same fold's fit)
    const missing = Array.from(observed.keys()).filter((i) => !observed[i]);
    expect(missing.length).toBeGreaterThan(0);
    expect(missing.some((i) => row(0)[i] !== 0)).toBe(true);
  });

  it("out-of-fold: changing fold f's y leaves fold f's predictions unchanged (ridge and logistic)", () => {
    const u = mulberry32(5);
    for (const binary of [false, true]) {
      const fx = makeFixture(31, { binary });
      const base = { ...fx.input, lambdas: Float64Array.of(binary ? 6 : 20), offset: fx.offset };
      const f = 2;
      const y2 = Float64Array.from(base.y, (v, i) =>
        base.fold[i] === f ? (binary ? (u() < 0.5 ? 1 : 0) : boxMullerNormal(u)) : v,
      );
      const run = (y: Float64Array) =>
        binary ? level1Logistic({ ...base, y }) : level1Ridge({ ...base, y });
      const a = run(base.y);
      const b = run(y2);
      let sameFold = 0;
      let otherFolds = 0;
      for (let c = 0; c < base.nChrom; c++)
        for (let i = 0; i < base.n; i++) {
          const d = Math.abs(a.loco[c * base.n + i] - b.loco[c * base.n + i]);
          if (base.fold[i] === f) sameFold = Math.max(sameFold, d);
          else otherFolds = Math.max(otherFolds, d);
        }
      expect(sameFold, `${binary ? 'logistic' : 'ridge'}: fold ${f}`).toBeLessThanOrEqual(1e-12);
      expect(otherFolds, `${binary ? 'logistic' : 'ridge'}: other folds`).toBeGreaterThan(1e-3);
    }
  });
});

describe('level 1 edge cases', () => {
  const fx = makeFixture(4242);
  const { n, P } = fx.input;

  it('an all-zero column is skipped: same fit as without it', () => {
    const keep = Array.from({ length: P }, (_, p) => p).filter((p) => p !== fx.zeroCol);
    const W = new Float64Array(n * keep.length);
    for (const [k, p] of keep.entries()) W.set(fx.input.W.subarray(p * n, (p + 1) * n), k * n);
    const lambdas = level1Lambdas(P);
    const a = level1Ridge({ ...fx.input, lambdas });
    const b = level1Ridge({
      ...fx.input,
      W,
      P: keep.length,
      chromOf: Int32Array.from(keep, (p) => fx.input.chromOf[p]),
      lambdas,
    });
    expectClose(a.cvLoss, b.cvLoss, 1e-13, 'cvLoss');
    expectClose(a.loco, b.loco, 1e-13, 'loco');
  });

  it('no predictors: status no_predictors, zero LOCO, CV loss of the zero prediction', () => {
    const r = level1Ridge({ ...fx.input, W: new Float64Array(n * P) });
    expect(r.status).toBe('no_predictors');
    expect(r.loco.every((v) => v === 0)).toBe(true);
    let ss = 0;
    for (let i = 0; i < n; i++) if (fx.input.observed[i]) ss += fx.input.y[i] ** 2;
    const m = fx.input.observed.reduce((s, v) => s + v, 0);
    for (const l of r.cvLoss) expect(l).toBeCloseTo(ss / m, 12);
    expect(r.lambda).toBe(Math.max(...r.lambdas));
  });

  it('too few observed samples and a training set without cases give a status, not NaN predictions', () => {
    const observed = new Uint8Array(n);
    for (let i = 0; i < 6; i++) observed[i * 50] = 1;
    const r = level1Ridge({ ...fx.input, observed });
    expect(r.status).toBe('too_few_samples');
    expect(r.loco.every((v) => v === 0)).toBe(true);

    const bin = makeFixture(9, { binary: true });
    // no case outside fold 0 → fold 0's training set has no case
    const y = Float64Array.from(bin.input.y, (v, i) => (bin.input.fold[i] === 0 ? v : 0));
    const r2 = level1Logistic({ ...bin.input, y, offset: bin.offset });
    expect(r2.status).toBe('too_few_cases');
    expect(r2.loco.every((v) => v === 0)).toBe(true);
  });

  it('non-convergence of the logistic ridge is reported per λ and overall', () => {
    const bin = makeFixture(9, { binary: true });
    const r = level1Logistic({ ...bin.input, offset: bin.offset }, { maxIter: 1 });
    expect(r.status).toBe('not_converged');
    expect(r.lambdaStatus.every((s) => s === 'not_converged')).toBe(true);
    expect(Number.isNaN(r.lambda)).toBe(true);
    expect(r.loco.every((v) => v === 0)).toBe(true);
  });

  it('rejects invalid input with a clear error', () => {
    const bad = (patch: Partial<Level1Input>) => () => level1Ridge({ ...fx.input, ...patch });
    expect(bad({ fold: new Uint8Array(n).fill(5) })).toThrow(/fold/);
    expect(bad({ nFolds: 1 })).toThrow(/nFolds/);
    expect(bad({ chromOf: new Int32Array(P).fill(9) })).toThrow(/chromOf/);
    const W = Float64Array.from(fx.input.W);
    W[3] = Number.NaN;
    expect(bad({ W })).toThrow(/non-finite/);
    expect(bad({ lambdas: Float64Array.of(1, 0) })).toThrow(/λ/);
    const bin = makeFixture(9, { binary: true });
    const y = Float64Array.from(bin.input.y);
    y[bin.input.observed.indexOf(1)] = 2;
    expect(() => level1Logistic({ ...bin.input, y, offset: bin.offset })).toThrow(/0\/1/);
  });
});
