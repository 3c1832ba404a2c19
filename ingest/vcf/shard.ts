/**
 * One VCF shard → Parquet parts, streaming, resumable.
 *
 * A shard is a byte range of one VCF file (see `source.ts`). Its records are parsed by
 * `RecordParser`, split into biallelic records, and appended (DuckDB appender, no SQL per
 * row) into two in-memory tables that are written out as Parquet every chunk:
 *
 * ```
 * <partsDir>/<shardKey>/c00000.gt.parquet    variant_idx (shard-local), gt BLOB (2-bit packed, engine/genotypes.ts), ds BLOB, hap BLOB
 * <partsDir>/<shardKey>/c00000.var.parquet   variant stats and annotations (shard-local idx)
 * <partsDir>/<shardKey>/c00000.json          cursor after the chunk, cumulative counts
 * <partsDir>/<shardKey>/done.json            the shard's totals, written last
 * ```
 *
 * Each file is written to a temp path and renamed; the chunk's JSON is written after its
 * Parquet files. The activity heartbeats the same cursor, but a retry resumes from the
 * files, not from the heartbeat details: a heartbeat can be lost or throttled, while a
 * chunk's JSON exists only once its rows are durable. A retried shard resumes after the
 * last chunk whose JSON exists, deleting
 * anything later, so no record is written twice. A finished shard (done.json whose row
 * counts match its files) is skipped.
 */
import { join } from 'node:path';
import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import { atomicProduce, atomicWriteFile } from '../../engine/fsutil.js';
import { encodeDs, packedGtBytes, packGt } from '../../engine/genotypes.js';
import { hweExactP } from '../../stats/hwe.js';
import { type AlleleAnnotation, csqLayout, parseAnn, parseCsq } from './annotation.js';
import { parseVcfHeader, type ScoreColumn, type VcfHeader } from './header.js';
import { LineSplitter } from './lines.js';
import { type AlleleCounts, RecordError, RecordParser, splitAllele } from './record.js';
import { infoNumbers, infoValue } from './record-info.js';
import { haploidMask } from './record-split.js';
import { chunkName, finishedShard, resumePoint } from './shard-parts.js';
import { type ByteRange, type Cursor, readChunks, type SourceKind, sourceKind } from './source.js';

export { infoValue } from './record-info.js';

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
/** Flush a chunk when its genotype BLOBs reach this many bytes. */
const CHUNK_BYTES = 48 << 20;
/** …or this many biallelic records. */
const CHUNK_VARIANTS = 8192;

export interface ShardTask {
  /** Absolute VCF path. */
  file: string;
  /** The path to show in error messages (as written in the manifest). */
  displayName: string;
  kind: SourceKind;
  range: ByteRange;
  /** Output name, derived from the inputs (file index, range). */
  shardKey: string;
  /** Folder holding every shard's parts. */
  partsDir: string;
  /** Score columns of the whole release (same schema in every shard). */
  scores: ScoreColumn[];
  /**
   * Compression of the genotype parts (default lz4). Only the release's first shard keeps its
   * parts as final files; the others are rewritten by finalize (to add their variant-index
   * offset), so they are written uncompressed and compressed once, there.
   */
  genotypeCompression?: 'lz4' | 'zstd' | 'uncompressed';
}

export interface ShardProgress {
  shardKey: string;
  chunk: number;
  cursor: Cursor;
  nVariants: number;
  nRecords: number;
}

export interface ShardResult {
  shardKey: string;
  nVariants: number;
  nRecords: number;
  chunks: number;
  reused: boolean;
  resumedFromChunk: number;
  /** Rows in the genotype parts: nVariants, or 0 for a sites-only VCF. */
  nGenotypeRows?: number;
}

export interface ShardHooks {
  /** Called after every committed chunk with the resume cursor. */
  heartbeat?(progress: ShardProgress): void;
  /** Cancellation. */
  signal?: AbortSignal;
  /** Test hook: throw after this many chunks were committed in this attempt. */
  failAfterChunks?: number;
  /** Records per chunk (tests use small numbers to get many chunks). */
  chunkVariants?: number;
}

