/**
 * Runs inside a worker thread (see `shard-thread.ts`): ingests one shard with this
 * thread's own DuckDB instance and reports progress, the result or the error by message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { withCompute } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import type { EngineConfig } from '../../temporal.config.js';
import { ingestShard, type ShardTask } from './shard.js';

export interface ShardWorkerData {
  config: EngineConfig;
  task: ShardTask;
  chunkVariants?: number;
  failAfterChunks?: number;
}

export type ShardWorkerMessage =
  | { type: 'progress'; progress: import('./shard.js').ShardProgress }
  | { type: 'done'; result: import('./shard.js').ShardResult }
  | {
      type: 'error';
      name: string;
      message: string;
      stack?: string;
      input?: { message: string; location: InputError['location']; hint?: string };
    };

const data = workerData as ShardWorkerData;
const port = parentPort!;
const post = (m: ShardWorkerMessage) => port.postMessage(m);

try {
  const result = await withCompute(data.config, (conn) =>
    ingestShard(conn, data.task, {
      chunkVariants: data.chunkVariants,
      failAfterChunks: data.failAfterChunks,
      heartbeat: (progress) => post({ type: 'progress', progress }),
    }),
  );
  post({ type: 'done', result });
} catch (err) {
  const e = err as Error;
  post({
    type: 'error',
    name: e?.name ?? 'Error',
    message: e?.message ?? String(err),
    stack: e?.stack,
    ...(err instanceof InputError
      ? { input: { message: err.message, location: err.location, hint: err.hint } }
      : {}),
  });
}
