/**
 * The whole-genome level 0 (stats/ridge-genome.ts) against R: for every fold f, trait k and
 * shrinkage λ_r, R solves the dual (Z_T Z_Tᵀ + λ_r I) α = y_T with `solve` and forms each part's
 * out-of-fold prediction Z_{f,c} Z_{T,c}ᵀ α, on a fixture with missing calls, a constant variant,
 * a trait with missing values, n not a multiple of 4 (padding rows) and parts that are not one
 * run each. The WebAssembly pass and the JavaScript one agree; the generated kernel files match
 * their generator.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shuffledFolds } from '../../gwas/step1.js';
import { orthonormalBasis } from '../../stats/linalg.js';
import { packGt } from '../../stats/packed.js';
import { type GenomeMatrix, genomeMatrix, genomeRidge, setGenomeBackend } from '../../stats/ridge-genome.js';
import { level0Lambdas, prepareLevel0Traits, standardizedBlock } from '../../stats/ridge-level0.js';
import { assemble, embedSource, moduleText } from '../../stats/wasm/genome-build.js';
import { rng } from '../helpers/rng.js';
import { runR } from './fixture.js';

const tmp = mkdtempSync(join(tmpdir(), 'ridge-genome-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const n = 150;
const M = 240;
const K = 2;
const F = 5;
const nParts = 3;

function fixture() {
  const r = rng(11);
  const codes: Uint8Array[] = [];
  for (let j = 0; j < M; j++) {
    const p = 0.05 + 0.4 * r.next();
    const c = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      c[i] = (r.next() < p ? 1 : 0) + (r.next() < p ? 1 : 0);
      if (r.next() < 0.02) c[i] = 3; // missing
    }
    if (j === 17) c.fill(1); // constant
    codes.push(c);
  }
  const gts = codes.map((c) => packGt(c, n));
  const cov = new Float64Array(n * 3);
  cov.fill(1, 0, n);
  for (let i = 0; i < n; i++) {
    cov[n + i] = r.normal();
    cov[2 * n + i] = i % 2;
  }
  const b = orthonormalBasis(cov, n, 3);
  const basis = b.q.subarray(0, n * b.rank);
  const yRaw = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    let g = 0;
    for (let j = 0; j < 40; j++) g += codes[j * 5][i] === 3 ? 0 : codes[j * 5][i] * 0.15;
    yRaw[i] = g + r.normal();
    yRaw[n + i] = i % 7 === 0 ? Number.NaN : 0.5 * g + r.normal();
  }
  const prep = prepareLevel0Traits(yRaw, K, basis, b.rank);
  const fold = shuffledFolds(n, F);
  const setup = {
    n,
    nGeno: n,
    sampleIdx: Int32Array.from({ length: n }, (_, i) => i),
    fold,
    nFolds: F,
    basis,
    q: b.rank,
    y: prep.y,
    K,
    lambdas: level0Lambdas(M),
  };
  // parts: runs 0,1,2,0 (part 0 in two runs)
  const partOf = Int32Array.from({ length: M }, (_, j) => (j < 80 ? 0 : j < 140 ? 1 : j < 200 ? 2 : 0));
  return { gts, setup, partOf };
}

function build(f: ReturnType<typeof fixture>): GenomeMatrix {
  const std = standardizedBlock(f.setup, f.gts);
  const z = genomeMatrix(n, M, 64);
  for (let j = 0; j < M; j++) z.z.set(std.g.subarray(j * n, (j + 1) * n), j * z.ld);
  return z;
}

function run(f: ReturnType<typeof fixture>, z: GenomeMatrix) {
  return genomeRidge({
    z,
    partOf: f.partOf,
    nParts,
    fold: f.setup.fold,
    nFolds: F,
    y: f.setup.y,
    K,
    lambdas: f.setup.lambdas,
  });
}

describe('whole-genome level 0', () => {
  const f = fixture();
  const R = f.setup.lambdas.length;

  it('equals R solve() of each fold’s dual system, part by part, to 1e-8', () => {
    const z = build(f);
    expect(z.kernel).not.toBeNull();
    expect(z.ld).toBe(152);
    const out = run(f, z);
    const dense = new Float64Array(n * M);
    for (let j = 0; j < M; j++) dense.set(z.z.subarray(j * z.ld, j * z.ld + n), j * n);
    writeFileSync(join(tmp, 'z.f64'), dense);
    writeFileSync(join(tmp, 'y.f64'), f.setup.y);
    writeFileSync(join(tmp, 'meta.txt'), [...f.setup.fold].join(' '));
    writeFileSync(join(tmp, 'parts.txt'), [...f.partOf].join(' '));
    writeFileSync(join(tmp, 'lambdas.txt'), [...f.setup.lambdas].join(' '));
    runR(
      `setwd("${tmp}")
n <- ${n}; M <- ${M}; K <- ${K}
Z <- matrix(readBin("z.f64", "double", n * M), n, M)
Y <- matrix(readBin("y.f64", "double", n * K), n, K)
fold <- scan("meta.txt", quiet = TRUE); part <- scan("parts.txt", quiet = TRUE)
lam <- scan("lambdas.txt", quiet = TRUE); R <- length(lam)
out <- numeric(${nParts} * n * K * R)
for (f in 0:${F - 1}) {
  tr <- which(fold != f); te <- which(fold == f)
  A <- tcrossprod(Z[tr, ])
  for (k in 1:K) for (r in 1:R) {
    a <- solve(A + lam[r] * diag(length(tr)), Y[tr, k])
    for (c in 0:${nParts - 1}) {
      cols <- which(part == c)
      p <- Z[te, cols, drop = FALSE] %*% crossprod(Z[tr, cols, drop = FALSE], a)
      out[c * n * K * R + ((k - 1) * R + (r - 1)) * n + te] <- p
    }
  }
}
writeBin(out, "ref.f64")`,
      tmp,
    );
    const buf = readFileSync(join(tmp, 'ref.f64'));
    const ref = new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
    let worst = 0;
    let scale = 0;
    for (let c = 0; c < nParts; c++)
      for (let t = 0; t < n * K * R; t++) {
        worst = Math.max(worst, Math.abs(out.parts[c][t] - ref[c * n * K * R + t]));
        scale = Math.max(scale, Math.abs(ref[c * n * K * R + t]));
      }
    console.log(
      `genome level 0 vs R: ${out.iterations} CG iterations, max |Δ| ${worst.toExponential(2)} of ${scale.toFixed(3)}`,
    );
    expect(scale).toBeGreaterThan(0.1);
    expect(worst / scale).toBeLessThan(1e-8);
    // the constant variant adds nothing: its column is zero
    const z17 = z.z.subarray(17 * z.ld, 17 * z.ld + n);
    expect(z17.every((v) => v === 0)).toBe(true);
  });

  it('the WebAssembly and JavaScript passes agree to 1e-10 (sums in another order)', () => {
    const a = run(f, build(f));
    setGenomeBackend('js');
    try {
      const zj = build(f);
      expect(zj.kernel).toBeNull();
      const b = run(f, zj);
      expect(b.iterations).toBe(a.iterations);
      let worst = 0;
      let scale = 0;
      for (let c = 0; c < nParts; c++)
        for (let t = 0; t < a.parts[c].length; t++) {
          worst = Math.max(worst, Math.abs(a.parts[c][t] - b.parts[c][t]));
          scale = Math.max(scale, Math.abs(a.parts[c][t]));
        }
      expect(worst / scale).toBeLessThan(1e-10);
    } finally {
      setGenomeBackend('auto');
    }
  });

  it('a trait never observed outside a fold predicts 0 there; bad shrinkage is refused', () => {
    const y = f.setup.y.slice();
    // trait 1 observed only in fold 0: its systems of folds 1..4 have no right-hand side
    for (let i = 0; i < n; i++) if (f.setup.fold[i] !== 0) y[n + i] = 0;
    const out = genomeRidge({
      z: build(f),
      partOf: f.partOf,
      nParts,
      fold: f.setup.fold,
      nFolds: F,
      y,
      K,
      lambdas: f.setup.lambdas,
    });
    for (let i = 0; i < n; i++)
      if (f.setup.fold[i] === 0) for (let r = 0; r < R; r++) expect(out.parts[0][(R + r) * n + i]).toBe(0);
    expect(() =>
      genomeRidge({
        z: build(f),
        partOf: f.partOf,
        nParts,
        fold: f.setup.fold,
        nFolds: F,
        y,
        K,
        lambdas: Float64Array.of(1, 0),
      }),
    ).toThrow(RangeError);
  });

  it('genome.wat and genome-wasm.ts match a fresh regeneration by stats/wasm/genome-build.ts', async () => {
    const dir = join(import.meta.dirname, '..', '..', 'stats', 'wasm');
    const text = moduleText();
    expect(text).toBe(readFileSync(join(dir, 'genome.wat'), 'utf8'));
    expect(embedSource(await assemble(text))).toBe(readFileSync(join(dir, 'genome-wasm.ts'), 'utf8'));
  });
});
