/**
 * Release ingest activities: thin adapters over `engine/release.ts` (plan, finalize,
 * catalog), `ingest/vcf/shard.ts` (one VCF shard) and `ingest/ehr/ehr.ts` (EHR tables).
 * The shard activity runs the shard on a worker thread (several shards use several
 * cores; `BIOBANK_INGEST_THREADS=0` keeps it on the main thread), heartbeats its cursor
 * after every committed chunk and honours cancellation; a retry resumes after the last
 * committed chunk.
 */
import { Context } from '@temporalio/activity';
import { asEngineContext, type EngineContext } from '../engine/context.js';
import { loadManifest } from '../engine/release.js';
import { type EhrResult, ingestEhr } from '../ingest/ehr/ehr.js';
import {
  abortRelease,
  type FinalizeInput,
  type FinalizeResult,
  finalizeRelease,
  type PlanInput,
  planRelease,
  type ReleasePlan,
} from '../ingest/release.js';
import { ingestShardInThread } from '../ingest/shard-thread.js';
import { type IngestShardTask, ingestAnyShard } from '../ingest/shards.js';
import type { ShardProgress, ShardResult } from '../ingest/vcf/shard.js';
import type { EngineConfig } from '../temporal.config.js';

export interface EhrActivityInput {
  manifestPath: string;
  stagingDir: string;
  quarantine: boolean;
}

function activityContext(): Context | null {
  try {
    return Context.current();
  } catch {
    return null;
  }
}

/** Today's date (UTC) as YYYY-MM-DD. */
function today(): string {
  return new Date().toISOString().slice(0, 10);
}

export function createIngestActivities(from: EngineConfig | EngineContext) {
  const engine = asEngineContext(from);
  const { config } = engine;
  return {
    /** Validate the manifest, fingerprint it and plan the VCF shards. */
    async planReleaseIngest(input: PlanInput): Promise<ReleasePlan> {
      const ctx = activityContext();
      ctx?.heartbeat({ phase: 'plan' });
      return planRelease(config, input, (progress) => ctx?.heartbeat({ phase: 'plan', ...progress }));
    },

    /**
     * Ingest one genotype shard: a VCF byte range, or a range of variants of a `.bed`, `.pgen` or
     * `.bgen` (resumable; skipped when already finished). The name predates the other formats and
     * stays, because released workflow histories call it.
     */
    async ingestVcfShard(task: IngestShardTask): Promise<ShardResult> {
      const ctx = activityContext();
      const hooks = {
        heartbeat: (progress: ShardProgress) => ctx?.heartbeat(progress),
        signal: ctx?.cancellationSignal,
      };
      if (config.ingest.shardThreads === 0)
        return engine.compute((conn) => ingestAnyShard(conn, task, hooks));
      return ingestShardInThread(config, task, hooks);
    },

    /** Persons, conditions, measurements and extra tables into the staging folder. */
    async ingestReleaseEhr(input: EhrActivityInput): Promise<EhrResult> {
      const loaded = await loadManifest(input.manifestPath);
      const ctx = activityContext();
      ctx?.heartbeat({ phase: 'ehr' });
      return engine.compute((conn) =>
        ingestEhr(conn, {
          heartbeat: (progress) => ctx?.heartbeat({ phase: 'ehr', ...progress }),
          manifest: loaded.manifest,
          baseDir: loaded.baseDir,
          outDir: input.stagingDir,
          quarantine: input.quarantine,
          today: today(),
        }),
      );
    },

    /** Assemble the tables, move the release into place and register it. */
    async finalizeReleaseIngest(input: FinalizeInput): Promise<FinalizeResult> {
      const ctx = activityContext();
      ctx?.heartbeat({ phase: 'finalize' });
      return finalizeRelease(config, input, (progress) => ctx?.heartbeat({ phase: 'finalize', ...progress }));
    },

    /** Remove the staging folder of a failed ingest. */
    async abortReleaseIngest(input: { stagingDir: string }): Promise<void> {
      await abortRelease(input);
    },
  };
}
