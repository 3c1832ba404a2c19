/**
 * Build step (run by hand, never at run time) for the WebAssembly SIMD kernels of the REGENIE
 * level-0 block ridge regressions (stats/ridge-level0.ts):
 *
 *   node --import tsx stats/wasm/gram-build.ts
 *
 * Writes the module text `stats/wasm/gram.wat` (kept for review) and, assembled with the `wabt`
 * dev dependency, `stats/wasm/gram-wasm.ts`, which embeds the binary as base64 so that nothing is
 * compiled at run time. Rerun after editing this file and commit both outputs.
 *
 * Exports (memory exported as `mem`; every pointer is a byte address chosen by the caller):
 *
 *   gram_planes(base, stride, nv, c0, c1, out, ld)
 *       Exact integer Gram of hard calls from bit planes. Variant v (0 ≤ v < nv, nv even) has its
 *       planes at base + v·stride as chunks of 32 bytes: 16 bytes h1 (bit set ⇔ code ≥ 1) then 16
 *       bytes h2 (bit set ⇔ code = 2), 128 samples per chunk, missing calls and padding 0 in both.
 *       With g = h1 + h2 per sample, for every pair i ≤ j (2 × 2 tiles over the upper triangle)
 *       writes Σ_{chunks c0 ≤ c < c1} g_i·g_j as i32 at out + 4·(i·ld + j), using
 *         g_i·g_j = popcnt(h1_i ∧ h1_j) + popcnt((h1_i ∧ h2_j) ∨ (h2_i ∧ h1_j)) + 2·popcnt(h2_i ∧ h2_j)
 *       (h2 ⊂ h1, so the two cross terms overlap exactly in h2_i ∧ h2_j). Byte-lane popcounts
 *       (i8x16.popcnt) are summed in i8 lanes for up to 7 chunks (≤ 7 · 32 = 224 per lane), then
 *       widened into i32x4 accumulators; a 2 × 2 tile of variant pairs shares its 8 loads.
 *
 *   chol(a, p, ld, tol) → 1 | 0
 *       In-place Cholesky A = UᵀU of the symmetric p × p matrix at a (f64, column-major, leading
 *       dimension ld, both p and ld even; only the upper triangle is read). U overwrites the upper
 *       triangle (column j of U is contiguous: U[k, j] at a + 8·(k + j·ld), k ≤ j). Left-looking,
 *       two columns at a time: U[i, j] = (A[i, j] − Σ_{k<i} U[k, i]·U[k, j]) / U[i, i] with the dot
 *       products of a 2 × 2 block of (i, j) pairs sharing their f64x2 loads. Returns 0 when a
 *       pivot is ≤ tol (not positive definite), 1 otherwise.
 *
 *   miss_gather(bytes, nbytes, nv, at, seg, nSeg, out)
 *       The missing-call cross terms: for every variant i < nv (packed calls at bytes + i·nbytes)
 *       and every segment s of a list of missing calls (entries seg[s] .. seg[s+1] of the i32 list
 *       at `at`, each call given as byte index · 8 + bit shift), writes the i32
 *       Σ_calls (G0_i + 2¹⁶·M_i) at out + 4·(i·nSeg + s), G0 = code (0 for missing), M = [code = 3]
 *       (exact while a segment has fewer than 2¹⁵ calls; the caller checks).
 *
 *   decode_accum(bytes, gp, t0, t1, z, wp, outT, outC, accC, accM, planes, pbit, counts) → count
 *       Pass 1 of a block, one variant and fold: for t0 ≤ t < t1 reads the 2-bit call at genotype
 *       position gp[t] (i32 array) of the packed calls at `bytes`; each non-zero call c (1, 2, or
 *       3 = missing) is appended as t (i32 at outT) and c (u8 at outC), and row t of z (f64,
 *       row-major, wp values per row, wp even) is added to accC scaled by c (c = 1, 2: exact) or
 *       to accM (c = 3), wp values each, two lanes at a time. A called one also sets its bit in the
 *       variant's planes (pbit[t] = plane word · 32 + bit, as i32; h1 word at planes + 4·word, h2
 *       16 bytes further when c = 2) and counts c in the i32 counters[c − 1] at `counts` (three:
 *       ones, twos, missing; added to). Returns how many were appended. The sums run over t in
 *       increasing order, as the JavaScript fallback's do, so both give the same bits.
 *
 *   sym_correct(w, ld, nv, u, l2, vt, ldv, s)
 *       The rank-l2 correction and scaling of a fold's Gram, upper triangle: for i < nv and
 *       i ≤ j < nv (in pairs j, j + 1: nv odd needs one padding row in w and one zero in s),
 *         w[j + i·ld] = (s_i·s_j) · (w[j + i·ld] − Σ_{l<l2} u[l + i·l2]·vt[j + l·ldv])
 *       (f64; u row-major per i, vt with j contiguous). Each lane sums over l in order, so the
 *       result has the bits of the same sum written plainly.
 *
 *   predict_add(pred, krp, ts, cs, cnt, bt, mu)
 *       The genotype part of a block's out-of-fold predictions, one variant and fold: for each of
 *       the cnt listed calls (sample t as i32 at ts, code as u8 at cs), row t of pred (f64,
 *       row-major, krp values per row, krp even) gets v·bt added (bt: krp f64), v = the code, or
 *       mu for a missing call (code 3). Lane-wise, so the same bits as the plain loop.
 *
 *   chol_solve(a, p, ld, b, nrhs, ldb)
 *       Solves UᵀU X = B in place for the nrhs columns of B at b (f64, column-major, leading
 *       dimension ldb): forward Uᵀz = b by column dot products, then back U x = z by column axpys.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import initWabt from 'wabt';

/** chunks whose byte-lane popcounts are summed in i8 lanes before widening (7 · 32 ≤ 255). */
const I8_RUN = 7;

