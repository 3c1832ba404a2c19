import { afterAll, describe, expect, it } from 'vitest';
import {
  makeScratch,
  PAD,
  resetScanKernel,
  type ScanScratch,
  scanCodes,
  scanCodesScalar,
  scanDosages,
  scanDosagesScalar,
  setScanBackend,
} from '../../stats/kernel.js';
import { wasmScanCodes, wasmScanDosages } from '../../stats/kernel-wasm.js';
import { linearGwas, prepareLinear } from '../../stats/linear.js';
import { logisticGwas, prepareLogistic } from '../../stats/logistic.js';
import type { AssocColumns } from '../../stats/status.js';
import { rng } from './fixture.js';

afterAll(() => {
  setScanBackend('auto');
});

function randomRows(u: () => number, n: number, m: number, zeroFrac = 0): Float64Array {
  const rows = new Float64Array(n * m + PAD);
  for (let i = 0; i < n; i++) {
    if (u() < zeroFrac) continue; // a sample outside the analysis: an all-zero row
    for (let j = 0; j < m; j++) rows[i * m + j] = (u() - 0.3) * 10 ** Math.floor(4 * u() - 2);
  }
  return rows;
}

function randomCodes(u: () => number, n: number, maf: number, miss: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => (u() < miss ? 255 : (u() < maf ? 1 : 0) + (u() < maf ? 1 : 0)));
}

/** Dosages in [0, 2] with exact zeros, exact integers and NaN (missing) mixed in. */
function randomDosages(u: () => number, n: number, maf: number, miss: number): Float32Array {
  return Float32Array.from({ length: n }, () => {
    if (u() < miss) return Number.NaN;
    const g = (u() < maf ? 1 : 0) + (u() < maf ? 1 : 0);
    const x = u();
    return x < 0.5 ? g : Math.min(2, Math.max(0, g + (x - 0.75) * 0.4));
  });
}

/**
 * Tolerance per column: the two kernels add the same terms in a different order, so they may
 * differ by rounding, bounded by a few ulps of Σ|g·r|: 1e-12 relative to that scale.
 */
function expectClose(
  label: string,
  got: ScanScratch,
  ref: ScanScratch,
  g: ArrayLike<number>,
  rows: Float64Array,
  m: number,
  wCol: number,
): void {
  const n = g.length;
  const scale = new Float64Array(m);
  let scaleDd = 0;
  let scaleDw = 0;
  for (let i = 0; i < n; i++) {
    const gi = Number.isNaN(g[i]) || g[i] === 255 ? 0 : Math.abs(g[i]);
    for (let j = 0; j < m; j++) scale[j] += gi * Math.abs(rows[i * m + j]);
    scaleDd += gi * gi * Math.abs(rows[i * m]);
    if (wCol >= 0) scaleDw += gi * gi * Math.abs(rows[i * m + wCol]);
  }
  for (let j = 0; j < m; j++) {
    const d = Math.abs(got.sum[j] - ref.sum[j]);
    if (!(d <= 1e-12 * scale[j])) expect.fail(`${label} sum[${j}] ${got.sum[j]} vs ${ref.sum[j]}`);
  }
  if (!(Math.abs(got.dd - ref.dd) <= 1e-12 * scaleDd)) expect.fail(`${label} dd ${got.dd} vs ${ref.dd}`);
  if (!(Math.abs(got.dw - ref.dw) <= 1e-12 * scaleDw)) expect.fail(`${label} dw ${got.dw} vs ${ref.dw}`);
  expect(got.nMiss, `${label} nMiss`).toBe(ref.nMiss);
  expect(Array.from(got.miss.subarray(0, got.nMiss)), `${label} miss`).toEqual(
    Array.from(ref.miss.subarray(0, ref.nMiss)),
  );
}

