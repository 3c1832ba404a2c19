/**
 * WebAssembly SIMD back end of the genotype scan (`scanCodes` / `scanDosages` in kernel.ts). The
 * sums are the same as the scalar path's (see kernel.ts); only the order of the additions differs,
 * so results agree to rounding (≈1e-15 relative to Σ|g·r|), not bit for bit.
 *
 * Method (hard calls), per variant:
 *   1. compaction: the genotype bytes are copied into WASM memory and scanned 64 at a time with
 *      i8x16 compares against 1, 2 and 255; the three bit masks are drained with ctz into lists of
 *      row offsets of the code-1 and code-2 samples and of the missing samples. Blocks of 64 zero
 *      bytes cost one any_true test. This is PLINK's idea of working only on the non-reference
 *      calls, found with bit masks instead of one branch per sample.
 *   2. sums: S1 = Σ_{g=1} row_i and S2 = Σ_{g=2} row_i, column chunks of ≤ 12 doubles held in f64x2
 *      registers (2–4 independent accumulator sets to hide the add latency). Then
 *      sum = S1 + 2·S2, dd = S1[0] + 4·S2[0], dw = S1[wCol] + 4·S2[wCol], exactly as the scalar
 *      sparse path forms them.
 * Work is proportional to the number of non-reference calls, and there are no data-dependent
 * branches per sample, only one loop exit per 64-sample block and mask.
 * Dosages: the same compaction over f32x4 (non-zero and called, NaN = missing), then
 * Σ d·row with f64x2 multiply–adds and Σ d²·row[0], Σ d²·row[wCol].
 *
 * Memory: one module instance per process (per worker thread). Its linear memory holds a work area
 * sized for the largest genotype vector seen (the variant's bytes and three index lists) and a copy
 * of each row matrix, with the row stride rounded up to an even number of doubles. A row matrix is
 * copied into WASM memory when it is scanned for the second time (a model used for one variant
 * only, as in a PheWAS with one predictor, stays on the scalar path and is never copied), and is
 * then reused for every later variant: no allocation per variant. Up to a soft cap of 1 GiB
 * several row matrices are kept (models used alternately do not evict each other); beyond it the
 * cache is emptied and memory reused. Memory only grows (WebAssembly memory cannot shrink).
 *
 * CONTRACT: a row matrix must not be modified after it was first scanned (prepareLinear and
 * prepareLogistic fill their rows once); the copy is keyed by the Float64Array's identity.
 *
 * When WebAssembly SIMD is unavailable, or memory cannot grow, the scalar path runs instead.
 * `setScanBackend('scalar')` (or env SCAN_KERNEL=scalar) forces the scalar path.
 */
import type { ScanScratch } from './kernel.js';
import { SCAN_WASM_BASE64 } from './wasm/scan-wasm.js';

type SumFn = (list: number, count: number, base: number, out: number) => void;
type WSumFn = (list: number, vals: number, count: number, base: number, out: number) => void;

/** The parts of the WebAssembly JS API used here (the project's type libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

interface ScanExports {
  mem: WasmMemory;
  compact_codes(
    gt: number,
    nBlocks: number,
    stride: number,
    l1: number,
    l2: number,
    lm: number,
    counts: number,
  ): void;
  compact_dosages(
    ds: number,
    nBlocks: number,
    stride: number,
    lo: number,
    lv: number,
    lm: number,
    counts: number,
  ): void;
  wsq2(list: number, vals: number, count: number, a: number, b: number, out: number): void;
  [fn: `sum_${number}`]: SumFn;
  [fn: `wsum_${number}`]: WSumFn;
}

/** widest column chunk, in f64x2 lanes (must equal MAX_W in wasm/build.ts). */
const MAX_W = 6;
const OUT1 = 0; // 12 doubles
const OUT2 = 128; // 12 doubles
const OUTSQ = 256; // 2 doubles
const COUNTS = 288; // 3 × i32
/** after the module's two bit-position tables (1024 + 2 × 8192 bytes, see wasm/build.ts LUT_AT). */
const WORK = 17408;
const PAGE = 65536;
const SOFT_CAP = 1 << 30;
/** WebAssembly 32-bit memory limit (V8: 65536 pages). */
const HARD_CAP = 2 ** 32 - PAGE;

export type ScanBackend = 'auto' | 'wasm' | 'scalar';