function gramPlanes(): string {
  // tile: rows i0, i1 (planes a*, e*), columns j0, j1 (planes b*, d*)
  const pairs: [string, string, string, string, string][] = [
    ['$a1', '$a2', '$b1', '$b2', '$s00'],
    ['$a1', '$a2', '$d1', '$d2', '$s01'],
    ['$e1', '$e2', '$b1', '$b2', '$s10'],
    ['$e1', '$e2', '$d1', '$d2', '$s11'],
  ];
  const pairTerm = ([x1, x2, y1, y2, acc]: [string, string, string, string, string]) => `
            (local.set $t (i8x16.popcnt (v128.and (local.get ${x2}) (local.get ${y2}))))
            (local.set ${acc} (i8x16.add (local.get ${acc})
              (i8x16.add
                (i8x16.add (local.get $t) (local.get $t))
                (i8x16.add
                  (i8x16.popcnt (v128.and (local.get ${x1}) (local.get ${y1})))
                  (i8x16.popcnt (v128.or
                    (v128.and (local.get ${x1}) (local.get ${y2}))
                    (v128.and (local.get ${x2}) (local.get ${y1}))))))))`;
  const widen = (acc: string, tot: string) => `
          (local.set ${tot} (i32x4.add (local.get ${tot})
            (i32x4.extadd_pairwise_i16x8_u (i16x8.extadd_pairwise_i8x16_u (local.get ${acc})))))
          (local.set ${acc} (v128.const i64x2 0 0))`;
  const hsum = (tot: string) =>
    `(i32.add (i32.add (i32x4.extract_lane 0 (local.get ${tot})) (i32x4.extract_lane 1 (local.get ${tot})))
              (i32.add (i32x4.extract_lane 2 (local.get ${tot})) (i32x4.extract_lane 3 (local.get ${tot}))))`;
  return `
  (func (export "gram_planes")
    (param $base i32) (param $stride i32) (param $nv i32) (param $c0 i32) (param $c1 i32)
    (param $out i32) (param $ld i32)
    (local $i i32) (local $j i32) (local $pi i32) (local $pj i32) (local $off i32) (local $end i32)
    (local $stop i32) (local $o i32)
    (local $a1 v128) (local $a2 v128) (local $b1 v128) (local $b2 v128)
    (local $e1 v128) (local $e2 v128) (local $d1 v128) (local $d2 v128) (local $t v128)
    (local $s00 v128) (local $s01 v128) (local $s10 v128) (local $s11 v128)
    (local $t00 v128) (local $t01 v128) (local $t10 v128) (local $t11 v128)
    (block $doneI
      (loop $rows
        (br_if $doneI (i32.ge_u (local.get $i) (local.get $nv)))
        (local.set $pi (i32.add (local.get $base) (i32.mul (local.get $i) (local.get $stride))))
        (local.set $j (local.get $i))
        (block $doneJ
          (loop $cols
            (br_if $doneJ (i32.ge_u (local.get $j) (local.get $nv)))
            (local.set $pj (i32.add (local.get $base) (i32.mul (local.get $j) (local.get $stride))))
            (local.set $t00 (v128.const i64x2 0 0))
            (local.set $t01 (v128.const i64x2 0 0))
            (local.set $t10 (v128.const i64x2 0 0))
            (local.set $t11 (v128.const i64x2 0 0))
            (local.set $off (i32.shl (local.get $c0) (i32.const 5)))
            (local.set $end (i32.shl (local.get $c1) (i32.const 5)))
            (block $doneK
              (loop $runs
                (br_if $doneK (i32.ge_u (local.get $off) (local.get $end)))
                (local.set $stop (i32.add (local.get $off) (i32.const ${32 * I8_RUN})))
                (if (i32.gt_u (local.get $stop) (local.get $end)) (then (local.set $stop (local.get $end))))
                (loop $chunks
                  (local.set $o (i32.add (local.get $pi) (local.get $off)))
                  (local.set $a1 (v128.load (local.get $o)))
                  (local.set $a2 (v128.load offset=16 (local.get $o)))
                  (local.set $o (i32.add (local.get $o) (local.get $stride)))
                  (local.set $e1 (v128.load (local.get $o)))
                  (local.set $e2 (v128.load offset=16 (local.get $o)))
                  (local.set $o (i32.add (local.get $pj) (local.get $off)))
                  (local.set $b1 (v128.load (local.get $o)))
                  (local.set $b2 (v128.load offset=16 (local.get $o)))
                  (local.set $o (i32.add (local.get $o) (local.get $stride)))
                  (local.set $d1 (v128.load (local.get $o)))
                  (local.set $d2 (v128.load offset=16 (local.get $o)))
                  ${pairs.map(pairTerm).join('')}
                  (local.set $off (i32.add (local.get $off) (i32.const 32)))
                  (br_if $chunks (i32.lt_u (local.get $off) (local.get $stop))))
                ${widen('$s00', '$t00')}
                ${widen('$s01', '$t01')}
                ${widen('$s10', '$t10')}
                ${widen('$s11', '$t11')}
                (br $runs)))
            (local.set $o (i32.add (local.get $out)
              (i32.shl (i32.add (i32.mul (local.get $i) (local.get $ld)) (local.get $j)) (i32.const 2))))
            (i32.store (local.get $o) ${hsum('$t00')})
            (i32.store offset=4 (local.get $o) ${hsum('$t01')})
            (local.set $o (i32.add (local.get $o) (i32.shl (local.get $ld) (i32.const 2))))
            (i32.store (local.get $o) ${hsum('$t10')})
            (i32.store offset=4 (local.get $o) ${hsum('$t11')})
            (local.set $j (i32.add (local.get $j) (i32.const 2)))
            (br $cols)))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $rows)))
  )`;
}