describe('genotype scan kernel', () => {
  const n = 3000;
  const u = rng(17);
  const dense = Uint8Array.from({ length: n }, () =>
    u() < 0.02 ? 255 : (u() < 0.4 ? 1 : 0) + (u() < 0.4 ? 1 : 0),
  );
  const sparse = Uint8Array.from({ length: n }, () =>
    u() < 0.01 ? 255 : u() < 0.01 ? 1 : u() < 0.002 ? 2 : 0,
  );

  it('the WebAssembly SIMD kernel loads on this runtime', () => {
    expect(setScanBackend('wasm')).toBe(true);
  });

  for (const backend of ['scalar', 'wasm'] as const) {
    it(`${backend}: dense, sparse and dosage paths equal a naive sum for row widths 1–25`, () => {
      setScanBackend(backend);
      for (const m of [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 17, 24, 25]) {
        const rows = new Float64Array(n * m + PAD);
        for (let t = 0; t < n * m; t++) rows[t] = u() - 0.3;
        const wCol = m > 2 ? m - 2 : -1;
        for (const gt of [dense, sparse]) {
          const sc = makeScratch(n, m);
          scanCodes(gt, rows, m, sc, wCol);
          const sum = new Float64Array(m);
          let dd = 0;
          let dw = 0;
          const miss: number[] = [];
          for (let i = 0; i < n; i++) {
            if (gt[i] === 255) {
              miss.push(i);
              continue;
            }
            for (let j = 0; j < m; j++) sum[j] += gt[i] * rows[i * m + j];
            dd += gt[i] * gt[i] * rows[i * m];
            if (wCol >= 0) dw += gt[i] * gt[i] * rows[i * m + wCol];
          }
          for (let j = 0; j < m; j++) expect(sc.sum[j], `m=${m} col ${j}`).toBeCloseTo(sum[j], 9);
          expect(sc.dd).toBeCloseTo(dd, 9);
          expect(sc.dw).toBeCloseTo(dw, 9);
          expect(Array.from(sc.miss.subarray(0, sc.nMiss))).toEqual(miss);
          const ds = makeScratch(n, m);
          scanDosages(
            Float32Array.from(gt, (g) => (g === 255 ? Number.NaN : g)),
            rows,
            m,
            ds,
            wCol,
          );
          for (let j = 0; j < m; j++) expect(ds.sum[j]).toBeCloseTo(sum[j], 9);
          expect(ds.dd).toBeCloseTo(dd, 9);
          expect(ds.nMiss).toBe(miss.length);
        }
      }
    });
  }

  it('WASM equals the scalar kernel (1e-12 of Σ|g·r|) over widths, lengths, MAFs and missing calls', () => {
    setScanBackend('wasm');
    const v = rng(2024);
    const widths = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 23, 24, 25, 31];
    const lengths = [1, 7, 15, 16, 17, 63, 64, 65, 127, 200, 1000, 4099];
    // [maf, missing rate]: monomorphic, rare, common, hom-alt heavy, with and without missing calls
    const regimes: [number, number][] = [
      [0, 0],
      [0.002, 0.01],
      [0.05, 0],
      [0.3, 0.02],
      [0.5, 0.1],
      [0.95, 0],
      [0.2, 1],
    ];
    let compared = 0;
    for (const m of widths) {
      for (const len of lengths) {
        const rows = randomRows(v, len, m, 0.1);
        const wCols = [-1, 0, m - 1, Math.floor(m / 2)];
        for (const [maf, miss] of regimes) {
          const gt = randomCodes(v, len, maf, miss);
          const ds = randomDosages(v, len, maf, miss);
          for (const wCol of wCols) {
            const label = `m=${m} n=${len} maf=${maf} miss=${miss} wCol=${wCol}`;
            const a = makeScratch(len, m);
            const b = makeScratch(len, m);
            expect(wasmScanCodes(gt, rows, m, a, wCol), 'WASM path taken').toBe(true);
            scanCodesScalar(gt, rows, m, b, wCol);
            expectClose(`codes ${label}`, a, b, gt, rows, m, wCol);
            const c = makeScratch(len, m);
            const d = makeScratch(len, m);
            expect(wasmScanDosages(ds, rows, m, c, wCol), 'WASM path taken').toBe(true);
            scanDosagesScalar(ds, rows, m, d, wCol);
            expectClose(`dosages ${label}`, c, d, ds, rows, m, wCol);
            compared += 2;
          }
        }
      }
    }
    expect(compared).toBe(widths.length * lengths.length * regimes.length * 4 * 2);
  });

  it('integer rows give bit-identical sums (exact in both kernels)', () => {
    setScanBackend('wasm');
    const v = rng(5);
    for (const m of [3, 5, 8, 24]) {
      const len = 5003;
      const rows = new Float64Array(len * m + PAD);
      for (let t = 0; t < len * m; t++) rows[t] = Math.floor(v() * 2001) - 1000;
      const gt = randomCodes(v, len, 0.3, 0.02);
      const a = makeScratch(len, m);
      const b = makeScratch(len, m);
      expect(wasmScanCodes(gt, rows, m, a, m - 1)).toBe(true);
      scanCodesScalar(gt, rows, m, b, m - 1);
      expect(Array.from(a.sum)).toEqual(Array.from(b.sum));
      expect([a.dd, a.dw]).toEqual([b.dd, b.dw]);
    }
  });

  it('keeps several row matrices cached, relays out for longer vectors, and auto mode starts scalar', () => {
    setScanBackend('auto');
    const v = rng(99);
    const models = [
      { n: 500, m: 5 },
      { n: 500, m: 8 },
      { n: 20_000, m: 25 },
      { n: 700, m: 5 },
    ].map(({ n: len, m }) => ({ len, m, rows: randomRows(v, len, m) }));
    const ref = makeScratch(20_000, 25);
    for (let round = 0; round < 3; round++) {
      for (const { len, m, rows } of models) {
        const gt = randomCodes(v, len, 0.2, 0.01);
        const a = makeScratch(len, m);
        scanCodes(gt, rows, m, a, 1);
        scanCodesScalar(gt, rows, m, ref, 1);
        expectClose(`round ${round} n=${len} m=${m}`, a, ref, gt, rows, m, 1);
        // from the second scan of a row matrix on, the WASM copy is used
        if (round > 0) expect(wasmScanCodes(gt, rows, m, a, 1)).toBe(true);
      }
      if (round === 1) resetScanKernel(); // frees the instance; the next scans reload and recopy
    }
  });

  it('linear and logistic GWAS give the same results with either back end (sample subset, missing calls)', () => {
    const v = rng(77);
    const nGeno = 1500;
    // analysis samples: a random 80 % subset in shuffled order
    const order = Array.from({ length: nGeno }, (_, i) => i).sort(() => v() - 0.5);
    const sampleIdx = Int32Array.from(order.slice(0, 1200));
    const nA = sampleIdx.length;
    const cov = Float64Array.from({ length: 3 * nA }, () => v() - 0.5);
    const y1 = Float64Array.from({ length: nA }, () => v() + cov[0]);
    const y2 = Float64Array.from({ length: nA }, () => v());
    const bin = Float64Array.from(y1, (y) => (y > 0.6 ? 1 : 0));
    const gts: (Uint8Array | Float32Array)[] = [];
    for (let k = 0; k < 40; k++) {
      const maf = [0.003, 0.05, 0.2, 0.45][k % 4];
      const miss = k % 3 === 0 ? 0 : 0.03;
      gts.push(k % 5 === 4 ? randomDosages(v, nGeno, maf, miss) : randomCodes(v, nGeno, maf, miss));
    }
    const run = (backend: 'scalar' | 'wasm'): AssocColumns[] => {
      setScanBackend(backend);
      return [
        linearGwas(prepareLinear([y1, y2], cov, 3, nGeno, sampleIdx), gts),
        linearGwas(prepareLinear([y1], cov, 3, nGeno, sampleIdx, { missing: 'mean' }), gts),
        logisticGwas(prepareLogistic(bin, cov, 3, nGeno, sampleIdx, { fullFitBelow: 0.2 }), gts),
      ];
    };
    const scalar = run('scalar');
    const wasm = run('wasm');
    let ok = 0;
    for (let t = 0; t < scalar.length; t++) {
      expect(Array.from(wasm[t].status)).toEqual(Array.from(scalar[t].status));
      expect(Array.from(wasm[t].test)).toEqual(Array.from(scalar[t].test));
      expect(Array.from(wasm[t].nObs)).toEqual(Array.from(scalar[t].nObs));
      for (const col of ['beta', 'se', 'stat', 'mlog10p'] as const) {
        const a = wasm[t][col];
        const b = scalar[t][col];
        for (let r = 0; r < a.length; r++) {
          if (Number.isNaN(b[r])) expect(a[r], `${t} ${col} row ${r}`).toBeNaN();
          else {
            expect(Math.abs(a[r] - b[r]), `${t} ${col} row ${r}: ${a[r]} vs ${b[r]}`).toBeLessThanOrEqual(
              1e-8 * Math.max(1, Math.abs(b[r])),
            );
            ok++;
          }
        }
      }
    }
    expect(ok).toBeGreaterThan(300); // most rows were tested, not NaN
  });

  it('the scalar backend never touches WASM', () => {
    setScanBackend('scalar');
    const rows = randomRows(rng(3), 100, 4);
    expect(wasmScanCodes(new Uint8Array(100), rows, 4, makeScratch(100, 4), -1)).toBe(false);
    expect(wasmScanDosages(new Float32Array(100), rows, 4, makeScratch(100, 4), -1)).toBe(false);
  });
});
