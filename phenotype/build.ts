/**
 * Materialise the phenome of a release (or of a cohort within it) to Parquet, idempotently:
 * the output folder name derives from the inputs (version, minCodeCount, exclusions, the
 * maps' hashes, the cohort), and a folder that already exists is reused.
 *
 * Output folder (`<release>/derived/phenome/<key>/` unless `outDir` is given):
 * `phenome.parquet` (cases and excluded, see phenome.ts), `cohort.parquet`, `counts.parquet`
 * (release_id, phecode_version, phecode, n_cases, n_controls, n_excluded), `code_counts.parquet`
 * and `info.json` (the maps' versions and sha256s, the unmapped-code report, the sizes).
 * The cohort enters the key by the sha256 of its Parquet file.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { atomicProduce, canonicalJson, exists, sha256File, sha256Text } from '../engine/fsutil.js';
import { PHENOME_COUNTS_DDL } from '../schemas/catalog.js';
import type { PhecodeMapInfo, PhecodeVersion } from '../schemas/phenotype.js';
import { loadPhecodeMaps } from './maps.js';
import {
  computePhenome,
  resolveOptions,
  type UnmappedReport,
  unmappedCodes,
  writePhenomeParquet,
} from './phenome.js';
import { releaseTables } from './release.js';

export interface BuildPhenomeInput {
  releaseId: string;
  releaseDir: string;
  version: PhecodeVersion;
  /** Folder with the public map files of `version`. */
  mapsDir: string;
  minCodeCount?: number;
  exclusions?: boolean;
  /** Parquet with a `person_id` column restricting the cohort (default: all persons). */
  cohortPath?: string;
  /** Where to write (default under the release's derived folder). */
  outDir?: string;
}

export interface BuildPhenomeResult {
  dir: string;
  phenome: string;
  cohort: string;
  counts: string;
  codeCounts: string;
  maps: PhecodeMapInfo;
  nPersons: number;
  nRows: number;
  nCasePairs: number;
  unmapped: UnmappedReport;
  minCodeCount: number;
  exclusions: boolean;
  reused: boolean;
}

/** Build (or reuse) a phenome. `conn` is a compute connection. */
export async function buildPhenome(
  conn: DuckDBConnection,
  input: BuildPhenomeInput,
): Promise<BuildPhenomeResult> {
  const rel = releaseTables(input.releaseDir);
  for (const p of [rel.persons, rel.conditions]) {
    if (!(await exists(p))) throw new InputError('release table not found', { file: p });
  }
  const o = resolveOptions(input);
  const maps = await loadPhecodeMaps(conn, input.mapsDir, o.version);
  const key = sha256Text(
    canonicalJson({
      version: o.version,
      min: o.minCodeCount,
      excl: o.exclusions,
      maps: maps.files.map((f) => f.sha256),
      cohort: input.cohortPath ? await sha256File(input.cohortPath) : null,
      release: rel.dir,
    }),
  ).slice(0, 12);
  const dir =
    input.outDir ??
    join(rel.derivedDir, 'phenome', `${o.version === '1.2' ? 'v1.2' : 'X'}-min${o.minCodeCount}-${key}`);
  const files = {
    phenome: join(dir, 'phenome.parquet'),
    cohort: join(dir, 'cohort.parquet'),
    counts: join(dir, 'counts.parquet'),
    codeCounts: join(dir, 'code_counts.parquet'),
  };
  const infoPath = join(dir, 'info.json');
  if (await exists(infoPath)) {
    const info = JSON.parse(await readFile(infoPath, 'utf8')) as BuildPhenomeResult;
    return { ...info, ...files, dir, reused: true };
  }
  await mkdir(join(dir, '..'), { recursive: true });
  return atomicProduce(dir, async (tmp) => {
    await mkdir(tmp, { recursive: true });
    if (input.cohortPath) {
      await conn.run(
        `CREATE OR REPLACE TEMP TABLE _ph_cohort_in AS SELECT DISTINCT CAST(person_id AS VARCHAR) AS person_id
         FROM read_parquet(${sqlString(input.cohortPath)})`,
      );
    }
    await computePhenome(
      conn,
      {
        conditions: rel.conditions,
        persons: rel.persons,
        cohortTable: input.cohortPath ? '_ph_cohort_in' : undefined,
      },
      o,
    );
    await writePhenomeParquet(
      conn,
      {
        phenome: join(tmp, 'phenome.parquet'),
        cohort: join(tmp, 'cohort.parquet'),
        counts: join(tmp, 'counts.parquet'),
        codeCounts: join(tmp, 'code_counts.parquet'),
      },
      input.releaseId,
      o.version,
    );
    const sizes = (
      await conn.runAndReadAll(
        `SELECT (SELECT count(*) FROM _ph_cohort)::INTEGER AS persons, count(*)::INTEGER AS n_rows,
                coalesce(sum(n_cases), 0)::INTEGER AS cases FROM _ph_bits`,
      )
    ).getRowObjectsJS()[0];
    const unmapped = await unmappedCodes(conn, rel.conditions, o.version);
    for (const t of ['_ph_bits', '_ph_counts', '_ph_cohort', '_ph_phecode_counts', '_ph_cohort_in']) {
      await conn.run(`DROP TABLE IF EXISTS ${t}`);
    }
    const result: BuildPhenomeResult = {
      dir,
      ...files,
      maps,
      nPersons: sizes.persons as number,
      nRows: sizes.n_rows as number,
      nCasePairs: sizes.cases as number,
      unmapped,
      minCodeCount: o.minCodeCount,
      exclusions: o.exclusions,
      reused: false,
    };
    await writeFile(join(tmp, 'info.json'), `${JSON.stringify(result, null, 2)}\n`);
    return result;
  });
}

/** Named statement set: replace a release's rows in the engine DB's `phenome_counts` table. */
export async function recordPhenomeCounts(
  conn: DuckDBConnection,
  countsPath: string,
  releaseId: string,
  version: PhecodeVersion,
): Promise<void> {
  await conn.run(PHENOME_COUNTS_DDL);
  await conn.run('BEGIN TRANSACTION');
  try {
    await conn.run('DELETE FROM phenome_counts WHERE release_id = $1 AND phecode_version = $2', [
      releaseId,
      version,
    ]);
    await conn.run(
      `INSERT INTO phenome_counts SELECT release_id, phecode_version, phecode, n_cases, n_controls, n_excluded
       FROM read_parquet(${sqlString(countsPath)})`,
    );
    await conn.run('COMMIT');
  } catch (err) {
    await conn.run('ROLLBACK');
    throw err;
  }
}