/**
 * chol: left-looking upper Cholesky, columns j0 = j, j1 = j + 1 together. For each pair of rows
 * i0 = i, i1 = i + 1 < j0 the four dot products over k < i0 share their loads; the k = i0 term
 * of row i1 is added once U[i0, ·] is known. Then the 2 × 2 diagonal block.
 */
function chol(): string {
  const col = (c: string) =>
    `(i32.add (local.get $a) (i32.shl (i32.mul (local.get ${c}) (local.get $ld)) (i32.const 3)))`;
  const at = (ptr: string, row: string) =>
    `(i32.add (local.get ${ptr}) (i32.shl (local.get ${row}) (i32.const 3)))`;
  const hadd = (v: string) =>
    `(f64.add (f64x2.extract_lane 0 (local.get ${v})) (f64x2.extract_lane 1 (local.get ${v})))`;
  return `
  (func (export "chol") (param $a i32) (param $p i32) (param $ld i32) (param $tol f64) (result i32)
    (local $i i32) (local $j i32) (local $k i32) (local $pj0 i32) (local $pj1 i32) (local $pi0 i32) (local $pi1 i32)
    (local $kb i32)
    (local $x0 v128) (local $x1 v128) (local $y0 v128) (local $y1 v128)
    (local $s00 v128) (local $s01 v128) (local $s10 v128) (local $s11 v128)
    (local $u00 f64) (local $u01 f64) (local $u10 f64) (local $u11 f64) (local $d0 f64) (local $d1 f64)
    (local $r00 f64) (local $r01 f64) (local $r10 f64) (local $r11 f64) (local $e f64)
    (block $fail
      (block $doneJ
        (loop $cols
          (br_if $doneJ (i32.ge_u (local.get $j) (local.get $p)))
          (local.set $pj0 ${col('$j')})
          (local.set $pj1 (i32.add (local.get $pj0) (i32.shl (local.get $ld) (i32.const 3))))
          (local.set $i (i32.const 0))
          (block $doneI
            (loop $rows
              (br_if $doneI (i32.ge_u (local.get $i) (local.get $j)))
              (local.set $pi0 ${col('$i')})
              (local.set $pi1 (i32.add (local.get $pi0) (i32.shl (local.get $ld) (i32.const 3))))
              (local.set $s00 (v128.const i64x2 0 0))
              (local.set $s01 (v128.const i64x2 0 0))
              (local.set $s10 (v128.const i64x2 0 0))
              (local.set $s11 (v128.const i64x2 0 0))
              (local.set $kb (i32.shl (local.get $i) (i32.const 3)))
              (local.set $k (i32.const 0))
              (block $doneK
                (loop $dots
                  (br_if $doneK (i32.ge_u (local.get $k) (local.get $kb)))
                  (local.set $x0 (v128.load (i32.add (local.get $pi0) (local.get $k))))
                  (local.set $x1 (v128.load (i32.add (local.get $pi1) (local.get $k))))
                  (local.set $y0 (v128.load (i32.add (local.get $pj0) (local.get $k))))
                  (local.set $y1 (v128.load (i32.add (local.get $pj1) (local.get $k))))
                  (local.set $s00 (f64x2.add (local.get $s00) (f64x2.mul (local.get $x0) (local.get $y0))))
                  (local.set $s01 (f64x2.add (local.get $s01) (f64x2.mul (local.get $x0) (local.get $y1))))
                  (local.set $s10 (f64x2.add (local.get $s10) (f64x2.mul (local.get $x1) (local.get $y0))))
                  (local.set $s11 (f64x2.add (local.get $s11) (f64x2.mul (local.get $x1) (local.get $y1))))
                  (local.set $k (i32.add (local.get $k) (i32.const 16)))
                  (br $dots)))
              ;; row i0
              (local.set $u00 (f64.load ${at('$pi0', '$i')}))
              (local.set $r00 (f64.div (f64.sub (f64.load ${at('$pj0', '$i')}) ${hadd('$s00')}) (local.get $u00)))
              (local.set $r01 (f64.div (f64.sub (f64.load ${at('$pj1', '$i')}) ${hadd('$s01')}) (local.get $u00)))
              (f64.store ${at('$pj0', '$i')} (local.get $r00))
              (f64.store ${at('$pj1', '$i')} (local.get $r01))
              ;; row i1: add the k = i0 term, U[i0, i1] = column i1 at row i0
              (local.set $e (f64.load ${at('$pi1', '$i')}))
              (local.set $u11 (f64.load offset=8 ${at('$pi1', '$i')}))
              (f64.store offset=8 ${at('$pj0', '$i')}
                (f64.div (f64.sub (f64.load offset=8 ${at('$pj0', '$i')})
                  (f64.add ${hadd('$s10')} (f64.mul (local.get $e) (local.get $r00)))) (local.get $u11)))
              (f64.store offset=8 ${at('$pj1', '$i')}
                (f64.div (f64.sub (f64.load offset=8 ${at('$pj1', '$i')})
                  (f64.add ${hadd('$s11')} (f64.mul (local.get $e) (local.get $r01)))) (local.get $u11)))
              (local.set $i (i32.add (local.get $i) (i32.const 2)))
              (br $rows)))
          ;; diagonal block: d0 = A[j0,j0] − Σ U[k,j0]², U[j0,j1], d1
          (local.set $s00 (v128.const i64x2 0 0))
          (local.set $s01 (v128.const i64x2 0 0))
          (local.set $s11 (v128.const i64x2 0 0))
          (local.set $kb (i32.shl (local.get $j) (i32.const 3)))
          (local.set $k (i32.const 0))
          (block $doneD
            (loop $diag
              (br_if $doneD (i32.ge_u (local.get $k) (local.get $kb)))
              (local.set $y0 (v128.load (i32.add (local.get $pj0) (local.get $k))))
              (local.set $y1 (v128.load (i32.add (local.get $pj1) (local.get $k))))
              (local.set $s00 (f64x2.add (local.get $s00) (f64x2.mul (local.get $y0) (local.get $y0))))
              (local.set $s01 (f64x2.add (local.get $s01) (f64x2.mul (local.get $y0) (local.get $y1))))
              (local.set $s11 (f64x2.add (local.get $s11) (f64x2.mul (local.get $y1) (local.get $y1))))
              (local.set $k (i32.add (local.get $k) (i32.const 16)))
              (br $diag)))
          (local.set $d0 (f64.sub (f64.load ${at('$pj0', '$j')}) ${hadd('$s00')}))
          (br_if $fail (i32.eqz (f64.gt (local.get $d0) (local.get $tol))))
          (local.set $u00 (f64.sqrt (local.get $d0)))
          (f64.store ${at('$pj0', '$j')} (local.get $u00))
          (local.set $u01 (f64.div (f64.sub (f64.load ${at('$pj1', '$j')}) ${hadd('$s01')}) (local.get $u00)))
          (f64.store ${at('$pj1', '$j')} (local.get $u01))
          (local.set $d1 (f64.sub (f64.sub (f64.load offset=8 ${at('$pj1', '$j')}) ${hadd('$s11')})
            (f64.mul (local.get $u01) (local.get $u01))))
          (br_if $fail (i32.eqz (f64.gt (local.get $d1) (local.get $tol))))
          (f64.store offset=8 ${at('$pj1', '$j')} (f64.sqrt (local.get $d1)))
          (local.set $j (i32.add (local.get $j) (i32.const 2)))
          (br $cols)))
      (return (i32.const 1)))
    (i32.const 0))`;
}

