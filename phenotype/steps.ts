/**
 * The phenotyping steps the stand-alone phenotype activities run (activities/phenotype.ts):
 * a cohort's persons, a study phenotype and a covariate matrix, each written to the Parquet
 * file `tmp` on one DuckDB connection. The caller makes the write atomic and reuses outputs.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import type {
  CohortSpec,
  CovariateOptions,
  CovariateSpec,
  PhecodeVersion,
  PhenotypeSpec,
} from '../schemas/phenotype.js';
import { buildPhenome } from './build.js';
import { compileCohort, materializeCohort } from './cohort.js';
import { buildCovariates, type CovariateResult } from './covariates.js';
import { loadPhecodeMaps } from './maps.js';
import type { ReleaseTables } from './release.js';
import { columnTrait, measurementTrait, type TraitResult } from './traits.js';

/** Where the maps of a phecode version are. */
export type MapsDirOf = (version: PhecodeVersion) => string;

/** Compile a cohort spec and write its persons (person_id) to `tmp`; its size and reference date. */
export async function writeCohort(
  conn: DuckDBConnection,
  rel: ReleaseTables,
  spec: CohortSpec,
  mapsDirOf: MapsDirOf,
  tmp: string,
): Promise<{ n: number; referenceDate: string }> {
  const versions = new Set(
    [...spec.include, ...spec.exclude].flatMap((c) => (c.type === 'phecode' ? [c.phecodeVersion] : [])),
  );
  for (const v of versions) await loadPhecodeMaps(conn, mapsDirOf(v), v);
  const compiled = await compileCohort(conn, rel, spec, 'cohort');
  const n = await materializeCohort(conn, compiled, '_cohort');
  await conn.run(
    `COPY (SELECT person_id FROM _cohort ORDER BY person_id) TO ${sqlString(tmp)} (FORMAT parquet)`,
  );
  await conn.run('DROP TABLE _cohort');
  return { n, referenceDate: compiled.referenceDate };
}

/** The cohort at `cohortPath` as the temp table `_study_cohort` (person_id VARCHAR). */
async function studyCohort(conn: DuckDBConnection, cohortPath: string): Promise<void> {
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE _study_cohort AS SELECT DISTINCT CAST(person_id AS VARCHAR) AS person_id
     FROM read_parquet(${sqlString(cohortPath)})`,
  );
}

/**
 * The study phenotype (person_id, y) of a cohort into `tmp`. Phecode phenotypes: y = 1 for
 * cases, 0 for controls; excluded persons are left out.
 */
export async function writePhenotype(
  conn: DuckDBConnection,
  input: {
    releaseId: string;
    releaseDir: string;
    rel: ReleaseTables;
    cohortPath: string;
    phenomeDir: string;
  },
  spec: PhenotypeSpec,
  mapsDirOf: MapsDirOf,
  tmp: string,
): Promise<TraitResult> {
  const { releaseDir, rel } = input;
  await studyCohort(conn, input.cohortPath);
  let summary: TraitResult;

  if (spec.type === 'phecode') {
    const ph = await buildPhenome(conn, {
      releaseId: input.releaseId,
      releaseDir,
      version: spec.phecodeVersion,
      mapsDir: mapsDirOf(spec.phecodeVersion),
      minCodeCount: spec.minCodeCount,
      exclusions: spec.exclusions,
      cohortPath: input.cohortPath,
      outDir: input.phenomeDir,
    });
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE _trait AS
       WITH p AS (SELECT cases::BIT AS cases, excluded::BIT AS excluded FROM read_parquet(${sqlString(ph.phenome)}) WHERE phecode = $1)
       SELECT c.person_id, CASE WHEN p.cases IS NOT NULL AND get_bit(p.cases, c.person_idx) = 1 THEN 1.0 ELSE 0.0 END AS y
       FROM read_parquet(${sqlString(ph.cohort)}) c LEFT JOIN p ON true
       WHERE p.excluded IS NULL OR get_bit(p.excluded, c.person_idx) = 0`,
      [spec.phecode],
    );
    const cc = (
      await conn.runAndReadAll(
        'SELECT count(*)::INTEGER AS n, count(*) FILTER (WHERE y = 1)::INTEGER AS c FROM _trait',
      )
    ).getRowObjectsJS()[0];
    summary = {
      n: cc.n as number,
      droppedUnit: 0,
      droppedOutliers: 0,
      unit: null,
      binary: true,
      nCases: cc.c as number,
      nControls: (cc.n as number) - (cc.c as number),
    };
  } else if (spec.type === 'measurement') {
    summary = await measurementTrait(conn, rel, spec, '_study_cohort', 'phenotype');
  } else {
    summary = await columnTrait(conn, rel, spec, '_study_cohort', 'phenotype');
  }
  await conn.run(
    `COPY (SELECT person_id, y FROM _trait ORDER BY person_id) TO ${sqlString(tmp)} (FORMAT parquet)`,
  );
  return summary;
}

/** The covariate matrix of a cohort into `tmp`. */
export async function writeCovariates(
  conn: DuckDBConnection,
  input: { rel: ReleaseTables; cohortPath: string; referenceDate: string; pcsPath?: string },
  covariates: CovariateSpec,
  options: CovariateOptions,
  tmp: string,
): Promise<CovariateResult> {
  const { rel } = input;
  await studyCohort(conn, input.cohortPath);
  const res = await buildCovariates(conn, {
    rel,
    cohortTable: '_study_cohort',
    covariates,
    options,
    referenceDate: input.referenceDate,
    pcsPath: input.pcsPath,
    specFile: 'covariates',
  });
  await conn.run(`COPY (SELECT * FROM _covar ORDER BY person_id) TO ${sqlString(tmp)} (FORMAT parquet)`);
  return res;
}
