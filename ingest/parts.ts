/**
 * The Parquet parts every genotype shard writes, whatever its input format (VCF, `.bed`, `.pgen`,
 * `.bgen`), so that finalize (ingest/release.ts) assembles one layout:
 *
 * ```
 * <partsDir>/<shardKey>/c00000.gt.parquet    variant_idx (shard-local), gt BLOB, ds BLOB, hap BLOB
 * <partsDir>/<shardKey>/c00000.var.parquet   variant stats and annotations (shard-local idx)
 * <partsDir>/<shardKey>/c00000.json          cursor after the chunk, cumulative counts
 * <partsDir>/<shardKey>/done.json            the shard's totals, written last
 * ```
 *
 * Rows are appended (DuckDB appender, no SQL per row) to two in-memory tables, which are written
 * out every chunk, each file to a temp path and renamed, the chunk's JSON after its Parquet.
 * A retry resumes after the last chunk whose JSON exists (`shard-parts.ts`).
 */
import { join } from 'node:path';
import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../engine/duckdb.js';
import { atomicProduce, atomicWriteFile } from '../engine/fsutil.js';
import { countPackedGt } from '../engine/genotypes.js';
import { hweExactP } from '../stats/hwe.js';
import type { ScoreColumn } from './vcf/header.js';
import type { ShardHooks, ShardProgress } from './vcf/shard.js';
import { chunkName } from './vcf/shard-parts.js';

/** Parquet row group size of genotype parts: small, so a per-variant scan reads little. */
export const GENOTYPE_ROW_GROUP = 256;

/**
 * Compression of the genotype files, as options of DuckDB's Parquet COPY
 * (config `ingest.genotypeCompression`, BIOBANK_GENOTYPE_COMPRESSION). LZ4 (default): a GWAS scan
 * inflates every genotype byte, and on the 10,000 × 100,000 benchmark release LZ4 made the linear
 * GWAS ≈ 8 % faster end to end than ZSTD (1.07–1.12 s vs 1.17–1.21 s; 0.15 s less CPU) for 1.5×
 * the disk (149 vs 99 MB; PLINK's .bed is 250 MB, its .pgen 77 MB); BENCHMARKS.md "Genotype
 * layout". ZSTD level 1 for disk economy: as small as level 3 on packed calls (33.7 vs 33.9 MB
 * per 50,000 × 10,000) with ≈ 30 % less CPU.
 */
export function genotypeCompressionSql(codec: 'lz4' | 'zstd' | 'uncompressed' = 'lz4'): string {
  return codec === 'zstd'
    ? 'COMPRESSION zstd, COMPRESSION_LEVEL 1'
    : codec === 'uncompressed'
      ? 'COMPRESSION uncompressed'
      : 'COMPRESSION lz4_raw';
}

/** The default genotype compression (what bench/gwas.ts writes, like ingest). */
export const GENOTYPE_COMPRESSION = genotypeCompressionSql('lz4');

/** Variant columns of the parts, in order (score columns follow). */
export const PART_VARIANT_COLUMNS = `variant_idx BIGINT, chrom VARCHAR, pos BIGINT, rsid VARCHAR, ref VARCHAR,
  alt VARCHAR, qual DOUBLE, filter VARCHAR, af DOUBLE, ac BIGINT, an BIGINT, n_called BIGINT,
  call_rate DOUBLE, hwe_p DOUBLE, gene VARCHAR, consequence VARCHAR, impact VARCHAR, ds_sum DOUBLE`;

/** Flush a chunk when its genotype BLOBs reach this many bytes. */
export const CHUNK_BYTES = 48 << 20;
/** …or this many biallelic records. */
export const CHUNK_VARIANTS = 8192;

/** What a shard's parts need to know of its task. */
export interface PartsTarget {
  shardKey: string;
  partsDir: string;
  scores: ScoreColumn[];
  genotypeCompression?: 'lz4' | 'zstd' | 'uncompressed';
}

/** Allele counts of one biallelic record (haploid calls count one allele; HWE uses diploid calls). */
export interface AlleleCounts {
  ac: number;
  an: number;
  nCalled: number;
  homRef: number;
  het: number;
  homAlt: number;
  dosageSum: number;
}

