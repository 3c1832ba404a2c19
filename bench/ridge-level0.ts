/**
 * Micro-benchmark of the REGENIE level-0 block ridge regressions (stats/ridge-level0.ts): one block
 * of B step-1 variants, n samples, K traits, R = 5 shrinkage values, F = 5 folds, 3 covariates.
 *
 *   node --import tsx bench/ridge-level0.ts [samples=10000] [blockSizes=500,1000] [K=1] [missingRate=0.01] [backends=wasm,js]
 *
 * Variants have MAF uniform in 0.01–0.5 (the step-1 filter is MAF ≥ 1 %) and the given per-call
 * missing rate. Reports, per block size, the best of 7 runs (CPU time, after warm-up) of: the per-fold
 * normal equations (`level0System`: bit planes, popcount Gram, corrections), the 25 ridge solves
 * (`level0Solve`), and the whole `level0Block` (including the out-of-fold predictions), with the
 * WebAssembly kernels and/or the plain JavaScript fallback. It also times the two ways of solving a fold for all
 * R shrinkage values at that B: R Cholesky factorisations versus one Householder
 * tridiagonalisation reused for every λ (the latter in plain JS only, as a measurement).
 */
import { cholesky, orthonormalBasis } from '../stats/linalg.js';
import { packGt } from '../stats/packed.js';
import { boxMullerNormal, mulberry32 } from '../stats/random.js';
import {
  foldsOf,
  type Level0Setup,
  level0Block,
  level0Lambdas,
  level0Solve,
  level0System,
  prepareLevel0Traits,
  ridgeSolve,
  setLevel0Backend,
} from '../stats/ridge-level0.js';

const n = Number(process.argv[2] ?? 10_000);
const sizes = (process.argv[3] ?? '500,1000').split(',').map(Number);
const K = Number(process.argv[4] ?? 1);
const missRate = Number(process.argv[5] ?? 0.01);
const backends = (process.argv[6] ?? 'wasm,js').split(',');
const F = 5;
const q = 3;

const u = mulberry32(11);
const gauss = () => boxMullerNormal(u);

function makeBlock(B: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const codes = new Uint8Array(n);
  for (let v = 0; v < B; v++) {
    const maf = 0.01 + 0.49 * u();
    for (let i = 0; i < n; i++) codes[i] = u() < missRate ? 3 : (u() < maf ? 1 : 0) + (u() < maf ? 1 : 0);
    out.push(packGt(codes, n));
  }
  return out;
}

const x = new Float64Array(n * q);
for (let i = 0; i < n; i++) {
  x[i] = 1;
  x[i + n] = gauss();
  x[i + 2 * n] = u() < 0.5 ? 1 : 0;
}
const basis = orthonormalBasis(x, n, q).q;
const yRaw = Float64Array.from({ length: n * K }, gauss);
const { y } = prepareLevel0Traits(yRaw, K, basis, q);
const setup: Level0Setup = {
  n,
  nGeno: n,
  sampleIdx: Int32Array.from({ length: n }, (_, i) => i),
  fold: foldsOf(n, F),
  nFolds: F,
  basis,
  q,
  y,
  K,
  lambdas: level0Lambdas(40_000),
};

/**
 * Best-of-`reps` process CPU milliseconds of `run` (user time of all threads, the garbage
 * collector's helpers included) — on a shared machine the fairer figure; `wall` keeps the best
 * wall-clock time too.
 */
function best(reps: number, run: () => void, wall?: number[]): number {
  let b = Number.POSITIVE_INFINITY;
  let w = Number.POSITIVE_INFINITY;
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    run();
    w = Math.min(w, performance.now() - t0);
    b = Math.min(b, process.cpuUsage(c0).user / 1000);
  }
  wall?.push(w);
  return b;
}

