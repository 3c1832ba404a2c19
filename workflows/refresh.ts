/**
 * `refreshOnRelease`: started by a Temporal Schedule (`biobank schedule create`). It re-runs the
 * registered studies when the biobank's data release changes.
 *
 *   1. fingerprint each configured manifest (checkRelease);
 *   2. nothing changed → return at once and say so;
 *   3. ingest each new release (child `ingestRelease`, id from release id + fingerprint);
 *   4. re-run every registered study on it (child study workflows, ids from study id + release
 *      fingerprint + spec hash, so a repeated trigger starts nothing new);
 *   5. compare each new run with the study's previous run (new and lost hits, largest changes).
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ApplicationFailure, executeChild, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { activityOptions } from '../schemas/presets.js';
import type { StudyResult } from '../schemas/study-io.js';
import { mapBounded } from './common.js';

const short = proxyActivities<Activities>(activityOptions('short'));

// --- Types ---
export interface RefreshInput {
  /** Release manifests to watch (paths as the workers see them). */
  manifests: string[];
  /** Study workflows run at once. Default 2. */
  maxParallelStudies?: number;
}

export interface RefreshResult {
  changed: boolean;
  message: string;
  releases: { releaseId: string; fingerprint: string; ingested: boolean }[];
  runs: {
    studyId: string;
    workflowId: string;
    status: 'completed' | 'already-running' | 'failed';
    comparison?: { previousRunId: string; newHits: number; lostHits: number };
  }[];
}

// --- Workflow ---
export async function refreshOnRelease(input: RefreshInput): Promise<RefreshResult> {
  if (!input || !Array.isArray(input.manifests) || input.manifests.length === 0) {
    throw ApplicationFailure.create({
      type: 'ValidationError',
      message: 'manifests: give at least one release manifest path',
      nonRetryable: true,
    });
  }
  const checks = [];
  for (const manifestPath of input.manifests) checks.push(await short.checkRelease({ manifestPath }));
  const changed = checks.filter((c) => !c.registered);
  if (changed.length === 0) {
    return {
      changed: false,
      message: `no release changed (${checks.map((c) => `${c.releaseId} ${c.fingerprint.slice(0, 12)}`).join(', ')}); nothing to do`,
      releases: checks.map((c) => ({ releaseId: c.releaseId, fingerprint: c.fingerprint, ingested: false })),
      runs: [],
    };
  }

  const result: RefreshResult = { changed: true, message: '', releases: [], runs: [] };
  for (const c of changed) {
    await executeChild('ingestRelease', {
      workflowId: `ingest-${c.releaseId}-${c.fingerprint.slice(0, 12)}`,
      args: [{ manifestPath: c.manifestPath }],
    });
    result.releases.push({ releaseId: c.releaseId, fingerprint: c.fingerprint, ingested: true });
    const plans = await short.planStudyRuns({ releaseId: c.releaseId, fingerprint: c.fingerprint });
    const runs = await mapBounded(plans, input.maxParallelStudies ?? 2, async (plan) => {
      try {
        await executeChild(plan.workflowType, { workflowId: plan.workflowId, args: [plan.spec] });
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          return { studyId: plan.studyId, workflowId: plan.workflowId, status: 'already-running' as const };
        }
        return { studyId: plan.studyId, workflowId: plan.workflowId, status: 'failed' as const };
      }
      if (!plan.previousRunId)
        return { studyId: plan.studyId, workflowId: plan.workflowId, status: 'completed' as const };
      const cmp = await short.compareRuns({ newRunId: plan.workflowId, previousRunId: plan.previousRunId });
      return {
        studyId: plan.studyId,
        workflowId: plan.workflowId,
        status: 'completed' as const,
        comparison: { previousRunId: plan.previousRunId, newHits: cmp.newHits, lostHits: cmp.lostHits },
      };
    });
    result.runs.push(...runs);
  }
  result.message = `${changed.length} new release(s) ingested; ${result.runs.filter((r) => r.status === 'completed').length} of ${result.runs.length} studies re-run`;
  return result;
}

export type { StudyResult };
