/**
 * Phenotyping activities: thin adapters over `phenotype/` that read the release's Parquet,
 * write Parquet under the data folder (temp + rename; an existing output is reused) and
 * return references (paths, counts). Inputs are validated with the zod schemas first, so a
 * bad spec is a non-retryable failure before any work.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { heartbeat } from '@temporalio/activity';
import { asEngineContext, type EngineContext } from '../engine/context.js';
import { sqlString } from '../engine/duckdb.js';
import { atomicProduce, exists } from '../engine/fsutil.js';
import { buildPhenome, recordPhenomeCounts } from '../phenotype/build.js';
import { compileCohort, materializeCohort } from '../phenotype/cohort.js';
import { buildCovariates, type CovariateResult } from '../phenotype/covariates.js';
import { loadPhecodeMaps, resolveMapsDir } from '../phenotype/maps.js';
import { buildPcs, type PcaBuildResult } from '../phenotype/pcs.js';
import { releaseTables, resolveReleaseDir } from '../phenotype/release.js';
import { columnTrait, measurementTrait, type TraitResult } from '../phenotype/traits.js';
import {
  cohortSpecSchema,
  covariateOptionsSchema,
  covariateSpecSchema,
  type PhecodeMapInfo,
  type PhecodeVersion,
  phecodeVersionSchema,
  phenotypeSpecSchema,
} from '../schemas/phenotype.js';
import type { EngineConfig } from '../temporal.config.js';

export interface ReleaseRef {
  releaseId: string;
  /** Folder of the release's tables; resolved from the catalog when absent. */
  releaseDir?: string;
}

export interface PhenomeRef {
  dir: string;
  phenome: string;
  cohort: string;
  counts: string;
  codeCounts: string;
  maps: PhecodeMapInfo;
  nPersons: number;
  nCasePairs: number;
  unmappedDistinctCodes: number;
  reused: boolean;
}

export interface CohortRef {
  path: string;
  n: number;
  referenceDate: string;
}

export interface FileRef<T> {
  path: string;
  summary: T;
}

function mapsFolder(config: EngineConfig, version: PhecodeVersion, mapsDir?: string): string {
  return resolveMapsDir(config.dataDir, version, mapsDir);
}

