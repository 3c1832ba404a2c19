/**
 * The engine context: everything an activity takes from its process, in one explicit object
 * built once per worker (worker.ts → activities/index.ts) instead of reached for through
 * module globals.
 *
 * - `config`: the validated configuration (temporal.config.ts; the only place that reads the
 *   environment).
 * - `compute` / `engineDb`: the process's DuckDB compute instance (one per process, as DuckDB
 *   requires: engine/duckdb.ts) and the engine database attached on it, serialised within the
 *   process and waiting for other processes' locks.
 * - `inThread`: the pooled worker threads (engine/thread.ts) that GWAS shards, PheWAS batches
 *   and VCF shards run on.
 * - `scanKernel`: the GWAS scan kernel those threads use (`worker.scanKernel`).
 *
 * Domain cores take what they need from it as plain arguments (a connection, the config), so
 * they can be called and tested without Temporal.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { ScanBackend } from '../stats/kernel.js';
import type { EngineConfig } from '../temporal.config.js';
import { type EngineDbOptions, withCompute, withEngineDb } from './duckdb.js';
import { runInThread } from './thread.js';

export interface EngineContext {
  readonly config: EngineConfig;
  compute<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T>;
  engineDb<T>(fn: (conn: DuckDBConnection) => Promise<T>, options?: EngineDbOptions): Promise<T>;
  readonly inThread: typeof runInThread;
  readonly scanKernel: ScanBackend;
}

export function createEngineContext(config: EngineConfig): EngineContext {
  return {
    config,
    compute: (fn) => withCompute(config, fn),
    engineDb: (fn, options) => withEngineDb(config, fn, options),
    inThread: runInThread,
    scanKernel: config.worker.scanKernel,
  };
}

/** The context itself, or one built from a configuration (direct callers and tests pass a config). */
export function asEngineContext(from: EngineConfig | EngineContext): EngineContext {
  return 'compute' in from ? from : createEngineContext(from);
}
