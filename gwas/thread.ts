/**
 * Worker-thread side of `runGwasShard` (engine/thread.ts calls `threadMain`). The thread keeps
 * one null-model cache, so consecutive shards of a study reuse the fitted model.
 */

import { computeDb } from '../engine/duckdb.js';
import type { GwasShardResult } from '../schemas/study-io.js';
import { setScanBackend, wasmScanAvailable } from '../stats/kernel.js';
import type { EngineConfig } from '../temporal.config.js';
import { computeGwasShard, type GwasThreadInput, type ShardCursor, ShardModelCache } from './shard.js';

const models = new ShardModelCache();

export function threadMain(
  data: GwasThreadInput,
  progress: (cursor: ShardCursor) => void,
  signal: AbortSignal,
): Promise<GwasShardResult> {
  setScanBackend(data.config.worker.scanKernel);
  return computeGwasShard(data.config, data.input, data.resumed, progress, signal, models);
}

/**
 * Called once when a worker starts this thread ahead of its first shard (engine/thread.ts
 * prewarmThreads): open the thread's DuckDB instance (one thread, as runGwasShard configures it)
 * and compile the WASM scan kernel.
 */
export async function warmUp(config?: EngineConfig): Promise<void> {
  if (config) setScanBackend(config.worker.scanKernel);
  wasmScanAvailable();
  if (config) await computeDb({ ...config, worker: { ...config.worker, duckdbThreads: 1 } });
}
