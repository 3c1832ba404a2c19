/**
 * GWAS activities: plan shards over a release's variants, test one shard, merge the shards.
 *
 * A shard streams its genotype rows (one `gt` BLOB per variant) out of the release's Parquet
 * through DuckDB, applies variant QC on the analysis samples, and hands batches of genotype
 * vectors to the pure kernels in `stats/` (linear: `linearGwas`; binary: `logisticGwas`, score
 * test with Wald/Firth follow-up). Results go to Parquet part files as it goes; the heartbeat
 * carries the last finished variant index, so a retried shard resumes after it and never writes
 * a row twice. The final shard file is produced by temp-file-then-rename next to a small JSON
 * record of its counts; a shard whose record and file hash match is not recomputed. Rows of a
 * shard file are not sorted (readers order by variant_idx, trait when they need to): sorting
 * cost ≈ 10–25 % of writing a 20-trait shard.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DOUBLE,
  type DuckDBAppender,
  type DuckDBBlobVector,
  type DuckDBConnection,
  DuckDBDataChunk,
  type DuckDBDoubleVector,
  type DuckDBIntegerVector,
  type DuckDBSmallIntVector,
  type DuckDBUTinyIntVector,
  INTEGER,
  LIST,
  listValue,
  SMALLINT,
  UTINYINT,
  VARCHAR,
} from '@duckdb/node-api';
import { Context } from '@temporalio/activity';
import { blobItems, sqlString, withCompute } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { atomicProduce, atomicWriteFile, exists, sha256File } from '../engine/fsutil.js';
import { countPackedGt, decodeDs, PackedCalls, packedGtBytes, packedMask } from '../engine/genotypes.js';
import { runInThread, sourceModule } from '../engine/thread.js';
import type { PhenotypeFirstSpec } from '../schemas/study.js';
import type {
  AnalysisTable,
  GwasShard,
  GwasShardResult,
  GwasSummary,
  LeadLocus,
  QcCounts,
  RunContext,
} from '../schemas/study-io.js';
import { distanceClump } from '../stats/clump.js';
import { hweExactP } from '../stats/hwe.js';
import { type Genotypes, linearTestVariant, prepareLinear } from '../stats/linear.js';
import { logisticTestVariant, prepareLogistic } from '../stats/logistic.js';
import { lambdaGcFromMiddleP } from '../stats/multiple-testing.js';
import { type AssocColumns, allocAssocColumns, STATUS, STATUS_CODE, TEST } from '../stats/status.js';
import type { EngineConfig } from '../temporal.config.js';

const GWAS_THREAD = sourceModule('activities/gwas-thread.ts');

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
}

export interface ShardCursor {
  /** Last variant_idx whose result is in a finished part file. */
  lastVariantIdx: number;
  parts: number;
  qc: QcCounts;
  nNotOk: number;
  minP: number | null;
}