function cholSolve(): string {
  return `
  (func (export "chol_solve") (param $a i32) (param $p i32) (param $ld i32) (param $b i32) (param $nrhs i32) (param $ldb i32)
    (local $r i32) (local $i i32) (local $k i32) (local $pb i32) (local $pc i32) (local $kb i32)
    (local $acc v128) (local $x f64) (local $xs v128) (local $s f64)
    (block $doneR
      (loop $rhs
        (br_if $doneR (i32.ge_u (local.get $r) (local.get $nrhs)))
        (local.set $pb (i32.add (local.get $b) (i32.shl (i32.mul (local.get $r) (local.get $ldb)) (i32.const 3))))
        ;; forward: z_i = (b_i − Σ_{k<i} U[k,i] z_k) / U[i,i]
        (local.set $i (i32.const 0))
        (block $doneF
          (loop $fwd
            (br_if $doneF (i32.ge_u (local.get $i) (local.get $p)))
            (local.set $pc (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $ld)) (i32.const 3))))
            (local.set $acc (v128.const i64x2 0 0))
            (local.set $kb (i32.shl (i32.and (local.get $i) (i32.const -2)) (i32.const 3)))
            (local.set $k (i32.const 0))
            (block $doneK
              (loop $dot
                (br_if $doneK (i32.ge_u (local.get $k) (local.get $kb)))
                (local.set $acc (f64x2.add (local.get $acc)
                  (f64x2.mul (v128.load (i32.add (local.get $pc) (local.get $k)))
                             (v128.load (i32.add (local.get $pb) (local.get $k))))))
                (local.set $k (i32.add (local.get $k) (i32.const 16)))
                (br $dot)))
            (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $acc)) (f64x2.extract_lane 1 (local.get $acc))))
            (if (i32.and (local.get $i) (i32.const 1))
              (then (local.set $s (f64.add (local.get $s)
                (f64.mul (f64.load (i32.add (local.get $pc) (local.get $kb)))
                         (f64.load (i32.add (local.get $pb) (local.get $kb))))))))
            (local.set $k (i32.shl (local.get $i) (i32.const 3)))
            (f64.store (i32.add (local.get $pb) (local.get $k))
              (f64.div (f64.sub (f64.load (i32.add (local.get $pb) (local.get $k))) (local.get $s))
                       (f64.load (i32.add (local.get $pc) (local.get $k)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $fwd)))
        ;; back: x_i = z_i / U[i,i]; z[0..i) −= x_i U[0..i, i]
        (local.set $i (local.get $p))
        (block $doneB
          (loop $back
            (br_if $doneB (i32.eqz (local.get $i)))
            (local.set $i (i32.sub (local.get $i) (i32.const 1)))
            (local.set $pc (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $ld)) (i32.const 3))))
            (local.set $k (i32.shl (local.get $i) (i32.const 3)))
            (local.set $x (f64.div (f64.load (i32.add (local.get $pb) (local.get $k)))
                                   (f64.load (i32.add (local.get $pc) (local.get $k)))))
            (f64.store (i32.add (local.get $pb) (local.get $k)) (local.get $x))
            (local.set $xs (f64x2.splat (local.get $x)))
            (local.set $kb (i32.shl (i32.and (local.get $i) (i32.const -2)) (i32.const 3)))
            (if (i32.and (local.get $i) (i32.const 1))
              (then (f64.store (i32.add (local.get $pb) (local.get $kb))
                (f64.sub (f64.load (i32.add (local.get $pb) (local.get $kb)))
                         (f64.mul (local.get $x) (f64.load (i32.add (local.get $pc) (local.get $kb))))))))
            (local.set $k (i32.const 0))
            (block $doneA
              (loop $axpy
                (br_if $doneA (i32.ge_u (local.get $k) (local.get $kb)))
                (v128.store (i32.add (local.get $pb) (local.get $k))
                  (f64x2.sub (v128.load (i32.add (local.get $pb) (local.get $k)))
                             (f64x2.mul (local.get $xs) (v128.load (i32.add (local.get $pc) (local.get $k))))))
                (local.set $k (i32.add (local.get $k) (i32.const 16)))
                (br $axpy)))
            (br $back)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rhs))))`;
}

