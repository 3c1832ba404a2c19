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
import type { DuckDBConnection } from '@duckdb/node-api';
import { InputError } from '../../engine/errors.js';
import { encodeDs, packedGtBytes, packGt } from '../../engine/genotypes.js';
import { CHUNK_VARIANTS, PartWriter, writeShardDone } from '../parts.js';
import { type AlleleAnnotation, csqLayout, parseAnn, parseCsq } from './annotation.js';
import { parseVcfHeader, type ScoreColumn, type VcfHeader } from './header.js';
import { LineSplitter } from './lines.js';
import { type AlleleCounts, RecordError, RecordParser, splitAllele } from './record.js';
import { infoNumbers, infoValue } from './record-info.js';
import { haploidMask } from './record-split.js';
import { finishedShard, resumePoint } from './shard-parts.js';
import { type ByteRange, type Cursor, readChunks, type SourceKind, sourceKind } from './source.js';

export {
  GENOTYPE_COMPRESSION,
  GENOTYPE_ROW_GROUP,
  genotypeCompressionSql,
  PART_VARIANT_COLUMNS,
} from '../parts.js';
export { infoValue } from './record-info.js';

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

  const parts = await PartWriter.open(conn, task);
  const splitter = new LineSplitter(task.kind, !resume && task.range.start > 0);

  const commit = async () => {
    await parts.commitChunk(
      { shardKey: task.shardKey, chunk, cursor: splitter.cursor(), nVariants, nRecords },
      hooks,
    );
    chunk++;
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
      if (nSamples > 0)
        parts.appendGenotypes(
          idx,
          // A biallelic record of plain diploid calls comes packed from the parser.
          parser.packedReady ? parser.packed : packGt(gtBytes, nSamples, packed),
          parser.hasDosage ? encodeDs(parser.dosage, nSamples, (a - 1) * nSamples) : null,
          // Haploid calls (chrX of males, chrY, MT): which samples, so QC counts them as one allele.
          counts.an < 2 * counts.nCalled ? haploidMask(parser, hap) : null,
        );
      const an = ann?.[a - 1];
      parts.appendVariant({
        idx,
        chrom: parser.chrom,
        pos: parser.pos,
        id: parser.id === '.' || parser.id === '' ? null : parser.id,
        ref: parser.ref,
        alt: parser.alts[a - 1],
        qual: parser.qual,
        filter: parser.filter,
        counts,
        nSamples,
        gene: an?.gene ?? null,
        consequence: an?.consequence ?? null,
        impact: an?.impact ?? null,
        dsSum: parser.hasDosage ? counts.dosageSum : null,
        scores: task.scores.map((s, i) => {
          const vals = scoreValues[i];
          let v = vals === null ? null : s.perAllele ? (vals[a - 1] ?? null) : vals[0];
          if (v === null || Number.isNaN(v)) v = an?.scores[s.column] ?? null;
          return v;
        }),
      });
    }
    return parts.full(chunkLimit) ? true : undefined;
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
    if (parts.chunkVariants > 0 || chunk === 0) await commit();
  } finally {
    await parts.drop();
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
  await writeShardDone(task, result);
  return result;
}
