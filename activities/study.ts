/**
 * Study bookkeeping activities: resolve a spec's release and run id (`prepareRun`), record a
 * finished run and its result tables (`recordRun`), clean up after a cancelled or failed run
 * (`discardRun`), and write the run's report (`writeReport`). The logic is study/lifecycle.ts.
 */
import { Context } from '@temporalio/activity';
import { asEngineContext, type EngineContext } from '../engine/context.js';
import { writeRunReport } from '../report/index.js';
import type { StudySpec } from '../schemas/study.js';
import type { RunContext, StudyResult } from '../schemas/study-io.js';
import { discardRun, type PrepareRunResult, prepareRun, recordCompletedRun } from '../study/lifecycle.js';
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
  };
}
