/**
 * Meta-analysis activities (workflow `metaAnalysis`); the logic is in meta/:
 *  - `prepareMeta`: validate the spec, hash the inputs (the run id comes from the content),
 *    return a completed run's result as is; otherwise read and validate every input (bad input
 *    fails non-retryably naming file, line and column, before any run is recorded), store each
 *    normalised under a path derived from its hash (idempotent), record the run as running;
 *  - `analyseMetaInputs`: the per-chromosome join, alignment and meta-analysis (meta/run.ts),
 *    heartbeating per chromosome; resumable (finished chromosomes are kept);
 *  - `metaLoci`: lead loci, forest rows and leave-one-out (meta/loci.ts), kept in the run folder;
 *  - `recordMeta`: the result tables, result.json and the run's status (meta/write.ts);
 *  - `writeMetaReport`: the HTML report (report/meta.ts);
 *  - `discardMeta`: a failed run is recorded as failed, a cancelled one removed;
 *  - `preparePhewasMeta` / `runPhewasMeta` (`kind: "phewas"`): as prepareMeta, reading PheWAS
 *    results (meta/phewas-inputs.ts; bad input fails before any run is recorded); then reading
 *    them again (checked against their hashes), meta-analysing (meta/phewas.ts) and recording
 *    `meta_inputs`, `meta_phewas_results`, `meta_phewas_forest`, result.json and the status.
 * Inputs are checked against schemas/meta.ts before anything runs.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { asEngineContext, type EngineContext } from '../engine/context.js';
import { atomicWriteFile } from '../engine/fsutil.js';
import { readMetaInputs } from '../meta/inputs.js';
import { type MetaLoci, metaLeadLoci } from '../meta/loci.js';
import { metaAnalysePhewas } from '../meta/phewas.js';
import { type PhewasInputRef, readPhewasInputs } from '../meta/phewas-inputs.js';
import { type MetaPhewasSummary, summariseMetaPhewas } from '../meta/phewas-runs.js';
import { analyseMeta, type MetaCoreSummary } from '../meta/run.js';
import { metaIdentity } from '../meta/spec.js';
import {
  completedMetaRun,
  metaPhewasResultOf,
  metaResultOf,
  metaRunContext,
  recordMetaPhewasRun,
  recordMetaRun,
  recordMetaStart,
} from '../meta/write.js';
import { writeMetaRunReport } from '../report/meta.js';
import {
  type MetaInputRef,
  type MetaLeadLocus,
  type MetaPhewasResultSummary,
  type MetaResult,
  type MetaRunContext,
  type MetaSpec,
  metaSpecSchema,
} from '../schemas/meta.js';
import { discardRun } from '../study/lifecycle.js';
import type { EngineConfig } from '../temporal.config.js';
import { cancellableStep } from './keepalive.js';
import { runTimings } from './timings.js';

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** The analysis summary the workflow carries (per-chromosome detail stays on disk). */
export type MetaCoreRef = Omit<MetaCoreSummary, 'chroms'>;

/** The summary meta/phewas-runs.ts computes is the one MetaResult carries (a compile-time check). */
const _sameSummary = (s: MetaPhewasSummary): MetaPhewasResultSummary => s;

const workDir = (run: MetaRunContext) => join(run.runDir, 'meta-work');
const lociFile = (run: MetaRunContext) => join(workDir(run), 'loci.json');

