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
import { atomicProduce, exists } from '../engine/fsutil.js';
import { buildPhenome, recordPhenomeCounts } from '../phenotype/build.js';
import type { CovariateResult } from '../phenotype/covariates.js';
import { resolveMapsDir } from '../phenotype/maps.js';
import { buildPcs, type PcaBuildResult } from '../phenotype/pcs.js';
import { releaseTables, resolveReleaseDir } from '../phenotype/release.js';
import { writeCohort, writeCovariates, writePhenotype } from '../phenotype/steps.js';
import type { TraitResult } from '../phenotype/traits.js';
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
        engine.compute((conn) =>
          writeCohort(conn, rel, spec, (v) => mapsFolder(config, v, input.mapsDir), tmp),
        ),
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
        engine.compute((conn) =>
          writePhenotype(
            conn,
            {
              releaseId: input.releaseId,
              releaseDir,
              rel,
              cohortPath: input.cohortPath,
              phenomeDir: join(config.dataDir, 'runs', input.runId, 'phenome'),
            },
            spec,
            (v) => mapsFolder(config, v, input.mapsDir),
            tmp,
          ),
        ),
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
        engine.compute((conn) =>
          writeCovariates(
            conn,
            { rel, cohortPath: input.cohortPath, referenceDate: input.referenceDate, pcsPath: input.pcsPath },
            covariates,
            options,
            tmp,
          ),
        ),
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
