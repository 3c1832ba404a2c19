/**
 * The genotype BLOB layout of `releases/<id>/<fp12>/genotypes/<shard>.parquet`
 * (`variant_idx BIGINT, gt BLOB, ds BLOB NULL, hap BLOB NULL`, one row per biallelic variant):
 *
 * - `gt`: hard calls packed two bits per sample, four samples per byte, in `sample_idx`
 *   order: sample i is bits 2·(i mod 4) … 2·(i mod 4)+1 of byte ⌊i/4⌋ (the first sample in
 *   the low bits). Code = ALT allele count 0/1/2 (0/1 for a haploid call), 3 for a missing
 *   call. The BLOB holds ⌈n/4⌉ bytes; unused high bits of the last byte are 0. This is the
 *   hard-call encoding of PLINK 2's .pgen (Chang et al. 2015), so a release takes about the
 *   space of a .pgen, and a scan decompresses a quarter of the bytes a one-byte-per-call
 *   layout would.
 * - `ds`: one little-endian IEEE float32 per sample: ALT dosage, NaN when missing. NULL
 *   when the record carried neither DS nor GP.
 * - `hap`: which calls are haploid (males on chrX outside the PARs, chrY, MT), as a packed
 *   mask of the `gt` layout: 2-bit field 3 for a haploid call, 0 otherwise. NULL when every
 *   call is diploid or missing (and in releases ingested before the column existed). QC counts
 *   a haploid call as one allele and leaves it out of Hardy–Weinberg (gwas/shard.ts).
 *
 * In memory, readers work on unpacked codes, one byte per sample: 0/1/2 and
 * {@link GT_MISSING} (255) for a missing call (`unpackGt`).
 *
 * Why one row per variant with a BLOB: see BENCHMARKS.md ("Genotype layout"): a per-variant
 * scan reads one contiguous value, small row groups keep look-ups cheap, and missing calls
 * stay distinct from 0.
 */
import { endianness } from 'node:os';

/** Unpacked byte of a missing call. */
export const GT_MISSING = 255;
/** Packed 2-bit code of a missing call. */
export const GT_PACKED_MISSING = 3;

const LITTLE = endianness() === 'LE';

export {
  countPackedGt,
  PackedCalls,
  packedCode,
  packedGtBytes,
  packedMask,
  packGt,
  unpackGt,
} from '../stats/packed.js';

/**
 * The `ds` BLOB as a Float32Array of dosages. Copies only when the bytes are not 4-aligned
 * or the machine is big-endian.
 */
export function decodeDs(blob: Uint8Array): Float32Array {
  if (blob.byteLength % 4 !== 0)
    throw new Error(`ds BLOB of ${blob.byteLength} bytes is not a float32 array`);
  if (LITTLE && blob.byteOffset % 4 === 0)
    return new Float32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4);
  const out = new Float32Array(blob.byteLength / 4);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** The bytes to store as a `ds` BLOB for `dosage[0, n)` (a view on little-endian machines). */
export function encodeDs(dosage: Float32Array, n: number = dosage.length, offset = 0): Uint8Array {
  if (LITTLE) return new Uint8Array(dosage.buffer, dosage.byteOffset + offset * 4, n * 4);
  const out = new Uint8Array(n * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < n; i++) view.setFloat32(i * 4, dosage[offset + i], true);
  return out;
}