let backend: ScanBackend = process.env.SCAN_KERNEL === 'scalar' ? 'scalar' : 'auto';
/** undefined: not loaded yet; null: unavailable. */
let ex: ScanExports | null | undefined;
let sums: SumFn[] = [];
let wsums: WSumFn[] = [];

/**
 * 'auto' (default): WASM from a row matrix's second scan on; 'wasm': from the first scan (tests);
 * 'scalar': never. Returns whether the WASM kernel is usable on this runtime.
 */
export function setScanBackend(b: ScanBackend): boolean {
  backend = b;
  return load() !== null;
}

export function wasmScanAvailable(): boolean {
  return load() !== null;
}

function load(): ScanExports | null {
  if (ex !== undefined) return ex;
  try {
    const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
    if (!api) throw new Error('no WebAssembly');
    const bytes = Buffer.from(SCAN_WASM_BASE64, 'base64');
    const inst = new api.Instance(new api.Module(bytes));
    const e = inst.exports as unknown as ScanExports;
    sums = [];
    wsums = [];
    for (let w = 1; w <= MAX_W; w++) {
      sums[w] = e[`sum_${w}`];
      wsums[w] = e[`wsum_${w}`];
    }
    ex = e;
  } catch {
    ex = null; // no WebAssembly SIMD: the scalar path is used
  }
  return ex;
}

// ---- memory management ----

interface Slot {
  /** byte address of row 0 in WASM memory. */
  off: number;
  epoch: number;
  m: number;
  nRows: number;
}

let epoch = 0;
/** samples the work area is laid out for (0: none yet). */
let capN = 0;
let gtAt = WORK;
let l1At = 0;
let l2At = 0;
let lmAt = 0;
let valsAt = 0;
let rowsBase = 0;
let bump = 0;
const slots = new WeakMap<Float64Array, Slot>();
const seen = new WeakSet<Float64Array>();
let buf: ArrayBuffer | null = null;
let u8 = new Uint8Array(0);
let i32 = new Int32Array(0);
let f32 = new Float32Array(0);
let f64 = new Float64Array(0);

function views(e: ScanExports): void {
  if (buf === e.mem.buffer) return;
  buf = e.mem.buffer;
  u8 = new Uint8Array(buf);
  i32 = new Int32Array(buf);
  f32 = new Float32Array(buf);
  f64 = new Float64Array(buf);
}

/** Grows memory to at least `end` bytes; false when impossible. */
function reserve(e: ScanExports, end: number): boolean {
  const have = e.mem.buffer.byteLength;
  if (end <= have) return true;
  if (end > HARD_CAP) return false;
  try {
    e.mem.grow(Math.ceil((end - have) / PAGE));
  } catch {
    return false;
  }
  views(e);
  return true;
}

const align = (x: number, a: number) => Math.ceil(x / a) * a;

/** Lays out the work area for n samples (emptying the row cache when it has to move). */
function layout(e: ScanExports, n: number): boolean {
  if (n <= capN) return true;
  const nPad = align(n, 64) + 64;
  gtAt = WORK;
  l1At = align(gtAt + 4 * nPad, 64);
  l2At = l1At + 4 * nPad;
  lmAt = l2At + 4 * nPad;
  valsAt = align(lmAt + 4 * nPad, 64);
  rowsBase = align(valsAt + 8 * nPad, 64);
  if (!reserve(e, rowsBase)) return false;
  capN = n;
  epoch++;
  bump = rowsBase;
  return true;
}

/** The WASM copy of `rows` (stride `m` rounded up to even), or null for the scalar path. */
function slotFor(e: ScanExports, rows: Float64Array, m: number, n: number): Slot | null {
  const s = slots.get(rows);
  if (s && s.epoch === epoch && s.m === m && s.nRows === n && n <= capN) return s;
  if (backend === 'auto' && !seen.has(rows)) {
    seen.add(rows);
    return null;
  }
  if (rows.length < n * m) throw new RangeError(`scan: row matrix has ${rows.length} values, need ${n * m}`);
  if (!layout(e, n)) return null;
  const mp = m + (m & 1);
  const bytes = align(n * mp * 8 + 64, 64);
  if (bump + bytes > e.mem.buffer.byteLength && bump + bytes > SOFT_CAP) {
    epoch++;
    bump = rowsBase;
  }
  if (!reserve(e, bump + bytes)) return null;
  views(e);
  const off = bump;
  bump += bytes;
  const base = off / 8;
  if (mp === m) f64.set(rows.subarray(0, n * m), base);
  else {
    for (let i = 0; i < n; i++) {
      const o = base + i * mp;
      for (let j = 0; j < m; j++) f64[o + j] = rows[i * m + j];
      f64[o + m] = 0;
    }
  }
  const slot: Slot = { off, epoch, m, nRows: n };
  slots.set(rows, slot);
  return slot;
}

