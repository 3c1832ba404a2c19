/**
 * The inputs of a meta-analysis: each file read and validated by ingest/sumstats.ts (errors name
 * file, line and column) and stored once, normalised, as Parquet content-addressed by its sha256
 * and format (`<dataDir>/meta-inputs/<sha256>-<format|auto>.parquet`, with the reader's
 * provenance beside it as `.json`), so a repeated or resumed run reads nothing again. Rows are
 * sorted by chromosome (as text) and position, so the per-chromosome reads of meta/run.ts skip
 * the rest of the file (Parquet row-group statistics).
 *
 * λGC of each input is computed from its own p-values (stats/multiple-testing.ts
 * `lambdaGcFromMiddleP`: the middle p-values are found in SQL).
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { atomicProduce, atomicWriteFile, exists } from '../engine/fsutil.js';
import {
  readSumstats,
  SUMSTATS_FORMATS,
  type SumstatsFormat,
  type SumstatsProvenance,
} from '../ingest/sumstats.js';
import type { MetaInputRef, MetaSpec } from '../schemas/meta.js';
import { lambdaGcFromMiddleP } from '../stats/multiple-testing.js';
import { inputPath } from './spec.js';

/** SQL ordering rank of a chromosome (1–22, X, Y, XY, MT, then the rest). */
export function chromRankSql(c: string): string {
  return `(CASE WHEN regexp_full_match(${c}, '[0-9]+') THEN CAST(${c} AS INTEGER)
    WHEN ${c} = 'X' THEN 23 WHEN ${c} = 'Y' THEN 24 WHEN ${c} = 'XY' THEN 25 WHEN ${c} = 'MT' THEN 26 ELSE 1000 END)`;
}

/** λGC of p-values in `from` (a table or a `(SELECT …)` with a column `p`), or null. */
export async function lambdaGcOf(
  conn: DuckDBConnection,
  from: string,
  where = 'p IS NOT NULL',
): Promise<number | null> {
  const n = Number((await conn.runAndReadAll(`SELECT count(*) FROM ${from} WHERE ${where}`)).getRows()[0][0]);
  if (n === 0) return null;
  // ranks ⌈n/2⌉ and ⌊n/2⌋ + 1 (1-based) of the sorted p-values
  const lo = Math.ceil(n / 2) - 1;
  const hi = Math.floor(n / 2);
  const rows = (
    await conn.runAndReadAll(
      `SELECT p FROM ${from} WHERE ${where} ORDER BY p LIMIT ${hi - lo + 1} OFFSET ${lo}`,
    )
  ).getRows();
  const middle = rows.map((r) => Number(r[0]));
  const l = lambdaGcFromMiddleP(lo === hi ? [middle[0]] : middle);
  return Number.isFinite(l) ? l : null;
}

/** A spec's format as a GWAS format (the spec schema allows only these for kind gwas). */
function gwasFormat(format: MetaSpec['inputs'][number]['format']): SumstatsFormat | undefined {
  return (SUMSTATS_FORMATS as readonly string[]).includes(format ?? '')
    ? (format as SumstatsFormat)
    : undefined;
}

interface CachedInput {
  provenance: SumstatsProvenance;
  lambdaGc: number | null;
}

/** `<dataDir>/meta-inputs`: the normalised inputs, shared by every meta run. */
export function metaInputsDir(dataDir: string): string {
  return join(dataDir, 'meta-inputs');
}

let scratch = 0;

/**
 * Read one input into its normalised Parquet (or find it there). Throws InputError on bad input
 * and then writes nothing.
 */