/** miss_gather: see the module comment. */
function missGather(): string {
  return `
  (func (export "miss_gather")
    (param $bytes i32) (param $nbytes i32) (param $nv i32) (param $at i32) (param $seg i32) (param $nSeg i32)
    (param $out i32)
    (local $i i32) (local $s i32) (local $m i32) (local $end i32) (local $a i32) (local $c i32) (local $acc i32)
    (local $pb i32)
    (block $doneI
      (loop $vars
        (br_if $doneI (i32.ge_u (local.get $i) (local.get $nv)))
        (local.set $pb (i32.add (local.get $bytes) (i32.mul (local.get $i) (local.get $nbytes))))
        (local.set $s (i32.const 0))
        (local.set $m (i32.load (local.get $seg)))
        (block $doneS
          (loop $segs
            (br_if $doneS (i32.ge_u (local.get $s) (local.get $nSeg)))
            (local.set $end (i32.load offset=4 (i32.add (local.get $seg) (i32.shl (local.get $s) (i32.const 2)))))
            (local.set $acc (i32.const 0))
            (block $doneM
              (loop $calls
                (br_if $doneM (i32.ge_u (local.get $m) (local.get $end)))
                (local.set $a (i32.load (i32.add (local.get $at) (i32.shl (local.get $m) (i32.const 2)))))
                (local.set $c (i32.and
                  (i32.shr_u (i32.load8_u (i32.add (local.get $pb) (i32.shr_u (local.get $a) (i32.const 3))))
                             (i32.and (local.get $a) (i32.const 7)))
                  (i32.const 3)))
                (local.set $acc (i32.add (local.get $acc)
                  (select (i32.const 65536) (local.get $c) (i32.eq (local.get $c) (i32.const 3)))))
                (local.set $m (i32.add (local.get $m) (i32.const 1)))
                (br $calls)))
            (i32.store (local.get $out) (local.get $acc))
            (local.set $out (i32.add (local.get $out) (i32.const 4)))
            (local.set $s (i32.add (local.get $s) (i32.const 1)))
            (br $segs)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $vars))))`;
}

