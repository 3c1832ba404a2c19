/**
 * Testing one GWAS shard. A shard streams its genotype rows (one `gt` BLOB per variant) out of
 * the release's Parquet through DuckDB, applies variant QC on the analysis samples, and hands
 * batches of genotype vectors to the pure kernels in `stats/` (linear: `linearGwas`; binary:
 * `logisticGwas`, score test with Wald/Firth follow-up, SPA p-values per `gwas.spa`). Results go to Parquet part files as it
 * goes; the heartbeat carries the last finished variant index, so a retried shard resumes after
 * it and never writes a row twice. The final shard file is produced by temp-file-then-rename
 * next to a small JSON record of its counts; a shard whose record and file hash match is not
 * recomputed. Rows of a shard file are not sorted (readers order by variant_idx, trait when
 * they need to): sorting cost ≈ 10–25 % of writing a 20-trait shard.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBBlobVector, DuckDBConnection, DuckDBIntegerVector } from '@duckdb/node-api';
import { blobItems, sqlString, withCompute } from '../engine/duckdb.js';
import { atomicProduce, atomicWriteFile, exists, sha256File } from '../engine/fsutil.js';
import { countPackedGt, decodeDs, PackedCalls, packedGtBytes, packedMask } from '../engine/genotypes.js';
import { loadAnalysis } from '../phenotype/analysis-table.js';
import type { PhenotypeFirstSpec } from '../schemas/study.js';
import type { AnalysisTable, GwasShard, GwasShardResult, QcCounts, RunContext } from '../schemas/study-io.js';
import { hweExactP } from '../stats/hwe.js';
import { type Genotypes, linearTestVariant, prepareLinear } from '../stats/linear.js';
import { logisticTestVariant, prepareLogistic } from '../stats/logistic.js';
import { type AssocColumns, STATUS, STATUS_CODE, TEST } from '../stats/status.js';
import type { EngineConfig } from '../temporal.config.js';
import { releaseSamples } from './ld.js';
import { allocPart, appendPart, CHUNK_ROWS, codeNames, PART_DDL } from './parts.js';
import { locoOffsets } from './step1.js';

export interface GwasThreadInput {
  config: EngineConfig;
  input: GwasShardInput;
  resumed: ShardCursor | null;
}

/** Variants per genotype read (one range query) and per heartbeat. */
const DEFAULT_BATCH = 16384;
/** Variants per Parquet part file (one resume point). */
const DEFAULT_PART_VARIANTS = 65536;

export interface GwasShardInput {
  run: RunContext;
  shard: GwasShard;
  analysis: AnalysisTable;
  gwas: PhenotypeFirstSpec['gwas'];
  /** Variants per genotype read (default 16384). */
  batchVariants?: number;
  /** Variants per Parquet part file, i.e. per resume point (default 65536). */
  partVariants?: number;
  /**
   * `relatedness: 'loco'`: the finished step 1 (gwas/step1.ts) whose LOCO prediction of each
   * variant's chromosome is the offset of its test (a shard spanning chromosome ends switches
   * offsets there).
   */
  loco?: { dir: string } | null;
}

export interface ShardCursor {
  /** Last variant_idx whose result is in a finished part file. */
  lastVariantIdx: number;
  parts: number;
  qc: QcCounts;
  nNotOk: number;
  minP: number | null;
}

export function emptyQc(): QcCounts {
  return { nInput: 0, removedMac: 0, removedMaf: 0, removedMissing: 0, removedHwe: 0, nTested: 0 };
}

function partDir(run: RunContext, shardId: string): string {
  return join(run.runDir, 'gwas-parts', shardId);
}

/**
 * `<runDir>/gwas-shards/<shardId>.parquet`: a shard's result rows, kept after the run (they
 * let a re-run skip finished shards). Not under `<runDir>/gwas/`, which the results store
 * owns and replaces as a whole (engine/results.ts). Columns: variant_idx BIGINT, chrom, pos
 * BIGINT, ref, alt, rsid, n INTEGER, af, beta, se, stat, p, neg_log10_p DOUBLE, test, status
 * VARCHAR, trait SMALLINT (index into the analysis table's traits).
 */