export function createPhenotypeActivities(from: EngineConfig | EngineContext) {
  const engine = asEngineContext(from);
  const { config } = engine;
  const releaseDirOf = async (r: ReleaseRef) =>
    r.releaseDir ?? (await resolveReleaseDir(config, r.releaseId));

  async function reuseJson<T>(target: string, produce: (tmp: string) => Promise<T>): Promise<FileRef<T>> {
    const meta = `${target}.json`;
    if ((await exists(target)) && (await exists(meta))) {
      return { path: target, summary: JSON.parse(await readFile(meta, 'utf8')) as T };
    }
    await mkdir(join(target, '..'), { recursive: true });
    const summary = await atomicProduce(target, produce);
    await writeFile(meta, JSON.stringify(summary));
    return { path: target, summary };
  }

  return {
    /**
     * Build (or reuse) the phenome of a release or of a cohort (`cohortPath`: Parquet with
     * person_id). With no cohort, the per-phecode counts also go to `phenome_counts`.
     */
    async buildPhenome(
      input: ReleaseRef & {
        phecodeVersion: PhecodeVersion;
        mapsDir?: string;
        minCodeCount?: number;
        exclusions?: boolean;
        cohortPath?: string;
        outDir?: string;
      },
    ): Promise<PhenomeRef> {
      const version = phecodeVersionSchema.parse(input.phecodeVersion);
      const releaseDir = await releaseDirOf(input);
      heartbeat({ phase: 'phenome' });
      const res = await engine.compute((conn) =>
        buildPhenome(conn, {
          releaseId: input.releaseId,
          releaseDir,
          version,
          mapsDir: mapsFolder(config, version, input.mapsDir),
          minCodeCount: input.minCodeCount,
          exclusions: input.exclusions,
          cohortPath: input.cohortPath,
          outDir: input.outDir,
        }),
      );
      if (!input.cohortPath) {
        await engine.engineDb((conn) => recordPhenomeCounts(conn, res.counts, input.releaseId, version));
      }
      return {
        dir: res.dir,
        phenome: res.phenome,
        cohort: res.cohort,
        counts: res.counts,
        codeCounts: res.codeCounts,
        maps: res.maps,
        nPersons: res.nPersons,
        nCasePairs: res.nCasePairs,
        unmappedDistinctCodes: res.unmapped.distinctCodes,
        reused: res.reused,
      };
    },

    /** Compile a cohort spec and write its persons to `<runs>/<runId>/cohort.parquet`. */
    async materializeCohort(
      input: ReleaseRef & { runId: string; cohort: unknown; mapsDir?: string },
    ): Promise<CohortRef> {
      const spec = cohortSpecSchema.parse(input.cohort);
      const rel = releaseTables(await releaseDirOf(input));
      const target = join(config.dataDir, 'runs', input.runId, 'cohort.parquet');
      const ref = await reuseJson(target, (tmp) =>
        engine.compute(async (conn) => {
          const versions = new Set(
            [...spec.include, ...spec.exclude].flatMap((c) =>
              c.type === 'phecode' ? [c.phecodeVersion] : [],
            ),
          );
          for (const v of versions) await loadPhecodeMaps(conn, mapsFolder(config, v, input.mapsDir), v);
          const compiled = await compileCohort(conn, rel, spec, 'cohort');
          const n = await materializeCohort(conn, compiled, '_cohort');
          await conn.run(
            `COPY (SELECT person_id FROM _cohort ORDER BY person_id) TO ${sqlString(tmp)} (FORMAT parquet)`,
          );
          await conn.run('DROP TABLE _cohort');
          return { n, referenceDate: compiled.referenceDate };
        }),
      );
      return { path: ref.path, ...ref.summary };
    },

    /**
     * Write the study phenotype (person_id, y) for a cohort to `<runs>/<runId>/phenotype.parquet`.
     * Phecode phenotypes: y = 1 for cases, 0 for controls; excluded persons are left out.
     */
    async materializePhenotype(
      input: ReleaseRef & { runId: string; phenotype: unknown; cohortPath: string; mapsDir?: string },
    ): Promise<FileRef<TraitResult>> {
      const spec = phenotypeSpecSchema.parse(input.phenotype);
      const releaseDir = await releaseDirOf(input);
      const rel = releaseTables(releaseDir);
      const target = join(config.dataDir, 'runs', input.runId, 'phenotype.parquet');
      return reuseJson(target, (tmp) =>
        engine.compute(async (conn) => {
          await conn.run(
            `CREATE OR REPLACE TEMP TABLE _study_cohort AS SELECT DISTINCT CAST(person_id AS VARCHAR) AS person_id
             FROM read_parquet(${sqlString(input.cohortPath)})`,
          );
          let summary: TraitResult;
          if (spec.type === 'phecode') {
            const ph = await buildPhenome(conn, {
              releaseId: input.releaseId,
              releaseDir,
              version: spec.phecodeVersion,
              mapsDir: mapsFolder(config, spec.phecodeVersion, input.mapsDir),
              minCodeCount: spec.minCodeCount,
              exclusions: spec.exclusions,
              cohortPath: input.cohortPath,
              outDir: join(config.dataDir, 'runs', input.runId, 'phenome'),
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
        }),
      );
    },

    /** Write the covariate matrix for a cohort to `<runs>/<runId>/covariates.parquet`. */
    async materializeCovariates(
      input: ReleaseRef & {
        runId: string;
        covariates: unknown;
        options?: unknown;
        cohortPath: string;
        referenceDate: string;
        pcsPath?: string;
      },
    ): Promise<FileRef<CovariateResult>> {
      const covariates = covariateSpecSchema.parse(input.covariates);
      const options = covariateOptionsSchema.parse(input.options ?? {});
      const rel = releaseTables(await releaseDirOf(input));
      const target = join(config.dataDir, 'runs', input.runId, 'covariates.parquet');
      return reuseJson(target, (tmp) =>
        engine.compute(async (conn) => {
          await conn.run(
            `CREATE OR REPLACE TEMP TABLE _study_cohort AS SELECT DISTINCT CAST(person_id AS VARCHAR) AS person_id
             FROM read_parquet(${sqlString(input.cohortPath)})`,
          );
          const res = await buildCovariates(conn, {
            rel,
            cohortTable: '_study_cohort',
            covariates,
            options,
            referenceDate: input.referenceDate,
            pcsPath: input.pcsPath,
            specFile: 'covariates',
          });
          await conn.run(
            `COPY (SELECT * FROM _covar ORDER BY person_id) TO ${sqlString(tmp)} (FORMAT parquet)`,
          );
          return res;
        }),
      );
    },

    /** Compute (or reuse) the release's top-k genetic PCs; heartbeats while reading. */
    async computeReleasePcs(
      input: ReleaseRef & { k: number; minMaf?: number; r2?: number; window?: number },
    ): Promise<PcaBuildResult> {
      const releaseDir = await releaseDirOf(input);
      return engine.compute((conn) =>
        buildPcs(
          conn,
          releaseDir,
          { k: input.k, minMaf: input.minMaf, r2: input.r2, window: input.window },
          (phase, done) => heartbeat({ phase, done }),
        ),
      );
    },
  };
}
