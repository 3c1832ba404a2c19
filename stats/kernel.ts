/**
 * The per-variant genotype scan shared by the linear and logistic association tests.
 *
 * Both tests need, for one variant's genotype vector g over the samples, a handful of weighted
 * sums over a per-sample row r_i of length m (the orthonormalised covariates, the residualised
 * traits, the null-model weights, …), prepared once per phenotype (sample-major: row i starts at
 * i·m; callers allocate PAD spare zeros at the end):
 *     sum_j = Σ_i g_i r_ij,    dd = Σ_i g_i² r_i0,    dw = Σ_i g_i² r_i,wCol   (wCol optional),
 * plus the list of samples whose call is missing. One pass over the variant's genotypes, no
 * per-sample allocation.
 *
 * `scanCodes`/`scanDosages` run the WebAssembly SIMD kernel of kernel-wasm.ts from a row matrix's
 * second scan on: the non-reference calls are found 64 at a time with i8x16 compares and bit masks
 * and compacted into index lists, then their rows are summed in f64x2 registers (about 5× faster
 * than the scalar path, see BENCHMARKS.md). Row matrices must not change after their first scan.
 * Without WebAssembly SIMD (or with SCAN_KERNEL=scalar) the scalar path below runs; it is also the
 * reference the tests compare the WASM kernel with (`scanCodesScalar`, `scanDosagesScalar`).
 *
 * Scalar path. Hard-call codes (Uint8Array, 0/1/2 ALT allele count, 255 missing, the `gt` BLOB
 * layout) take one of two paths, chosen per variant from a probe of 256 evenly spaced calls:
 *   - dense (common variants): branch-free multiply–add of g = LUT[code] into ≤ 12 register
 *     accumulators per pass over column chunks (loop generated per row shape); a data-dependent
 *     branch per sample would be mispredicted about half of the time at MAF ≥ 0.1;
 *   - sparse (rare variants, < 1/8 non-reference calls in the probe): skip code 0, a branch that
 *     is then almost always predicted; sum the rows of code-1 and code-2 samples.
 * Missing calls contribute 0 to every sum and are listed in `miss` (ascending, in both paths).
 *
 * Dosages (Float32Array, NaN missing, the `ds` BLOB layout): the same sums with d in place of g.
 *
 * Rows of samples that are not in the analysis are all zero, so they contribute nothing; callers
 * filter the missing list through a column that is non-zero exactly for analysis samples.
 */

import { wasmScanCodes, wasmScanDosages, wasmScanPacked } from './kernel-wasm.js';
import type { PackedCalls } from './packed.js';

export { resetScanKernel, type ScanBackend, setScanBackend, wasmScanAvailable } from './kernel-wasm.js';

/** spare zeros after the last row (kernels read exactly m columns; kept as a safety margin). */
export const PAD = 8;

export interface ScanScratch {
  /** Σ g·row (length m). */
  sum: Float64Array;
  /** Σ g²·row[0]. */
  dd: number;
  /** Σ g²·row[wCol] (when a wCol was given). */
  dw: number;
  /** sample indices with a missing call (first `nMiss` entries valid). */
  miss: Int32Array;
  nMiss: number;
  /** per-code sums for the sparse path (length m + PAD each). */
  s1: Float64Array;
  s2: Float64Array;
  chunk: Float64Array;
}

export function makeScratch(n: number, m: number): ScanScratch {
  return {
    sum: new Float64Array(m),
    dd: 0,
    dw: 0,
    miss: new Int32Array(n),
    nMiss: 0,
    s1: new Float64Array(m + PAD),
    s2: new Float64Array(m + PAD),
    chunk: new Float64Array(CHUNK + 2),
  };
}

const LUT = new Float64Array(256);
LUT[1] = 1;
LUT[2] = 2;
const LUT2 = new Float64Array(256);
LUT2[1] = 1;
LUT2[2] = 4;

/** True when fewer than 1/8 of 256 evenly spaced calls are non-reference. */
function looksSparse(gt: Uint8Array): boolean {
  const n = gt.length;
  if (n < 2048) return false;
  const step = Math.floor(n / 256);
  let nz = 0;
  for (let i = 0; i < n; i += step) if (gt[i] !== 0) nz++;
  return nz * 8 < 256;
}

/**
 * One pass over hard-call codes; fills sum, dd, dw and the missing list. Runs the WebAssembly SIMD
 * kernel (kernel-wasm.ts) when available, else the scalar path below.
 */
export function scanCodes(gt: Uint8Array, rows: Float64Array, m: number, sc: ScanScratch, wCol = -1): void {
  if (!wasmScanCodes(gt, rows, m, sc, wCol)) scanCodesScalar(gt, rows, m, sc, wCol);
}

/**
 * `scanCodes` over 2-bit packed calls (stats/packed.ts): the WASM kernel compacts the packed bytes
 * directly (no unpacking); the scalar path unpacks once and runs `scanCodesScalar`.
 */
export function scanPacked(
  calls: PackedCalls,
  rows: Float64Array,
  m: number,
  sc: ScanScratch,
  wCol = -1,
): void {
  if (!wasmScanPacked(calls.bytes, calls.length, rows, m, sc, wCol))
    scanCodesScalar(calls.unpacked(), rows, m, sc, wCol);
}

/** One pass over dosages; fills sum, dd, dw and the missing list (WASM when available). */
export function scanDosages(
  ds: Float32Array,
  rows: Float64Array,
  m: number,
  sc: ScanScratch,
  wCol = -1,
): void {
  if (!wasmScanDosages(ds, rows, m, sc, wCol)) scanDosagesScalar(ds, rows, m, sc, wCol);
}

