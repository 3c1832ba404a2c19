/**
 * REGENIE level-0 block ridge regressions (stats/ridge-level0.ts):
 *  1. the ridge fits equal R glmnet (alpha = 0, fixed lambdas) to 1e-6, for every fold and
 *     shrinkage value, fitted on the training rows of the SAME standardised block (written to CSV
 *     from here): the coefficients from the fast path's normal equations, and the out-of-fold
 *     predictions of `level0Block`;
 *  2. the fast Gram (bit-plane popcounts + missing-call and covariate corrections), with the
 *     WebAssembly kernels and with the JavaScript fallback, equals the plain float reference
 *     (dense standardised block, plain sums) to 1e-9 relative — with missing calls, haploid-coded
 *     (0/2) variants and constant variants (monomorphic, all missing, all heterozygous, collinear
 *     with a covariate), with consecutive and with scattered genotype positions and folds;
 *  3. out of fold: a fold's predictions do not change when that fold's trait values change;
 *  4. the trait preparation equals lm() residuals scaled to Σ y² = n_observed (R), the fold
 *     split and the shrinkage grid follow their definitions;
 *  5. the committed WebAssembly module is what stats/wasm/gram-build.ts generates.
 *
 * glmnet's scaling, worked out from its documentation and checked by this test: the gaussian
 * objective is (1/2N)‖y − Xβ‖² + (λ_g/2)‖β‖² after glmnet has divided y by
 * ys = √(Σ y² / N) (intercept = FALSE: uncentred) and divided the user's λ_g by the same ys, so its
 * β solves (XᵀX + N λ_g / ys · I) β = Xᵀy. Our (XᵀX + λI)β = Xᵀy is therefore glmnet at
 * λ_g = λ · ys / N, with N and ys over the training rows (standardize = FALSE, intercept = FALSE,
 * thresh = 1e-20 so that coordinate descent converges far below the tolerance).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { orthonormalBasis } from '../../stats/linalg.js';
import { packGt } from '../../stats/packed.js';
import {
  foldsOf,
  type Level0Setup,
  type Level0System,
  level0Block,
  level0BlockReference,
  level0Lambdas,
  level0Solve,
  level0System,
  level0SystemReference,
  prepareLevel0Traits,
  setDecodeCacheMax,
  setLevel0Backend,
  standardizedBlock,
} from '../../stats/ridge-level0.js';
import { assemble, embedSource, moduleText } from '../../stats/wasm/gram-build.js';
import { rng } from '../helpers/rng.js';
import { runR } from './fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'biobank-ridge-level0-'));
afterAll(() => {
  setLevel0Backend('auto');
  rmSync(dir, { recursive: true, force: true });
});

interface Fixture {
  setup: Level0Setup;
  gts: Uint8Array[];
  /** covariates without the intercept, n × 2 column-major */
  x: Float64Array;
  yRaw: Float64Array;
  /** variants built to be constant */
  nConstant: number;
}

/**
 * n analysis samples at genotype positions sampleIdx (identity, or a scattered subset of nGeno),
 * covariates 1, a normal and a 0/1 variable, B variants with MAF 0.02–0.5 and the given per-call
 * missing rate, of which variant 1 is haploid-coded (0/2) and, when `specials`, variant 2 is
 * monomorphic, 3 all missing, 4 all heterozygous and 5 equal to twice the 0/1 covariate (constant
 * after residualising); K traits with a few missing values.
 */
