/**
 * LD between the candidate variants of a release, for LD clumping (stats/ld-clump.ts), in the
 * analysis sample. Only the candidates' genotype rows are read: `variants.parquet` names the
 * shard file of each (`shard` column → `genotypes/<shard>.parquet`), and one DuckDB query per
 * file set returns their `gt` BLOBs (and `hap`, where the files have the column).
 *
 * Layout facts (engine/genotypes.ts): `gt` packs the hard calls two bits per sample, four per
 * byte, first sample in the low bits; code = ALT count 0/1/2 (0/1 for a haploid call), 3 =
 * missing; `hap` is a mask of the same layout, field 3 for a haploid call.
 *
 * r² is PLINK 1.9's clumping r² (`haplotypeR2`: maximum-likelihood two-locus haplotype
 * frequencies from the 3×3 genotype table over the samples called at both variants), not the
 * correlation of allele counts, so the per-variant cache holds, instead of centred vectors, three
 * bit planes over the release's samples (32 samples per 32-bit word): V = called and in the
 * analysis sample, H = heterozygous (and V), A = homozygous ALT or haploid ALT (and V); plus,
 * when some call is haploid, P = haploid (and V). A pair's table is nine popcounts of ANDed
 * words (cells not counted follow by subtraction), and four more for samples haploid at both.
 * Building the planes converts a packed byte (four samples) with two 256-entry tables; nothing
 * loops per sample.
 *
 * Only hard calls are used (`ds` dosages are not read), as PLINK 1.9 does. A sample haploid at
 * both variants contributes one haplotype (PLINK's rule for males on chrX); one haploid at only
 * one of them (a PAR boundary) counts as homozygous diploid there.
 */
import { join } from 'node:path';
import type { DuckDBBlobVector, DuckDBConnection, DuckDBIntegerVector } from '@duckdb/node-api';
import { blobItems, sqlString, withCompute } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { packedGtBytes } from '../engine/genotypes.js';
import {
  type ClumpVariants,
  haplotypeR2,
  type LdClump,
  type LdClumpOptions,
  ldClump,
  ldClumpCandidates,
} from '../stats/ld-clump.js';
import type { EngineConfig } from '../temporal.config.js';

/** The analysis samples: `sample_idx` values, or a packed mask (2-bit field 3 = included). */
export type LdSamples = { sampleIdx: ArrayLike<number> } | { mask: Uint8Array };

/** byte of packed codes → its four low bits (bit 0 of each code) and four high bits. */
const LO4 = new Uint8Array(256);
const HI4 = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  for (let k = 0; k < 4; k++) {
    LO4[b] |= ((b >> (2 * k)) & 1) << k;
    HI4[b] |= ((b >> (2 * k + 1)) & 1) << k;
  }
}

/** Set bits of a 32-bit word. */
function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** A packed 2-bit vector's low-bit and high-bit planes (`words` 32-bit words each). */
function splitPlanes(packed: Uint8Array, words: number, lo: Uint32Array, hi: Uint32Array): void {
  lo.fill(0, 0, words);
  hi.fill(0, 0, words);
  for (let k = 0; k < packed.length; k++) {
    const b = packed[k];
    if (b === 0) continue;
    const w = k >> 3;
    const s = (k & 7) << 2;
    lo[w] |= LO4[b] << s;
    hi[w] |= HI4[b] << s;
  }
}

/** The analysis samples as one bit per release sample. */
function samplePlane(samples: LdSamples, nGeno: number, words: number): Uint32Array {
  const plane = new Uint32Array(words);
  if ('mask' in samples) {
    if (samples.mask.length !== packedGtBytes(nGeno))
      throw new RangeError(
        `sample mask has ${samples.mask.length} bytes, ${nGeno} samples need ${packedGtBytes(nGeno)}`,
      );
    const hi = new Uint32Array(words);
    splitPlanes(samples.mask, words, plane, hi);
    for (let w = 0; w < words; w++) plane[w] &= hi[w];
    return plane;
  }
  const idx = samples.sampleIdx;
  for (let i = 0; i < idx.length; i++) {
    const s = idx[i];
    if (!Number.isInteger(s) || s < 0 || s >= nGeno)
      throw new RangeError(`sample_idx ${s} is outside the release's ${nGeno} samples`);
    plane[s >> 5] |= 1 << (s & 31);
  }
  return plane;
}

