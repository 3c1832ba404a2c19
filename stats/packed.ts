/**
 * Hard calls packed two bits per sample (the `gt` BLOB layout of engine/genotypes.ts, and the
 * hard-call code of PLINK 2's .pgen): sample i is bits 2·(i mod 4) … 2·(i mod 4)+1 of byte
 * ⌊i/4⌋; code = ALT allele count 0/1/2, 3 = missing. Unpacked, one byte per sample, missing is
 * 255 (the code the scan kernels take).
 */
import { wasmCountPacked } from './kernel-wasm.js';

const LITTLE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A variant's packed hard calls for `length` samples, as the association tests accept them. */
export class PackedCalls {
  private unpackedCache: Uint8Array | null = null;
  constructor(
    readonly bytes: Uint8Array,
    readonly length: number,
    private readonly scratch?: Uint8Array,
  ) {}
  /** One byte per sample (0/1/2, 255 missing); computed once, into `scratch` when given. */
  unpacked(): Uint8Array {
    this.unpackedCache ??= unpackGt(this.bytes, this.length, this.scratch);
    return this.unpackedCache;
  }
}

/** Bytes of a packed `gt` BLOB for n samples. */
export function packedGtBytes(n: number): number {
  return (n + 3) >> 2;
}

/**
 * Pack one-byte codes (0/1/2, 255 or 3 missing) of samples [0, n) into `out` (⌈n/4⌉ bytes,
 * allocated when not given) and return it. Only the low two bits of each code are kept, so
 * 255 packs to the missing code 3.
 */
export function packGt(codes: Uint8Array, n: number = codes.length, out?: Uint8Array): Uint8Array {
  const nb = packedGtBytes(n);
  const dst = out && out.length >= nb ? out.subarray(0, nb) : new Uint8Array(nb);
  const full = n >> 2;
  if (LITTLE && codes.byteOffset % 4 === 0) {
    // Four codes per 32-bit word: one shift-and-mask per output byte.
    const w32 = new Uint32Array(codes.buffer, codes.byteOffset, full);
    for (let j = 0; j < full; j++) {
      const w = w32[j] & 0x03030303;
      dst[j] = (w | (w >>> 6) | (w >>> 12) | (w >>> 18)) & 0xff;
    }
  } else {
    for (let j = 0; j < full; j++) {
      const i = j << 2;
      dst[j] =
        (codes[i] & 3) | ((codes[i + 1] & 3) << 2) | ((codes[i + 2] & 3) << 4) | ((codes[i + 3] & 3) << 6);
    }
  }
  if (full < nb) {
    let b = 0;
    for (let i = full << 2; i < n; i++) b |= (codes[i] & 3) << ((i & 3) << 1);
    dst[full] = b;
  }
  return dst;
}

/** byte b → its four unpacked codes as one little-endian 32-bit word (3 → 255). */
const UNPACK32 = new Uint32Array(256);
/**
 * byte b → (#code-1) + (#code-2)·2^17 + (#missing)·2^34 over its four samples. Sums of up to
 * 32,767 bytes (131,068 samples) stay exact in a double and keep each field below 2^17.
 */
const COUNT3 = new Float64Array(256);
for (let b = 0; b < 256; b++) {
  let w = 0;
  let c = 0;
  for (let k = 0; k < 4; k++) {
    const code = (b >> (2 * k)) & 3;
    w |= (code === 3 ? 255 : code) << (8 * k);
    c += code === 1 ? 1 : code === 2 ? 2 ** 17 : code === 3 ? 2 ** 34 : 0;
  }
  UNPACK32[b] = w >>> 0;
  COUNT3[b] = c;
}

/**
 * Unpack a `gt` BLOB of n samples into one byte per sample (0/1/2, 255 missing). `out` is
 * reused when it has room (its length should be a multiple of 4 past n for the fast path);
 * the returned array has length n.
 * @throws Error when the BLOB does not hold ⌈n/4⌉ bytes
 */
export function unpackGt(blob: Uint8Array, n: number, out?: Uint8Array): Uint8Array {
  const nb = packedGtBytes(n);
  if (blob.length !== nb) {
    throw new Error(
      `gt BLOB has ${blob.length} bytes; ${n} samples packed 4 per byte need ${nb} ` +
        '(a release ingested by an older engine version: ingest it again)',
    );
  }
  const cap = nb * 4;
  const dst = out && out.length >= cap && out.byteOffset % 4 === 0 ? out : new Uint8Array(cap);
  if (LITTLE) {
    const w32 = new Uint32Array(dst.buffer, dst.byteOffset, nb);
    for (let j = 0; j < nb; j++) w32[j] = UNPACK32[blob[j]];
  } else {
    for (let i = 0; i < n; i++) {
      const c = (blob[i >> 2] >> ((i & 3) << 1)) & 3;
      dst[i] = c === 3 ? 255 : c;
    }
  }
  return dst.subarray(0, n);
}

/**
 * Hard-call counts of a packed `gt` BLOB: out[1] = code 1, out[2] = code 2, out[3] = missing,
 * out[0] = the rest (code 0). Over all n samples, or — with `mask` (a packed vector of the same
 * length whose 2-bit field is 3 for a sample to count and 0 otherwise, see `packedMask`) — over
 * the `total` masked-in samples only: a GWAS counts its analysis samples in one pass, however
 * many genotyped samples are outside the analysis. Padding bits are 0, so they count as code 0.
 */
export function countPackedGt(
  blob: Uint8Array,
  n: number,
  out: Int32Array,
  mask?: Uint8Array,
  total = n,
): void {
  const nb = packedGtBytes(n);
  if (
    blob.length >= nb &&
    wasmCountPacked(blob.length === nb ? blob : blob.subarray(0, nb), n, out, mask, total)
  )
    return;
  let n1 = 0;
  let n2 = 0;
  let nm = 0;
  const CH = 32767;
  for (let j0 = 0; j0 < nb; j0 += CH) {
    const end = Math.min(nb, j0 + CH);
    let acc = 0;
    if (mask) for (let j = j0; j < end; j++) acc += COUNT3[blob[j] & mask[j]];
    else for (let j = j0; j < end; j++) acc += COUNT3[blob[j]];
    const m = Math.floor(acc / 2 ** 34);
    const rest = acc - m * 2 ** 34;
    const two = Math.floor(rest / 2 ** 17);
    nm += m;
    n2 += two;
    n1 += rest - two * 2 ** 17;
  }
  out[1] = n1;
  out[2] = n2;
  out[3] = nm;
  out[0] = total - n1 - n2 - nm;
}

/** The packed mask of `samples` (positions of n): 2-bit field 3 for those samples, 0 elsewhere. */
export function packedMask(samples: ArrayLike<number>, n: number): Uint8Array {
  const codes = new Uint8Array(n);
  for (let i = 0; i < samples.length; i++) codes[samples[i]] = 3;
  return packGt(codes, n);
}

/** Packed code of sample i (0/1/2, 3 missing). */
export function packedCode(blob: Uint8Array, i: number): number {
  return (blob[i >> 2] >> ((i & 3) << 1)) & 3;
}
