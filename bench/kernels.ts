/**
 * Kernel-time benchmark of the pure association core (no I/O): linear GWAS (1 and 20 traits) and
 * the logistic score test over hard-call genotypes, 3 covariates.
 *
 *   node --import tsx bench/kernels.ts [samples=10000] [variants=100000] [missingRate=0.01] [mafMax=0.5]
 *
 * Genotypes come from a pool of 512 distinct random variants (MAF uniform 0.01–mafMax, the given
 * per-call missing rate) reused cyclically, so the run measures the kernel, not a generator;
 * the pool (5 MB at 10k samples) is larger than L2 cache.
 *
 * The genotype scan runs the WebAssembly SIMD kernel when available; `SCAN_KERNEL=scalar` in the
 * environment forces the scalar JavaScript path for the whole run (the "before" figures). The
 * "scan only" lines time `scanCodes` alone on the linear models' row matrices with both back ends.
 */
import { makeScratch, type ScanBackend, scanCodes, scanDosages, setScanBackend } from '../stats/kernel.js';
import { linearTestVariant, prepareLinear } from '../stats/linear.js';
import { logisticTestVariant, prepareLogistic } from '../stats/logistic.js';
import { boxMullerNormal, mulberry32 } from '../stats/random.js';
import { allocAssocColumns, TEST } from '../stats/status.js';

const n = Number(process.argv[2] ?? 10_000);
const nVar = Number(process.argv[3] ?? 100_000);
const missRate = Number(process.argv[4] ?? 0.01);
const mafMax = Number(process.argv[5] ?? 0.5);

const u = mulberry32(1);
const gauss = () => boxMullerNormal(u);

const POOL = 512;
const pool: Uint8Array[] = [];
for (let v = 0; v < POOL; v++) {
  const maf = 0.01 + (mafMax - 0.01) * u();
  const g = new Uint8Array(n);
  for (let i = 0; i < n; i++) g[i] = u() < missRate ? 255 : (u() < maf ? 1 : 0) + (u() < maf ? 1 : 0);
  pool.push(g);
}
/** the same calls as dosages: non-zero calls jittered by ±0.1, NaN for missing. */
const dosePool = pool.map((g) =>
  Float32Array.from(g, (c) => (c === 255 ? Number.NaN : c === 0 ? 0 : c + 0.2 * (u() - 0.5))),
);
const cov = Float64Array.from({ length: 3 * n }, gauss);
const traits = Array.from({ length: 20 }, () => Float64Array.from({ length: n }, gauss));
const bin = Float64Array.from(traits[0], (y, i) => (y + 0.5 * cov[i] > 0.8 ? 1 : 0));

/** Wall and CPU (user) time: on a shared machine the CPU time is the fairer kernel figure. */
function time(label: string, run: () => void): number {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  run();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0).user / 1e6;
  const ns = (cpu * 1e9) / (n * nVar);
  console.log(
    `${label.padEnd(36)} wall ${s.toFixed(3)} s  cpu ${cpu.toFixed(3)} s  ${ns.toFixed(2)} cpu-ns/genotype`,
  );
  return s;
}

const envBackend: ScanBackend = process.env.SCAN_KERNEL === 'scalar' ? 'scalar' : 'auto';
const wasmOk = setScanBackend(envBackend);
console.log(
  `samples=${n} variants=${nVar} missing=${missRate} maf=0.01–${mafMax} covariates=3 (node ${process.version}) ` +
    `scan=${envBackend === 'scalar' || !wasmOk ? 'scalar' : 'wasm-simd'}`,
);
for (const K of [1, 20]) {
  const model = prepareLinear(traits.slice(0, K), cov, 3, n);
  for (const b of ['scalar', 'wasm'] as const) {
    if (b === 'wasm' && !wasmOk) continue;
    setScanBackend(b);
    const sc = makeScratch(n, model.m);
    for (let v = 0; v < 300; v++) scanCodes(pool[v % POOL], model.rows, model.m, sc); // warm-up
    time(`scan only, ${b}, m=${model.m}`, () => {
      for (let v = 0; v < nVar; v++) scanCodes(pool[v % POOL], model.rows, model.m, sc);
    });
    if (K === 1) {
      for (let v = 0; v < 300; v++) scanDosages(dosePool[v % POOL], model.rows, model.m, sc);
      time(`scan only, dosages, ${b}, m=${model.m}`, () => {
        for (let v = 0; v < nVar; v++) scanDosages(dosePool[v % POOL], model.rows, model.m, sc);
      });
    }
  }
}
setScanBackend(envBackend);
for (const K of [1, 20]) {
  const model = prepareLinear(traits.slice(0, K), cov, 3, n);
  const out = allocAssocColumns(POOL * K);
  for (let v = 0; v < 300; v++) linearTestVariant(model, pool[v % POOL], out, v % POOL); // JIT warm-up
  time(`linear, ${K} trait${K > 1 ? 's' : ''}, one pass`, () => {
    for (let v = 0; v < nVar; v++) linearTestVariant(model, pool[v % POOL], out, v % POOL);
  });
}
{
  const model = prepareLogistic(bin, cov, 3, n, undefined, { fullFitBelow: 0 });
  const out = allocAssocColumns(POOL);
  for (let v = 0; v < 300; v++) logisticTestVariant(model, pool[v % POOL], out, v % POOL); // JIT warm-up
  time('logistic score test only', () => {
    for (let v = 0; v < nVar; v++) logisticTestVariant(model, pool[v % POOL], out, v % POOL);
  });
  const hybrid = prepareLogistic(bin, cov, 3, n);
  const outH = allocAssocColumns(POOL);
  let full = 0;
  time('logistic hybrid (score, Wald p<.05)', () => {
    for (let v = 0; v < nVar; v++) {
      logisticTestVariant(hybrid, pool[v % POOL], outH, v % POOL);
      if (TEST[outH.test[v % POOL]] !== 'score') full++;
    }
  });
  console.log(`  full fits in hybrid: ${full} of ${nVar}`);
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