function fixture(
  seed: number,
  o: {
    n: number;
    B: number;
    K: number;
    missing: number;
    scattered: boolean;
    randomFolds: boolean;
    M: number;
    specials: boolean;
  },
): Fixture {
  const r = rng(seed);
  const { n, B, K } = o;
  const nGeno = o.scattered ? n + 37 : n;
  const pos = Array.from({ length: nGeno }, (_, i) => i);
  if (o.scattered) {
    for (let i = nGeno - 1; i > 0; i--) {
      const j = Math.floor(r.next() * (i + 1));
      [pos[i], pos[j]] = [pos[j], pos[i]];
    }
  }
  const sampleIdx = Int32Array.from(pos.slice(0, n));
  const x = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    x[i] = r.normal();
    x[i + n] = r.next() < 0.4 ? 1 : 0;
  }
  const design = new Float64Array(3 * n);
  design.fill(1, 0, n);
  design.set(x, n);
  const ob = orthonormalBasis(design, n, 3);
  expect(ob.rank).toBe(3);
  const gts: Uint8Array[] = [];
  const codes = new Uint8Array(nGeno);
  for (let v = 0; v < B; v++) {
    const maf = 0.02 + 0.48 * r.next();
    for (let i = 0; i < nGeno; i++) {
      codes[i] = r.next() < o.missing ? 3 : (r.next() < maf ? 1 : 0) + (r.next() < maf ? 1 : 0);
    }
    if (v === 1) for (let i = 0; i < nGeno; i++) codes[i] = codes[i] === 3 ? 3 : r.next() < maf ? 2 : 0;
    if (o.specials && v === 2) for (let i = 0; i < nGeno; i++) codes[i] = codes[i] === 3 ? 3 : 0;
    if (o.specials && v === 3) codes.fill(3);
    if (o.specials && v === 4) codes.fill(1);
    if (o.specials && v === 5) {
      codes.fill(0);
      for (let j = 0; j < n; j++) codes[sampleIdx[j]] = 2 * x[j + n];
    }
    gts.push(packGt(codes, nGeno));
  }
  const yRaw = new Float64Array(n * K);
  for (let k = 0; k < K; k++) {
    for (let i = 0; i < n; i++) yRaw[i + k * n] = 0.5 * x[i] + 0.3 * (k + 1) * r.normal() + r.normal() + 2;
    for (let m = 0; m < 3 + k; m++) yRaw[Math.floor(r.next() * n) + k * n] = Number.NaN;
  }
  const { y } = prepareLevel0Traits(yRaw, K, ob.q, 3);
  const fold = o.randomFolds ? Uint8Array.from({ length: n }, () => Math.floor(r.next() * 5)) : foldsOf(n, 5);
  const setup: Level0Setup = {
    n,
    nGeno,
    sampleIdx,
    fold,
    nFolds: 5,
    basis: ob.q,
    q: 3,
    y,
    K,
    lambdas: level0Lambdas(o.M),
  };
  return { setup, gts, x, yRaw, nConstant: o.specials ? 4 : 0 };
}

function csv(path: string, cols: Float64Array[] | number[][], names: string[]): void {
  const n = cols[0].length;
  const lines = [names.join(',')];
  for (let i = 0; i < n; i++)
    lines.push(cols.map((c) => (Number.isNaN(c[i]) ? 'NA' : String(c[i]))).join(','));
  writeFileSync(path, `${lines.join('\n')}\n`);
}

/** max |a − b| / max |b| over paired arrays. */
function relDiff(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  let d = 0;
  let m = 0;
  for (let s = 0; s < b.length; s++) {
    expect(a[s].length).toBe(b[s].length);
    for (let i = 0; i < b[s].length; i++) {
      d = Math.max(d, Math.abs(a[s][i] - b[s][i]));
      m = Math.max(m, Math.abs(b[s][i]));
    }
  }
  expect(m).toBeGreaterThan(0);
  return d / m;
}

describe('level-0 ridge against R glmnet', () => {
  it('β and out-of-fold predictions equal glmnet (alpha = 0) on the training rows, every fold and λ', () => {
    const fx = fixture(11, {
      n: 300,
      B: 40,
      K: 1,
      missing: 0.03,
      scattered: true,
      randomFolds: false,
      M: 400,
      specials: true,
    });
    const { setup, gts } = fx;
    const { n, lambdas } = setup;
    const B = gts.length;
    const R = lambdas.length;
    const std = standardizedBlock(setup, gts);
    expect(std.nConstant).toBe(fx.nConstant);
    const cols: Float64Array[] = [];
    for (let v = 0; v < B; v++) cols.push(std.g.subarray(v * n, (v + 1) * n));
    const names = cols.map((_, v) => `g${v}`);
    csv(join(dir, 'glmnet.csv'), [...cols, setup.y, Float64Array.from(setup.fold)], [...names, 'y', 'fold']);
    const out = join(dir, 'glmnet-beta.csv');
    runR(
      `suppressMessages(library(glmnet))
d <- read.csv(${JSON.stringify(join(dir, 'glmnet.csv'))})
X <- as.matrix(d[, c(${names.map((v) => `'${v}'`).join(', ')})])
lams <- c(${Array.from(lambdas).join(', ')})
res <- NULL
for (f in 0:4) {
  tr <- d$fold != f
  N <- sum(tr)
  ys <- sqrt(sum(d$y[tr]^2) / N)
  for (r in seq_along(lams)) {
    fit <- glmnet(X[tr, ], d$y[tr], family = 'gaussian', alpha = 0, lambda = lams[r] * ys / N,
                  standardize = FALSE, intercept = FALSE, thresh = 1e-20, maxit = 1e7)
    b <- as.numeric(coef(fit, s = lams[r] * ys / N, exact = FALSE))[-1]
    pred <- rep(NA_real_, nrow(d)); pred[!tr] <- X[!tr, ] %*% b
    res <- rbind(res, data.frame(fold = f, r = r - 1, what = 'beta', i = seq_along(b) - 1, value = b))
    res <- rbind(res, data.frame(fold = f, r = r - 1, what = 'pred', i = which(!tr) - 1, value = pred[!tr]))
  }
}
write.csv(res, ${JSON.stringify(out)}, row.names = FALSE)
`,
      dir,
    );
    const rows = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l: string) => l.split(','));
    const betaR = Array.from({ length: 5 }, () => Array.from({ length: R }, () => new Float64Array(B)));
    const predR = Array.from({ length: R }, () => new Float64Array(n));
    for (const [f, r, what, i, value] of rows) {
      if (what === '"beta"') betaR[Number(f)][Number(r)][Number(i)] = Number(value);
      else predR[Number(r)][Number(i)] = Number(value);
    }
    // coefficients from the fast path's normal equations (the code level0Block runs)
    const betas = level0Solve(level0System(setup, gts), lambdas, 1);
    for (let f = 0; f < 5; f++) {
      for (let r = 0; r < R; r++) {
        expect(relDiff([betas[f][r]], [betaR[f][r]]), `fold ${f} λ ${lambdas[r]}`).toBeLessThan(1e-6);
      }
    }
    const { predictions, nConstant } = level0Block(setup, gts);
    expect(nConstant).toBe(fx.nConstant);
    for (let r = 0; r < R; r++) {
      expect(
        relDiff([predictions.subarray(r * n, (r + 1) * n)], [predR[r]]),
        `predictions λ ${lambdas[r]}`,
      ).toBeLessThan(1e-6);
    }
  });
});

