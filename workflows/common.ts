/**
 * Pieces shared by the study workflows: spec validation as a non-retryable failure, the
 * progress query, and a bounded-parallel map. Deterministic: no I/O here.
 */
import { ApplicationFailure, defineQuery } from '@temporalio/workflow';
import { describeIssues, type StudySpec, studySpecSchema } from '../schemas/study.js';
import type { StudyPhase, StudyProgress } from '../schemas/study-io.js';

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
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (!failed && next < items.length) {
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
