/** Worker-thread side of `ingestShardInThread` (engine/thread.ts calls `threadMain`). */
import { withCompute } from '../engine/duckdb.js';
import type { EngineConfig } from '../temporal.config.js';
import { type IngestShardTask, ingestAnyShard } from './shards.js';
import type { ShardProgress, ShardResult } from './vcf/shard.js';

export interface ShardJob {
  config: EngineConfig;
  task: IngestShardTask;
  chunkVariants?: number;
  failAfterChunks?: number;
}

export function threadMain(
  job: ShardJob,
  progress: (p: ShardProgress) => void,
  signal: AbortSignal,
): Promise<ShardResult> {
  return withCompute(job.config, (conn) =>
    ingestAnyShard(conn, job.task, {
      chunkVariants: job.chunkVariants,
      failAfterChunks: job.failAfterChunks,
      heartbeat: progress,
      signal,
    }),
  );
}