/**
 * Genotype bit planes of a set of variants (see the module comment) and r² between them.
 * Slots are the positions in the `variantIdx` list the planes were built for.
 */
export class LdGenotypes {
  /** 32-bit words per plane. */
  readonly words: number;
  /** Per slot: V, H, A planes back to back. */
  private readonly planes: Uint32Array;
  /** Per slot: the haploid plane P, or null when every call is diploid. */
  private readonly hap: (Uint32Array | null)[];
  private readonly slotOf = new Map<number, number>();
  private readonly counts = new Float64Array(9);
  private readonly haploid = new Float64Array(4);
  private readonly scratchLo: Uint32Array;
  private readonly scratchHi: Uint32Array;
  private readonly analysis: Uint32Array;

  constructor(
    readonly nGeno: number,
    samples: LdSamples,
    readonly variantIdx: ArrayLike<number>,
  ) {
    this.words = (nGeno + 31) >>> 5;
    this.analysis = samplePlane(samples, nGeno, this.words);
    this.planes = new Uint32Array(variantIdx.length * 3 * this.words);
    this.hap = new Array<Uint32Array | null>(variantIdx.length).fill(null);
    for (let s = 0; s < variantIdx.length; s++) this.slotOf.set(variantIdx[s], s);
    if (this.slotOf.size !== variantIdx.length)
      throw new RangeError('LdGenotypes: variant_idx values must be distinct');
    this.scratchLo = new Uint32Array(this.words);
    this.scratchHi = new Uint32Array(this.words);
  }

  /** The slot of a variant_idx, or undefined when it was not loaded. */
  slot(variantIdx: number): number | undefined {
    return this.slotOf.get(variantIdx);
  }

  /** Fill a slot from the variant's `gt` BLOB (and `hap` mask, if any). */
  set(slot: number, gt: Uint8Array, hap: Uint8Array | null): void {
    const W = this.words;
    const lo = this.scratchLo;
    const hi = this.scratchHi;
    splitPlanes(gt, W, lo, hi);
    const off = slot * 3 * W;
    const P = this.planes;
    for (let w = 0; w < W; w++) {
      const v = ~(lo[w] & hi[w]) & this.analysis[w];
      P[off + w] = v;
      P[off + W + w] = lo[w] & ~hi[w] & v;
      P[off + 2 * W + w] = hi[w] & ~lo[w] & v;
    }
    if (!hap) return;
    splitPlanes(hap, W, lo, hi);
    let any = 0;
    const plane = new Uint32Array(W);
    for (let w = 0; w < W; w++) {
      const h = lo[w] & hi[w] & P[off + w];
      plane[w] = h;
      any |= h;
      // a haploid ALT call (code 1) is one ALT allele: the homozygous class, never het
      P[off + 2 * W + w] |= P[off + W + w] & h;
      P[off + W + w] &= ~h;
    }
    this.hap[slot] = any ? plane : null;
  }

