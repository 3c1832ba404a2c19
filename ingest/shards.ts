/**
 * A release's shards, whatever the input format: a VCF byte range (vcf/shard.ts) or a range of
 * variants of a `.bed`, `.pgen` or `.bgen` file (genotype-shard.ts). Both write the same parts.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { type GenotypeShardTask, ingestGenotypeShard } from './genotype-shard.js';
import { ingestShard, type ShardHooks, type ShardResult, type ShardTask } from './vcf/shard.js';

/** A VCF shard (no `format`, as in plans written before other formats) or a binary one. */
export type IngestShardTask = (ShardTask & { format?: 'vcf' }) | GenotypeShardTask;

export function isGenotypeShard(task: IngestShardTask): task is GenotypeShardTask {
  return task.format !== undefined && task.format !== 'vcf';
}

/** Ingest one shard of any format (resumable; skipped when already finished). */
export function ingestAnyShard(
  conn: DuckDBConnection,
  task: IngestShardTask,
  hooks: ShardHooks = {},
): Promise<ShardResult> {
  return isGenotypeShard(task) ? ingestGenotypeShard(conn, task, hooks) : ingestShard(conn, task, hooks);
}
