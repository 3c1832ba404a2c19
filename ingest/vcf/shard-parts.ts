/**
 * A shard's part files on disk (layout in shard.ts): chunk names, the check that a shard is
 * already finished, and the resume point of a retried shard.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../../engine/duckdb.js';
import { exists } from '../../engine/fsutil.js';
import type { ShardProgress, ShardResult } from './shard.js';

/** The file name stem of chunk `k`: `c00000`, `c00001`, … */
export function chunkName(k: number): string {
  return `c${String(k).padStart(5, '0')}`;
}

async function rowCount(conn: DuckDBConnection, files: string[]): Promise<number> {
  if (files.length === 0) return 0;
  const r = await conn.runAndReadAll(
    `SELECT count(*)::BIGINT AS n FROM read_parquet([${files.map(sqlString).join(', ')}])`,
  );
  return Number(r.getRows()[0][0]);
}

/** True when `done.json` exists and its counts match the part files. */
export async function finishedShard(conn: DuckDBConnection, dir: string): Promise<ShardResult | null> {
  const donePath = join(dir, 'done.json');
  if (!(await exists(donePath))) return null;
  const done = JSON.parse(await readFile(donePath, 'utf8')) as ShardResult;
  const gt: string[] = [];
  const vr: string[] = [];
  for (let k = 0; k < done.chunks; k++) {
    gt.push(join(dir, `${chunkName(k)}.gt.parquet`));
    vr.push(join(dir, `${chunkName(k)}.var.parquet`));
  }
  for (const f of [...gt, ...vr]) if (!(await exists(f))) return null;
  const expectGt = done.nGenotypeRows ?? done.nVariants;
  if ((await rowCount(conn, vr)) !== done.nVariants || (await rowCount(conn, gt)) !== expectGt) return null;
  return { ...done, reused: true };
}

/** Last committed chunk (from its JSON), after removing anything written after it. */
export async function resumePoint(dir: string): Promise<ShardProgress | null> {
  if (!(await exists(dir))) return null;
  const names = await readdir(dir);
  let last: ShardProgress | null = null;
  for (let k = 0; ; k++) {
    const name = `${chunkName(k)}.json`;
    if (!names.includes(name)) break;
    last = JSON.parse(await readFile(join(dir, name), 'utf8')) as ShardProgress;
  }
  const keepUpTo = last ? last.chunk : -1;
  for (const name of names) {
    const m = /^c(\d{5})\./.exec(name);
    if ((m && Number(m[1]) > keepUpTo) || name.startsWith('.')) await rm(join(dir, name), { force: true });
  }
  return last;
}