/** Variant columns of the parts, in order (score columns follow). */
export const PART_VARIANT_COLUMNS = `variant_idx BIGINT, chrom VARCHAR, pos BIGINT, rsid VARCHAR, ref VARCHAR,
  alt VARCHAR, qual DOUBLE, filter VARCHAR, af DOUBLE, ac BIGINT, an BIGINT, n_called BIGINT,
  call_rate DOUBLE, hwe_p DOUBLE, gene VARCHAR, consequence VARCHAR, impact VARCHAR, ds_sum DOUBLE`;

/** Read the header of a VCF file. */
export async function readVcfHeader(
  path: string,
  displayName: string,
): Promise<{ header: VcfHeader; kind: SourceKind }> {
  const kind = await sourceKind(path);
  const lines: string[] = [];
  let text = '';
  outer: for await (const chunk of readChunks(
    path,
    kind,
    { block: 0, offset: 0 },
    Number.POSITIVE_INFINITY,
  )) {
    text += chunk.data.toString('latin1');
    let nl = text.indexOf('\n');
    while (nl >= 0) {
      const line = text.slice(0, nl).replace(/\r$/, '');
      if (!line.startsWith('#')) break outer;
      lines.push(line);
      if (line.startsWith('#CHROM')) break outer;
      text = text.slice(nl + 1);
      nl = text.indexOf('\n');
    }
    if (text.length > 64 << 20) break;
  }
  return { header: parseVcfHeader(lines, displayName), kind };
}

/**
 * The 1-based line number of the line starting at `cursor` (counts newlines before it).
 * Used only to name the line of an error in a shard that did not start at the top.
 */
export async function lineNumberAt(path: string, kind: SourceKind, cursor: Cursor): Promise<number> {
  let lines = 1;
  for await (const chunk of readChunks(path, kind, { block: 0, offset: 0 }, Number.POSITIVE_INFINITY)) {
    const d = chunk.data;
    let upto = d.length;
    let stop = false;
    if (kind === 'bgzf') {
      if (chunk.block > cursor.block) break;
      if (chunk.block === cursor.block) {
        upto = Math.min(d.length, cursor.offset - chunk.offset);
        stop = true;
      }
    } else if (chunk.block + d.length >= cursor.block) {
      upto = cursor.block - chunk.block;
      stop = true;
    }
    for (let i = 0; i < upto; i++) if (d[i] === 10) lines++;
    if (stop) break;
  }
  return lines;
}

/**
 * Ingest one shard. Resumes after the last committed chunk of an earlier attempt.
 * @throws InputError naming file, line and field for a malformed record
 */
