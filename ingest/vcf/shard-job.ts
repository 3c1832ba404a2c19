/** Worker-thread side of `ingestShardInThread` (engine/thread.ts calls `threadMain`). */
import { withCompute } from '../../engine/duckdb.js';
import type { EngineConfig } from '../../temporal.config.js';
import { ingestShard, type ShardProgress, type ShardResult, type ShardTask } from './shard.js';

export interface ShardJob {
  config: EngineConfig;
  task: ShardTask;
  chunkVariants?: number;
  failAfterChunks?: number;
}

export function threadMain(
  job: ShardJob,
  progress: (p: ShardProgress) => void,
  signal: AbortSignal,
): Promise<ShardResult> {
  return withCompute(job.config, (conn) =>
    ingestShard(conn, job.task, {
      chunkVariants: job.chunkVariants,
      failAfterChunks: job.failAfterChunks,
      heartbeat: progress,
      signal,
    }),
  );
}