/** One variant row of the parts. */
export interface VariantRow {
  idx: number;
  chrom: string;
  pos: number;
  id: string | null;
  ref: string;
  alt: string;
  qual: number | null;
  filter: string | null;
  counts: AlleleCounts;
  nSamples: number;
  gene: string | null;
  consequence: string | null;
  impact: string | null;
  /** Sum of the dosages, null when the record has none. */
  dsSum: number | null;
  /** Values of the task's score columns, in order. */
  scores: Array<number | null>;
}

/** Two appenders that become a chunk's Parquet files at `commit`. */
export class PartWriter {
  private gtApp!: DuckDBAppender;
  private varApp!: DuckDBAppender;
  private readonly gtName: string;
  private readonly varName: string;
  private open = false;
  /** Chunks committed by this attempt (the test hook `failAfterChunks` counts them). */
  private committed = 0;
  /** Rows and genotype bytes since the last commit. */
  chunkVariants = 0;
  chunkBytes = 0;

  private constructor(
    private readonly conn: DuckDBConnection,
    private readonly target: PartsTarget,
  ) {
    const tag = `${target.shardKey.replace(/[^A-Za-z0-9_]/g, '_')}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    this.gtName = `ingest_gt_${tag}`;
    this.varName = `ingest_var_${tag}`;
  }

  static async open(conn: DuckDBConnection, target: PartsTarget): Promise<PartWriter> {
    const w = new PartWriter(conn, target);
    await w.reopen();
    return w;
  }

  /** Fresh tables and appenders for the next chunk. */
  async reopen(): Promise<void> {
    this.open = true;
    const scoreDdl = this.target.scores.map((s) => `, ${sqlIdent(s.column)} DOUBLE`).join('');
    await this.conn.run(
      `CREATE OR REPLACE TABLE ${sqlIdent(this.gtName)} (variant_idx BIGINT, gt BLOB, ds BLOB, hap BLOB)`,
    );
    await this.conn.run(
      `CREATE OR REPLACE TABLE ${sqlIdent(this.varName)} (${PART_VARIANT_COLUMNS}${scoreDdl})`,
    );
    this.gtApp = await this.conn.createAppender(this.gtName);
    this.varApp = await this.conn.createAppender(this.varName);
    this.chunkVariants = 0;
    this.chunkBytes = 0;
  }

  /** Append one genotype row (`ds` as its BLOB bytes). */
  appendGenotypes(idx: number, gt: Uint8Array, ds: Uint8Array | null, hap: Uint8Array | null): void {
    const app = this.gtApp;
    app.appendBigInt(BigInt(idx));
    app.appendBlob(gt);
    if (ds) app.appendBlob(ds);
    else app.appendNull();
    if (hap) app.appendBlob(hap);
    else app.appendNull();
    app.endRow();
    this.chunkBytes += gt.length + (ds ? ds.length : 0);
  }

  /** Append one variant row: AF, call rate and HWE from its counts. */
  appendVariant(v: VariantRow): void {
    const app = this.varApp;
    const c = v.counts;
    app.appendBigInt(BigInt(v.idx));
    app.appendVarchar(v.chrom);
    app.appendBigInt(BigInt(v.pos));
    appendText(app, v.id);
    app.appendVarchar(v.ref);
    app.appendVarchar(v.alt);
    appendNum(app, v.qual);
    appendText(app, v.filter);
    appendNum(app, c.an > 0 ? c.ac / c.an : null);
    app.appendBigInt(BigInt(c.ac));
    app.appendBigInt(BigInt(c.an));
    app.appendBigInt(BigInt(c.nCalled));
    appendNum(app, v.nSamples > 0 ? c.nCalled / v.nSamples : null);
    const nDiploid = c.homRef + c.het + c.homAlt;
    appendNum(app, nDiploid > 0 ? hweExactP(c.homRef, c.het, c.homAlt) : null);
    appendText(app, v.gene);
    appendText(app, v.consequence);
    appendText(app, v.impact);
    appendNum(app, v.dsSum);
    for (const s of v.scores) appendNum(app, s);
    app.endRow();
    this.chunkVariants++;
  }

  private closeAppenders(): void {
    if (!this.open) return;
    this.open = false;
    this.gtApp.closeSync();
    this.varApp.closeSync();
  }

  /** True when the chunk is full. */
  full(chunkLimit: number): boolean {
    return this.chunkVariants >= chunkLimit || this.chunkBytes >= CHUNK_BYTES;
  }

  /** Write chunk `chunk`'s Parquet files and then its JSON (`progress`); reopen for the next. */
  async commit(chunk: number, progress: object, reopen = true): Promise<void> {
    this.closeAppenders();
    const base = join(this.target.partsDir, this.target.shardKey, chunkName(chunk));
    await atomicProduce(`${base}.gt.parquet`, (tmp) =>
      this.conn.run(
        `COPY ${sqlIdent(this.gtName)} TO ${sqlString(tmp)} (FORMAT parquet, ${genotypeCompressionSql(this.target.genotypeCompression)}, ROW_GROUP_SIZE ${GENOTYPE_ROW_GROUP})`,
      ),
    );
    await atomicProduce(`${base}.var.parquet`, (tmp) =>
      this.conn.run(
        `COPY (SELECT * FROM ${sqlIdent(this.varName)} ORDER BY variant_idx) TO ${sqlString(tmp)} (FORMAT parquet)`,
      ),
    );
    await atomicWriteFile(`${base}.json`, JSON.stringify(progress));
    if (reopen) await this.reopen();
  }

  /**
   * Commit chunk `progress.chunk` (its Parquet files, then its JSON), report the cursor, and stop
   * there if the attempt was cancelled (or a test hook asks); else reopen for the next chunk.
   */
  async commitChunk(progress: ShardProgress, hooks: ShardHooks): Promise<void> {
    await this.commit(progress.chunk, progress, false);
    hooks.heartbeat?.(progress);
    this.committed++;
    if (hooks.failAfterChunks !== undefined && this.committed >= hooks.failAfterChunks)
      throw new Error(`test hook: shard ${this.target.shardKey} stops after ${this.committed} chunks`);
    if (hooks.signal?.aborted) throw hooks.signal.reason ?? new Error('cancelled');
    await this.reopen();
  }

  /** Drop the in-memory tables (always call, also after a failure). */
  async drop(): Promise<void> {
    try {
      this.closeAppenders();
    } catch {
      // the tables go anyway
    }
    await this.conn.run(`DROP TABLE IF EXISTS ${sqlIdent(this.gtName)}`).catch(() => {});
    await this.conn.run(`DROP TABLE IF EXISTS ${sqlIdent(this.varName)}`).catch(() => {});
  }
}

/** Write the shard's `done.json` (its totals), last. */
export async function writeShardDone(target: PartsTarget, result: object): Promise<void> {
  await atomicWriteFile(join(target.partsDir, target.shardKey, 'done.json'), JSON.stringify(result));
}

const scratch = new Int32Array(4);

/**
 * Allele counts of a packed record: a diploid call adds 2 to AN and its code to AC; a haploid
 * call (field 3 of `hap`) adds 1 and its code (0/1). HWE counts are over diploid calls only.
 * `ds`, when given, adds the sum of its non-missing dosages.
 */
export function packedCounts(
  gt: Uint8Array,
  n: number,
  hap: Uint8Array | null,
  nHaploid: number,
  ds: Float32Array | null,
  out: AlleleCounts,
): AlleleCounts {
  countPackedGt(gt, n, scratch);
  let [c0, c1, c2] = [scratch[0], scratch[1], scratch[2]];
  let h0 = 0;
  let h1 = 0;
  if (hap && nHaploid > 0) {
    countPackedGt(gt, n, scratch, hap, nHaploid);
    h0 = scratch[0];
    h1 = scratch[1] + scratch[2];
    c0 -= h0;
    c1 -= scratch[1];
    c2 -= scratch[2];
  }
  out.homRef = c0;
  out.het = c1;
  out.homAlt = c2;
  out.nCalled = c0 + c1 + c2 + h0 + h1;
  out.an = 2 * (c0 + c1 + c2) + h0 + h1;
  out.ac = c1 + 2 * c2 + h1;
  let sum = 0;
  if (ds) for (let i = 0; i < n; i++) if (!Number.isNaN(ds[i])) sum += ds[i];
  out.dosageSum = sum;
  return out;
}

/** The number of haploid calls marked in a packed mask. */
export function countMasked(hap: Uint8Array, n: number): number {
  countPackedGt(hap, n, scratch);
  return scratch[3];
}

function appendText(app: DuckDBAppender, v: string | null): void {
  if (v === null) app.appendNull();
  else app.appendVarchar(v);
}

function appendNum(app: DuckDBAppender, v: number | null): void {
  if (v === null || !Number.isFinite(v)) app.appendNull();
  else app.appendDouble(v);
}
