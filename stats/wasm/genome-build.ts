/**
 * Build step (run by hand, never at run time) for the WebAssembly SIMD kernel of the whole-genome
 * level 0 (stats/ridge-genome.ts):
 *
 *   node --import tsx stats/wasm/genome-build.ts
 *
 * Writes the module text `stats/wasm/genome.wat` (kept for review) and, assembled with the `wabt`
 * dev dependency, `stats/wasm/genome-wasm.ts` (the binary as base64). Rerun after editing this file
 * and commit both outputs.
 *
 * Export (memory exported as `mem`; pointers are byte addresses chosen by the caller):
 *
 *   zz_apply(z, nb, nc, v, m, w, u)
 *       W += Z (Zᵀ V) over the nc columns of Z at z (f64, column j at z + j·nb; nb = bytes per
 *       column, a multiple of 32, i.e. rows padded to 4 with zeros) for the m columns of V at v and
 *       of W at w (same layout); u is m f64 of scratch. Per column j: u_s = z_jᵀ v_s for every s
 *       (two right-hand sides at a time, each with two f64x2 accumulators over alternate row
 *       pairs, so four independent chains share each load of z_j), then w_s += u_s z_j (skipped
 *       when u_s = 0: a converged system's zero direction). The column stays in cache between the
 *       two loops, so Z is read from memory once per call.
 */
import { fileURLToPath } from 'node:url';
import { assembleModule, embedBase64, writeModule } from './gram-build.js';

/** One right-hand side's dot product a0, a1 (two chains) at v-pointer `vs`. */
function dotLanes(acc0: string, acc1: string, vs: string): string {
  return `
            (local.set ${acc0} (f64x2.add (local.get ${acc0})
              (f64x2.mul (local.get $z0) (v128.load (i32.add (local.get ${vs}) (local.get $i))))))
            (local.set ${acc1} (f64x2.add (local.get ${acc1})
              (f64x2.mul (local.get $z1) (v128.load offset=16 (i32.add (local.get ${vs}) (local.get $i))))))`;
}

/**
 * The loop over the rows of column j (32 bytes, four f64, a step): loads z_j's two lane pairs into
 * $z0, $z1 and runs `body` (the dot products' updates).
 */
function rowsLoop(label: string, body: string): string {
  return `
            (local.set $i (i32.const 0))
            (block $done${label}
              (loop $${label}
                (br_if $done${label} (i32.ge_u (local.get $i) (local.get $nb)))
                (local.set $z0 (v128.load (i32.add (local.get $zc) (local.get $i))))
                (local.set $z1 (v128.load offset=16 (i32.add (local.get $zc) (local.get $i))))${body}
                (local.set $i (i32.add (local.get $i) (i32.const 32)))
                (br $${label})))`;
}

/** Sum of both lanes of two accumulators, stored as f64 at `at`. */
function reduceTo(at: string, acc0: string, acc1: string): string {
  return `
          (local.set ${acc0} (f64x2.add (local.get ${acc0}) (local.get ${acc1})))
          (f64.store ${at}
            (f64.add (f64x2.extract_lane 0 (local.get ${acc0})) (f64x2.extract_lane 1 (local.get ${acc0}))))`;
}