  /**
   * The 3×3 genotype table of slots a (rows) and b (columns) over samples called at both and in
   * the analysis sample, classes 0 = hom REF, 1 = het, 2 = hom ALT (haploid calls as hom), into
   * `out[3·ga + gb]`; `haploid` (when given) gets the samples haploid at both in cells
   * REF/REF, REF/ALT, ALT/REF, ALT/ALT.
   */
  table(a: number, b: number, out: Float64Array, haploid?: Float64Array): void {
    const W = this.words;
    const P = this.planes;
    const va = a * 3 * W;
    const ha = va + W;
    const aa = ha + W;
    const vb = b * 3 * W;
    const hb = vb + W;
    const ab = hb + W;
    let nVV = 0;
    let nHV = 0;
    let nAV = 0;
    let nVH = 0;
    let nVA = 0;
    let nHH = 0;
    let nHA = 0;
    let nAH = 0;
    let nAA = 0;
    for (let w = 0; w < W; w++) {
      const Va = P[va + w];
      const Vb = P[vb + w];
      if ((Va & Vb) === 0) continue;
      const Ha = P[ha + w];
      const Aa = P[aa + w];
      const Hb = P[hb + w];
      const Ab = P[ab + w];
      nVV += popcount(Va & Vb);
      nHV += popcount(Ha & Vb);
      nAV += popcount(Aa & Vb);
      nVH += popcount(Va & Hb);
      nVA += popcount(Va & Ab);
      nHH += popcount(Ha & Hb);
      nHA += popcount(Ha & Ab);
      nAH += popcount(Aa & Hb);
      nAA += popcount(Aa & Ab);
    }
    const nRH = nVH - nHH - nAH;
    const nRA = nVA - nHA - nAA;
    out[0] = nVV - nHV - nAV - nRH - nRA;
    out[1] = nRH;
    out[2] = nRA;
    out[3] = nHV - nHH - nHA;
    out[4] = nHH;
    out[5] = nHA;
    out[6] = nAV - nAH - nAA;
    out[7] = nAH;
    out[8] = nAA;
    if (!haploid) return;
    haploid.fill(0);
    const Pa = this.hap[a];
    const Pb = this.hap[b];
    if (!Pa || !Pb) return;
    let m = 0;
    let mA = 0;
    let mB = 0;
    let mAB = 0;
    for (let w = 0; w < W; w++) {
      const both = Pa[w] & Pb[w];
      if (both === 0) continue;
      const x = both & P[aa + w];
      const y = both & P[ab + w];
      m += popcount(both);
      mA += popcount(x);
      mB += popcount(y);
      mAB += popcount(x & y);
    }
    haploid[0] = m - mA - mB + mAB;
    haploid[1] = mB - mAB;
    haploid[2] = mA - mAB;
    haploid[3] = mAB;
  }

  /** r² between slots a and b (PLINK 1.9 clumping r²); NaN when undefined. */
  r2Slots(a: number, b: number): number {
    const withHap = this.hap[a] !== null && this.hap[b] !== null;
    this.table(a, b, this.counts, withHap ? this.haploid : undefined);
    return haplotypeR2(this.counts, withHap ? this.haploid : undefined);
  }

  /** r² between two loaded variants, by variant_idx. */
  r2(variantA: number, variantB: number): number {
    const a = this.slotOf.get(variantA);
    const b = this.slotOf.get(variantB);
    if (a === undefined || b === undefined)
      throw new RangeError(`variant ${a === undefined ? variantA : variantB} was not loaded for LD`);
    return this.r2Slots(a, b);
  }
}

/** Number of samples of a release (rows of samples.parquet). */
export async function releaseSamples(conn: DuckDBConnection, releaseDir: string): Promise<number> {
  const r = await conn.runAndReadAll(
    `SELECT count(*)::INTEGER FROM read_parquet(${sqlString(join(releaseDir, 'samples.parquet'))})`,
  );
  return Number(r.getRows()[0][0]);
}

/** variant_idx values as an SQL list (integers the engine produced, checked). */
function idList(ids: ArrayLike<number>): string {
  const parts: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (!Number.isSafeInteger(ids[i]) || ids[i] < 0) throw new RangeError(`bad variant_idx ${ids[i]}`);
    parts.push(String(ids[i]));
  }
  return parts.join(',');
}

/** Variants per genotype query (an IN list; DuckDB prunes row groups by its min/max). */
const QUERY_VARIANTS = 8192;

/**
 * Read the `gt` (and `hap`) BLOBs of `variantIdx` (distinct) from the release in `releaseDir`
 * and build their bit planes for the analysis `samples`, on an open DuckDB connection.
 * @throws InputError when a variant is not in the release or a BLOB has the wrong size
 */