export function shardOutput(run: RunContext, shardId: string): string {
  return join(run.runDir, 'gwas-shards', `${shardId}.parquet`);
}

/**
 * The analysis table and the fitted null model of a shard, cached (by the caller's cache: one per
 * worker thread, gwas/thread.ts) for the last
 * (analysis, release, options) seen: consecutive shards of one study on one worker thread
 * reuse them instead of re-reading the table and re-fitting. The model is not modified by the
 * scans (see the row-matrix contract in stats/kernel-wasm.ts).
 */
export class ShardModelCache {
  private last: { key: string; value: ShardModel } | undefined;
  /** The analysis table and sample count, shared by the per-chromosome models of a LOCO shard. */
  private lastInputs: { key: string; value: Promise<ShardInputs> } | undefined;

  private inputs(conn: DuckDBConnection, run: RunContext, analysis: AnalysisTable): Promise<ShardInputs> {
    const key = JSON.stringify([analysis, run.releaseDir]);
    if (this.lastInputs?.key !== key) {
      const value = loadShardInputs(conn, run, analysis);
      this.lastInputs = { key, value };
      value.catch(() => {
        if (this.lastInputs?.value === value) this.lastInputs = undefined;
      });
    }
    return this.lastInputs.value;
  }

  async get(
    conn: DuckDBConnection,
    run: RunContext,
    analysis: AnalysisTable,
    gwas: PhenotypeFirstSpec['gwas'],
    loco: { dir: string; chrom: string } | null = null,
  ): Promise<ShardModel> {
    const key = JSON.stringify([
      loco,
      analysis,
      run.releaseDir,
      gwas.missing,
      gwas.scoreThreshold,
      gwas.firth,
      gwas.spa,
      gwas.spaCaseFraction,
    ]);
    if (this.last?.key !== key) {
      const inputs = await this.inputs(conn, run, analysis);
      this.last = { key, value: await buildShardModel(inputs, analysis, gwas, loco) };
    }
    return this.last.value;
  }
}

type ShardModel = Awaited<ReturnType<typeof buildShardModel>>;
type ShardInputs = Awaited<ReturnType<typeof loadShardInputs>>;

async function loadShardInputs(conn: DuckDBConnection, run: RunContext, analysis: AnalysisTable) {
  const a = await loadAnalysis(conn, analysis);
  return { ...a, nGeno: await releaseSamples(conn, run.releaseDir) };
}

async function buildShardModel(
  inputs: ShardInputs,
  analysis: AnalysisTable,
  gwas: PhenotypeFirstSpec['gwas'],
  loco: { dir: string; chrom: string } | null,
) {
  const { n, c, sampleIdx, y, ys, cov, nGeno } = inputs;
  // LOCO (REGENIE step 2): quantitative traits are tested as y − prediction, binary traits with
  // the prediction as an offset in every logistic fit (stats/logistic.ts).
  const offsets = loco ? await locoOffsets(loco.dir, loco.chrom, ys.length) : null;
  if (offsets && offsets[0].length !== n)
    throw new Error(`step 1 in ${loco?.dir} has ${offsets[0].length} samples, the analysis table ${n}`);
  const traits = offsets ? ys.map((v, k) => Float64Array.from(v, (x, i) => x - offsets[k][i])) : ys;
  const missing = gwas.missing === 'mean-impute' ? 'mean' : 'drop';
  const binary = analysis.trait === 'binary';
  const model = binary
    ? prepareLogistic(y, cov, c, nGeno, sampleIdx, {
        missing,
        fullFitBelow: gwas.scoreThreshold,
        firth: gwas.firth,
        spa: gwas.spa,
        spaCaseFraction: gwas.spaCaseFraction,
        offset: offsets ? offsets[0] : null,
      })
    : prepareLinear(traits, cov, c, nGeno, sampleIdx, { missing });
  return { n, sampleIdx, nGeno, model, binary };
}