function expectSystemsEqual(a: Level0System, b: Level0System): void {
  expect(a.B).toBe(b.B);
  expect(Array.from(a.constant)).toEqual(Array.from(b.constant));
  expect(a.nConstant).toBe(b.nConstant);
  expect(relDiff([a.mean], [b.mean])).toBeLessThan(1e-12);
  expect(relDiff([a.scale], [b.scale])).toBeLessThan(1e-9);
  expect(relDiff(a.gram, b.gram)).toBeLessThan(1e-9);
  expect(relDiff(a.gty, b.gty)).toBeLessThan(1e-9);
}

describe('fast Gram equals the plain float reference', () => {
  const cases = [
    { label: 'consecutive positions, contiguous folds', scattered: false, randomFolds: false, n: 1001 },
    { label: 'scattered positions, random folds', scattered: true, randomFolds: true, n: 777 },
  ];
  for (const c of cases) {
    it(`${c.label}: WASM and JS back ends, 1e-9 relative`, () => {
      const fx = fixture(23, {
        n: c.n,
        B: 37,
        K: 2,
        missing: 0.04,
        scattered: c.scattered,
        randomFolds: c.randomFolds,
        M: 5000,
        specials: true,
      });
      const ref = level0SystemReference(fx.setup, fx.gts);
      expect(ref.nConstant).toBe(fx.nConstant);
      for (const backend of ['auto', 'js'] as const) {
        setLevel0Backend(backend);
        expectSystemsEqual(level0System(fx.setup, fx.gts), ref);
        const fast = level0Block(fx.setup, fx.gts);
        const plain = level0BlockReference(fx.setup, fx.gts);
        expect(fast.nConstant).toBe(fx.nConstant);
        expect(relDiff([fast.predictions], [plain.predictions])).toBeLessThan(1e-6);
        // past the decoded-call cache's bound the predictions decode again: the same bits
        const old = setDecodeCacheMax(3 * c.n);
        try {
          expect(level0Block(fx.setup, fx.gts).predictions).toEqual(fast.predictions);
        } finally {
          setDecodeCacheMax(old);
        }
      }
      setLevel0Backend('auto');
    });
  }

  it('the WASM popcount Gram is exact on a larger block (every pair, no missing calls)', () => {
    const fx = fixture(5, {
      n: 2999,
      B: 64,
      K: 1,
      missing: 0,
      scattered: false,
      randomFolds: false,
      M: 5000,
      specials: false,
    });
    const ref = level0SystemReference(fx.setup, fx.gts);
    expect(setLevel0Backend('auto')).toBe(true);
    expectSystemsEqual(level0System(fx.setup, fx.gts), ref);
  });
});

describe('out-of-fold predictions', () => {
  it("a fold's predictions do not depend on its own trait values", () => {
    const fx = fixture(31, {
      n: 500,
      B: 30,
      K: 2,
      missing: 0.02,
      scattered: false,
      randomFolds: true,
      M: 1000,
      specials: false,
    });
    const { setup, gts } = fx;
    const { n } = setup;
    const KR = setup.K * setup.lambdas.length;
    const base = level0Block(setup, gts).predictions;
    const r = rng(99);
    for (const f of [0, 3]) {
      const y2 = Float64Array.from(setup.y);
      for (let j = 0; j < n; j++)
        if (setup.fold[j] === f) for (let k = 0; k < setup.K; k++) y2[j + k * n] = 3 * r.normal();
      const changed = level0Block({ ...setup, y: y2 }, gts).predictions;
      let other = 0;
      for (let j = 0; j < n; j++) {
        for (let c = 0; c < KR; c++) {
          if (setup.fold[j] === f) expect(changed[j + c * n]).toBe(base[j + c * n]);
          else other = Math.max(other, Math.abs(changed[j + c * n] - base[j + c * n]));
        }
      }
      // the other folds were trained on the changed values, so theirs do move
      expect(other).toBeGreaterThan(1e-4);
    }
  });
});