export async function loadLdGenotypes(
  conn: DuckDBConnection,
  releaseDir: string,
  samples: LdSamples,
  variantIdx: ArrayLike<number>,
): Promise<LdGenotypes> {
  const nGeno = await releaseSamples(conn, releaseDir);
  const ld = new LdGenotypes(nGeno, samples, variantIdx);
  if (variantIdx.length === 0) return ld;
  const variantsFile = join(releaseDir, 'variants.parquet');
  const nPacked = packedGtBytes(nGeno);
  const seen = new Uint8Array(variantIdx.length);
  const gtItems: (Uint8Array | null)[] = [];
  const hapItems: (Uint8Array | null)[] = [];
  for (let from = 0; from < variantIdx.length; from += QUERY_VARIANTS) {
    const ids = idList(Array.prototype.slice.call(variantIdx, from, from + QUERY_VARIANTS) as number[]);
    const shards = (
      await conn.runAndReadAll(
        `SELECT DISTINCT shard FROM read_parquet(${sqlString(variantsFile)}) WHERE variant_idx IN (${ids})`,
      )
    )
      .getRows()
      .map(([s]) => join(releaseDir, 'genotypes', `${String(s)}.parquet`));
    if (shards.length === 0) continue;
    const files = shards.map(sqlString).join(', ');
    // `hap` is absent from releases ingested before it existed: read it only where present
    const withHap =
      (
        await conn.runAndReadAll(`SELECT count(*) FROM parquet_schema([${files}]) WHERE name = 'hap'`)
      ).getRows()[0][0] !== 0n;
    const result = await conn.stream(
      `SELECT variant_idx::INTEGER, gt${withHap ? ', hap' : ''}
       FROM read_parquet([${files}]${withHap ? ', union_by_name = true' : ''}) WHERE variant_idx IN (${ids})`,
    );
    for (
      let chunk = await result.fetchChunk();
      chunk && chunk.rowCount > 0;
      chunk = await result.fetchChunk()
    ) {
      const iv = chunk.getColumnVector(0) as DuckDBIntegerVector;
      blobItems(chunk.getColumnVector(1) as DuckDBBlobVector, chunk.rowCount, gtItems);
      if (withHap) blobItems(chunk.getColumnVector(2) as DuckDBBlobVector, chunk.rowCount, hapItems);
      for (let r = 0; r < chunk.rowCount; r++) {
        const idx = iv.getItem(r) as number;
        const slot = ld.slot(idx);
        if (slot === undefined) continue;
        const gt = gtItems[r];
        if (!gt || gt.length !== nPacked)
          throw new InputError(
            `gt BLOB has ${gt?.length ?? 0} bytes; the release's ${nGeno} samples need ${nPacked} (2 bits per call)`,
            { file: shards.join(', '), field: `variant ${idx}` },
            'a release ingested by an older engine version must be ingested again',
          );
        const hap = withHap ? hapItems[r] : null;
        if (hap && hap.length !== nPacked)
          throw new InputError(
            `hap BLOB has ${hap.length} bytes; the release's ${nGeno} samples need ${nPacked}`,
            { file: shards.join(', '), field: `variant ${idx}` },
          );
        ld.set(slot, gt, hap);
        seen[slot] = 1;
      }
    }
  }
  const missing = seen.indexOf(0);
  if (missing >= 0)
    throw new InputError(`variant_idx ${variantIdx[missing]} has no genotypes in this release`, {
      file: variantsFile,
      field: `variant ${variantIdx[missing]}`,
    });
  return ld;
}

/** One association row to clump. */
export interface ClumpRow {
  variantIdx: number;
  chrom: string;
  pos: number;
  p: number;
  /** −log10 p (orders leads whose p underflows to 0). */
  mlog10p?: number;
}

export interface ReleaseClump {
  /** variant_idx of the index variant. */
  index: number;
  /** Members (p < p2) in position order, with their r² to the index. */
  members: { variantIdx: number; r2: number }[];
  total: number;
  nsig: number;
  s05: number;
  s01: number;
  s001: number;
  s0001: number;
}