/**
 * The shard's variants as runs of one chromosome, in variant_idx order: one run for a shard
 * inside a chromosome, one per chromosome for a sorted release, and more if a release's
 * chromosomes interleave in variant_idx (each run of a chromosome is its own segment).
 */
export async function chromSegments(
  conn: DuckDBConnection,
  run: RunContext,
  shard: GwasShard,
): Promise<{ chrom: string; first: number; last: number }[]> {
  const r = await conn.runAndReadAll(
    `WITH v AS (
       SELECT chrom::VARCHAR AS chrom, variant_idx,
              row_number() OVER (ORDER BY variant_idx)
                - row_number() OVER (PARTITION BY chrom ORDER BY variant_idx) AS island
       FROM read_parquet(${sqlString(join(run.releaseDir, 'variants.parquet'))})
       WHERE variant_idx BETWEEN $1 AND $2)
     SELECT chrom, min(variant_idx)::BIGINT AS first, max(variant_idx)::BIGINT AS last
     FROM v GROUP BY chrom, island ORDER BY first`,
    [shard.firstVariantIdx, shard.lastVariantIdx],
  );
  return r.getRows().map(([chrom, first, last]) => ({
    chrom: String(chrom),
    first: Number(first),
    last: Number(last),
  }));
}

/**
 * Which of the optional genotype columns (`ds` dosages, `hap` haploid calls) hold a value in
 * these files, from the Parquet footer statistics in one read: a column counts when every file
 * has it (`hap` is absent from releases ingested before it existed) and some row group reports
 * fewer NULLs than values. Decoding an all-NULL column still costs about a third of the read.
 */
async function optionalColumns(
  conn: DuckDBConnection,
  files: string[],
): Promise<{ ds: boolean; hap: boolean }> {
  const r = await conn.runAndReadAll(
    `SELECT path_in_schema, count(DISTINCT file_name)::INTEGER,
            count(*) FILTER (WHERE stats_null_count IS NULL OR stats_null_count < num_values)::INTEGER
     FROM parquet_metadata([${files.map(sqlString).join(', ')}]) WHERE path_in_schema IN ('ds', 'hap')
     GROUP BY path_in_schema`,
  );
  const used = new Set(
    r
      .getRows()
      .filter(([, withColumn, withValues]) => Number(withColumn) === files.length && Number(withValues) > 0)
      .map(([column]) => String(column)),
  );
  return { ds: used.has('ds'), hap: used.has('hap') };
}

/**
 * Test every variant of one shard (see the module comment). Runs on a worker thread
 * (gwas-thread.ts): `heartbeat` reports the committed cursor, `signal` aborts between batches,
 * `resumed` is the cursor of an earlier attempt.
 *
 * Per batch of variants: one range query returns their packed `gt` (and `ds`) BLOBs, read
 * straight from DuckDB's vectors without an intermediate row object; per variant, the QC
 * counts come from the packed bytes, the codes are unpacked into one reused buffer, and the
 * test writes its row into column arrays. A part's rows go to DuckDB as data chunks, numbers
 * only; the variant names and the test/status names are joined in once, when the shard file is
 * written.
 */