/** The scalar hard-call scan: the fallback and the reference for the WASM kernel. */
export function scanCodesScalar(
  gt: Uint8Array,
  rows: Float64Array,
  m: number,
  sc: ScanScratch,
  wCol = -1,
): void {
  if (looksSparse(gt)) {
    scanCodesSparse(gt, rows, m, sc, wCol);
    return;
  }
  const out = sc.chunk;
  // columns in chunks of ≤ 12 (register accumulators); the first chunk also collects the missing
  // calls and the g² sums
  for (let c0 = 0; c0 < m; c0 += CHUNK) {
    const lanes = Math.min(CHUNK, m - c0);
    const nMiss = denseKernel(m, c0, lanes, c0 === 0, wCol >= 0)(gt, rows, out, sc.miss, wCol, LUT, LUT2);
    for (let j = 0; j < lanes; j++) sc.sum[c0 + j] = out[j];
    if (c0 === 0) {
      sc.nMiss = nMiss;
      sc.dd = out[CHUNK];
      sc.dw = wCol >= 0 ? out[CHUNK + 1] : 0;
    }
  }
}

/** lanes per pass: 12 accumulators still fit x64's 16 vector registers (8 and 16 measured slower at m = 24). */
const CHUNK = 12;

type DenseKernel = (
  gt: Uint8Array,
  rows: Float64Array,
  out: Float64Array,
  miss: Int32Array,
  wCol: number,
  lut: Float64Array,
  lut2: Float64Array,
) => number;

const kernels = new Map<string, DenseKernel>();

/**
 * The dense multiply–add loop specialised for one row stride m, column offset c0 and lane count:
 * one local accumulator per lane so V8 keeps them in registers (a loop over an accumulator array
 * measured 1.6× slower). Generated once per shape from integers only (no user text), cached.
 */
function denseKernel(m: number, c0: number, lanes: number, first: boolean, withW: boolean): DenseKernel {
  const key = `${m}:${c0}:${lanes}:${first}:${withW}`;
  const cached = kernels.get(key);
  if (cached) return cached;
  if (![m, c0, lanes].every(Number.isSafeInteger)) throw new RangeError('denseKernel: non-integer shape');
  const acc = Array.from({ length: lanes }, (_, j) => `a${j}`);
  const body = `'use strict';
    let ${acc.map((a) => `${a} = 0`).join(', ')}, dd = 0, dw = 0, nMiss = 0;
    const n = gt.length;
    for (let i = 0; i < n; i++) {
      const c = gt[i];
      ${first ? 'if (c === 255) miss[nMiss++] = i;' : ''}
      const g = lut[c];
      const o = i * ${m} + ${c0};
      const r0 = rows[o];
      ${acc.map((a, j) => `${a} += g * ${j === 0 ? 'r0' : `rows[o + ${j}]`};`).join(' ')}
      ${first ? 'const g2 = g * g; dd += g2 * r0;' : ''}
      ${first && withW ? `dw += g2 * rows[i * ${m} + wCol];` : ''}
    }
    ${acc.map((a, j) => `out[${j}] = ${a};`).join(' ')}
    out[${CHUNK}] = dd;
    out[${CHUNK + 1}] = dw;
    return nMiss;`;
  const k = new Function('gt', 'rows', 'out', 'miss', 'wCol', 'lut', 'lut2', body) as DenseKernel;
  kernels.set(key, k);
  return k;
}

function scanCodesSparse(gt: Uint8Array, rows: Float64Array, m: number, sc: ScanScratch, wCol: number): void {
  const s1 = sc.s1;
  const s2 = sc.s2;
  const miss = sc.miss;
  s1.fill(0);
  s2.fill(0);
  let nMiss = 0;
  const n = gt.length;
  for (let i = 0; i < n; i++) {
    const c = gt[i];
    if (c === 0) continue;
    const o = i * m;
    if (c === 1) {
      for (let j = 0; j < m; j++) s1[j] += rows[o + j];
    } else if (c === 2) {
      for (let j = 0; j < m; j++) s2[j] += rows[o + j];
    } else {
      miss[nMiss++] = i;
    }
  }
  for (let j = 0; j < m; j++) sc.sum[j] = s1[j] + 2 * s2[j];
  sc.dd = s1[0] + 4 * s2[0];
  sc.dw = wCol >= 0 ? s1[wCol] + 4 * s2[wCol] : 0;
  sc.nMiss = nMiss;
}

/** The scalar dosage scan: the fallback and the reference for the WASM kernel. */
export function scanDosagesScalar(
  ds: Float32Array,
  rows: Float64Array,
  m: number,
  sc: ScanScratch,
  wCol = -1,
): void {
  const sum = sc.sum;
  const miss = sc.miss;
  sum.fill(0);
  let nMiss = 0;
  let dd = 0;
  let dw = 0;
  const n = ds.length;
  for (let i = 0; i < n; i++) {
    const d = ds[i];
    if (d === 0) continue;
    const o = i * m;
    if (Number.isNaN(d)) {
      miss[nMiss++] = i;
      continue;
    }
    const d2 = d * d;
    dd += d2 * rows[o];
    if (wCol >= 0) dw += d2 * rows[o + wCol];
    for (let j = 0; j < m; j++) sum[j] += d * rows[o + j];
  }
  sc.dd = dd;
  sc.dw = dw;
  sc.nMiss = nMiss;
}
