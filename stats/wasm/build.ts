/**
 * Build step (run by hand, never at run time) for the WebAssembly SIMD genotype scan kernel:
 *
 *   node --import tsx stats/wasm/build.ts
 *
 * Generates the module's text (`stats/wasm/scan.wat`, kept for review) and assembles it with the
 * `wabt` dev dependency into `stats/wasm/scan-wasm.ts`, which embeds the binary as base64. The
 * engine loads only that .ts file, so no compiler is needed at run time. Rerun after editing this
 * file and commit both outputs.
 *
 * Module layout (memory exported as `mem`; all pointers are byte addresses chosen by the caller,
 * see stats/kernel-wasm.ts):
 *   compact_codes(gt, nBlocks, stride, l1, l2, lm, counts)
 *       scans nBlocks × 64 genotype bytes with i8x16 compares; writes the row byte offsets
 *       (sample · stride) of code-1 samples to l1, of code-2 samples to l2 (branch-free, 8 at a
 *       time from a table of set-bit positions; up to 8 scratch entries may be written past the
 *       end), and the sample index of missing calls (255) to lm, all ascending; writes the three
 *       counts as i32 at `counts`. Blocks whose 64 bytes are all 0 cost one any_true test.
 *   compact_packed(gt, nBlocks, stride, l1, l2, lm, counts)
 *       the same over nBlocks × 16 bytes of 2-bit packed calls (64 samples per block, sample i in
 *       bits 2(i mod 4) of byte ⌊i/4⌋; code 3 = missing): each quarter of the block is spread
 *       over 16 byte lanes with i8x16.swizzle, masked to its sample's field and compared with
 *       the code shifted into that field. A block of 16 zero bytes costs one any_true test.
 *   count_packed(p, nBlocks, out, maskOff)
 *       counts of codes 1, 2, 3 over nBlocks × 16 packed bytes, optionally masked (see countPacked).
 *   compact_dosages(ds, nBlocks, stride, lo, lv, lm, counts)
 *       the same over nBlocks × 16 f32 dosages: offsets of non-zero called samples to lo, their
 *       dosage (as f64) to lv, the sample index of NaN dosages to lm; counts = [nNonZero, 0, nMiss].
 *   sum_W(list, count, base, out)            W = 1..6
 *       out[0..2W) = Σ_t rows[list[t] + base + 0..2W) as W f64x2 accumulators (U independent
 *       accumulator sets, unrolled, to hide the add latency).
 *   wsum_W(list, vals, count, base, out)     W = 1..6
 *       out[0..2W) = Σ_t vals[t] · rows[list[t] + base + 0..2W).
 *   wsq2(list, vals, count, a, b, out)
 *       out[0] = Σ_t vals[t]² · f64[list[t] + a],  out[1] = Σ_t vals[t]² · f64[list[t] + b].
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import initWabt from 'wabt';

/** per code, blocks of 64 samples with at most this many calls of it are compacted bit by bit. */
const SPARSE_BLOCK_MAX = Number(process.env.SCAN_SPARSE_BLOCK ?? 6);

/** widest column chunk in f64x2 lanes (12 doubles; 2 × 6 accumulators + temporaries ≤ 16 xmm). */
export const MAX_W = 6;

