/**
 * Type declarations for kernel-wasm.ts: the exports of the scan module (stats/wasm/scan.wat,
 * built by stats/wasm/build.ts) and the parts of the WebAssembly JS API used to load it.
 */

export type SumFn = (list: number, count: number, base: number, out: number) => void;
export type WSumFn = (list: number, vals: number, count: number, base: number, out: number) => void;

/** The parts of the WebAssembly JS API used here (the project's type libs do not declare it). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
export interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

export interface ScanExports {
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
  compact_packed(
    gt: number,
    nBlocks: number,
    stride: number,
    l1: number,
    l2: number,
    lm: number,
    counts: number,
  ): void;
  count_packed(p: number, nBlocks: number, out: number, maskOff: number): void;
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