function zzApply(): string {
  return `
  (func (export "zz_apply")
    (param $z i32) (param $nb i32) (param $nc i32) (param $v i32) (param $m i32) (param $w i32) (param $u i32)
    (local $j i32) (local $zc i32) (local $s i32) (local $vs i32) (local $vt i32) (local $i i32) (local $a i32)
    (local $ws i32) (local $a0 v128) (local $a1 v128) (local $b0 v128) (local $b1 v128)
    (local $z0 v128) (local $z1 v128) (local $us v128) (local $uf f64)
    (block $doneJ
      (loop $cols
        (br_if $doneJ (i32.ge_u (local.get $j) (local.get $nc)))
        (local.set $zc (i32.add (local.get $z) (i32.mul (local.get $j) (local.get $nb))))
        ;; dot products, two right-hand sides at a time
        (local.set $s (i32.const 0))
        (block $donePairs
          (loop $pairs
            (br_if $donePairs (i32.ge_u (i32.add (local.get $s) (i32.const 1)) (local.get $m)))
            (local.set $vs (i32.add (local.get $v) (i32.mul (local.get $s) (local.get $nb))))
            (local.set $vt (i32.add (local.get $vs) (local.get $nb)))
            (local.set $a0 (v128.const i64x2 0 0))
            (local.set $a1 (v128.const i64x2 0 0))
            (local.set $b0 (v128.const i64x2 0 0))
            (local.set $b1 (v128.const i64x2 0 0))${rowsLoop('rows', dotLanes('$a0', '$a1', '$vs') + dotLanes('$b0', '$b1', '$vt'))}${reduceTo('(i32.add (local.get $u) (i32.shl (local.get $s) (i32.const 3)))', '$a0', '$a1')}${reduceTo('(i32.add (local.get $u) (i32.shl (i32.add (local.get $s) (i32.const 1)) (i32.const 3)))', '$b0', '$b1')}
            (local.set $s (i32.add (local.get $s) (i32.const 2)))
            (br $pairs)))
        (if (i32.lt_u (local.get $s) (local.get $m))
          (then
            (local.set $vs (i32.add (local.get $v) (i32.mul (local.get $s) (local.get $nb))))
            (local.set $a0 (v128.const i64x2 0 0))
            (local.set $a1 (v128.const i64x2 0 0))${rowsLoop('rows1', dotLanes('$a0', '$a1', '$vs'))}${reduceTo('(i32.add (local.get $u) (i32.shl (local.get $s) (i32.const 3)))', '$a0', '$a1')}))
        ;; w_s += u_s z_j
        (local.set $s (i32.const 0))
        (block $doneS
          (loop $axpys
            (br_if $doneS (i32.ge_u (local.get $s) (local.get $m)))
            (local.set $uf (f64.load (i32.add (local.get $u) (i32.shl (local.get $s) (i32.const 3)))))
            (if (f64.ne (local.get $uf) (f64.const 0))
              (then
                (local.set $us (f64x2.splat (local.get $uf)))
                (local.set $ws (i32.add (local.get $w) (i32.mul (local.get $s) (local.get $nb))))
                (local.set $a (i32.const 0))
                (block $doneA
                  (loop $ax
                    (br_if $doneA (i32.ge_u (local.get $a) (local.get $nb)))
                    (v128.store (i32.add (local.get $ws) (local.get $a))
                      (f64x2.add (v128.load (i32.add (local.get $ws) (local.get $a)))
                                 (f64x2.mul (local.get $us) (v128.load (i32.add (local.get $zc) (local.get $a))))))
                    (v128.store offset=16 (i32.add (local.get $ws) (local.get $a))
                      (f64x2.add (v128.load offset=16 (i32.add (local.get $ws) (local.get $a)))
                                 (f64x2.mul (local.get $us) (v128.load offset=16 (i32.add (local.get $zc) (local.get $a))))))
                    (local.set $a (i32.add (local.get $a) (i32.const 32)))
                    (br $ax)))))
            (local.set $s (i32.add (local.get $s) (i32.const 1)))
            (br $axpys)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $cols))))`;
}

export function moduleText(): string {
  return `;; generated by stats/wasm/genome-build.ts — do not edit\n(module\n  (memory (export "mem") 1)\n${zzApply()}\n)\n`;
}

/** The module text assembled (the `wabt` dev dependency). */
export function assemble(text: string): Promise<Uint8Array> {
  return assembleModule('genome.wat', text);
}

/** The TypeScript module embedding the binary as base64 (`stats/wasm/genome-wasm.ts`). */
export function embedSource(buffer: Uint8Array): string {
  return embedBase64(buffer, 'genome', 'GENOME_WASM_BASE64');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1])
  await writeModule('genome', moduleText(), assemble, embedSource);