/**
 * dst[0 .. bytes) += src[0 .. bytes) · v, two f64 lanes at a time (bytes a multiple of 16; `v` an
 * f64x2 splat; needs a local `$a`). Lane-wise, so each value gets the bits of the plain
 * `dst += src * v`.
 */
function axpyLoop(dst: string, src: string, v: string, bytes: string): string {
  return `
        (local.set $a (i32.const 0))
        (block $doneA
          (loop $cols
            (br_if $doneA (i32.ge_u (local.get $a) (local.get ${bytes})))
            (v128.store (i32.add (local.get ${dst}) (local.get $a))
              (f64x2.add (v128.load (i32.add (local.get ${dst}) (local.get $a)))
                         (f64x2.mul (v128.load (i32.add (local.get ${src}) (local.get $a))) (local.get ${v}))))
            (local.set $a (i32.add (local.get $a) (i32.const 16)))
            (br $cols)))`;
}

/** decode_accum: see the module comment. */
function decodeAccum(): string {
  return `
  (func (export "decode_accum")
    (param $bytes i32) (param $gp i32) (param $t0 i32) (param $t1 i32) (param $z i32) (param $wp i32)
    (param $outT i32) (param $outC i32) (param $accC i32) (param $accM i32)
    (param $planes i32) (param $pbit i32) (param $counts i32) (result i32)
    (local $t i32) (local $g i32) (local $c i32) (local $cnt i32) (local $row i32) (local $dst i32)
    (local $a i32) (local $wb i32) (local $wv v128) (local $pb i32) (local $word i32) (local $bit i32)
    (local $ctr i32)
    (local.set $wb (i32.shl (local.get $wp) (i32.const 3)))
    (local.set $t (local.get $t0))
    (block $done
      (loop $calls
        (br_if $done (i32.ge_u (local.get $t) (local.get $t1)))
        (local.set $g (i32.load (i32.add (local.get $gp) (i32.shl (local.get $t) (i32.const 2)))))
        (local.set $c (i32.and
          (i32.shr_u (i32.load8_u (i32.add (local.get $bytes) (i32.shr_u (local.get $g) (i32.const 2))))
                     (i32.shl (i32.and (local.get $g) (i32.const 3)) (i32.const 1)))
          (i32.const 3)))
        (if (local.get $c)
          (then
            (i32.store (i32.add (local.get $outT) (i32.shl (local.get $cnt) (i32.const 2))) (local.get $t))
            (i32.store8 (i32.add (local.get $outC) (local.get $cnt)) (local.get $c))
            (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
            (local.set $ctr (i32.add (local.get $counts) (i32.shl (i32.sub (local.get $c) (i32.const 1)) (i32.const 2))))
            (i32.store (local.get $ctr) (i32.add (i32.load (local.get $ctr)) (i32.const 1)))
            (if (i32.ne (local.get $c) (i32.const 3))
              (then
                (local.set $pb (i32.load (i32.add (local.get $pbit) (i32.shl (local.get $t) (i32.const 2)))))
                (local.set $word (i32.add (local.get $planes) (i32.shl (i32.shr_u (local.get $pb) (i32.const 5)) (i32.const 2))))
                (local.set $bit (i32.shl (i32.const 1) (i32.and (local.get $pb) (i32.const 31))))
                (i32.store (local.get $word) (i32.or (i32.load (local.get $word)) (local.get $bit)))
                (if (i32.eq (local.get $c) (i32.const 2))
                  (then (i32.store offset=16 (local.get $word)
                    (i32.or (i32.load offset=16 (local.get $word)) (local.get $bit)))))))
            (local.set $row (i32.add (local.get $z) (i32.mul (local.get $t) (local.get $wb))))
            (local.set $dst (select (local.get $accM) (local.get $accC) (i32.eq (local.get $c) (i32.const 3))))
            (local.set $wv (f64x2.splat
              (select (f64.const 1) (f64.convert_i32_u (local.get $c)) (i32.eq (local.get $c) (i32.const 3)))))
${axpyLoop('$dst', '$row', '$wv', '$wb')}))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $calls)))
    (local.get $cnt))`;
}

