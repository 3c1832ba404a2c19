/**
 * Running a shard on its own worker thread, so that shards ingested at once by one process
 * (a worker with several activity slots, or `release add --in-process`) use several cores:
 * BGZF inflation and the byte-level parser are CPU-bound JavaScript. Each thread has its
 * own DuckDB instance (one thread of DuckDB each). Progress, the result and errors come
 * back by message; an InputError is rebuilt with its file, line and field. Cancelling
 * terminates the thread; the shard's committed chunks stay and a retry resumes from them.
 */
import { Worker } from 'node:worker_threads';
import { InputError } from '../../engine/errors.js';
import type { EngineConfig } from '../../temporal.config.js';
import type { ShardHooks, ShardResult, ShardTask } from './shard.js';
import type { ShardWorkerData, ShardWorkerMessage } from './shard-worker.js';

const ENTRY = new URL('./shard-thread-entry.mjs', import.meta.url);

export function ingestShardInThread(
  config: EngineConfig,
  task: ShardTask,
  hooks: ShardHooks = {},
): Promise<ShardResult> {
  const data: ShardWorkerData = {
    config: { ...config, worker: { ...config.worker, duckdbThreads: 1 } },
    task,
    chunkVariants: hooks.chunkVariants,
    failAfterChunks: hooks.failAfterChunks,
  };
  return new Promise<ShardResult>((resolve, reject) => {
    const worker = new Worker(ENTRY, { workerData: data });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      hooks.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => {
      void worker.terminate();
      finish(() => reject(hooks.signal?.reason ?? new Error('cancelled')));
    };
    if (hooks.signal?.aborted) return onAbort();
    hooks.signal?.addEventListener('abort', onAbort);
    worker.on('message', (m: ShardWorkerMessage) => {
      if (m.type === 'progress') hooks.heartbeat?.(m.progress);
      else if (m.type === 'done') finish(() => resolve(m.result));
      else
        finish(() => {
          if (m.input) {
            const err = new InputError('', m.input.location, m.input.hint);
            err.message = m.input.message;
            reject(err);
          } else {
            const err = new Error(m.message);
            err.name = m.name;
            if (m.stack) err.stack = m.stack;
            reject(err);
          }
        });
    });
    worker.on('error', (err) => finish(() => reject(err)));
    worker.on('exit', (code) => finish(() => reject(new Error(`shard thread exited with code ${code}`))));
  });
}