/** Householder reduction of the symmetric p × p `a` (lower triangle) to tridiagonal form, in place. */
function tridiagonalise(a: Float64Array, p: number): void {
  const v = new Float64Array(p);
  const w = new Float64Array(p);
  for (let k = 0; k < p - 2; k++) {
    let alpha = 0;
    for (let i = k + 1; i < p; i++) alpha += a[i + k * p] ** 2;
    alpha = Math.sqrt(alpha);
    if (a[k + 1 + k * p] > 0) alpha = -alpha;
    let vn = 0;
    for (let i = k + 1; i < p; i++) v[i] = a[i + k * p];
    v[k + 1] -= alpha;
    for (let i = k + 1; i < p; i++) vn += v[i] * v[i];
    if (vn === 0) continue;
    const tau = 2 / vn;
    // w = τ A v over the trailing block, from its lower triangle
    w.fill(0, k + 1);
    for (let j = k + 1; j < p; j++) {
      const oj = j * p;
      const vj = v[j];
      let s = a[j + oj] * vj;
      for (let i = j + 1; i < p; i++) {
        s += a[i + oj] * v[i];
        w[i] += a[i + oj] * vj;
      }
      w[j] += s;
    }
    let vw = 0;
    for (let i = k + 1; i < p; i++) {
      w[i] *= tau;
      vw += v[i] * w[i];
    }
    const c = (tau * vw) / 2;
    for (let i = k + 1; i < p; i++) w[i] -= c * v[i];
    for (let j = k + 1; j < p; j++) {
      const oj = j * p;
      const vj = v[j];
      const wj = w[j];
      for (let i = j; i < p; i++) a[i + oj] -= v[i] * wj + w[i] * vj;
    }
  }
}

console.log(
  `n=${n} K=${K} R=${setup.lambdas.length} F=${F} q=${q} missing=${missRate} MAF 0.01–0.5 (node ${process.version})`,
);
for (const B of sizes) {
  const gts = makeBlock(B);
  for (const b of ['auto', 'js'] as const) {
    if (!backends.includes(b === 'auto' ? 'wasm' : 'js')) continue;
    const wasmOk = setLevel0Backend(b);
    const label = b === 'auto' && wasmOk ? 'wasm' : 'js';
    level0Block(setup, gts); // warm-up (JIT, memory)
    const reps = label === 'js' && B > 500 ? 1 : 7;
    const tSys = best(reps, () => level0System(setup, gts));
    const sys = level0System(setup, gts);
    const tSolve = best(reps, () => level0Solve(sys, setup.lambdas, K));
    const wall: number[] = [];
    const tBlock = best(reps, () => level0Block(setup, gts), wall);
    console.log(
      `B=${String(B).padStart(4)} ${label.padEnd(4)}  normal equations ${tSys.toFixed(0).padStart(5)} ms` +
        `  solves ${tSolve.toFixed(0).padStart(5)} ms  level0Block ${tBlock.toFixed(0).padStart(5)} ms cpu (${wall[0].toFixed(0)} ms wall), best of ${reps}`,
    );
  }
  setLevel0Backend('auto');
  // one fold, all R values: R Cholesky solves vs one tridiagonalisation (JS)
  const sys = level0System(setup, gts);
  const t = new Float64Array(B * B);
  for (let f = 1; f < F; f++) for (let i = 0; i < B * B; i++) t[i] += sys.gram[f][i];
  const rhs = new Float64Array(B);
  for (let f = 1; f < F; f++) for (let i = 0; i < B; i++) rhs[i] += sys.gty[f][i];
  const R = setup.lambdas.length;
  const tCholWasm = best(3, () => {
    for (const l of setup.lambdas) ridgeSolve(t, B, rhs, l);
  });
  const tCholJs = best(1, () => {
    for (const l of setup.lambdas) {
      const a = Float64Array.from(t);
      for (let i = 0; i < B; i++) a[i + i * B] += l;
      cholesky(a, B);
    }
  });
  const tTri = best(1, () => tridiagonalise(Float64Array.from(t), B));
  console.log(
    `B=${String(B).padStart(4)} one fold, ${R} λ: ${R} Cholesky ${tCholWasm.toFixed(0)} ms (wasm) / ` +
      `${tCholJs.toFixed(0)} ms (js);  1 tridiagonalisation ${tTri.toFixed(0)} ms (js)`,
  );
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
