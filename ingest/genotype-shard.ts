/**
 * One shard of a binary genotype file (PLINK 1 `.bed`, PLINK 2 `.pgen`, BGEN) → the same Parquet
 * parts a VCF shard writes (ingest/parts.ts), streaming and resumable.
 *
 * A shard is a range of consecutive input variants of one file, starting at a reader cursor
 * (variant index and byte offset, `genotype-reader.ts`). Each chunk's JSON records the cursor
 * after its last variant; a retried shard resumes there, so no variant is written twice and no
 * file is scanned from the top. Records arrive packed in the engine's layout, so a chunk is
 * appended as the reader gives it: no decode and re-encode of calls.
 */
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { encodeDs } from '../engine/genotypes.js';
import type { GenotypeFormat, GenotypeOptions } from '../schemas/release.js';
import type { SourceCursor, VariantRange } from './genotype-reader.js';
import {
  type AlleleCounts,
  CHUNK_VARIANTS,
  countMasked,
  type PartsTarget,
  PartWriter,
  packedCounts,
  writeShardDone,
} from './parts.js';
import { openGenotypeReader } from './readers.js';
import type { ShardHooks, ShardResult } from './vcf/shard.js';
import { finishedShard, resumePoint } from './vcf/shard-parts.js';

/** A shard of a `.bed`, `.pgen` or `.bgen` file. */
export interface GenotypeShardTask extends PartsTarget {
  format: Exclude<GenotypeFormat, 'vcf'>;
  /** The manifest's folder, which the input's paths are relative to. */
  baseDir: string;
  /** The manifest's genotype entry (paths and options). */
  input: GenotypeOptions;
  /** The path to show in messages (as written in the manifest). */
  displayName: string;
  range: VariantRange;
}

/** Cursor of a chunk's JSON: `block` is the byte offset, `offset` the variant index. */
function toCursor(c: SourceCursor): { block: number; offset: number } {
  return { block: c.byte, offset: c.variant };
}

/** Ingest one shard of a binary genotype file. Resumes after the last committed chunk. */
export async function ingestGenotypeShard(
  conn: DuckDBConnection,
  task: GenotypeShardTask,
  hooks: ShardHooks = {},
): Promise<ShardResult> {
  const dir = join(task.partsDir, task.shardKey);
  const finished = await finishedShard(conn, dir);
  if (finished) return finished;
  const resume = await resumePoint(dir);
  const from: SourceCursor = resume
    ? { byte: resume.cursor.block, variant: resume.cursor.offset }
    : task.range.start;
  let chunk = resume ? resume.chunk + 1 : 0;
  let nVariants = resume ? resume.nVariants : 0;
  let nRecords = resume ? resume.nRecords : 0;
  const resumedFromChunk = chunk;
  const chunkLimit = hooks.chunkVariants ?? CHUNK_VARIANTS;

  const reader = await openGenotypeReader(task.format, task.baseDir, task.input);
  const parts = await PartWriter.open(conn, task);
  // Binary formats carry no INFO scores; a release that also has VCFs has their columns, NULL here.
  const noScores = task.scores.map(() => null);
  const counts: AlleleCounts = { ac: 0, an: 0, nCalled: 0, homRef: 0, het: 0, homAlt: 0, dosageSum: 0 };
  try {
    const { samples } = await reader.header();
    const nSamples = samples.length;
    const commit = async (next: SourceCursor) => {
      await parts.commitChunk(
        { shardKey: task.shardKey, chunk, cursor: toCursor(next), nVariants, nRecords },
        hooks,
      );
      chunk++;
    };
    let last = from;
    for await (const step of reader.read(from, task.range.end)) {
      nRecords++;
      for (const r of step.records) {
        const idx = nVariants++;
        const nHap = r.hap ? countMasked(r.hap, nSamples) : 0;
        // Dosages that only repeat the hard calls (a BGEN of hard calls) are not stored: `gt` holds them.
        const ds = r.ds && !dosagesAreCalls(r.ds, r.gt, nSamples) ? r.ds : null;
        packedCounts(r.gt, nSamples, r.hap, nHap, ds, counts);
        if (nSamples > 0)
          parts.appendGenotypes(idx, r.gt, ds ? encodeDs(ds, nSamples) : null, nHap > 0 ? r.hap : null);
        parts.appendVariant({
          idx,
          chrom: r.chrom,
          pos: r.pos,
          id: r.id,
          ref: r.ref,
          alt: r.alt,
          qual: null,
          filter: null,
          counts,
          nSamples,
          gene: null,
          consequence: null,
          impact: null,
          dsSum: ds ? counts.dosageSum : null,
          scores: noScores,
        });
      }
      last = step.next;
      if (parts.full(chunkLimit)) await commit(last);
    }
    if (parts.chunkVariants > 0 || chunk === 0) await commit(last);
  } finally {
    await parts.drop();
    await reader.close();
  }
  const result: ShardResult = {
    shardKey: task.shardKey,
    nVariants,
    nRecords,
    chunks: chunk,
    reused: false,
    resumedFromChunk,
    nGenotypeRows: nVariants,
  };
  await writeShardDone(task, result);
  return result;
}

/**
 * True when every dosage is exactly its hard call (0, 1 or 2 ALT alleles; NaN for a missing
 * call): the dosages carry nothing the packed calls do not. Stops at the first difference, so
 * imputed data costs a few samples per variant.
 */
export function dosagesAreCalls(ds: Float32Array, gt: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) {
    const code = (gt[i >> 2] >> ((i & 3) << 1)) & 3;
    const d = ds[i];
    if (code === 3 ? !Number.isNaN(d) : d !== code) return false;
  }
  return true;
}