export async function computeGwasShard(
  config: EngineConfig,
  input: GwasShardInput,
  resumed: ShardCursor | null,
  heartbeat: (cursor: ShardCursor) => void,
  signal?: AbortSignal,
  models: ShardModelCache = new ShardModelCache(),
): Promise<GwasShardResult> {
  const { run, shard, analysis, gwas } = input;
  const BATCH = input.batchVariants ?? DEFAULT_BATCH;
  const PART_VARIANTS = input.partVariants ?? DEFAULT_PART_VARIANTS;
  const out = shardOutput(run, shard.shardId);
  const record = `${out}.json`;
  if ((await exists(out)) && (await exists(record))) {
    const done = JSON.parse(await readFile(record, 'utf8')) as GwasShardResult;
    if (done.sha256 === (await sha256File(out))) return done;
  }
  const cursor: ShardCursor = resumed
    ? structuredClone(resumed)
    : {
        lastVariantIdx: shard.firstVariantIdx - 1,
        parts: 0,
        qc: emptyQc(),
        nNotOk: 0,
        minP: null,
      };
  const parts = partDir(run, shard.shardId);
  if (!resumed) await rm(parts, { recursive: true, force: true });
  await mkdir(parts, { recursive: true });
  // A part numbered beyond the cursor was written after the last heartbeat: drop it.
  for (const f of await readdir(parts)) {
    const k = Number(/^part-(\d+)\.parquet$/.exec(f)?.[1] ?? Number.NaN);
    if (!(k < cursor.parts)) await rm(join(parts, f), { force: true });
  }

  return withCompute(config, async (conn) => {
    // LOCO: each chromosome of the shard is tested with its own offset, so the scan works
    // chromosome segment by segment (a shard of the plain plan may span chromosome ends).
    const segments = input.loco ? await chromSegments(conn, run, shard) : null;
    const modelAt = async (idx: number) => {
      const seg = segments ? (segments.find((x) => idx <= x.last) ?? segments[segments.length - 1]) : null;
      const loco = input.loco && seg ? { dir: input.loco.dir, chrom: seg.chrom } : null;
      const m = await models.get(conn, run, analysis, gwas, loco);
      const testVariant = m.binary
        ? (g: Genotypes, res: AssocColumns, r: number) =>
            logisticTestVariant(m.model as ReturnType<typeof prepareLogistic>, g, res, r)
        : (g: Genotypes, res: AssocColumns, r: number) =>
            linearTestVariant(m.model as ReturnType<typeof prepareLinear>, g, res, r);
      return { ...m, testVariant, segmentEnd: seg ? seg.last : shard.lastVariantIdx };
    };
    let current = await modelAt(cursor.lastVariantIdx + 1);
    const { n, sampleIdx, nGeno, binary } = current;
    const K = binary ? 1 : (current.model as ReturnType<typeof prepareLinear>).K;
    const table = `gwas_part_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const counts = new Int32Array(4);
    // 2-bit field 11 for analysis samples: the QC counts cover exactly them, in one pass.
    const analysisMask = packedMask(sampleIdx, nGeno);
    const codes = new Uint8Array(packedGtBytes(nGeno) * 4);
    const nPacked = packedGtBytes(nGeno);
    // A part holds about PART_VARIANTS result rows: fewer variants when several traits share the
    // pass (K rows per variant), so memory stays bounded; at least one batch.
    const partVariants = Math.max(Math.min(BATCH, PART_VARIANTS), Math.floor(PART_VARIANTS / K));
    const part = allocPart((partVariants + BATCH) * K);
    // What a retry may resume from: the state as of the last finished part file. Counts of
    // variants tested since then are not in it, so a resumed attempt never counts them twice.
    let committed: ShardCursor = structuredClone(cursor);

    /** The part's rows into the in-memory table `table` (replacing what it held). */
    const loadPart = async () => {
      await conn.run(`CREATE OR REPLACE TABLE ${table} (${PART_DDL})`);
      const appender = await conn.createAppender(table);
      appendPart(appender, part);
      appender.flushSync();
      appender.closeSync();
      part.count = 0;
    };
    /** Commit the rows so far as a part file: a retry resumes after `lastIdx`. */
    const finishPart = async (lastIdx: number) => {
      await loadPart();
      const partPath = join(parts, `part-${cursor.parts}.parquet`);
      await atomicProduce(partPath, (tmp) =>
        conn.run(`COPY ${table} TO ${sqlString(tmp)} (FORMAT parquet, ROW_GROUP_SIZE 8192)`),
      );
      cursor.parts++;
      cursor.lastVariantIdx = lastIdx;
      committed = structuredClone(cursor);
      heartbeat(committed);
    };

    const files = shard.files.map(sqlString).join(', ');
    const gtItems = new Array<Uint8Array | null>(CHUNK_ROWS);
    const dsItems = new Array<Uint8Array | null>(CHUNK_ROWS);
    const gtOf = new Array<Uint8Array | null>(BATCH);
    const dsOf = new Array<Uint8Array | null>(BATCH);
    const hapItems = new Array<Uint8Array | null>(CHUNK_ROWS);
    const hapOf = new Array<Uint8Array | null>(BATCH).fill(null);
    const hapAnalysis = new Uint8Array(nPacked);
    const hapCounts = new Int32Array(4);
    /**
     * The BLOBs of variants [from, to] into gtOf/dsOf (index − from). Streamed, not
     * materialised: DuckDB hands over each decoded chunk once (a materialised result would copy
     * every BLOB again, measured at ~2× the read cost), and the stream is drained before the
     * connection is used for anything else.
     */
    // Read `ds` and `hap` only where some row group of these files holds one (Parquet statistics).
    const { ds: withDs, hap: withHap } = await optionalColumns(conn, shard.files);
    const readBatch = async (from: number, to: number) => {
      gtOf.fill(null);
      dsOf.fill(null);
      if (withHap) hapOf.fill(null);
      const result = await conn.stream(
        `SELECT variant_idx::INTEGER AS i, gt, ${withDs ? 'ds' : 'NULL::BLOB AS ds'}, ${withHap ? 'hap' : 'NULL::BLOB AS hap'}
         FROM read_parquet([${files}]) WHERE variant_idx BETWEEN $1 AND $2`,
        [from, to],
      );
      for (
        let chunk = await result.fetchChunk();
        chunk && chunk.rowCount > 0;
        chunk = await result.fetchChunk()
      ) {
        const iv = chunk.getColumnVector(0) as DuckDBIntegerVector;
        const gv = chunk.getColumnVector(1) as DuckDBBlobVector;
        const dv = chunk.getColumnVector(2) as DuckDBBlobVector;
        blobItems(gv, chunk.rowCount, gtItems);
        blobItems(dv, chunk.rowCount, dsItems);
        if (withHap) blobItems(chunk.getColumnVector(3) as DuckDBBlobVector, chunk.rowCount, hapItems);
        for (let r = 0; r < chunk.rowCount; r++) {
          const k = (iv.getItem(r) as number) - from;
          gtOf[k] = gtItems[r];
          dsOf[k] = dsItems[r];
          if (withHap) hapOf[k] = hapItems[r];
        }
      }
    };
    let lastIdx = cursor.lastVariantIdx;
    let from = cursor.lastVariantIdx + 1;
    while (from <= shard.lastVariantIdx) {
      if (from > current.segmentEnd) current = await modelAt(from);
      const { testVariant } = current;
      const to = Math.min(from + BATCH - 1, shard.lastVariantIdx, current.segmentEnd);
      await readBatch(from, to);
      for (let k = 0; k <= to - from; k++) {
        const idx = from + k;
        const packed = gtOf[k];
        if (!packed) continue; // not a variant of these files (e.g. a gap in variant_idx)
        if (packed.length !== nPacked) {
          throw new Error(
            `variant ${idx}: gt BLOB has ${packed.length} bytes, the release's ${nGeno} samples need ${nPacked} ` +
              '(2 bits per call); a release ingested by an older engine version must be ingested again',
          );
        }
        countPackedGt(packed, nGeno, counts, analysisMask, n);
        // Haploid calls among the analysis samples (hapCounts: 0 = REF, 1 = ALT), if any: one
        // allele each, and no part of Hardy–Weinberg (PLINK 2's rule for chrX: females only).
        const hap = hapOf[k];
        if (hap) {
          for (let j = 0; j < nPacked; j++) hapAnalysis[j] = hap[j] & analysisMask[j];
          countPackedGt(hapAnalysis, nGeno, hapCounts);
          countPackedGt(packed, nGeno, hapCounts, hapAnalysis, hapCounts[3]);
        } else hapCounts.fill(0);
        const called = counts[0] + counts[1] + counts[2];
        const hapCalled = hapCounts[0] + hapCounts[1] + hapCounts[2];
        const alleles = 2 * (called - hapCalled) + hapCalled;
        const altCount = counts[1] + 2 * counts[2] - hapCounts[2];
        const af = alleles > 0 ? altCount / alleles : Number.NaN;
        const mac = Math.min(altCount, alleles - altCount);
        const dip0 = counts[0] - hapCounts[0];
        const dip1 = counts[1] - hapCounts[1];
        const dip2 = counts[2] - hapCounts[2];
        cursor.qc.nInput++;
        if (called === 0 || counts[3] / n > gwas.maxMissing) cursor.qc.removedMissing++;
        else if (mac < gwas.minMac) cursor.qc.removedMac++;
        else if (Math.min(af, 1 - af) < gwas.minMaf) cursor.qc.removedMaf++;
        else if (gwas.hweP > 0 && dip0 + dip1 + dip2 > 0 && hweExactP(dip0, dip1, dip2) < gwas.hweP)
          cursor.qc.removedHwe++;
        else {
          const ds = dsOf[k];
          const g = ds ? decodeDs(ds) : new PackedCalls(packed, nGeno, codes);
          const r = part.count;
          testVariant(g, part.res, r / K);
          for (let t = 0; t < K; t++) {
            part.idx[r + t] = idx;
            part.trait[r + t] = t;
            part.af[r + t] = af;
            if (part.res.status[r + t] !== STATUS_CODE.ok) cursor.nNotOk++;
            else if (cursor.minP === null || part.res.p[r + t] < cursor.minP) cursor.minP = part.res.p[r + t];
          }
          part.count += K;
          cursor.qc.nTested++;
        }
      }
      lastIdx = to;
      from = to + 1;
      if (part.count >= partVariants * K) await finishPart(lastIdx);
      else heartbeat(committed);
      // Let a pending abort message reach this thread before the next batch.
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
    }
    // The last rows go straight into the shard file with the committed parts (no part file).
    await loadPart();
    const rows =
      cursor.parts > 0
        ? `(SELECT * FROM read_parquet(${sqlString(join(parts, 'part-*.parquet'))}) UNION ALL SELECT * FROM ${table})`
        : table;
    await atomicProduce(out, (tmp) =>
      conn.run(
        `COPY (
           SELECT r.variant_idx::BIGINT AS variant_idx, v.chrom::VARCHAR AS chrom, v.pos::BIGINT AS pos,
                  v.ref::VARCHAR AS ref, v.alt::VARCHAR AS alt, v.rsid::VARCHAR AS rsid, r.n, r.af, r.beta,
                  r.se, r.stat, r.p, r.neg_log10_p,
                  (${codeNames(TEST)})[r.test + 1] AS test, (${codeNames(STATUS)})[r.status + 1] AS status,
                  r.trait
           FROM ${rows} r
           JOIN (SELECT variant_idx, chrom, pos, ref, alt, rsid
                 FROM read_parquet(${sqlString(join(run.releaseDir, 'variants.parquet'))})
                 WHERE variant_idx BETWEEN ${Number(shard.firstVariantIdx)} AND ${Number(shard.lastVariantIdx)}) v
             ON v.variant_idx = r.variant_idx)
         TO ${sqlString(tmp)} (FORMAT parquet, ROW_GROUP_SIZE 8192)`,
      ),
    );
    await conn.run(`DROP TABLE IF EXISTS ${table}`);
    const done: GwasShardResult = {
      shardId: shard.shardId,
      path: out,
      sha256: await sha256File(out),
      qc: cursor.qc,
      nNotOk: cursor.nNotOk,
      minP: cursor.minP,
    };
    await atomicWriteFile(record, JSON.stringify(done));
    await rm(parts, { recursive: true, force: true });
    return done;
  });
}
