/**
 * WebAssembly SIMD back end of the genotype scan (`scanCodes` / `scanDosages` in kernel.ts). The
 * sums are the same as the scalar path's (see kernel.ts); only the order of the additions differs,
 * so results agree to rounding (≲ 1e-14 relative to Σ|g·r|; the tests allow 1e-12), not bit for
 * bit (bit for bit when every partial sum is exact, e.g. integer rows).
 *
 * Method (hard calls), per variant:
 *   1. compaction: the genotype bytes are copied into WASM memory and scanned 64 at a time with
 *      i8x16 compares against 1, 2 and 255 and i8x16.bitmask, giving three 64-bit masks. The
 *      code-1 and code-2 masks are turned into lists of row offsets without branches: per mask
 *      byte b, a table gives the 8 positions of its set bits (pre-multiplied by the row stride),
 *      two i32x4 stores write them and the list pointer advances by popcnt(b). The (rare) missing
 *      calls are drained with ctz into a list of sample indices. A block of 64 zero bytes costs
 *      one any_true test. As in PLINK 2, only the non-reference calls are worked on, found with
 *      bit masks instead of one branch per sample.
 *   2. sums: S1 = Σ_{g=1} row_i and S2 = Σ_{g=2} row_i over the two lists, in column chunks of
 *      ≤ 12 doubles held in f64x2 registers (1–4 independent accumulator sets, unrolled, to hide
 *      the add latency without spilling). Rows wider than one chunk are done in tiles of 512 list
 *      entries, all chunks per tile, so the row matrix is read from memory once per variant. Then
 *      sum = S1 + 2·S2, dd = S1[0] + 4·S2[0], dw = S1[wCol] + 4·S2[wCol], exactly as the scalar
 *      sparse path forms them.
 * Work is proportional to the number of non-reference calls, with no data-dependent branch per
 * sample (one per 64-sample block, plus the missing-call drain).
 * Dosages: the same compaction over f32x4 (non-zero and called, NaN = missing), then
 * Σ d·row with f64x2 multiply–adds and Σ d²·row[0], Σ d²·row[wCol].
 *
 * Memory: one module instance per process (per worker thread). Its linear memory holds a work area
 * sized for the largest genotype vector seen (the variant's bytes and three index lists) and a copy
 * of each row matrix, with the row stride rounded up to an even number of doubles. A row matrix is
 * copied into WASM memory when it is first scanned and reused for every later variant: no
 * allocation per variant. Every scan of a model takes the same path, so a variant's result does
 * not depend on which variants were scanned before it (a shard resumed mid-way after a crash
 * gives the same bits as an uninterrupted run). Up to a soft cap of 1 GiB
 * several row matrices are kept (models used alternately do not evict each other); beyond it the
 * cache is emptied and memory reused. Memory only grows (WebAssembly memory cannot shrink);
 * `resetScanKernel()` drops the instance so that the garbage collector can free it.
 *
 * Reference: Chang et al. (2015) GigaScience 4:7 (PLINK 2: genotype-class bit masks, work on the
 * non-reference calls only).
 *
 * CONTRACT: a row matrix must not be modified after it was first scanned (prepareLinear and
 * prepareLogistic fill their rows once); the copy is keyed by the Float64Array's identity.
 *
 * When WebAssembly SIMD is unavailable, or memory cannot grow, the scalar path runs instead.
 * `setScanBackend('scalar')` (the engine setting `worker.scanKernel`, env SCAN_KERNEL=scalar) forces the scalar path.
 */
import type { ScanScratch } from './kernel.js';
import type { ScanExports, SumFn, WasmApi, WSumFn } from './kernel-wasm-api.js';
import { SCAN_WASM_BASE64 } from './wasm/scan-wasm.js';

/** widest column chunk, in f64x2 lanes (must equal MAX_W in wasm/build.ts). */
const MAX_W = 6;
const OUT1 = 0; // 12 doubles
const OUTSQ = 256; // 2 doubles
const COUNTS = 288; // 3 × i32
/** after the module's two bit-position tables (1024 + 2 × 8192 bytes, see wasm/build.ts LUT_AT). */
const WORK = 17408;
const PAGE = 65536;
/** list entries per tile when a row spans several chunks (a tile's rows stay in L2). */
const TILE = 512;
const SOFT_CAP = 1 << 30;
/** WebAssembly 32-bit memory limit (V8: 65536 pages). */
const HARD_CAP = 2 ** 32 - PAGE;

