/**
 * `materializeAnalysis`: build (or reuse) the run's analysis table (phenotype/analysis.ts) and
 * record it next to the table. `materializePhewasPopulation`: the same for the PheWAS
 * population of a phenotype-first study (`phewas.population: 'cohort'`), every cohort person
 * with a genotype sample and every covariate, at `<runDir>/analysis-phewas-cohort.parquet` (`ANALYSIS_FILES`).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { asEngineContext, type EngineContext } from '../engine/context.js';
import { atomicWriteFile, exists } from '../engine/fsutil.js';
import { type AnalysisPopulation, buildAnalysisTable } from '../phenotype/analysis.js';
import type { PhenotypeFirstSpec, StudySpec } from '../schemas/study.js';
import { ANALYSIS_FILES, type AnalysisTable, type RunContext } from '../schemas/study-io.js';
import type { EngineConfig } from '../temporal.config.js';
import { cancellableStep } from './keepalive.js';

export function createAnalysisActivities(from: EngineConfig | EngineContext) {
  const engine = asEngineContext(from);
  const { config } = engine;

  /** Build the table at `path` unless it and its record exist; the record is written last. */
  async function materialize(
    run: RunContext,
    spec: StudySpec,
    path: string,
    population: AnalysisPopulation,
    step: string,
  ): Promise<AnalysisTable> {
    const record = `${path}.json`;
    if ((await exists(path)) && (await exists(record))) {
      return JSON.parse(await readFile(record, 'utf8')) as AnalysisTable;
    }
    await mkdir(run.runDir, { recursive: true });
    return engine.compute(async (conn) => {
      const analysis = await cancellableStep(conn, { step }, (c) =>
        buildAnalysisTable(
          c,
          config,
          run,
          spec,
          spec.kind === 'phenotype-first' ? spec.phenotype : null,
          path,
          population,
        ),
      );
      await atomicWriteFile(record, JSON.stringify(analysis));
      return analysis;
    });
  }

  return {
    /** Build (or reuse) the run's analysis table. See the module comment. */
    async materializeAnalysis(input: { run: RunContext; spec: StudySpec }): Promise<AnalysisTable> {
      const { run, spec } = input;
      return materialize(
        run,
        spec,
        join(run.runDir, ANALYSIS_FILES['gwas-sample']),
        'gwas-sample',
        'materializeAnalysis',
      );
    },

    /**
     * Build (or reuse) the analysis table of the PheWAS population: the cohort's persons with a
     * genotype sample and every covariate, the trait possibly missing (y NULL).
     */
    async materializePhewasPopulation(input: {
      run: RunContext;
      spec: PhenotypeFirstSpec;
    }): Promise<AnalysisTable> {
      const { run, spec } = input;
      return materialize(
        run,
        spec,
        join(run.runDir, ANALYSIS_FILES.cohort),
        'cohort',
        'materializePhewasPopulation',
      );
    },
  };
}