export function createMetaActivities(from: EngineConfig | EngineContext) {
  const engine = asEngineContext(from);
  const { config } = engine;
  /**
   * The run of a meta spec: its identity and folder, the completed result when it exists;
   * otherwise the inputs read (heartbeating each) and the run's start recorded.
   */
  async function prepareMetaRun<T>(
    input: { spec: MetaSpec; workflowId: string },
    read: (spec: MetaSpec, sha256: string[], onInput: (i: number) => void) => Promise<T[]>,
  ): Promise<{ run: MetaRunContext; inputs: T[]; completed: MetaResult | null }> {
    const spec = metaSpecSchema.parse(input.spec);
    const ctx = activityContext();
    const id = await metaIdentity(spec);
    const run = metaRunContext(config, spec, id);
    const completed = await completedMetaRun(config, run);
    if (completed) return { run, inputs: [], completed };
    const inputs = await read(spec, id.sha256, (i) => ctx?.heartbeat({ input: i }));
    await recordMetaStart(config, spec, run, {
      workflowId: input.workflowId,
      workflowRunId: ctx?.info.workflowExecution?.runId ?? null,
    });
    return { run, inputs, completed: null };
  }

  return {
    async prepareMeta(input: { spec: MetaSpec; workflowId: string }): Promise<{
      run: MetaRunContext;
      inputs: MetaInputRef[];
      completed: MetaResult | null;
    }> {
      return prepareMetaRun(input, (spec, sha256, onInput) =>
        readMetaInputs(
          (fn) => engine.compute((conn) => cancellableStep(conn, { step: 'prepareMeta' }, fn)),
          spec,
          sha256,
          config.dataDir,
          { concurrency: config.worker.duckdbThreads, onInput },
        ),
      );
    },

    async analyseMetaInputs(input: {
      run: MetaRunContext;
      spec: MetaSpec;
      inputs: MetaInputRef[];
    }): Promise<MetaCoreRef> {
      const spec = metaSpecSchema.parse(input.spec);
      const ctx = activityContext();
      const { chroms: _chroms, ...summary } = await engine.compute((conn) =>
        cancellableStep(conn, { step: 'analyseMetaInputs' }, (c) =>
          analyseMeta(
            c,
            input.inputs.map((x) => ({ label: x.label, parquet: x.parquet, n: x.n })),
            {
              outDir: workDir(input.run),
              ambiguousMaf: spec.alignment.ambiguousMaf,
              inferStrand: spec.alignment.inferStrand,
              methods: spec.methods,
              significantP: spec.leadLoci.p,
              leaveOneOutAll: spec.leaveOneOut === 'all',
              onChrom: (done, total, chrom) => ctx?.heartbeat({ done, total, chrom }),
            },
          ),
        ),
      );
      return summary;
    },

    async metaLoci(input: {
      run: MetaRunContext;
      spec: MetaSpec;
      core: MetaCoreRef;
    }): Promise<MetaLeadLocus[]> {
      const spec = metaSpecSchema.parse(input.spec);
      const loci = await engine.compute((conn) =>
        metaLeadLoci(
          conn,
          input.core,
          spec.inputs.map((x) => x.label),
          { p: spec.leadLoci.p, windowKb: spec.leadLoci.windowKb, leaveOneOut: spec.leaveOneOut === 'lead' },
        ),
      );
      await atomicWriteFile(lociFile(input.run), JSON.stringify(loci));
      return loci.leads;
    },

    async recordMeta(input: {
      run: MetaRunContext;
      spec: MetaSpec;
      inputs: MetaInputRef[];
      core: MetaCoreRef;
    }): Promise<MetaResult> {
      const spec = metaSpecSchema.parse(input.spec);
      const loci = JSON.parse(await readFile(lociFile(input.run), 'utf8')) as MetaLoci;
      const result = metaResultOf(input.run, spec, input.inputs, input.core, loci);
      result.reportPath = join(input.run.runDir, 'report.html');
      await recordMetaRun(
        config,
        input.run,
        spec,
        input.inputs,
        { ...input.core, chroms: [] },
        loci,
        result,
        await runTimings(input.run.runDir),
      );
      return result;
    },

    async writeMetaReport(input: { run: MetaRunContext; result: MetaResult }): Promise<{ path: string }> {
      return { path: (await writeMetaRunReport(config, input.run.runId, input.run.runDir)).path };
    },

    async preparePhewasMeta(input: { spec: MetaSpec; workflowId: string }): Promise<{
      run: MetaRunContext;
      inputs: PhewasInputRef[];
      completed: MetaResult | null;
    }> {
      return prepareMetaRun(
        input,
        async (spec, sha256, onInput) => (await readPhewasInputs(spec, sha256, onInput)).refs,
      );
    },

    async runPhewasMeta(input: {
      run: MetaRunContext;
      spec: MetaSpec;
      inputs: PhewasInputRef[];
    }): Promise<MetaResult> {
      const spec = metaSpecSchema.parse(input.spec);
      const ctx = activityContext();
      const { refs, inputs } = await readPhewasInputs(
        spec,
        input.inputs.map((x) => x.sha256),
        (i) => ctx?.heartbeat({ input: i }),
      );
      const out = metaAnalysePhewas(inputs, spec.model);
      const summary = summariseMetaPhewas(spec.model, out);
      const result = metaPhewasResultOf(input.run, spec, refs, _sameSummary(summary));
      result.reportPath = join(input.run.runDir, 'report.html');
      await recordMetaPhewasRun(config, input.run, refs, out, result, await runTimings(input.run.runDir));
      return result;
    },

    async discardMeta(input: {
      run: MetaRunContext;
      status: 'cancelled' | 'failed';
      reason: string;
    }): Promise<void> {
      await discardRun(config, input.run, input.status, input.reason, runTimings);
    },
  };
}