export interface ReleaseClumpResult {
  clumps: ReleaseClump[];
  /** Variants whose genotypes were read. */
  nCandidates: number;
  /** r² evaluations. */
  nR2: number;
  /** Milliseconds reading genotypes and clumping. */
  readMs: number;
  clumpMs: number;
}

/** A clump of one chromosome's rows, in release terms. */
function releaseClump(rows: readonly ClumpRow[], c: LdClump): ReleaseClump {
  return {
    index: rows[c.index].variantIdx,
    members: Array.from(c.members, (row, k) => ({ variantIdx: rows[row].variantIdx, r2: c.r2[k] })),
    total: c.total,
    nsig: c.nsig,
    s05: c.s05,
    s01: c.s01,
    s001: c.s001,
    s0001: c.s0001,
  };
}

/**
 * LD-clump association rows of one release (stats/ld-clump.ts semantics, PLINK 1.9 `--clump`)
 * with r² in the analysis `samples`. Only variants within the window of an index candidate are
 * read, one chromosome at a time (clumps never cross chromosomes), so memory holds one
 * chromosome's candidates. Ties in p are broken by variant_idx (genome order: PLINK's .bim
 * order); the clumps come in the order PLINK forms them (increasing index p).
 */
export async function ldClumpRelease(
  config: EngineConfig,
  releaseDir: string,
  samples: LdSamples,
  rows: readonly ClumpRow[],
  options: LdClumpOptions = {},
): Promise<ReleaseClumpResult> {
  const withKey = rows.some((r) => r.mlog10p !== undefined);
  const keyOf = (r: ClumpRow) => (withKey ? -(r.mlog10p ?? -Math.log10(r.p)) : r.p);
  const byChrom = new Map<string, ClumpRow[]>();
  for (const r of rows) {
    let list = byChrom.get(r.chrom);
    if (!list) byChrom.set(r.chrom, (list = []));
    list.push(r);
  }
  const clumps: { key: number; clump: ReleaseClump }[] = [];
  let nCandidates = 0;
  let nR2 = 0;
  let readMs = 0;
  let clumpMs = 0;
  await withCompute(config, async (conn) => {
    for (const list of byChrom.values()) {
      list.sort((a, b) => a.variantIdx - b.variantIdx);
      for (let i = 1; i < list.length; i++)
        if (list[i].variantIdx === list[i - 1].variantIdx)
          throw new RangeError(`ldClumpRelease: variant_idx ${list[i].variantIdx} appears twice`);
      const v: ClumpVariants = {
        chrom: list.map((r) => r.chrom),
        pos: Float64Array.from(list, (r) => r.pos),
        p: Float64Array.from(list, (r) => r.p),
        ...(withKey ? { mlog10p: Float64Array.from(list, (r) => -keyOf(r)) } : {}),
      };
      const candidates = ldClumpCandidates(v, options);
      if (candidates.length === 0) continue;
      const t0 = performance.now();
      const ids = Array.from(candidates, (row) => list[row].variantIdx);
      const ld = await loadLdGenotypes(conn, releaseDir, samples, ids);
      const t1 = performance.now();
      const slotOfRow = new Int32Array(list.length).fill(-1);
      candidates.forEach((row, slot) => {
        slotOfRow[row] = slot;
      });
      const result = ldClump(v, (i, j) => ld.r2Slots(slotOfRow[i], slotOfRow[j]), options);
      clumpMs += performance.now() - t1;
      readMs += t1 - t0;
      nCandidates += candidates.length;
      nR2 += result.nR2;
      for (const c of result.clumps) clumps.push({ key: keyOf(list[c.index]), clump: releaseClump(list, c) });
    }
  });
  clumps.sort((a, b) => a.key - b.key || a.clump.index - b.clump.index);
  return { clumps: clumps.map((c) => c.clump), nCandidates, nR2, readMs, clumpMs };
}