export type ScanBackend = 'auto' | 'wasm' | 'scalar';

/** Set from the engine configuration (`worker.scanKernel`) by the GWAS thread (gwas/thread.ts). */
let backend: ScanBackend = 'auto';
/** undefined: not loaded yet; null: unavailable. */
let ex: ScanExports | null | undefined;
let sums: SumFn[] = [];
let wsums: WSumFn[] = [];

/**
 * 'auto' (default) and 'wasm': the WASM kernel whenever it can run; 'scalar': never. Returns whether the WASM kernel is usable on this runtime.
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

/**
 * Drops the module instance and every cached row matrix, so that the garbage collector can free
 * the WASM memory (which cannot shrink otherwise), e.g. in a long-lived worker after a large GWAS.
 * The next scan loads a fresh instance.
 */
export function resetScanKernel(): void {
  ex = undefined;
  buf = null;
  u8 = new Uint8Array(0);
  i32 = new Int32Array(0);
  f32 = new Float32Array(0);
  f64 = new Float64Array(0);
  capN = 0;
  epoch++;
  bump = 0;
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
  if (n === 0 || m === 0) return null;
  const s = slots.get(rows);
  if (s && s.epoch === epoch && s.m === m && s.nRows === n && n <= capN) return s;
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

/**
 * out[0..mp) = Σ over the `count` list entries at `list` of their rows (weighted by the f64 values
 * at `vals` when given). Rows wider than one chunk (12 doubles) are summed chunk by chunk over
 * tiles of TILE entries, so a tile's rows are still in cache for the next chunk instead of the
 * whole row matrix being streamed from memory once per chunk.
 */
function rowSums(off: number, mp: number, list: number, count: number, out: Float64Array, vals = -1): void {
  out.fill(0, 0, mp);
  if (count === 0) return;
  const tile = mp > 2 * MAX_W ? TILE : count;
  for (let t = 0; t < count; t += tile) {
    const cnt = Math.min(tile, count - t);
    for (let c0 = 0; c0 < mp; c0 += 2 * MAX_W) {
      const w = Math.min(MAX_W, (mp - c0) >> 1);
      if (vals >= 0) wsums[w](list + 4 * t, vals + 8 * t, cnt, off + c0 * 8, OUT1);
      else sums[w](list + 4 * t, cnt, off + c0 * 8, OUT1);
      for (let j = 0; j < 2 * w; j++) out[c0 + j] += f64[(OUT1 >> 3) + j];
    }
  }
}

/** The module and the row matrix's slot for a scan of n samples, or null for the scalar path. */
function scanReady(rows: Float64Array, m: number, n: number): { e: ScanExports; slot: Slot } | null {
  if (backend === 'scalar') return null;
  const e = load();
  if (!e) return null;
  const slot = slotFor(e, rows, m, n);
  if (!slot) return null;
  views(e);
  return { e, slot };
}

type F64 = Float64Array;

/** WASM hard-call scan; false when the caller must run the scalar path. */
export function wasmScanCodes(gt: Uint8Array, rows: F64, m: number, sc: ScanScratch, wCol: number): boolean {
  const n = gt.length;
  const ready = scanReady(rows, m, n);
  if (!ready) return false;
  const { e, slot } = ready;
  const nBlocks = Math.ceil(n / 64);
  u8.set(gt, gtAt);
  u8.fill(0, gtAt + n, gtAt + nBlocks * 64);
  const mp = m + (m & 1);
  e.compact_codes(gtAt, nBlocks, mp * 8, l1At, l2At, lmAt, COUNTS);
  finishCodes(slot, mp, m, sc, wCol);
  return true;
}

/** Row sums over the compacted code-1 / code-2 lists and the missing list, into `sc`. */
function finishCodes(slot: Slot, mp: number, m: number, sc: ScanScratch, wCol: number): void {
  const n1 = i32[COUNTS >> 2];
  const n2 = i32[(COUNTS >> 2) + 1];
  const nm = i32[(COUNTS >> 2) + 2];
  const s1 = sc.s1;
  const s2 = sc.s2;
  rowSums(slot.off, mp, l1At, n1, s1);
  rowSums(slot.off, mp, l2At, n2, s2);
  const sum = sc.sum;
  for (let j = 0; j < m; j++) sum[j] = s1[j] + 2 * s2[j];
  const dd = s1[0] + 4 * s2[0];
  const dw = wCol >= 0 ? s1[wCol] + 4 * s2[wCol] : 0;
  sc.dd = dd;
  sc.dw = dw;
  sc.miss.set(i32.subarray(lmAt >> 2, (lmAt >> 2) + nm));
  sc.nMiss = nm;
}

/**
 * WASM hard-call scan of 2-bit packed calls (`bytes` holds ⌈n/4⌉ bytes, see PackedCalls in
 * kernel.ts); the same sums as `wasmScanCodes` on the unpacked codes. False when the caller
 * must run the scalar path.
 */
export function wasmScanPacked(
  bytes: Uint8Array,
  n: number,
  rows: Float64Array,
  m: number,
  sc: ScanScratch,
  wCol: number,
): boolean {
  const ready = scanReady(rows, m, n);
  if (!ready) return false;
  const { e, slot } = ready;
  const nBlocks = Math.ceil(n / 64);
  u8.set(bytes, gtAt);
  u8.fill(0, gtAt + bytes.length, gtAt + nBlocks * 16);
  const mp = m + (m & 1);
  e.compact_packed(gtAt, nBlocks, mp * 8, l1At, l2At, lmAt, COUNTS);
  finishCodes(slot, mp, m, sc, wCol);
  return true;
}

/**
 * counts[1], counts[2], counts[3] = number of samples with code 1, 2, 3 (missing) among the
 * n samples of packed `bytes` — only among those whose 2-bit field in `mask` is 11 when a mask
 * (same layout and length) is given; counts[0] = the rest of those samples (`total`, default n).
 * False when WASM is unavailable.
 */
export function wasmCountPacked(
  bytes: Uint8Array,
  n: number,
  counts: Int32Array,
  mask?: Uint8Array,
  total = n,
): boolean {
  if (backend === 'scalar') return false;
  const e = load();
  if (!e || !layout(e, n)) return false;
  views(e);
  const nBlocks = Math.ceil(n / 64);
  const span = nBlocks * 16;
  u8.set(bytes, gtAt);
  u8.fill(0, gtAt + bytes.length, gtAt + span);
  // the mask goes right after the genotype bytes (the work area holds 4 bytes per sample)
  if (mask) {
    u8.set(mask, gtAt + span);
    u8.fill(0, gtAt + span + mask.length, gtAt + 2 * span);
  }
  e.count_packed(gtAt, nBlocks, COUNTS, mask ? span : 0);
  counts[1] = i32[COUNTS >> 2];
  counts[2] = i32[(COUNTS >> 2) + 1];
  counts[3] = i32[(COUNTS >> 2) + 2];
  counts[0] = total - counts[1] - counts[2] - counts[3];
  return true;
}

/** WASM dosage scan; false when the caller must run the scalar path. */
export function wasmScanDosages(
  ds: Float32Array,
  rows: F64,
  m: number,
  sc: ScanScratch,
  wCol: number,
): boolean {
  const n = ds.length;
  const ready = scanReady(rows, m, n);
  if (!ready) return false;
  const { e, slot } = ready;
  const nBlocks = Math.ceil(n / 16);
  f32.set(ds, gtAt >> 2);
  f32.fill(0, (gtAt >> 2) + n, (gtAt >> 2) + nBlocks * 16);
  const mp = m + (m & 1);
  e.compact_dosages(gtAt, nBlocks, mp * 8, l1At, valsAt, lmAt, COUNTS);
  const n1 = i32[COUNTS >> 2];
  const nm = i32[(COUNTS >> 2) + 2];
  rowSums(slot.off, mp, l1At, n1, sc.s1, valsAt);
  for (let j = 0; j < m; j++) sc.sum[j] = sc.s1[j];
  e.wsq2(l1At, valsAt, n1, slot.off, slot.off + Math.max(wCol, 0) * 8, OUTSQ);
  sc.dd = f64[OUTSQ >> 3];
  sc.dw = wCol >= 0 ? f64[(OUTSQ >> 3) + 1] : 0;
  sc.miss.set(i32.subarray(lmAt >> 2, (lmAt >> 2) + nm));
  sc.nMiss = nm;
  return true;
}