/** WASM hard-call scan; false when the caller must run the scalar path. */
export function wasmScanCodes(
  gt: Uint8Array,
  rows: Float64Array,
  m: number,
  sc: ScanScratch,
  wCol: number,
): boolean {
  if (backend === 'scalar') return false;
  const e = load();
  if (!e) return false;
  const n = gt.length;
  const slot = slotFor(e, rows, m, n);
  if (!slot) return false;
  views(e);
  const nBlocks = Math.ceil(n / 64);
  u8.set(gt, gtAt);
  u8.fill(0, gtAt + n, gtAt + nBlocks * 64);
  const mp = m + (m & 1);
  e.compact_codes(gtAt, nBlocks, mp * 8, l1At, l2At, lmAt, COUNTS);
  const n1 = i32[COUNTS >> 2];
  const n2 = i32[(COUNTS >> 2) + 1];
  const nm = i32[(COUNTS >> 2) + 2];
  const sum = sc.sum;
  let dd = 0;
  let dw = 0;
  for (let c0 = 0; c0 < mp; c0 += 2 * MAX_W) {
    const w = Math.min(MAX_W, (mp - c0) >> 1);
    const base = slot.off + c0 * 8;
    sums[w](l1At, n1, base, OUT1);
    if (n2 > 0) sums[w](l2At, n2, base, OUT2);
    else f64.fill(0, OUT2 >> 3, (OUT2 >> 3) + 2 * w);
    const hi = Math.min(m, c0 + 2 * w);
    for (let j = c0; j < hi; j++) {
      const s1 = f64[(OUT1 >> 3) + j - c0];
      const s2 = f64[(OUT2 >> 3) + j - c0];
      sum[j] = s1 + 2 * s2;
      if (j === 0) dd = s1 + 4 * s2;
      if (j === wCol) dw = s1 + 4 * s2;
    }
  }
  sc.dd = dd;
  sc.dw = dw;
  sc.miss.set(i32.subarray(lmAt >> 2, (lmAt >> 2) + nm));
  sc.nMiss = nm;
  return true;
}

/** WASM dosage scan; false when the caller must run the scalar path. */
export function wasmScanDosages(
  ds: Float32Array,
  rows: Float64Array,
  m: number,
  sc: ScanScratch,
  wCol: number,
): boolean {
  if (backend === 'scalar') return false;
  const e = load();
  if (!e) return false;
  const n = ds.length;
  const slot = slotFor(e, rows, m, n);
  if (!slot) return false;
  views(e);
  const nBlocks = Math.ceil(n / 16);
  f32.set(ds, gtAt >> 2);
  f32.fill(0, (gtAt >> 2) + n, (gtAt >> 2) + nBlocks * 16);
  const mp = m + (m & 1);
  e.compact_dosages(gtAt, nBlocks, mp * 8, l1At, valsAt, lmAt, COUNTS);
  const n1 = i32[COUNTS >> 2];
  const nm = i32[(COUNTS >> 2) + 2];
  const sum = sc.sum;
  for (let c0 = 0; c0 < mp; c0 += 2 * MAX_W) {
    const w = Math.min(MAX_W, (mp - c0) >> 1);
    wsums[w](l1At, valsAt, n1, slot.off + c0 * 8, OUT1);
    const hi = Math.min(m, c0 + 2 * w);
    for (let j = c0; j < hi; j++) sum[j] = f64[(OUT1 >> 3) + j - c0];
  }
  e.wsq2(l1At, valsAt, n1, slot.off, slot.off + Math.max(wCol, 0) * 8, OUTSQ);
  sc.dd = f64[OUTSQ >> 3];
  sc.dw = wCol >= 0 ? f64[(OUTSQ >> 3) + 1] : 0;
  sc.miss.set(i32.subarray(lmAt >> 2, (lmAt >> 2) + nm));
  sc.nMiss = nm;
  return true;
}