/** accumulator sets per chunk width (override for experiments: SCAN_UNROLL="1:4,2:4,…"). */
function unrollFor(w: number): number {
  const spec = process.env.SCAN_UNROLL;
  if (spec) {
    for (const part of spec.split(',')) {
      const [k, v] = part.split(':').map(Number);
      if (k === w) return v;
    }
  }
  return w <= 2 ? 4 : w <= 4 ? 2 : 1;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function compactCodes(packed: boolean): string {
  const maskFor = (splat: string, name: string) => `
        (local.set ${name}
          (i64.or
            (i64.or
              (i64.extend_i32_u (i8x16.bitmask (i8x16.eq (local.get $v0) (${splat}))))
              (i64.shl (i64.extend_i32_u (i8x16.bitmask (i8x16.eq (local.get $v1) (${splat})))) (i64.const 16)))
            (i64.or
              (i64.shl (i64.extend_i32_u (i8x16.bitmask (i8x16.eq (local.get $v2) (${splat})))) (i64.const 32))
              (i64.shl (i64.extend_i32_u (i8x16.bitmask (i8x16.eq (local.get $v3) (${splat})))) (i64.const 48)))))`;
  /** pops set bits of `mask`, storing (base + bit)·mul at ptr (i32), advancing ptr. */
  const drain = (mask: string, ptr: string, byOffset: boolean) => `
        (block $d${mask.slice(1)}
          (loop $l${mask.slice(1)}
            (br_if $d${mask.slice(1)} (i64.eqz (local.get ${mask})))
            (i32.store (local.get ${ptr})
              ${
                byOffset
                  ? `(i32.mul (i32.add (local.get $base) (i32.wrap_i64 (i64.ctz (local.get ${mask})))) (local.get $stride))`
                  : `(i32.add (local.get $base) (i32.wrap_i64 (i64.ctz (local.get ${mask}))))`
              })
            (local.set ${ptr} (i32.add (local.get ${ptr}) (i32.const 4)))
            (local.set ${mask} (i64.and (local.get ${mask}) (i64.sub (local.get ${mask}) (i64.const 1))))
            (br $l${mask.slice(1)})))`;
  /**
   * Branch-free: for byte b of `mask` (bits of samples base+k … base+k+7), writes the 8 offsets
   * (base + k + LUT[b][0..7])·stride at ptr (two i32x4 stores; entries past popcnt(b) are scratch
   * that the next write overwrites) and advances ptr by popcnt(b).
   */
  const spread = (mask: string, ptr: string) => `
            (local.set $b (i32.and (i32.wrap_i64 (local.get ${mask})) (i32.const 255)))
            (local.set $lut (i32.add (i32.const ${LUT_AT + LUT_BYTES}) (i32.shl (local.get $b) (i32.const 5))))
            (v128.store (local.get ${ptr}) (i32x4.add (local.get $bk) (v128.load (local.get $lut))))
            (v128.store offset=16 (local.get ${ptr}) (i32x4.add (local.get $bk) (v128.load offset=16 (local.get $lut))))
            (local.set ${ptr} (i32.add (local.get ${ptr}) (i32.shl (i32.popcnt (local.get $b)) (i32.const 2))))
            (local.set ${mask} (i64.shr_u (local.get ${mask}) (i64.const 8)))`;
  const compactMask = (mask: string, ptr: string) => `
            (if (i32.le_u (i32.wrap_i64 (i64.popcnt (local.get ${mask}))) (i32.const ${SPARSE_BLOCK_MAX}))
              (then ${drain(mask, ptr, true)})
              (else
                (local.set $k (i32.const 0))
                (block $sd${mask.slice(1)}
                  (loop $sl${mask.slice(1)}
                    (br_if $sd${mask.slice(1)} (i64.eqz (local.get ${mask})))
                    (local.set $bk (i32x4.splat (i32.mul (i32.add (local.get $base) (local.get $k)) (local.get $stride))))
                    ${spread(mask, ptr)}
                    (local.set $k (i32.add (local.get $k) (i32.const 8)))
                    (br $sl${mask.slice(1)})))))`;
  return `
  (func (export "${packed ? 'compact_packed' : 'compact_codes'}")
    (param $gt i32) (param $nBlocks i32) (param $stride i32)
    (param $l1 i32) (param $l2 i32) (param $lm i32) (param $counts i32)
    (local $p i32) (local $end i32) (local $base i32)
    (local $p1 i32) (local $p2 i32) (local $pm i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $m1 i64) (local $m2 i64) (local $mm i64)
    (local $b i32) (local $k i32) (local $lut i32) (local $bk v128)
    ;; the scaled table LUT·stride is rebuilt when the stride changes
    (if (i32.ne (global.get $lutStride) (local.get $stride))
      (then
        (local.set $k (i32.const 0))
        (loop $scale
          (v128.store (i32.add (i32.const ${LUT_AT + LUT_BYTES}) (local.get $k))
            (i32x4.mul (v128.load (i32.add (i32.const ${LUT_AT}) (local.get $k))) (i32x4.splat (local.get $stride))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br_if $scale (i32.lt_u (local.get $k) (i32.const ${LUT_BYTES}))))
        (global.set $lutStride (local.get $stride))))
    (local.set $p (local.get $gt))
    (local.set $end (i32.add (local.get $gt) (i32.shl (local.get $nBlocks) (i32.const ${packed ? 4 : 6}))))
    (local.set $p1 (local.get $l1))
    (local.set $p2 (local.get $l2))
    (local.set $pm (local.get $lm))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        ${
          packed
            ? `(local.set $v0 (v128.load align=1 (local.get $p)))
        (if (v128.any_true (local.get $v0))
          (then
            ;; 16 packed bytes = 64 samples: spread byte j of each quarter over four lanes and keep
            ;; lane k's 2-bit field (mask 3 << 2k), then compare with code << 2k as below
            (local.set $v3 (i8x16.swizzle (local.get $v0) (v128.const i8x16 ${spreadIdx(3)})))
            (local.set $v2 (i8x16.swizzle (local.get $v0) (v128.const i8x16 ${spreadIdx(2)})))
            (local.set $v1 (i8x16.swizzle (local.get $v0) (v128.const i8x16 ${spreadIdx(1)})))
            (local.set $v0 (i8x16.swizzle (local.get $v0) (v128.const i8x16 ${spreadIdx(0)})))
            (local.set $v0 (v128.and (local.get $v0) (v128.const i8x16 ${fieldPat(3)})))
            (local.set $v1 (v128.and (local.get $v1) (v128.const i8x16 ${fieldPat(3)})))
            (local.set $v2 (v128.and (local.get $v2) (v128.const i8x16 ${fieldPat(3)})))
            (local.set $v3 (v128.and (local.get $v3) (v128.const i8x16 ${fieldPat(3)})))
            ${maskFor(`v128.const i8x16 ${fieldPat(1)}`, '$m1')}
            ${maskFor(`v128.const i8x16 ${fieldPat(2)}`, '$m2')}
            ${maskFor(`v128.const i8x16 ${fieldPat(3)}`, '$mm')}`
            : `(local.set $v0 (v128.load align=1 (local.get $p)))
        (local.set $v1 (v128.load offset=16 align=1 (local.get $p)))
        (local.set $v2 (v128.load offset=32 align=1 (local.get $p)))
        (local.set $v3 (v128.load offset=48 align=1 (local.get $p)))
        (if (v128.any_true (v128.or (v128.or (local.get $v0) (local.get $v1)) (v128.or (local.get $v2) (local.get $v3))))
          (then
            ${maskFor('i8x16.splat (i32.const 1)', '$m1')}
            ${maskFor('i8x16.splat (i32.const 2)', '$m2')}
            ${maskFor('i8x16.splat (i32.const 255)', '$mm')}`
        }
            ;; per code: few calls in the block (rare variants, and code 2 of most variants): pop
            ;; them one by one; else spread 8 at a time, stopping once the mask runs out. Both
            ;; give the list in sample order.
            ${compactMask('$m1', '$p1')}
            ${compactMask('$m2', '$p2')}
            ${drain('$mm', '$pm', false)}))
        (local.set $p (i32.add (local.get $p) (i32.const ${packed ? 16 : 64})))
        (local.set $base (i32.add (local.get $base) (i32.const 64)))
        (br $blocks)))
    (i32.store (local.get $counts) (i32.shr_u (i32.sub (local.get $p1) (local.get $l1)) (i32.const 2)))
    (i32.store offset=4 (local.get $counts) (i32.shr_u (i32.sub (local.get $p2) (local.get $l2)) (i32.const 2)))
    (i32.store offset=8 (local.get $counts) (i32.shr_u (i32.sub (local.get $pm) (local.get $lm)) (i32.const 2))))`;
}

/** swizzle indices for samples 16q … 16q+15 of a 64-sample packed block: byte 4q + ⌊k/4⌋ per lane k. */
function spreadIdx(q: number): string {
  return range(16)
    .map((k) => 4 * q + (k >> 2))
    .join(' ');
}

/** per lane k: `code` shifted into the 2-bit field of sample k mod 4 (as unsigned bytes). */
function fieldPat(code: number): string {
  return range(16)
    .map((k) => (code << (2 * (k & 3))) & 255)
    .join(' ');
}

/**
 * count_packed(p, nBlocks, out, maskOff): counts of codes 1, 2 and 3 over nBlocks × 16 packed
 * bytes (64 samples each; zero padding counts as code 0), as three i32 at out; when maskOff ≠ 0
 * each byte is first ANDed with the mask byte at p + maskOff (2 bits per sample: 11 counts the
 * sample, 00 makes it code 0), so only the masked-in samples are counted. Per 16 bytes: low and
 * high bits of every 2-bit field (lo = v & 0x55, hi = (v >> 1) & 0x55), code 1 = lo ∧ ¬hi,
 * code 2 = hi ∧ ¬lo, code 3 = lo ∧ hi, i8x16.popcnt into byte counters that are widened to
 * i32 every 32 blocks (≤ 4 · 32 per byte lane).
 */
function countPacked(): string {
  const widen = (acc: string, tot: string) =>
    `(local.set ${tot} (i32x4.add (local.get ${tot}) (i32x4.extadd_pairwise_i16x8_u (i16x8.extadd_pairwise_i8x16_u (local.get ${acc})))))
          (local.set ${acc} (v128.const i64x2 0 0))`;
  const hsum = (tot: string) =>
    `(i32.add (i32.add (i32x4.extract_lane 0 (local.get ${tot})) (i32x4.extract_lane 1 (local.get ${tot})))
              (i32.add (i32x4.extract_lane 2 (local.get ${tot})) (i32x4.extract_lane 3 (local.get ${tot}))))`;
  return `
  (func (export "count_packed")
    (param $p i32) (param $nBlocks i32) (param $out i32) (param $maskOff i32)
    (local $end i32) (local $stop i32) (local $v v128) (local $lo v128) (local $hi v128)
    (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $nBlocks) (i32.const 4))))
    (block $done
      (loop $outer
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $stop (i32.add (local.get $p) (i32.const 512)))
        (if (i32.gt_u (local.get $stop) (local.get $end)) (then (local.set $stop (local.get $end))))
        (loop $inner
          (local.set $v (v128.load align=1 (local.get $p)))
          ;; optional sample mask (2 bits per sample, 11 = counted) at p + maskOff
          (if (local.get $maskOff)
            (then (local.set $v (v128.and (local.get $v) (v128.load align=1 (i32.add (local.get $p) (local.get $maskOff)))))))
          (local.set $lo (v128.and (local.get $v) (v128.const i8x16 ${range(16)
            .map(() => 85)
            .join(' ')})))
          (local.set $hi (v128.and (i8x16.shr_u (local.get $v) (i32.const 1)) (v128.const i8x16 ${range(16)
            .map(() => 85)
            .join(' ')})))
          (local.set $a1 (i8x16.add (local.get $a1) (i8x16.popcnt (v128.andnot (local.get $lo) (local.get $hi)))))
          (local.set $a2 (i8x16.add (local.get $a2) (i8x16.popcnt (v128.andnot (local.get $hi) (local.get $lo)))))
          (local.set $a3 (i8x16.add (local.get $a3) (i8x16.popcnt (v128.and (local.get $lo) (local.get $hi)))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br_if $inner (i32.lt_u (local.get $p) (local.get $stop))))
        ${widen('$a1', '$t1')}
        ${widen('$a2', '$t2')}
        ${widen('$a3', '$t3')}
        (br $outer)))
    (i32.store (local.get $out) ${hsum('$t1')})
    (i32.store offset=4 (local.get $out) ${hsum('$t2')})
    (i32.store offset=8 (local.get $out) ${hsum('$t3')}))`;
}

function compactDosages(): string {
  const quad = (k: number) => `(v128.load offset=${16 * k} align=4 (local.get $p))`;
  return `
  (func (export "compact_dosages")
    (param $ds i32) (param $nBlocks i32) (param $stride i32)
    (param $lo i32) (param $lv i32) (param $lm i32) (param $counts i32)
    (local $p i32) (local $end i32) (local $base i32)
    (local $po i32) (local $pv i32) (local $pm i32)
    (local $v v128) (local $nz i32) (local $nan i32) (local $k i32) (local $t i32)
    (local.set $p (local.get $ds))
    (local.set $end (i32.add (local.get $ds) (i32.shl (local.get $nBlocks) (i32.const 6))))
    (local.set $po (local.get $lo))
    (local.set $pv (local.get $lv))
    (local.set $pm (local.get $lm))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        ;; 16 dosages per iteration: non-zero mask (NaN included) and NaN mask, 4 bits per quad
        (local.set $nz (i32.const 0))
        (local.set $nan (i32.const 0))
        ${range(4)
          .map(
            (k) => `
        (local.set $v ${quad(k)})
        (local.set $nz (i32.or (local.get $nz)
          (i32.shl (i32x4.bitmask (f32x4.ne (local.get $v) (f32x4.splat (f32.const 0)))) (i32.const ${4 * k}))))
        (local.set $nan (i32.or (local.get $nan)
          (i32.shl (i32x4.bitmask (f32x4.ne (local.get $v) (local.get $v))) (i32.const ${4 * k}))))`,
          )
          .join('')}
        (local.set $nz (i32.and (local.get $nz) (i32.xor (local.get $nan) (i32.const -1))))
        (block $dz
          (loop $lz
            (br_if $dz (i32.eqz (local.get $nz)))
            (local.set $t (i32.ctz (local.get $nz)))
            (i32.store (local.get $po) (i32.mul (i32.add (local.get $base) (local.get $t)) (local.get $stride)))
            (f64.store (local.get $pv)
              (f64.promote_f32 (f32.load (i32.add (local.get $p) (i32.shl (local.get $t) (i32.const 2))))))
            (local.set $po (i32.add (local.get $po) (i32.const 4)))
            (local.set $pv (i32.add (local.get $pv) (i32.const 8)))
            (local.set $nz (i32.and (local.get $nz) (i32.sub (local.get $nz) (i32.const 1))))
            (br $lz)))
        (block $dn
          (loop $ln
            (br_if $dn (i32.eqz (local.get $nan)))
            (i32.store (local.get $pm) (i32.add (local.get $base) (i32.ctz (local.get $nan))))
            (local.set $pm (i32.add (local.get $pm) (i32.const 4)))
            (local.set $nan (i32.and (local.get $nan) (i32.sub (local.get $nan) (i32.const 1))))
            (br $ln)))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (local.set $base (i32.add (local.get $base) (i32.const 16)))
        (br $blocks)))
    (i32.store (local.get $counts) (i32.shr_u (i32.sub (local.get $po) (local.get $lo)) (i32.const 2)))
    (i32.store offset=4 (local.get $counts) (i32.const 0))
    (i32.store offset=8 (local.get $counts) (i32.shr_u (i32.sub (local.get $pm) (local.get $lm)) (i32.const 2))))`;
}

/** sum_W / wsum_W: W f64x2 column lanes, U accumulator sets. */
function sumFn(w: number, weighted: boolean): string {
  const u = unrollFor(w);
  const acc = (s: number, k: number) => `$a${s}_${k}`;
  const name = `${weighted ? 'wsum' : 'sum'}_${w}`;
  const rowLoad = (o: string, k: number) => `(v128.load offset=${16 * k} (local.get ${o}))`;
  const term = (o: string, k: number, wt: string) =>
    weighted ? `(f64x2.mul (local.get ${wt}) ${rowLoad(o, k)})` : rowLoad(o, k);
  const step = (s: number, listOff: number, valOff: number) => `
          (local.set $o${s} (i32.add (local.get $base) (i32.load offset=${listOff} (local.get $list))))
          ${weighted ? `(local.set $w${s} (v128.load64_splat offset=${valOff} (local.get $vals)))` : ''}
          ${range(w)
            .map(
              (k) =>
                `(local.set ${acc(s, k)} (f64x2.add (local.get ${acc(s, k)}) ${term(`$o${s}`, k, `$w${s}`)}))`,
            )
            .join('\n          ')}`;
  return `
  (func (export "${name}")
    (param $list i32) ${weighted ? '(param $vals i32)' : ''} (param $count i32) (param $base i32) (param $out i32)
    (local $end i32) (local $endU i32)
    ${range(u)
      .map((s) => `(local $o${s} i32) ${weighted ? `(local $w${s} v128)` : ''}`)
      .join(' ')}
    ${range(u)
      .flatMap((s) => range(w).map((k) => `(local ${acc(s, k)} v128)`))
      .join(' ')}
    (local.set $end (i32.add (local.get $list) (i32.shl (local.get $count) (i32.const 2))))
    (local.set $endU (i32.add (local.get $list)
      (i32.shl (i32.and (local.get $count) (i32.const ${-u})) (i32.const 2))))
    (block $doneU
      (loop $mainU
        (br_if $doneU (i32.ge_u (local.get $list) (local.get $endU)))
        ${range(u)
          .map((s) => step(s, 4 * s, 8 * s))
          .join('')}
        (local.set $list (i32.add (local.get $list) (i32.const ${4 * u})))
        ${weighted ? `(local.set $vals (i32.add (local.get $vals) (i32.const ${8 * u})))` : ''}
        (br $mainU)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $list) (local.get $end)))
        ${step(0, 0, 0)}
        (local.set $list (i32.add (local.get $list) (i32.const 4)))
        ${weighted ? '(local.set $vals (i32.add (local.get $vals) (i32.const 8)))' : ''}
        (br $tail)))
    ${range(w)
      .map((k) => {
        // pairwise combination of the U sets: ((a0 + a1) + (a2 + a3))
        const sets = range(u).map((s) => `(local.get ${acc(s, k)})`);
        let level = sets;
        while (level.length > 1) {
          const next: string[] = [];
          for (let i = 0; i < level.length; i += 2) next.push(`(f64x2.add ${level[i]} ${level[i + 1]})`);
          level = next;
        }
        return `(v128.store offset=${16 * k} (local.get $out) ${level[0]})`;
      })
      .join('\n    ')})`;
}

function wsq2(): string {
  return `
  (func (export "wsq2")
    (param $list i32) (param $vals i32) (param $count i32) (param $a i32) (param $b i32) (param $out i32)
    (local $end i32) (local $o i32) (local $v v128) (local $acc v128)
    (local.set $end (i32.add (local.get $list) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $list) (local.get $end)))
        (local.set $o (i32.load (local.get $list)))
        (local.set $v (v128.load64_splat (local.get $vals)))
        (local.set $acc (f64x2.add (local.get $acc)
          (f64x2.mul (f64x2.mul (local.get $v) (local.get $v))
            (f64x2.replace_lane 1
              (v128.load64_zero (i32.add (local.get $o) (local.get $a)))
              (f64.load (i32.add (local.get $o) (local.get $b)))))))
        (local.set $list (i32.add (local.get $list) (i32.const 4)))
        (local.set $vals (i32.add (local.get $vals) (i32.const 8)))
        (br $l)))
    (v128.store (local.get $out) (local.get $acc)))`;
}

/**
 * byte address of the bit-position table: 256 entries × 8 i32 (positions of the set bits of b),
 * followed by the same table times the row stride (rebuilt by compact_codes when the stride changes).
 */
export const LUT_AT = 1024;
const LUT_BYTES = 256 * 8 * 4;

function lutData(): string {
  const bytes: string[] = [];
  for (let b = 0; b < 256; b++) {
    const pos: number[] = [];
    for (let k = 0; k < 8; k++) if (b & (1 << k)) pos.push(k);
    while (pos.length < 8) pos.push(0);
    for (const p of pos) bytes.push(`\\${p.toString(16).padStart(2, '0')}\\00\\00\\00`);
  }
  return `  (data (i32.const ${LUT_AT}) "${bytes.join('')}")`;
}

export function moduleText(): string {
  const fns = [compactCodes(false), compactCodes(true), countPacked(), compactDosages(), wsq2()];
  for (let w = 1; w <= MAX_W; w++) fns.push(sumFn(w, false), sumFn(w, true));
  return `;; generated by stats/wasm/build.ts — do not edit\n(module\n  (memory (export "mem") 1)\n  (global $lutStride (mut i32) (i32.const 0))\n${lutData()}\n${fns.join('\n')}\n)\n`;
}

/** Assemble the module text into its binary (the `wabt` dev dependency). */
export async function assemble(text: string): Promise<Uint8Array> {
  const wabt = await initWabt();
  const mod = wabt.parseWat('scan.wat', text, { simd: true });
  mod.validate();
  const { buffer } = mod.toBinary({ log: false, write_debug_names: false });
  mod.destroy();
  return buffer;
}

/** The TypeScript module embedding the binary as base64 (`stats/wasm/scan-wasm.ts`). */
export function embedSource(buffer: Uint8Array): string {
  const b64 = Buffer.from(buffer).toString('base64');
  const lines = b64.match(/.{1,100}/g) ?? [];
  return (
    `/** Generated by stats/wasm/build.ts from scan.wat (${buffer.length} bytes) — do not edit. */\n` +
    `export const SCAN_WASM_BASE64 =\n${lines.map((l) => `  '${l}'`).join(' +\n')};\n`
  );
}

async function main(): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url));
  const text = moduleText();
  const buffer = await assemble(text);
  writeFileSync(join(here, 'scan.wat'), text);
  writeFileSync(join(here, 'scan-wasm.ts'), embedSource(buffer));
  console.log(`scan.wasm: ${buffer.length} bytes`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