describe('traits, folds and shrinkage grid', () => {
  it('prepared traits are lm() residuals on the observed rows scaled to Σ y² = n_observed', () => {
    const fx = fixture(41, {
      n: 250,
      B: 2,
      K: 2,
      missing: 0,
      scattered: false,
      randomFolds: false,
      M: 10,
      specials: false,
    });
    const { n } = fx.setup;
    const ys = [0, 1].map((k) => fx.yRaw.subarray(k * n, (k + 1) * n));
    csv(join(dir, 'traits.csv'), [...ys, fx.x.subarray(0, n), fx.x.subarray(n)], ['y0', 'y1', 'x1', 'x2']);
    const out = join(dir, 'traits-r.csv');
    runR(
      `d <- read.csv(${JSON.stringify(join(dir, 'traits.csv'))})
res <- sapply(c('y0', 'y1'), function(k) {
  r <- residuals(lm(d[[k]] ~ x1 + x2, data = d, na.action = na.exclude))
  r <- r / sqrt(mean(r^2, na.rm = TRUE))
  r[is.na(r)] <- 0
  r
})
write.csv(res, ${JSON.stringify(out)}, row.names = FALSE)
`,
      dir,
    );
    const lines = readFileSync(out, 'utf8').trim().split('\n').slice(1);
    const want = [0, 1].map((k) => Float64Array.from(lines, (l: string) => Number(l.split(',')[k])));
    const prep = prepareLevel0Traits(fx.yRaw, 2, fx.setup.basis, 3);
    for (let k = 0; k < 2; k++) {
      const got = prep.y.subarray(k * n, (k + 1) * n);
      expect(relDiff([got], [want[k]])).toBeLessThan(1e-10);
      let ss = 0;
      for (const v of got) ss += v * v;
      expect(ss).toBeCloseTo(prep.nObserved[k], 8);
      expect(prep.nObserved[k]).toBe(ys[k].filter(Number.isFinite).length);
    }
  });

  it('traits without observations or without variance are refused with the trait named', () => {
    const n = 20;
    const basis = new Float64Array(n).fill(1 / Math.sqrt(n));
    const y = new Float64Array(2 * n).fill(Number.NaN);
    for (let i = 0; i < n; i++) y[i] = i;
    expect(() => prepareLevel0Traits(y, 2, basis, 1)).toThrow(/trait 1 has no observed value/);
    y.fill(5, n);
    expect(() => prepareLevel0Traits(y, 2, basis, 1)).toThrow(/trait 1 is constant/);
  });

  it('folds are contiguous chunks of sizes differing by at most one', () => {
    for (const [n, F] of [
      [13, 5],
      [10, 5],
      [10_001, 5],
      [7, 7],
    ]) {
      const fold = foldsOf(n, F);
      const sizes = new Array(F).fill(0);
      for (let j = 0; j < n; j++) {
        sizes[fold[j]]++;
        if (j > 0) expect(fold[j] - fold[j - 1]).toBeGreaterThanOrEqual(0);
      }
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      expect(Math.min(...sizes)).toBeGreaterThan(0);
    }
    expect(() => foldsOf(3, 5)).toThrow(RangeError);
  });

  it('λ_r = M(1 − h²_r)/h²_r on h² = 0.01, 0.25, 0.5, 0.75, 0.99', () => {
    const M = 40_000;
    const lambdas = level0Lambdas(M);
    const h2 = Array.from(lambdas, (l) => M / (l + M));
    const want = [0.01, 0.25, 0.5, 0.75, 0.99];
    for (let r = 0; r < 5; r++) expect(h2[r]).toBeCloseTo(want[r], 12);
    expect(level0Lambdas(100, 3).length).toBe(3);
    expect(() => level0Lambdas(0)).toThrow(RangeError);
  });
});

describe('generated WASM kernel', () => {
  it('gram.wat and gram-wasm.ts match a fresh regeneration by stats/wasm/gram-build.ts', async () => {
    const wasmDir = join(import.meta.dirname, '..', '..', 'stats', 'wasm');
    const text = moduleText();
    expect(text).toBe(readFileSync(join(wasmDir, 'gram.wat'), 'utf8'));
    expect(embedSource(await assemble(text))).toBe(readFileSync(join(wasmDir, 'gram-wasm.ts'), 'utf8'));
  });
});