/** sym_correct: see the module comment. */
function symCorrect(): string {
  return `
  (func (export "sym_correct")
    (param $w i32) (param $ld i32) (param $nv i32) (param $u i32) (param $l2 i32) (param $vt i32)
    (param $ldv i32) (param $s i32)
    (local $i i32) (local $j i32) (local $l i32) (local $acc v128) (local $si v128) (local $pu i32)
    (local $pw i32) (local $pv i32) (local $ldvb i32)
    (local.set $ldvb (i32.shl (local.get $ldv) (i32.const 3)))
    (block $doneI
      (loop $rows
        (br_if $doneI (i32.ge_u (local.get $i) (local.get $nv)))
        (local.set $si (v128.load64_splat (i32.add (local.get $s) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $pu (i32.add (local.get $u) (i32.shl (i32.mul (local.get $i) (local.get $l2)) (i32.const 3))))
        (local.set $j (local.get $i))
        (block $doneJ
          (loop $pairs
            (br_if $doneJ (i32.ge_u (local.get $j) (local.get $nv)))
            (local.set $acc (v128.const i64x2 0 0))
            (local.set $pv (i32.add (local.get $vt) (i32.shl (local.get $j) (i32.const 3))))
            (local.set $l (i32.const 0))
            (block $doneL
              (loop $dot
                (br_if $doneL (i32.ge_u (local.get $l) (local.get $l2)))
                (local.set $acc (f64x2.add (local.get $acc)
                  (f64x2.mul (v128.load64_splat (i32.add (local.get $pu) (i32.shl (local.get $l) (i32.const 3))))
                             (v128.load (local.get $pv)))))
                (local.set $pv (i32.add (local.get $pv) (local.get $ldvb)))
                (local.set $l (i32.add (local.get $l) (i32.const 1)))
                (br $dot)))
            (local.set $pw (i32.add (local.get $w)
              (i32.shl (i32.add (local.get $j) (i32.mul (local.get $i) (local.get $ld))) (i32.const 3))))
            (v128.store (local.get $pw)
              (f64x2.mul
                (f64x2.mul (local.get $si) (v128.load (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 3)))))
                (f64x2.sub (v128.load (local.get $pw)) (local.get $acc))))
            (local.set $j (i32.add (local.get $j) (i32.const 2)))
            (br $pairs)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))`;
}

