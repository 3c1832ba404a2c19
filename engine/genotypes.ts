/**
 * The genotype BLOB layout of `releases/<id>/<fp12>/genotypes/<shard>.parquet`
 * (`variant_idx BIGINT, gt BLOB, ds BLOB NULL`, one row per biallelic variant):
 *
 * - `gt`: one byte per sample in `sample_idx` order: ALT allele count 0/1/2 (0/1 for a
 *   haploid call), {@link GT_MISSING} (255) for a missing call.
 * - `ds`: one little-endian IEEE float32 per sample: ALT dosage, NaN when missing. NULL
 *   when the record carried neither DS nor GP.
 *
 * Why one row per variant with a BLOB: see BENCHMARKS.md ("Genotype layout"): a per-variant
 * scan reads one contiguous value, the file is about the size of a .pgen with small row
 * groups, and missing calls stay distinct from 0.
 */
import { endianness } from 'node:os';

/** `gt` byte of a missing call. */
export const GT_MISSING = 255;

const LITTLE = endianness() === 'LE';

/** The `gt` bytes of a BLOB as a Uint8Array (a view, no copy). */
export function decodeGt(blob: Uint8Array): Uint8Array {
  return blob;
}

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

/** Sum of ALT allele counts over called samples, and the number of called samples. */
export function gtSummary(gt: Uint8Array): { ac: number; nCalled: number } {
  let ac = 0;
  let nCalled = 0;
  for (let i = 0; i < gt.length; i++) {
    const g = gt[i];
    if (g !== GT_MISSING) {
      ac += g;
      nCalled++;
    }
  }
  return { ac, nCalled };
}
