/**
 * Pieces shared by the study workflows: the prologue (spec validation as a non-retryable
 * failure, the progress query, prepareRun), a bounded-parallel map, and the record/report and failure endings of a run.
 * Deterministic: no I/O here.
 */
import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { activityOptions } from '../schemas/presets.js';
import { describeIssues, type StudySpec, studySpecSchema } from '../schemas/study.js';
import type {
  AnalysisTable,
  RunContext,
  StudyPhase,
  StudyProgress,
  StudyResult,
} from '../schemas/study-io.js';

// --- Signals and Queries ---
export const progressQuery = defineQuery<StudyProgress>('progress');

/** Mutable progress state a workflow exposes through the `progress` query. */
export function newProgress(): StudyProgress {
  return {
    runId: null,
    phase: 'validating',
    shardsDone: 0,
    shardsTotal: 0,
    phewasDone: 0,
    phewasTotal: 0,
    currentActivity: null,
    message: null,
  };
}

export function enter(progress: StudyProgress, phase: StudyPhase, activity: string | null = null): void {
  progress.phase = phase;
  progress.currentActivity = activity;
}

/**
 * Validate a study spec inside the workflow. A bad spec fails the workflow at once, without
 * retries, with one line per problem naming the field.
 */
export function validateSpec(input: unknown, kind: StudySpec['kind']): StudySpec {
  const parsed = studySpecSchema.safeParse(input);
  if (!parsed.success) {
    throw ApplicationFailure.create({
      type: 'ValidationError',
      message: `invalid study spec: ${describeIssues(parsed.error).join('; ')}`,
      nonRetryable: true,
    });
  }
  if (parsed.data.kind !== kind) {
    throw ApplicationFailure.create({
      type: 'ValidationError',
      message: `kind: this workflow runs '${kind}' studies, the spec says '${parsed.data.kind}'`,
      nonRetryable: true,
    });
  }
  return parsed.data;
}

/**
 * Run `fn` over `items` with at most `limit` in flight, preserving order in the result. Each
 * completion starts the next item, so a slow shard does not hold back the rest. After the
 * first failure no new item starts; the items in flight finish, then the first error is thrown.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  /** Checked before each new item: when true, no further item starts (in-flight ones finish). */
  stop: () => boolean = () => false,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (!failed && next < items.length && !stop()) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (err) {
        if (!failed) firstError = err;
        failed = true;
      }
    }
  });
  await Promise.all(lanes);
  if (failed) throw firstError;
  return results;
}

const short = proxyActivities<Activities>(activityOptions('short'));

/** A study run as its workflow starts it: progress, validated spec, run, and a completed result to reuse. */
export interface StudyStart<S extends StudySpec> {
  progress: StudyProgress;
  spec: S;
  run: RunContext;
  /** The stored result when this study already completed on this release: return it as is. */
  completed: StudyResult | null;
}

/**
 * The prologue of every study workflow: the progress query, the spec validated as a
 * non-retryable failure, and `prepareRun` (release, run id, prerequisites, run row).
 */
export async function beginStudy<S extends StudySpec>(
  input: unknown,
  kind: S['kind'],
): Promise<StudyStart<S>> {
  const progress = newProgress();
  setHandler(progressQuery, () => progress);
  const spec = validateSpec(input, kind) as S;
  enter(progress, 'preparing', 'prepareRun');
  const prepared = await short.prepareRun({ spec, workflowId: workflowInfo().workflowId });
  progress.runId = prepared.run.runId;
  if (prepared.completed) {
    enter(progress, 'completed');
    progress.message = 'this study already ran on this release; nothing new to do';
  }
  return { progress, spec, run: prepared.run, completed: prepared.completed };
}

/** The result of a finished study run (before its report path is known). */
export function studyResult(
  run: RunContext,
  kind: StudySpec['kind'],
  analysis: AnalysisTable,
  parts: Pick<StudyResult, 'phewas'> & Partial<Pick<StudyResult, 'gwas' | 'burden'>>,
): StudyResult {
  return {
    runId: run.runId,
    workflowKind: kind,
    releaseId: run.releaseId,
    releaseFingerprint: run.releaseFingerprint,
    reused: false,
    analysis: {
      trait: analysis.trait,
      nSamples: analysis.nSamples,
      ...(analysis.nCases !== undefined ? { nCases: analysis.nCases, nControls: analysis.nControls } : {}),
    },
    ...parts,
  };
}

/** Record the run and its result tables, then write its report (read back from those tables). */
export async function recordAndReport(
  progress: StudyProgress,
  run: RunContext,
  spec: StudySpec,
  result: StudyResult,
): Promise<StudyResult> {
  result.reportPath = `${run.runDir}/report.html`;
  enter(progress, 'recording', 'recordRun');
  await short.recordRun({ run, spec, status: 'completed', result, workflowId: workflowInfo().workflowId });
  enter(progress, 'reporting', 'writeReport');
  await short.writeReport({ run });
  enter(progress, 'completed');
  return result;
}

/**
 * After a study failed or was cancelled: record it (a cancelled run's partial outputs are
 * removed), even while the workflow itself is being cancelled, then rethrow.
 */
export async function discardAndRethrow(
  progress: StudyProgress,
  run: RunContext,
  err: unknown,
): Promise<never> {
  const cancelled = isCancellation(err);
  enter(progress, cancelled ? 'cancelled' : 'failed', 'discardRun');
  await CancellationScope.nonCancellable(() =>
    short.discardRun({
      run,
      status: cancelled ? 'cancelled' : 'failed',
      reason: String((err as Error)?.message ?? err),
    }),
  );
  throw err;
}