/** predict_add: see the module comment. */
function predictAdd(): string {
  return `
  (func (export "predict_add")
    (param $pred i32) (param $krp i32) (param $ts i32) (param $cs i32) (param $cnt i32) (param $bt i32)
    (param $mu f64)
    (local $e i32) (local $c i32) (local $row i32) (local $vv v128) (local $a i32) (local $kb i32)
    (local.set $kb (i32.shl (local.get $krp) (i32.const 3)))
    (block $done
      (loop $calls
        (br_if $done (i32.ge_u (local.get $e) (local.get $cnt)))
        (local.set $c (i32.load8_u (i32.add (local.get $cs) (local.get $e))))
        (local.set $vv (f64x2.splat
          (select (local.get $mu) (f64.convert_i32_u (local.get $c)) (i32.eq (local.get $c) (i32.const 3)))))
        (local.set $row (i32.add (local.get $pred)
          (i32.mul (i32.load (i32.add (local.get $ts) (i32.shl (local.get $e) (i32.const 2)))) (local.get $kb))))
${axpyLoop('$row', '$bt', '$vv', '$kb')}
        (local.set $e (i32.add (local.get $e) (i32.const 1)))
        (br $calls))))`;
}

export function moduleText(): string {
  const fns = [gramPlanes(), missGather(), chol(), cholSolve(), decodeAccum(), symCorrect(), predictAdd()];
  return `;; generated by stats/wasm/gram-build.ts — do not edit\n(module\n  (memory (export "mem") 1)\n${fns.join('\n')}\n)\n`;
}

/** Assemble the module text into its binary (the `wabt` dev dependency). */
export async function assemble(text: string): Promise<Uint8Array> {
  return assembleModule('gram.wat', text);
}

/** Assemble a SIMD module's text (`name` for error messages) into its binary. */
export async function assembleModule(name: string, text: string): Promise<Uint8Array> {
  const wabt = await initWabt();
  const mod = wabt.parseWat(name, text, { simd: true });
  mod.validate();
  const { buffer } = mod.toBinary({ log: false, write_debug_names: false });
  mod.destroy();
  return buffer;
}

/** The TypeScript module embedding the binary as base64 (`stats/wasm/gram-wasm.ts`). */
export function embedSource(buffer: Uint8Array): string {
  return embedBase64(buffer, 'gram', 'GRAM_WASM_BASE64');
}

/**
 * A generated TypeScript module exporting `constName` = the binary of `<name>.wat` as base64
 * (100-character lines), made by `stats/wasm/<name>-build.ts`.
 */
export function embedBase64(buffer: Uint8Array, name: string, constName: string): string {
  const lines =
    Buffer.from(buffer)
      .toString('base64')
      .match(/.{1,100}/g) ?? [];
  return (
    `/** Generated by stats/wasm/${name}-build.ts from ${name}.wat (${buffer.length} bytes) — do not edit. */\n` +
    `export const ${constName} =\n${lines.map((l) => `  '${l}'`).join(' +\n')};\n`
  );
}

/** Writes `<name>.wat` and its embedding `<name>-wasm.ts` beside this file. */
export async function writeModule(
  name: string,
  text: string,
  assembleText: (text: string) => Promise<Uint8Array>,
  embed: (buffer: Uint8Array) => string,
): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url));
  const buffer = await assembleText(text);
  writeFileSync(join(here, `${name}.wat`), text);
  writeFileSync(join(here, `${name}-wasm.ts`), embed(buffer));
  console.log(`${name}.wasm: ${buffer.length} bytes`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1])
  await writeModule('gram', moduleText(), assemble, embedSource);
