/**
 * Study bookkeeping activities: resolve a spec's release and run id (`prepareRun`), record a
 * finished run and its result tables (`recordRun`), clean up after a cancelled or failed run
 * (`discardRun`), and write the run's report (`writeReport`). The logic is study/lifecycle.ts.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { asEngineContext, type EngineContext } from '../engine/context.js';
import { exists } from '../engine/fsutil.js';
import { exportGwasSsf } from '../export/gwas-ssf.js';
import type { MetaPhewasModel } from '../meta/phewas.js';
import { type MetaPhewasSummary, metaPhewasOfRuns } from '../meta/phewas-runs.js';
import { writeRunReport } from '../report/index.js';
import type { MetaSpecInput } from '../schemas/meta.js';
import type { StudySpec } from '../schemas/study.js';
import type { LeadLocus, RunContext, StratumPlan, StudyResult } from '../schemas/study-io.js';
import {
  discardRun,
  mainPhenotypeLabel,
  type PrepareRunResult,
  prepareRun,
  recordCompletedRun,
} from '../study/lifecycle.js';
import { planStrata, resolveLoci } from '../study/strata.js';
import type { EngineConfig } from '../temporal.config.js';
import { runTimings } from './timings.js';

export type { PrepareRunResult } from '../study/lifecycle.js';

/** The Temporal run id of the workflow execution this activity serves (null outside one). */
function currentWorkflowRunId(): string | null {
  try {
    return Context.current().info.workflowExecution?.runId ?? null;
  } catch {
    return null;
  }
}

export function createStudyActivities(from: EngineConfig | EngineContext) {
  const engine = asEngineContext(from);
  const { config } = engine;
  return {
    /** Resolve release and run id; reuse a completed run; check prerequisites; record the run. */
    async prepareRun(input: { spec: StudySpec; workflowId: string }): Promise<PrepareRunResult> {
      return prepareRun(config, input.spec, {
        workflowId: input.workflowId,
        workflowRunId: currentWorkflowRunId(),
      });
    },

    /** Record a finished run and its result tables. Idempotent. */
    async recordRun(input: {
      run: RunContext;
      spec: StudySpec;
      status: 'completed';
      result: StudyResult;
      workflowId: string;
    }): Promise<void> {
      await recordCompletedRun(config, input.run, input.spec, input.result, runTimings);
    },

    /** Remove a cancelled run's outputs, or record a failed run's failure (finished shards stay). */
    async discardRun(input: {
      run: RunContext;
      status: 'cancelled' | 'failed';
      reason: string;
    }): Promise<void> {
      await discardRun(config, input.run, input.status, input.reason, runTimings);
    },

    /**
     * The run's HTML report (report/: Manhattan, QQ, lead loci, PheWAS and burden plots, QC,
     * provenance), read back from the results database; person counts 1–20 shown as `≤20`.
     */
    async writeReport(input: { run: RunContext }): Promise<{ path: string }> {
      const { path } = await writeRunReport(config, input.run.runId, input.run.runDir);
      return { path };
    },

    /** A stratified study's strata as child studies (study/strata.ts), with their workflow ids. */
    async planStrata(input: {
      run: RunContext;
      spec: StudySpec;
      loci?: { chrom: string; pos: number; ref: string; alt: string }[];
    }): Promise<StratumPlan[]> {
      return planStrata(config, input.run, input.spec, input.loci);
    },

    /** The release's variants at these loci, as lead loci (the PheWAS round of strata). */
    async resolveLoci(input: {
      run: RunContext;
      loci: { chrom: string; pos: number; ref: string; alt: string }[];
    }): Promise<LeadLocus[]> {
      return resolveLoci(config, input.run, input.loci);
    },

    /** Meta-analyse the strata's PheWAS rows into the stratified run (meta/phewas-runs.ts). */
    async metaPhewasStrata(input: {
      run: RunContext;
      strata: { name: string; runId: string }[];
      model: MetaPhewasModel;
    }): Promise<MetaPhewasSummary> {
      return metaPhewasOfRuns(config, input.run.runId, input.strata, input.model);
    },

    /**
     * Each finished stratum's GWAS as a GWAS-SSF file in the stratified run's folder (internal:
     * counts are not suppressed, the files do not leave the machine), and the meta-analysis spec
     * over them (labels = strata). Idempotent: a file already written is kept.
     */
    async exportStrataSumstats(input: {
      run: RunContext;
      spec: StudySpec;
      strata: { name: string; runId: string }[];
    }): Promise<MetaSpecInput> {
      const dir = join(input.run.runDir, 'strata');
      await mkdir(dir, { recursive: true });
      const inputs = [];
      for (const s of input.strata) {
        // the exporter writes a folder: the data file (one phenotype: the study's) and its -meta.yaml
        const folder = join(dir, s.name);
        if (!(await exists(folder)))
          await exportGwasSsf(config, {
            runId: s.runId,
            out: folder,
            phenotype: mainPhenotypeLabel(input.spec),
            suppress: false,
            gzip: true,
          });
        const data = (await readdir(folder)).filter((f) => f.endsWith('.tsv.gz'));
        if (data.length !== 1) throw new Error(`stratum ${s.name}: expected one GWAS-SSF file in ${folder}`);
        inputs.push({ path: join(folder, data[0]), label: s.name, format: 'biobank-engine' as const });
      }
      return {
        metaId: `${input.spec.studyId}.strata`.slice(0, 64),
        inputs,
        trait: mainPhenotypeLabel(input.spec),
      };
    },
  };
}
