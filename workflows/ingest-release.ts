/**
 * `ingestRelease`: a biobank release from its manifest into the engine.
 *
 * 1. validate the manifest and plan the VCF shards (fingerprint; a release already
 *    registered with the same fingerprint is a no-op);
 * 2. ingest the shards, at most `maxParallel` at a time, each a heartbeating, resumable
 *    activity;
 * 3. ingest the EHR tables (persons, conditions, measurements, extra tables);
 * 4. finalize: global variant index, Parquet tables in place, register in the catalog.
 *
 * Bad input anywhere (an InputError/ValidationError/CorruptInput/MissingFile failure) removes the staging folder
 * before the workflow fails, so nothing is registered and nothing half-written remains.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { activityOptions } from '../schemas/presets.js';
import { mapBounded, newProgress, progressQuery } from './common.js';

// --- Types ---
export interface IngestReleaseInput {
  manifestPath: string;
  /** Send bad EHR rows to rejects.parquet instead of failing. */
  quarantine?: boolean;
  /** Shard activities running at once. Default 4. */
  maxParallel?: number;
  /** Target shards per VCF file. Default 2. */
  shardsPerFile?: number;
  /** VCF files smaller than this are one shard (tests use small values). Default 1 MiB. */
  minShardBytes?: number;
}

export interface IngestReleaseResult {
  releaseId: string;
  fingerprint: string;
  /** False when the same release was already registered (nothing done). */
  ingested: boolean;
  dataPath: string;
  nSamples: number;
  nVariants: number;
  nShards: number;
  nPersons: number;
  nConditions: number;
  nRejects: number;
  /** Column typing worth a look (ingest/ehr/ehr.ts `EhrResult.notes`); absent when none. */
  notes?: string[];
}

/** The activities the protocol needs; the workflow passes proxies, the CLI may pass functions. */
export type IngestSteps = Pick<
  Activities,
  'planReleaseIngest' | 'ingestVcfShard' | 'ingestReleaseEhr' | 'finalizeReleaseIngest' | 'abortReleaseIngest'
>;

// --- Helpers ---
function isBadInput(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const type = cause instanceof ApplicationFailure ? cause.type : (cause as Error | undefined)?.name;
  return (
    type === 'InputError' ||
    type === 'ValidationError' ||
    type === 'ZodError' ||
    type === 'CorruptInput' ||
    type === 'MissingFile'
  );
}

/** The protocol itself, independent of how activities are invoked. */
export async function runIngestSteps(
  steps: IngestSteps,
  input: IngestReleaseInput,
): Promise<IngestReleaseResult> {
  const plan = await steps.planReleaseIngest({
    manifestPath: input.manifestPath,
    shardsPerFile: input.shardsPerFile ?? 2,
    minShardBytes: input.minShardBytes,
  });
  if (plan.alreadyRegistered) {
    return {
      releaseId: plan.releaseId,
      fingerprint: plan.fingerprint,
      ingested: false,
      dataPath: plan.finalDir,
      nSamples: plan.nSamples,
      nVariants: 0,
      nShards: 0,
      nPersons: 0,
      nConditions: 0,
      nRejects: 0,
    };
  }
  try {
    const shards = await mapBounded(plan.shards, input.maxParallel ?? 4, (task) =>
      steps.ingestVcfShard(task),
    );
    const ehr = await steps.ingestReleaseEhr({
      manifestPath: input.manifestPath,
      stagingDir: plan.stagingDir,
      quarantine: input.quarantine ?? false,
    });
    const done = await steps.finalizeReleaseIngest({ plan, shards, ehr });
    return {
      releaseId: done.releaseId,
      fingerprint: done.fingerprint,
      ingested: true,
      dataPath: done.dataPath,
      nSamples: done.nSamples,
      nVariants: done.nVariants,
      nShards: plan.shards.length,
      nPersons: ehr.nPersons,
      nConditions: ehr.nConditions,
      nRejects: ehr.nRejects,
      ...(ehr.notes?.length ? { notes: ehr.notes } : {}),
    };
  } catch (err) {
    if (isBadInput(err)) await steps.abortReleaseIngest({ stagingDir: plan.stagingDir });
    throw err;
  }
}

// --- Workflow ---
export async function ingestRelease(input: IngestReleaseInput): Promise<IngestReleaseResult> {
  const short = proxyActivities<Activities>(activityOptions('short'));
  const long = proxyActivities<Activities>(activityOptions('long'));
  const progress = newProgress();
  progress.phase = 'planning';
  setHandler(progressQuery, () => progress);
  try {
    const result = await runIngestSteps(
      {
        planReleaseIngest: async (i) => {
          progress.currentActivity = 'planReleaseIngest';
          const plan = await long.planReleaseIngest(i);
          progress.shardsTotal = plan.shards.length;
          progress.phase = 'ingesting';
          progress.currentActivity = 'ingestVcfShard';
          return plan;
        },
        ingestVcfShard: async (task) => {
          const r = await long.ingestVcfShard(task);
          progress.shardsDone++;
          return r;
        },
        ingestReleaseEhr: async (i) => {
          progress.phase = 'ehr';
          progress.currentActivity = 'ingestReleaseEhr';
          return long.ingestReleaseEhr(i);
        },
        finalizeReleaseIngest: async (i) => {
          progress.phase = 'finalizing';
          progress.currentActivity = 'finalizeReleaseIngest';
          return long.finalizeReleaseIngest(i);
        },
        abortReleaseIngest: short.abortReleaseIngest,
      },
      input,
    );
    progress.phase = 'completed';
    progress.currentActivity = null;
    progress.message = result.ingested ? null : 'already registered; nothing to do';
    return result;
  } catch (err) {
    progress.phase = 'failed';
    throw err;
  }
}
