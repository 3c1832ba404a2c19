/**
 * `metaAnalysis`: a federated meta-analysis of summary statistics (no individual-level data).
 *
 *   validate the spec (a bad spec fails at once, non-retryably, naming the field)
 *   → prepareMeta (hash + read + validate every input; a bad file fails non-retryably naming
 *     file, line and column, before any run is recorded; a completed run is returned as is)
 *   → analyseMetaInputs (per-chromosome join, alignment, meta-analysis; resumable)
 *   → metaLoci (lead loci, forest rows, leave-one-out) → recordMeta → writeMetaReport.
 *
 * Start it with `biobank meta run spec.json` (workflow id = the run id, from the spec and the
 * inputs' hashes, so a second start attaches to the first) or with
 * `temporal workflow start --type metaAnalysis --input-file spec.json` (any workflow id: the
 * run id still comes from the content, so a repeat returns the completed run). A failed run is
 * recorded as failed; a cancelled one is removed. Deterministic: no I/O here.
 *
 * A `kind: "phewas"` spec takes its own path (the branch depends on the input only, so no
 * patch marker is needed; the GWAS path is unchanged):
 *   preparePhewasMeta (hash, completed run?, read + validate every input, record the run)
 *   → runPhewasMeta (read, meta-analyse, record) → writeMetaReport.
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
import {
  describeMetaIssues,
  type MetaProgress,
  type MetaResult,
  type MetaRunContext,
  type MetaSpec,
  metaSpecSchema,
} from '../schemas/meta.js';
import { activityOptions } from '../schemas/presets.js';

export const metaProgressQuery = defineQuery<MetaProgress>('progress');

const long = proxyActivities<Activities>(activityOptions('long'));
const short = proxyActivities<Activities>(activityOptions('short'));

export async function metaAnalysis(input: unknown): Promise<MetaResult> {
  const progress: MetaProgress = { runId: null, phase: 'validating', currentActivity: null, message: null };
  setHandler(metaProgressQuery, () => progress);
  const enter = (phase: MetaProgress['phase'], activity: string | null = null) => {
    progress.phase = phase;
    progress.currentActivity = activity;
  };
  const parsed = metaSpecSchema.safeParse(input);
  if (!parsed.success)
    throw ApplicationFailure.create({
      type: 'ValidationError',
      message: `invalid meta-analysis spec: ${describeMetaIssues(parsed.error).join('; ')}`,
      nonRetryable: true,
    });
  const spec = parsed.data;
  if (spec.kind === 'phewas') return phewasMeta(spec, progress, enter);
  enter('reading', 'prepareMeta');
  const prepared = await long.prepareMeta({ spec, workflowId: workflowInfo().workflowId });
  const run: MetaRunContext = prepared.run;
  const completed = alreadyRan(prepared, progress, enter);
  if (completed) return completed;
  try {
    enter('analysing', 'analyseMetaInputs');
    const core = await long.analyseMetaInputs({ run, spec, inputs: prepared.inputs });
    progress.message = `${core.nVariants} variants, ${core.nSignificant} below p ${spec.leadLoci.p}`;
    enter('lead-loci', 'metaLoci');
    await long.metaLoci({ run, spec, core });
    enter('recording', 'recordMeta');
    const result = await long.recordMeta({ run, spec, inputs: prepared.inputs, core });
    enter('reporting', 'writeMetaReport');
    await short.writeMetaReport({ run, result });
    enter('completed');
    progress.message = `${result.leadLoci.length} lead loci`;
    return result;
  } catch (err) {
    return discard(run, enter, err);
  }
}

/** Shows the prepared run's id; a run already completed on these inputs is returned as is. */
function alreadyRan(
  prepared: { run: MetaRunContext; completed: MetaResult | null },
  progress: MetaProgress,
  enter: (phase: MetaProgress['phase'], activity?: string | null) => void,
): MetaResult | null {
  progress.runId = prepared.run.runId;
  if (!prepared.completed) return null;
  enter('completed');
  progress.message = 'this meta-analysis already ran on these inputs; nothing new to do';
  return prepared.completed;
}

/** The `kind: "phewas"` path of `metaAnalysis`. */
async function phewasMeta(
  spec: MetaSpec,
  progress: MetaProgress,
  enter: (phase: MetaProgress['phase'], activity?: string | null) => void,
): Promise<MetaResult> {
  enter('reading', 'preparePhewasMeta');
  const prepared = await long.preparePhewasMeta({ spec, workflowId: workflowInfo().workflowId });
  const run: MetaRunContext = prepared.run;
  const completed = alreadyRan(prepared, progress, enter);
  if (completed) return completed;
  try {
    enter('analysing', 'runPhewasMeta');
    const result = await long.runPhewasMeta({ run, spec, inputs: prepared.inputs });
    const s = result.phewas;
    progress.message = s ? `${s.nAssociations} associations, ${s.nSignificant} significant` : null;
    enter('reporting', 'writeMetaReport');
    await short.writeMetaReport({ run, result });
    enter('completed');
    return result;
  } catch (err) {
    return discard(run, enter, err);
  }
}

/** A failed or cancelled meta run: mark it so and remove its partial outputs, then rethrow. */
async function discard(
  run: MetaRunContext,
  enter: (phase: MetaProgress['phase'], activity?: string | null) => void,
  err: unknown,
): Promise<never> {
  const cancelled = isCancellation(err);
  enter(cancelled ? 'cancelled' : 'failed', 'discardMeta');
  await CancellationScope.nonCancellable(() =>
    short.discardMeta({
      run,
      status: cancelled ? 'cancelled' : 'failed',
      reason: String((err as Error)?.message ?? err),
    }),
  );
  throw err;
}
