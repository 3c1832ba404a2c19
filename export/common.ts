/**
 * Shared pieces of the exports: the run lookup, chromosome coding, and the
 * all-or-nothing output folder.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { withCompute } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { exists, tempPathFor } from '../engine/fsutil.js';
import { gwasReadSql } from '../engine/results.js';
import { runGwasFiles } from '../engine/run-files.js';
import type { EngineConfig } from '../temporal.config.js';

// The small-cell rule lives in engine/privacy.ts (used by exports, report and viewer alike).
export {
  privacyNote,
  type Suppression,
  suppressCount,
  suppressCountGroup,
  suppressedCountGroupSql,
} from '../engine/privacy.js';
export { requireRun } from '../engine/results.js';

/**
 * SQL giving the GWAS-SSF chromosome code of a `chrom` value: 1–22, X = 23, Y = 24, MT = 25,
 * with or without a `chr` prefix; NULL for anything else (alternative contigs, PAR labels).
 */
export function chromCodeSql(column: string): string {
  const c = `upper(regexp_replace(${column}, '^chr', '', 'i'))`;
  return `CASE WHEN regexp_full_match(${c}, '[1-9]|1[0-9]|2[0-2]') THEN CAST(${c} AS INTEGER)
    WHEN ${c} = 'X' THEN 23 WHEN ${c} = 'Y' THEN 24 WHEN ${c} IN ('M', 'MT') THEN 25 END`;
}

/**
 * SQL writing p as text. Where p underflowed to 0 in double precision but −log10 p is known,
 * p is written from −log10 p as `m.mmmme-E`, so the most significant hits keep their rank.
 */
export function pValueTextSql(p: string, negLog10P: string): string {
  return `CASE WHEN ${p} > 0 THEN CAST(${p} AS VARCHAR)
    WHEN ${p} = 0 AND ${negLog10P} > 0 AND isfinite(${negLog10P})
      THEN printf('%.4fe-%d', pow(10, ceil(${negLog10P}) - ${negLog10P}), CAST(ceil(${negLog10P}) AS INTEGER)) END`;
}

/** The run's GWAS phenotypes (from its recorded Parquet files), sorted. */
export async function gwasPhenotypes(config: EngineConfig, runId: string): Promise<string[]> {
  const files = await runGwasFiles(config, runId);
  if (files.length === 0) return [];
  return withCompute(config, async (conn) => {
    const reader = await conn.runAndReadAll(
      `SELECT DISTINCT phenotype FROM (${gwasReadSql(files)}) ORDER BY 1`,
    );
    return reader.getRows().map((r) => String(r[0]));
  });
}

/** The phenotypes to export: all of the run's, or the one asked for (which must exist). */
export async function selectPhenotypes(
  config: EngineConfig,
  runId: string,
  phenotype?: string,
): Promise<string[]> {
  const all = await gwasPhenotypes(config, runId);
  if (all.length === 0)
    throw new InputError(`run ${runId} has no GWAS results to export`, { field: '--run' });
  if (phenotype === undefined) return all;
  if (!all.includes(phenotype))
    throw new InputError(
      `unknown phenotype ${JSON.stringify(phenotype)} for run ${runId}`,
      { field: '--phenotype' },
      `the run's phenotypes: ${all.join(', ')}`,
    );
  return [phenotype];
}

/** A file-name-safe form of a name (letters, digits, `.`, `_`, `-`). */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_');
}

/** md5 of a file's bytes, hex (GWAS-SSF's `data_file_md5sum`). */
export async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Create the folder `out` all at once: `produce` fills a sibling temp folder, which is renamed
 * to `out` only when it succeeds. `out` must not exist or be an empty folder; nothing is left
 * behind on failure.
 */
export async function produceFolder<T>(
  out: string,
  produce: (tmp: string, finalDir: string) => Promise<T>,
): Promise<T> {
  const finalDir = resolve(out);
  if (await exists(finalDir)) {
    const entries = await readdir(finalDir).catch(() => {
      throw new InputError(`${finalDir} exists and is not a folder`, { field: '--out' });
    });
    if (entries.length > 0)
      throw new InputError(
        `output folder ${finalDir} is not empty`,
        { field: '--out' },
        'choose a new folder or remove the old export',
      );
  }
  await mkdir(dirname(finalDir), { recursive: true });
  const tmp = tempPathFor(finalDir);
  await mkdir(tmp);
  try {
    const result = await produce(tmp, finalDir);
    if (await exists(finalDir)) await rmdir(finalDir);
    await rename(tmp, finalDir);
    return result;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Result of an export: the folder and the files in it (names relative to the folder). */
export interface ExportResult {
  out: string;
  files: string[];
  /** Per phenotype (GWAS exports) or table: rows written and rows left out, with the reason. */
  rows: { name: string; written: number; excluded: number }[];
}
