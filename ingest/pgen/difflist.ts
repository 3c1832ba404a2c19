/**
 * PGEN difflists and deltalists: sparse, increasing lists of sample indices, with (difflist)
 * or without (deltalist) a 2-bit genotype code per entry (PLINK 2 file format specification,
 * "Difflists"):
 *
 * 1. L, the entry count, as a base-128 varint (low 7 bits first, high bit = more). L = 0 ends
 *    the list.
 * 2. The entries form groups of 64 (the last may be smaller), G = ⌈L/64⌉ groups. First the
 *    sample index of each group's first entry, each in W bytes, where W = 1 + ⌊log2 N⌋/8
 *    for N samples (pgenlib's `BytesToRepresentNzU32(N)`: 1 byte below 256 samples, 2 below
 *    65536, 3 below 2^24, else 4).
 * 3. G − 1 bytes: each group's byte size in part 5, minus 63 (for random access; a sequential
 *    reader does not need them).
 * 4. Difflists only: the L genotype codes, packed four per byte, first in the low bits.
 * 5. For each group, its other entries as varint differences from the previous index (≥ 1).
 *
 * `parseIdList` decodes one list into a reusable index array without per-entry allocation.
 */

/** Bytes of a sample index in a difflist of `nSamples` samples. */
export function sampleIdBytes(nSamples: number): number {
  return nSamples < 1 << 8 ? 1 : nSamples < 1 << 16 ? 2 : nSamples < 1 << 24 ? 3 : 4;
}

/** Malformed record data: the reader turns it into an InputError naming file and variant. */
export class PgenFormatError extends Error {
  override name = 'PgenFormatError';
}

/** One decoded list: `len` indices in `ids[0, len)`, codes packed at `buf[codesAt]` (difflist). */
export interface IdList {
  len: number;
  /** Capacity ≥ the sample count. */
  ids: Uint32Array;
  /** Offset of the packed codes in the record buffer, -1 for a deltalist. */
  codesAt: number;
}

/**
 * Decode the list at buf[pos, end) into `out` and return the offset just past it.
 * @throws PgenFormatError when the list runs past `end`, or an index is out of order or ≥ n
 */
export function parseIdList(
  buf: Uint8Array,
  pos: number,
  end: number,
  n: number,
  withCodes: boolean,
  out: IdList,
): number {
  let p = pos;
  // L as a varint.
  let len = 0;
  for (let shift = 0; ; shift += 7) {
    if (p >= end || shift > 28) throw new PgenFormatError('list length runs past the record');
    const b = buf[p++];
    len += (b & 127) * 2 ** shift;
    if (b < 128) break;
  }
  out.len = len;
  out.codesAt = -1;
  if (len === 0) return p;
  if (len > n) throw new PgenFormatError(`list of ${len} entries for ${n} samples`);
  const groups = Math.ceil(len / 64);
  const w = sampleIdBytes(n);
  const starts = p;
  p += groups * w + groups - 1;
  if (withCodes) {
    out.codesAt = p;
    p += Math.ceil(len / 4);
  }
  if (p > end) throw new PgenFormatError('list runs past the record');
  const ids = out.ids;
  let i = 0;
  for (let g = 0; g < groups; g++) {
    const s = starts + g * w;
    let id = buf[s];
    if (w > 1) id += buf[s + 1] << 8;
    if (w > 2) id += buf[s + 2] << 16;
    if (w > 3) id += buf[s + 3] * 2 ** 24;
    if (g > 0 && id <= ids[i - 1]) throw new PgenFormatError('list indices out of order');
    ids[i++] = id;
    const stop = Math.min(len, i - 1 + 64);
    while (i < stop) {
      let delta = 0;
      for (let shift = 0; ; shift += 7) {
        if (p >= end || shift > 28) throw new PgenFormatError('list runs past the record');
        const b = buf[p++];
        delta += (b & 127) * 2 ** shift;
        if (b < 128) break;
      }
      if (delta === 0) throw new PgenFormatError('list indices out of order');
      id += delta;
      ids[i++] = id;
    }
    if (id >= n) throw new PgenFormatError(`list names sample ${id} of ${n}`);
  }
  return p;
}

/** Set the 2-bit code of sample `i` in a packed genotype vector. */
export function setCode(geno: Uint8Array, i: number, code: number): void {
  const k = i >> 2;
  const sh = (i & 3) << 1;
  geno[k] = (geno[k] & ~(3 << sh)) | (code << sh);
}

/** The 2-bit code of sample `i` in a packed genotype vector. */
export function getCode(geno: Uint8Array, i: number): number {
  return (geno[i >> 2] >> ((i & 3) << 1)) & 3;
}

/** Apply a parsed difflist: sample ids[k] gets the k-th packed code. */
export function applyDifflist(buf: Uint8Array, list: IdList, geno: Uint8Array): void {
  const { ids, len, codesAt } = list;
  for (let k = 0; k < len; k++) setCode(geno, ids[k], (buf[codesAt + (k >> 2)] >> ((k & 3) << 1)) & 3);
}
