/**
 * DuckDB access for one process.
 *
 * - **Compute instance:** one in-memory DuckDB instance per process (`computeDb`), shared by
 *   every activity the worker runs. It reads and writes Parquet; its thread count and memory
 *   limit come from `temporal.config.ts`.
 * - **Engine database** (`config.database`): the catalog of releases plus the results tables.
 *   DuckDB lets only one process hold a database file for writing, and several workers may
 *   serve one task queue, so no process keeps it open: `withEngineDb` attaches it for one
 *   short unit of work and detaches it again, retrying while another process holds the lock.
 *   Inside a process, a mutex serialises those units.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type DuckDBBlobVector, type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import duckdbBindings from '@duckdb/node-bindings';
import { quoteIdent, quoteValue } from '../schemas/columns.js';
import type { EngineConfig } from '../temporal.config.js';

let compute: Promise<DuckDBInstance> | undefined;

/** Quote an SQL string literal. Only for paths and names the engine itself produced. */
export function sqlString(value: string): string {
  return quoteValue(value);
}

/** Quote an SQL identifier. */
export function sqlIdent(name: string): string {
  return quoteIdent(name);
}

/** Whether the current database and schema of `conn` have a table (or view) called `name`. */
export async function hasTable(conn: DuckDBConnection, name: string): Promise<boolean> {
  const reader = await conn.runAndReadAll(
    `SELECT 1 FROM information_schema.tables
     WHERE table_catalog = current_database() AND table_schema = current_schema() AND table_name = $1`,
    [name],
  );
  return reader.getRows().length > 0;
}

/** The process's compute instance, created on first use. */
export function computeDb(config: EngineConfig): Promise<DuckDBInstance> {
  compute ??= (async () => {
    const tmp = join(config.dataDir, 'tmp', 'duckdb');
    await mkdir(tmp, { recursive: true });
    return DuckDBInstance.create(':memory:', {
      threads: String(config.worker.duckdbThreads),
      memory_limit: config.worker.duckdbMemoryLimit,
      preserve_insertion_order: 'false',
      temp_directory: tmp,
    });
  })();
  return compute;
}

/** Run `fn` on a fresh connection of the compute instance, closing it afterwards. */
export async function withCompute<T>(
  config: EngineConfig,
  fn: (conn: DuckDBConnection) => Promise<T>,
): Promise<T> {
  const conn = await (await computeDb(config)).connect();
  try {
    return await fn(conn);
  } finally {
    conn.closeSync();
  }
}

let engineQueue: Promise<unknown> = Promise.resolve();

function isLockError(err: unknown): boolean {
  const text = String((err as Error)?.message ?? err);
  return /Could not set lock|Conflicting lock|database is locked|lock on file/i.test(text);
}

export interface EngineDbOptions {
  /** Attach read-only (queries, the viewer). Default false. */
  readOnly?: boolean;
  /** Give up waiting for another process's lock after this many ms. Default 120 000. */
  lockTimeoutMs?: number;
}

/**
 * Run `fn` with the engine database attached as schema `engine` (and set as the default
 * catalog) on a compute connection. The database is detached afterwards, so other
 * processes can take it. Units of work in this process run one at a time.
 */
export function withEngineDb<T>(
  config: EngineConfig,
  fn: (conn: DuckDBConnection) => Promise<T>,
  options: EngineDbOptions = {},
): Promise<T> {
  const run = async (): Promise<T> => {
    await mkdir(dirname(config.database), { recursive: true });
    const deadline = Date.now() + (options.lockTimeoutMs ?? 120_000);
    let delay = 50;
    for (;;) {
      const conn = await (await computeDb(config)).connect();
      let attached = false;
      try {
        await conn.run(
          `ATTACH ${sqlString(config.database)} AS engine${options.readOnly ? ' (READ_ONLY)' : ''}`,
        );
        attached = true;
        await conn.run('USE engine');
        return await fn(conn);
      } catch (err) {
        if (!attached && isLockError(err) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 2000);
          continue;
        }
        throw err;
      } finally {
        if (attached) {
          await conn.run('USE memory').catch(() => {});
          await conn.run('DETACH engine').catch(() => {});
        }
        conn.closeSync();
      }
    }
  };
  const next = engineQueue.then(run, run);
  engineQueue = next.catch(() => undefined);
  return next;
}

/** The fields of a DuckDBBlobVector that `blobItems` reads (not part of its typed API). */
interface BlobVectorInternals {
  dataView: DataView;
  itemOffset: number;
  validity: { itemValid(i: number): boolean };
}

/**
 * The bytes of every BLOB in a fetched vector's first `count` rows (null for NULL), like
 * `getItemBytes` per row but with one native copy per run of BLOBs that lie back to back in
 * DuckDB's memory (as a Parquet row group's values do) instead of one per value; the values
 * are views into that copy. A value's 16-byte `string_t` holds its length, then (beyond 12
 * bytes) a pointer: consecutive values whose pointer equals the previous pointer plus its length
 * form a run, so the copied range holds exactly their bytes.
 */
export function blobItems(vector: DuckDBBlobVector, count: number, out: (Uint8Array | null)[]): void {
  const { dataView: dv, itemOffset, validity } = vector as unknown as BlobVectorInternals;
  if (itemOffset !== 0) {
    for (let i = 0; i < count; i++) out[i] = vector.getItemBytes(i);
    return;
  }
  let i = 0;
  while (i < count) {
    const len = dv.getUint32(i * 16, true);
    if (!validity.itemValid(i) || len <= 12) {
      out[i] = vector.getItemBytes(i);
      i++;
      continue;
    }
    // extend the run while the next value starts where this one ends
    let j = i + 1;
    let total = len;
    let end = dv.getBigUint64(i * 16 + 8, true) + BigInt(len);
    while (j < count) {
      const lj = dv.getUint32(j * 16, true);
      if (!validity.itemValid(j) || lj <= 12 || dv.getBigUint64(j * 16 + 8, true) !== end) break;
      total += lj;
      end += BigInt(lj);
      j++;
    }
    const bytes = duckdbBindings.get_data_from_pointer(
      dv.buffer as ArrayBuffer,
      dv.byteOffset + i * 16 + 8,
      total,
    );
    let at = 0;
    for (let k = i; k < j; k++) {
      const lk = dv.getUint32(k * 16, true);
      out[k] = bytes.subarray(at, at + lk);
      at += lk;
    }
    i = j;
  }
}
