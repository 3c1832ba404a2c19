/**
 * Running a shard on a worker thread (engine/thread.ts: pooled, stopped cooperatively), so that
 * shards ingested at once by one process (a worker with several activity slots, or
 * `release add --in-process`) use several cores: BGZF inflation and the byte-level parser are
 * CPU-bound JavaScript. Each thread has its own DuckDB instance. Progress, the result and errors
 * come back by message; an InputError keeps its file, line and field. Cancelling stops the shard
 * after its current chunk; committed chunks stay and a retry resumes from them.
 */
import { runInThread, sourceModule } from '../engine/thread.js';
import type { EngineConfig } from '../temporal.config.js';
import type { ShardJob } from './shard-job.js';
import type { IngestShardTask } from './shards.js';
import type { ShardHooks, ShardProgress, ShardResult } from './vcf/shard.js';

const JOB = sourceModule('ingest/shard-job.ts');

export function ingestShardInThread(
  config: EngineConfig,
  task: IngestShardTask,
  hooks: ShardHooks = {},
): Promise<ShardResult> {
  const data: ShardJob = {
    config: { ...config, worker: { ...config.worker, duckdbThreads: 1 } },
    task,
    chunkVariants: hooks.chunkVariants,
    failAfterChunks: hooks.failAfterChunks,
  };
  return runInThread<ShardJob, ShardResult, ShardProgress>(JOB, data, {
    onProgress: hooks.heartbeat,
    signal: hooks.signal,
  });
}