async function readOne(
  conn: DuckDBConnection,
  path: string,
  sha256: string,
  format: SumstatsFormat | undefined,
  dir: string,
): Promise<{ parquet: string } & CachedInput> {
  const base = join(dir, `${sha256}-${format ?? 'auto'}`);
  const parquet = `${base}.parquet`;
  const json = `${base}.json`;
  if ((await exists(parquet)) && (await exists(json))) {
    return { parquet, ...(JSON.parse(await readFile(json, 'utf8')) as CachedInput) };
  }
  const table = `meta_read_${process.pid}_${++scratch}`;
  try {
    const provenance = await readSumstats(conn, path, { table, format });
    if (provenance.sha256 !== sha256)
      throw new Error(`${path} changed while it was read (sha256 ${provenance.sha256}, expected ${sha256})`);
    await atomicProduce(parquet, (tmp) =>
      conn.run(
        `COPY (SELECT * FROM ${table} ORDER BY chrom, pos)
         TO ${sqlString(tmp)} (FORMAT parquet, ROW_GROUP_SIZE 16384)`,
      ),
    );
    const lambdaGc = await lambdaGcOf(conn, table);
    const cached: CachedInput = { provenance, lambdaGc };
    await atomicWriteFile(json, JSON.stringify(cached, null, 2));
    return { parquet, ...cached };
  } catch (err) {
    await rm(parquet, { force: true });
    throw err;
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
  }
}

/**
 * Read and validate every input of `spec` (results in spec order), store each normalised, and
 * return their references with provenance: counts as given (spec, else the file's metadata).
 * `withConn` runs a step on a connection of its own; up to `concurrency` inputs are read at once
 * (DuckDB decompresses one gzip file on one thread, so two files use two cores).
 */
export async function readMetaInputs(
  withConn: <T>(fn: (conn: DuckDBConnection) => Promise<T>) => Promise<T>,
  spec: MetaSpec,
  sha256: string[],
  dataDir: string,
  options: { concurrency?: number; onInput?: (i: number) => void } = {},
): Promise<MetaInputRef[]> {
  const out = new Array<MetaInputRef>(spec.inputs.length);
  let next = 0;
  let failed: unknown;
  const lane = async () => {
    while (failed === undefined && next < spec.inputs.length) {
      const i = next++;
      options.onInput?.(i);
      const input = spec.inputs[i];
      const path = inputPath(spec, i);
      try {
        const got = await withConn((conn) =>
          readOne(conn, path, sha256[i], gwasFormat(input.format), metaInputsDir(dataDir)),
        );
        const p = got.provenance;
        out[i] = {
          index: i,
          label: input.label,
          format: p.format,
          path,
          sha256: p.sha256,
          parquet: got.parquet,
          rowsRead: p.rowsRead,
          rowsKept: p.rowsKept,
          dropped: { ...p.dropped },
          n: input.n ?? p.sampleSize ?? p.maxN ?? null,
          nCases: input.nCases ?? p.cases ?? null,
          nControls: input.nControls ?? p.controls ?? null,
          ancestry: input.ancestry ?? null,
          lambdaGc: got.lambdaGc,
        };
      } catch (err) {
        // the earliest input's error is reported, whatever finished first
        if (failed === undefined) failed = { i, err };
        else if ((failed as { i: number }).i > i) failed = { i, err };
      }
    }
  };
  const lanes = Math.max(1, Math.min(options.concurrency ?? 1, spec.inputs.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  if (failed !== undefined) throw (failed as { err: unknown }).err;
  return out;
}

/**
 * Validate every input without keeping anything (`biobank meta check`): each file is read into
 * a temporary table and dropped. Throws InputError naming file, line and column.
 */
export async function checkMetaInputs(
  conn: DuckDBConnection,
  spec: MetaSpec,
): Promise<(SumstatsProvenance & { label: string })[]> {
  const out: (SumstatsProvenance & { label: string })[] = [];
  for (let i = 0; i < spec.inputs.length; i++) {
    const input = spec.inputs[i];
    const table = `meta_check_${process.pid}_${++scratch}`;
    try {
      const p = await readSumstats(conn, inputPath(spec, i), {
        table,
        format: gwasFormat(input.format),
        label: input.label,
        sampleSize: input.n,
        cases: input.nCases,
        controls: input.nControls,
      });
      out.push({ ...p, label: input.label });
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
    }
  }
  return out;
}
