import {
  DOUBLE,
  type DuckDBAppender,
  DuckDBDataChunk,
  type DuckDBDoubleVector,
  type DuckDBIntegerVector,
  type DuckDBSmallIntVector,
  type DuckDBUTinyIntVector,
  INTEGER,
  SMALLINT,
  UTINYINT,
} from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { columnsOfSchema } from '../schemas/columns.js';
import { GWAS_PART_DDL, gwasPartRowSchema } from '../schemas/layouts.js';
import { type AssocColumns, allocAssocColumns } from '../stats/status.js';

/** Columns of a part file (schemas/layouts.ts); the data-chunk types follow the same contract. */
export const PART_DDL = GWAS_PART_DDL;
const DUCKDB_TYPES = { INTEGER, DOUBLE, UTINYINT, SMALLINT } as const;
export const PART_TYPES = columnsOfSchema('gwas part', gwasPartRowSchema).map(
  (c) => DUCKDB_TYPES[c.sql as keyof typeof DUCKDB_TYPES],
);
/** Rows per data chunk handed to the appender (DuckDB's vector size). */
export const CHUNK_ROWS = 2048;

/** SQL list literal of names, indexed by code + 1. */
export function codeNames(names: readonly string[]): string {
  return `[${names.map((x) => sqlString(x)).join(', ')}]`;
}

/** Result rows of one part, column-wise: variant index, allele frequency and the test's columns. */
export interface PartRows {
  idx: Int32Array;
  /** trait index (0: the main trait; k: the analysis table's y_k). */
  trait: Int16Array;
  af: Float64Array;
  res: AssocColumns;
  count: number;
}

export function allocPart(cap: number): PartRows {
  return {
    idx: new Int32Array(cap),
    trait: new Int16Array(cap),
    af: new Float64Array(cap),
    res: allocAssocColumns(cap),
    count: 0,
  };
}

/** Append a part's rows to `appender` in data chunks of CHUNK_ROWS (non-finite doubles become NULL). */
export function appendPart(appender: DuckDBAppender, part: PartRows): void {
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