export async function ingestShard(
  conn: DuckDBConnection,
  task: ShardTask,
  hooks: ShardHooks = {},
): Promise<ShardResult> {
  const dir = join(task.partsDir, task.shardKey);
  const finished = await finishedShard(conn, dir);
  if (finished) return finished;
  const { header } = await readVcfHeader(task.file, task.displayName);
  const resume = await resumePoint(dir);
  const from: Cursor = resume ? resume.cursor : { block: task.range.start, offset: 0 };
  let chunk = resume ? resume.chunk + 1 : 0;
  let nVariants = resume ? resume.nVariants : 0;
  let nRecords = resume ? resume.nRecords : 0;
  const resumedFromChunk = chunk;

  const nSamples = header.samples.length;
  const parser = new RecordParser(header.samples);
  const gt = new Uint8Array(nSamples);
  const packed = new Uint8Array(packedGtBytes(nSamples));
  const hap = new Uint8Array(packedGtBytes(nSamples));
  const counts: AlleleCounts = { ac: 0, an: 0, nCalled: 0, homRef: 0, het: 0, homAlt: 0, dosageSum: 0 };
  const csq = header.csqFields ? csqLayout(header.csqFields) : null;
  const chunkLimit = hooks.chunkVariants ?? CHUNK_VARIANTS;

  const tag = `${task.shardKey.replace(/[^A-Za-z0-9_]/g, '_')}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const gtTable = sqlIdent(`ingest_gt_${tag}`);
  const varTable = sqlIdent(`ingest_var_${tag}`);
  const scoreDdl = task.scores.map((s) => `, ${sqlIdent(s.column)} DOUBLE`).join('');
  const createTables = async () => {
    await conn.run(`CREATE OR REPLACE TABLE ${gtTable} (variant_idx BIGINT, gt BLOB, ds BLOB, hap BLOB)`);
    await conn.run(`CREATE OR REPLACE TABLE ${varTable} (${PART_VARIANT_COLUMNS}${scoreDdl})`);
  };
  let gtApp: DuckDBAppender;
  let varApp: DuckDBAppender;
  const openAppenders = async () => {
    await createTables();
    gtApp = await conn.createAppender(`ingest_gt_${tag}`);
    varApp = await conn.createAppender(`ingest_var_${tag}`);
  };
  await openAppenders();
  let chunkVariants = 0;
  let chunkBytes = 0;
  let committedThisAttempt = 0;
  const splitter = new LineSplitter(task.kind, !resume && task.range.start > 0);

  const commit = async () => {
    gtApp.closeSync();
    varApp.closeSync();
    const base = join(dir, chunkName(chunk));
    await atomicProduce(`${base}.gt.parquet`, (tmp) =>
      conn.run(
        `COPY ${gtTable} TO ${sqlString(tmp)} (FORMAT parquet, ${genotypeCompressionSql(task.genotypeCompression)}, ROW_GROUP_SIZE ${GENOTYPE_ROW_GROUP})`,
      ),
    );
    await atomicProduce(`${base}.var.parquet`, (tmp) =>
      conn.run(`COPY (SELECT * FROM ${varTable} ORDER BY variant_idx) TO ${sqlString(tmp)} (FORMAT parquet)`),
    );
    const progress: ShardProgress = {
      shardKey: task.shardKey,
      chunk,
      cursor: splitter.cursor(),
      nVariants,
      nRecords,
    };
    await atomicWriteFile(`${base}.json`, JSON.stringify(progress));
    hooks.heartbeat?.(progress);
    chunk++;
    chunkVariants = 0;
    chunkBytes = 0;
    committedThisAttempt++;
    if (hooks.failAfterChunks !== undefined && committedThisAttempt >= hooks.failAfterChunks)
      throw new Error(`test hook: shard ${task.shardKey} stops after ${committedThisAttempt} chunks`);
    if (hooks.signal?.aborted) throw hooks.signal.reason ?? new Error('cancelled');
    await openAppenders();
  };

  let failure: { err: RecordError; at: Cursor } | null = null;
  const annotations = (info: string): AlleleAnnotation[] | null => {
    if (csq) {
      const v = infoValue(info, 'CSQ');
      if (v !== null) return parseCsq(v, csq, parser.ref, parser.alts);
    }
    if (header.hasAnn) {
      const v = infoValue(info, 'ANN');
      if (v !== null) return parseAnn(v, parser.alts);
    }
    return null;
  };

  const onLine = (buf: Buffer, start: number, end: number): boolean | undefined => {
    try {
      parser.parse(buf, start, end);
    } catch (err) {
      if (err instanceof RecordError) {
        failure = { err, at: splitter.cursorAt(start) };
        return true;
      }
      throw err;
    }
    nRecords++;
    const ann = annotations(parser.info);
    const scoreValues = task.scores.map((s) => infoNumbers(parser.info, s.infoId));
    for (let a = 1; a <= parser.alts.length; a++) {
      const gtBytes = splitAllele(parser, a, gt, counts);
      const idx = nVariants++;
      if (nSamples > 0) {
        gtApp.appendBigInt(BigInt(idx));
        // A biallelic record of plain diploid calls comes packed from the parser.
        gtApp.appendBlob(parser.packedReady ? parser.packed : packGt(gtBytes, nSamples, packed));
        if (parser.hasDosage) gtApp.appendBlob(encodeDs(parser.dosage, nSamples, (a - 1) * nSamples));
        else gtApp.appendNull();
        // Haploid calls (chrX of males, chrY, MT): which samples, so QC counts them as one allele.
        if (counts.an < 2 * counts.nCalled) gtApp.appendBlob(haploidMask(parser, hap));
        else gtApp.appendNull();
        gtApp.endRow();
      }
      varApp.appendBigInt(BigInt(idx));
      varApp.appendVarchar(parser.chrom);
      varApp.appendBigInt(BigInt(parser.pos));
      appendText(varApp, parser.id === '.' || parser.id === '' ? null : parser.id);
      varApp.appendVarchar(parser.ref);
      varApp.appendVarchar(parser.alts[a - 1]);
      appendNum(varApp, parser.qual);
      appendText(varApp, parser.filter);
      appendNum(varApp, counts.an > 0 ? counts.ac / counts.an : null);
      varApp.appendBigInt(BigInt(counts.ac));
      varApp.appendBigInt(BigInt(counts.an));
      varApp.appendBigInt(BigInt(counts.nCalled));
      appendNum(varApp, nSamples > 0 ? counts.nCalled / nSamples : null);
      const nDiploid = counts.homRef + counts.het + counts.homAlt;
      appendNum(varApp, nDiploid > 0 ? hweExactP(counts.homRef, counts.het, counts.homAlt) : null);
      const an = ann?.[a - 1];
      appendText(varApp, an?.gene ?? null);
      appendText(varApp, an?.consequence ?? null);
      appendText(varApp, an?.impact ?? null);
      appendNum(varApp, parser.hasDosage ? counts.dosageSum : null);
      for (let i = 0; i < task.scores.length; i++) {
        const s = task.scores[i];
        const vals = scoreValues[i];
        let v = vals === null ? null : s.perAllele ? (vals[a - 1] ?? null) : vals[0];
        if (v === null || Number.isNaN(v)) v = an?.scores[s.column] ?? null;
        appendNum(varApp, v);
      }
      varApp.endRow();
      chunkVariants++;
      chunkBytes += packed.length + (parser.hasDosage ? 4 * nSamples : 0);
    }
    return chunkVariants >= chunkLimit || chunkBytes >= CHUNK_BYTES ? true : undefined;
  };

  const raise = async (f: { err: RecordError; at: Cursor }): Promise<never> => {
    const line = await lineNumberAt(task.file, task.kind, f.at);
    throw new InputError(f.err.message, { file: task.displayName, line, field: f.err.field });
  };

  try {
    for await (const c of readChunks(task.file, task.kind, from, task.range.end)) {
      splitter.push(c);
      while (!splitter.drain(onLine)) {
        if (failure) await raise(failure);
        await commit();
      }
      if (splitter.done) break;
    }
    while (!splitter.drain(onLine, true)) {
      if (failure) await raise(failure);
      await commit();
    }
    if (chunkVariants > 0 || chunk === 0) await commit();
    gtApp!.closeSync();
    varApp!.closeSync();
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${gtTable}`).catch(() => {});
    await conn.run(`DROP TABLE IF EXISTS ${varTable}`).catch(() => {});
  }
  const result: ShardResult = {
    shardKey: task.shardKey,
    nVariants,
    nRecords,
    chunks: chunk,
    reused: false,
    resumedFromChunk,
    nGenotypeRows: nSamples > 0 ? nVariants : 0,
  };
  await atomicWriteFile(join(dir, 'done.json'), JSON.stringify(result));
  return result;
}

function appendText(app: DuckDBAppender, v: string | null): void {
  if (v === null) app.appendNull();
  else app.appendVarchar(v);
}

function appendNum(app: DuckDBAppender, v: number | null): void {
  if (v === null || !Number.isFinite(v)) app.appendNull();
  else app.appendDouble(v);
}