/** Load the analysis table into typed arrays: trait, covariates (column-major), sample index. */
export async function loadAnalysis(conn: DuckDBConnection, analysis: AnalysisTable) {
  const covCols = analysis.covariates.map((c) => `"cov_${c.replaceAll('"', '""')}"`);
  const K = analysis.traits?.length ?? 1;
  const yCols = ['y', ...Array.from({ length: K - 1 }, (_, k) => `y_${k + 1}`)];
  const cols = [...yCols, ...covCols];
  const nRows = Number(
    (
      await conn.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(analysis.path)})`)
    ).getRows()[0][0],
  );
  const n = nRows;
  const c = analysis.covariates.length;
  const sampleIdx = new Int32Array(n);
  const ys = yCols.map(() => new Float64Array(n));
  const cov = new Float64Array(n * c);
  // Column vectors chunk by chunk (no row objects): every value as a double.
  const result = await conn.stream(
    `SELECT sample_idx::INTEGER, ${cols.map((x) => `${x}::DOUBLE`).join(', ')}
     FROM read_parquet(${sqlString(analysis.path)}) ORDER BY sample_idx`,
  );
  let i0 = 0;
  for (
    let chunk = await result.fetchChunk();
    chunk && chunk.rowCount > 0;
    chunk = await result.fetchChunk()
  ) {
    const rows = chunk.rowCount;
    const iv = chunk.getColumnVector(0) as DuckDBIntegerVector;
    for (let r = 0; r < rows; r++) sampleIdx[i0 + r] = iv.getItem(r) as number;
    for (let k = 0; k < K; k++) {
      const v = chunk.getColumnVector(1 + k) as DuckDBDoubleVector;
      for (let r = 0; r < rows; r++) ys[k][i0 + r] = (v.getItem(r) as number | null) ?? Number.NaN;
    }
    for (let j = 0; j < c; j++) {
      const v = chunk.getColumnVector(1 + K + j) as DuckDBDoubleVector;
      for (let r = 0; r < rows; r++) cov[j * n + i0 + r] = (v.getItem(r) as number | null) ?? Number.NaN;
    }
    i0 += rows;
  }
  /** y: the main trait; ys: every trait (y first). */
  return { n, c, sampleIdx, y: ys[0], ys, cov };
}

function emptyQc(): QcCounts {
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
 * The analysis table and the fitted null model of a shard, cached per thread for the last
 * (analysis, release, options) seen: consecutive shards of one study on one worker thread
 * reuse them instead of re-reading the table and re-fitting. The model is not modified by the
 * scans (see the row-matrix contract in stats/kernel-wasm.ts).
 */
let modelCache: { key: string; value: Awaited<ReturnType<typeof buildShardModel>> } | undefined;

async function buildShardModel(
  conn: DuckDBConnection,
  run: RunContext,
  analysis: AnalysisTable,
  gwas: PhenotypeFirstSpec['gwas'],
) {
  const { n, c, sampleIdx, y, ys, cov } = await loadAnalysis(conn, analysis);
  const nGeno = Number(
    (
      await conn.runAndReadAll(
        `SELECT count(*) FROM read_parquet(${sqlString(join(run.releaseDir, 'samples.parquet'))})`,
      )
    ).getRows()[0][0],
  );
  const missing = gwas.missing === 'mean-impute' ? 'mean' : 'drop';
  const binary = analysis.trait === 'binary';
  const model = binary
    ? prepareLogistic(y, cov, c, nGeno, sampleIdx, {
        missing,
        fullFitBelow: gwas.scoreThreshold,
        firth: gwas.firth,
      })
    : prepareLinear(ys, cov, c, nGeno, sampleIdx, { missing });
  return { n, sampleIdx, nGeno, model, binary };
}

async function shardModel(
  conn: DuckDBConnection,
  run: RunContext,
  analysis: AnalysisTable,
  gwas: PhenotypeFirstSpec['gwas'],
) {
  const key = JSON.stringify([analysis, run.releaseDir, gwas.missing, gwas.scoreThreshold, gwas.firth]);
  if (modelCache?.key !== key) modelCache = { key, value: await buildShardModel(conn, run, analysis, gwas) };
  return modelCache.value;
}

/**
 * Whether any of the genotype files may hold a non-NULL `ds` (dosage) value, from the Parquet
 * footer statistics: false only when every row group of `ds` reports as many NULLs as values.
 */
async function hasDosages(conn: DuckDBConnection, files: string[]): Promise<boolean> {
  const r = await conn.runAndReadAll(
    `SELECT count(*) FILTER (WHERE stats_null_count IS NULL OR stats_null_count < num_values)::INTEGER
     FROM parquet_metadata([${files.map(sqlString).join(', ')}]) WHERE path_in_schema = 'ds'`,
  );
  return Number(r.getRows()[0][0]) > 0;
}

/** Columns of a part file: numbers only; names and codes are joined in when the shard is finished. */
const PART_DDL = `variant_idx INTEGER, n INTEGER, af DOUBLE, beta DOUBLE, se DOUBLE, stat DOUBLE, p DOUBLE,
  neg_log10_p DOUBLE, test UTINYINT, status UTINYINT, trait SMALLINT`;
const PART_TYPES = [
  INTEGER,
  INTEGER,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  UTINYINT,
  UTINYINT,
  SMALLINT,
];
/** Rows per data chunk handed to the appender (DuckDB's vector size). */
const CHUNK_ROWS = 2048;

/** SQL list literal of names, indexed by code + 1. */
function codeNames(names: readonly string[]): string {
  return `[${names.map((x) => sqlString(x)).join(', ')}]`;
}

/** Result rows of one part, column-wise: variant index, allele frequency and the test's columns. */
interface PartRows {
  idx: Int32Array;
  /** trait index (0: the main trait; k: the analysis table's y_k). */
  trait: Int16Array;
  af: Float64Array;
  res: AssocColumns;
  count: number;
}

function allocPart(cap: number): PartRows {
  return {
    idx: new Int32Array(cap),
    trait: new Int16Array(cap),
    af: new Float64Array(cap),
    res: allocAssocColumns(cap),
    count: 0,
  };
}

/** Append a part's rows to `appender` in data chunks of CHUNK_ROWS (non-finite doubles become NULL). */
function appendPart(appender: DuckDBAppender, part: PartRows): void {
  const { idx, af, res } = part;
  const doubles = [af, res.beta, res.se, res.stat, res.p, res.mlog10p];
  for (let r0 = 0; r0 < part.count; r0 += CHUNK_ROWS) {
    const rows = Math.min(CHUNK_ROWS, part.count - r0);
    const chunk = DuckDBDataChunk.create(PART_TYPES, rows);
    const iv = chunk.getColumnVector(0) as DuckDBIntegerVector;
    const nv = chunk.getColumnVector(1) as DuckDBIntegerVector;
    for (let i = 0; i < rows; i++) {
      iv.setItem(i, idx[r0 + i]);
      nv.setItem(i, res.nObs[r0 + i]);
    }
    iv.flush();
    nv.flush();
    for (let c = 0; c < doubles.length; c++) {
      const v = chunk.getColumnVector(2 + c) as DuckDBDoubleVector;
      const col = doubles[c];
      for (let i = 0; i < rows; i++) {
        const x = col[r0 + i];
        v.setItem(i, Number.isFinite(x) ? x : null);
      }
      v.flush();
    }
    const tv = chunk.getColumnVector(8) as DuckDBUTinyIntVector;
    const sv = chunk.getColumnVector(9) as DuckDBUTinyIntVector;
    for (let i = 0; i < rows; i++) {
      tv.setItem(i, res.test[r0 + i]);
      sv.setItem(i, res.status[r0 + i]);
    }
    tv.flush();
    sv.flush();
    const kv = chunk.getColumnVector(10) as DuckDBSmallIntVector;
    for (let i = 0; i < rows; i++) kv.setItem(i, part.trait[r0 + i]);
    kv.flush();
    appender.appendDataChunk(chunk);
  }
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
    const { n, sampleIdx, nGeno, model, binary } = await shardModel(conn, run, analysis, gwas);
    const K = binary ? 1 : (model as ReturnType<typeof prepareLinear>).K;
    const testVariant = binary
      ? (g: Genotypes, res: AssocColumns, r: number) =>
          logisticTestVariant(model as ReturnType<typeof prepareLogistic>, g, res, r)
      : (g: Genotypes, res: AssocColumns, r: number) =>
          linearTestVariant(model as ReturnType<typeof prepareLinear>, g, res, r);
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
    /**
     * The BLOBs of variants [from, to] into gtOf/dsOf (index − from). Streamed, not
     * materialised: DuckDB hands over each decoded chunk once (a materialised result would copy
     * every BLOB again, measured at ~2× the read cost), and the stream is drained before the
     * connection is used for anything else.
     */
    // Read `ds` only when some row group of these files holds a dosage (Parquet statistics):
    // decoding an all-NULL column still costs about a third of the read.
    const withDs = await hasDosages(conn, shard.files);
    const readBatch = async (from: number, to: number) => {
      gtOf.fill(null);
      dsOf.fill(null);
      const result = await conn.stream(
        `SELECT variant_idx::INTEGER AS i, gt, ${withDs ? 'ds' : 'NULL::BLOB AS ds'}
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
        for (let r = 0; r < chunk.rowCount; r++) {
          const k = (iv.getItem(r) as number) - from;
          gtOf[k] = gtItems[r];
          dsOf[k] = dsItems[r];
        }
      }
    };
    let lastIdx = cursor.lastVariantIdx;
    let from = cursor.lastVariantIdx + 1;
    while (from <= shard.lastVariantIdx) {
      const to = Math.min(from + BATCH - 1, shard.lastVariantIdx);
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
        const called = counts[0] + counts[1] + counts[2];
        const altCount = counts[1] + 2 * counts[2];
        const af = called > 0 ? altCount / (2 * called) : Number.NaN;
        const mac = Math.min(altCount, 2 * called - altCount);
        cursor.qc.nInput++;
        if (called === 0 || counts[3] / n > gwas.maxMissing) cursor.qc.removedMissing++;
        else if (mac < gwas.minMac) cursor.qc.removedMac++;
        else if (Math.min(af, 1 - af) < gwas.minMaf) cursor.qc.removedMaf++;
        else if (gwas.hweP > 0 && hweExactP(counts[0], counts[1], counts[2]) < gwas.hweP)
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

/** "3,832 collinear, 12 monomorphic": counts by status, largest first. */
export function describeStatusCounts(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([status, n]) => `${n.toLocaleString('en-US')} ${status}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/**
 * A GWAS in which no variant gave a result (no `ok` row for any trait) cannot succeed on a retry:
 * bad input, with the QC and status counts that say why.
 */
function noResults(qc: QcCounts, statusCounts: Record<string, number>): InputError {
  const removed = [
    ['missingness', qc.removedMissing],
    ['MAC', qc.removedMac],
    ['MAF', qc.removedMaf],
    ['HWE', qc.removedHwe],
  ]
    .filter(([, n]) => (n as number) > 0)
    .map(([what, n]) => `${(n as number).toLocaleString('en-US')} by ${what}`);
  const hint =
    qc.nTested === 0
      ? 'every variant was removed by QC: check gwas.minMac, minMaf, maxMissing and hweP against the cohort size'
      : (statusCounts.collinear ?? 0) > 0
        ? 'collinear: the covariates are (nearly) dependent, e.g. a categorical covariate with very many levels or a column that repeats another; check the covariates'
        : 'check the cohort (cases and controls) and the covariates';
  return new InputError(
    `no variant produced a GWAS result: ${qc.nInput.toLocaleString('en-US')} variants in the shards, ` +
      `${removed.length > 0 ? `QC removed ${removed.join(', ')}; ` : ''}` +
      `${qc.nTested.toLocaleString('en-US')} tested, by status: ${describeStatusCounts(statusCounts)}`,
    { field: 'gwas' },
    hint,
  );
}

export function createGwasActivities(config: EngineConfig) {
  return {
    /**
     * Split the release's variants (or those of the chosen chromosomes) into shards of about
     * `shardVariants` variants: contiguous runs in genome order (variant_idx), cut into
     * ⌈n / shardVariants⌉ shards of equal size. A shard may span the end of one chromosome and
     * the start of the next (small chromosomes would otherwise make many tiny shards, each paying
     * the fixed cost of an activity); it never spans variants that are not being tested. The
     * shard id names its position and chromosome span, e.g. `s0003-chr6-chr9`; ids are stable
     * for a release, chromosome list and shard size.
     */
    async planGwasShards(input: {
      run: RunContext;
      chromosomes: string[] | null;
      shardVariants: number;
    }): Promise<GwasShard[]> {
      const { run, chromosomes, shardVariants } = input;
      return withCompute(config, async (conn) => {
        const reader = await conn.runAndReadAll(
          `WITH v AS (
             SELECT chrom, variant_idx, shard,
                    variant_idx - row_number() OVER (ORDER BY variant_idx) AS run
             FROM read_parquet(${sqlString(join(run.releaseDir, 'variants.parquet'))})
             ${chromosomes ? 'WHERE list_contains($2::VARCHAR[], chrom)' : ''}),
           k AS (
             SELECT *, row_number() OVER (PARTITION BY run ORDER BY variant_idx) - 1 AS k,
                    count(*) OVER (PARTITION BY run) AS n_run
             FROM v),
           p AS (SELECT *, (k * ceil(n_run / $1)::BIGINT) // n_run AS part FROM k)
           SELECT min(variant_idx)::BIGINT AS first, max(variant_idx)::BIGINT AS last,
                  count(*)::INTEGER AS n, list(DISTINCT shard ORDER BY shard) AS files,
                  arg_min(chrom, variant_idx) AS chrom_first, arg_max(chrom, variant_idx) AS chrom_last
           FROM p GROUP BY run, part ORDER BY first`,
          chromosomes ? [shardVariants, listValue(chromosomes)] : [shardVariants],
          chromosomes ? [undefined as never, LIST(VARCHAR)] : undefined,
        );
        const label = (c: string) => `chr${c.replace(/^chr/i, '')}`;
        return reader.getRowObjectsJS().map((r, i) => {
          const a = String(r.chrom_first);
          const b = String(r.chrom_last);
          return {
            shardId: `s${String(i).padStart(4, '0')}-${label(a)}${a === b ? '' : `-${label(b)}`}`,
            chrom: a === b ? a : `${a}-${b}`,
            files: (r.files as string[]).map((f) => join(run.releaseDir, 'genotypes', `${f}.parquet`)),
            firstVariantIdx: Number(r.first),
            lastVariantIdx: Number(r.last),
            nVariants: Number(r.n),
          };
        });
      });
    },

    /** Test every variant of one shard. Idempotent and resumable; see the module comment. */
    async runGwasShard(input: GwasShardInput): Promise<GwasShardResult> {
      const out = shardOutput(input.run, input.shard.shardId);
      const record = `${out}.json`;
      if ((await exists(out)) && (await exists(record))) {
        const done = JSON.parse(await readFile(record, 'utf8')) as GwasShardResult;
        if (done.sha256 === (await sha256File(out))) return done;
      }
      const ctx = Context.current();
      const threadInput: GwasThreadInput = {
        // One DuckDB thread per shard thread: the shard threads are the parallelism.
        config: { ...config, worker: { ...config.worker, duckdbThreads: 1 } },
        input,
        resumed: (ctx.info.heartbeatDetails as ShardCursor | undefined) ?? null,
      };
      return runInThread<GwasThreadInput, GwasShardResult, ShardCursor>(GWAS_THREAD, threadInput, {
        onProgress: (cursor) => ctx.heartbeat(cursor),
        signal: ctx.cancellationSignal,
      });
    },

    /**
     * Merge the shards: totals of the QC filters, λGC over the `ok` rows (median χ²₁ / 0.4549),
     * and lead loci by distance clumping (p threshold and ± window from the spec).
     */
    async mergeGwas(input: {
      run: RunContext;
      nShards: number;
      leadLoci: { p: number; windowKb: number; max: number };
      /** Trait labels when several traits were tested in one pass (AnalysisTable.traits). */
      traits?: string[];
    }): Promise<GwasSummary> {
      const { run, nShards, leadLoci, traits } = input;
      const dir = join(run.runDir, 'gwas-shards');
      const records = (await readdir(dir)).filter((f) => f.endsWith('.parquet.json'));
      if (records.length !== nShards) {
        throw new Error(`expected ${nShards} finished GWAS shards in ${dir}, found ${records.length}`);
      }
      const qc = emptyQc();
      for (const f of records) {
        const r = JSON.parse(await readFile(join(dir, f), 'utf8')) as GwasShardResult;
        for (const k of Object.keys(qc) as (keyof QcCounts)[]) qc[k] += r.qc[k];
      }
      const glob = join(dir, '*.parquet');
      return withCompute(config, async (conn) => {
        // Rows per trait and status: every summary says why variants gave no result.
        const byStatus =
          records.length === 0
            ? []
            : (
                await conn.runAndReadAll(
                  `SELECT trait::INTEGER AS trait, status, count(*)::BIGINT AS n
                   FROM read_parquet(${sqlString(glob)}) GROUP BY ALL ORDER BY ALL`,
                )
              ).getRows();
        const statusOf = (k: number): Record<string, number> => {
          const out: Record<string, number> = {};
          for (const [t, status, n] of byStatus) if (Number(t) === k) out[String(status)] = Number(n);
          return out;
        };
        const statusCounts = statusOf(0);
        if (!byStatus.some(([, status]) => status === 'ok')) throw noResults(qc, statusCounts);
        // λGC per trait from the middle p-values (median χ²), sorted by DuckDB.
        const middle = await conn.runAndReadAll(
          `WITH r AS (
             SELECT trait, p, row_number() OVER (PARTITION BY trait ORDER BY p) AS rn,
                    count(*) OVER (PARTITION BY trait) AS cnt
             FROM read_parquet(${sqlString(glob)}) WHERE status = 'ok' AND p IS NOT NULL AND NOT isnan(p))
           SELECT trait::INTEGER, p FROM r WHERE rn = (cnt + 1) // 2 OR rn = cnt // 2 + 1`,
        );
        const mid = new Map<number, number[]>();
        for (const [k, p] of middle.getRows()) mid.set(Number(k), [...(mid.get(Number(k)) ?? []), Number(p)]);
        const lambdaOf = (k: number) => (mid.has(k) ? lambdaGcFromMiddleP(mid.get(k) as number[]) : null);
        const lambdaGc = lambdaOf(0);
        const perTrait =
          traits && traits.length > 1
            ? traits.map((phenotype, k) => ({ phenotype, lambdaGc: lambdaOf(k), statusCounts: statusOf(k) }))
            : undefined;
        // Lead loci (and the PheWAS after them) follow the main trait.
        const sig = await conn.runAndReadAll(
          `SELECT variant_idx, chrom, pos, ref, alt, p, neg_log10_p, beta FROM read_parquet(${sqlString(glob)})
           WHERE status = 'ok' AND p < $1 AND trait = 0 ORDER BY variant_idx`,
          [leadLoci.p],
        );
        const rows = sig.getRowObjectsJS() as {
          variant_idx: bigint;
          chrom: string;
          pos: bigint;
          ref: string;
          alt: string;
          p: number;
          neg_log10_p: number;
          beta: number | null;
        }[];
        const clumped = distanceClump(
          rows.map((r) => r.chrom),
          Float64Array.from(rows, (r) => Number(r.pos)),
          Float64Array.from(rows, (r) => r.neg_log10_p),
          { pThreshold: leadLoci.p, windowBp: leadLoci.windowKb * 1000 },
        );
        const loci: LeadLocus[] = [];
        for (const lead of clumped.leads) {
          if (loci.length >= leadLoci.max) break;
          const members = rows.filter((_, i) => clumped.leadOf[i] === lead);
          const r = rows[lead];
          loci.push({
            locusId: `${r.chrom}:${r.pos}`,
            variantIdx: Number(r.variant_idx),
            chrom: r.chrom,
            pos: Number(r.pos),
            ref: r.ref,
            alt: r.alt,
            p: r.p,
            beta: r.beta,
            start: Math.min(...members.map((m) => Number(m.pos))),
            end: Math.max(...members.map((m) => Number(m.pos))),
            nVariants: members.length,
          });
        }
        return {
          resultsGlob: glob,
          nTested: qc.nTested,
          statusCounts,
          lambdaGc,
          ...(perTrait ? { traits: perTrait } : {}),
          leadLoci: loci,
          qc,
        };
      });
    },
  };
}
