/**
 * A LOCO shard switches offsets at every change of chromosome in variant_idx order
 * (gwas/shard.ts `chromSegments`): one segment per run of one chromosome, also when a release's
 * chromosomes interleave (each run is its own segment), checked against the runs counted here in
 * plain code from the same variants table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { chromSegments } from '../../gwas/shard.js';
import type { GwasShard, RunContext } from '../../schemas/study-io.js';

const dir = mkdtempSync(join(tmpdir(), 'biobank-chromseg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs of equal chromosome over [from, to], in order. */
function runsOf(chroms: string[], from: number, to: number) {
  const out: { chrom: string; first: number; last: number }[] = [];
  for (let i = from; i <= to; i++) {
    const last = out[out.length - 1];
    if (last && last.chrom === chroms[i] && last.last === i - 1) last.last = i;
    else out.push({ chrom: chroms[i], first: i, last: i });
  }
  return out;
}

describe('chromSegments', () => {
  it('cuts a shard at every chromosome change, interleaved chromosomes included', async () => {
    const chroms = ['1', '1', '1', '2', '2', '1', '1', '3', 'X', 'X', '2', '2'];
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const rows = chroms.map((c, i) => `(${i}, '${c}', ${1000 + i})`).join(', ');
    await conn.run(
      `COPY (SELECT * FROM (VALUES ${rows}) t(variant_idx, chrom, pos)) TO '${join(dir, 'variants.parquet')}' (FORMAT parquet)`,
    );
    const run = { releaseDir: dir } as RunContext;
    for (const [from, to] of [
      [0, 11],
      [1, 6],
      [4, 4],
      [3, 9],
    ]) {
      const shard = { shardId: `s-${from}-${to}`, firstVariantIdx: from, lastVariantIdx: to } as GwasShard;
      expect(await chromSegments(conn, run, shard), `${from}..${to}`).toEqual(runsOf(chroms, from, to));
    }
    expect(
      (await chromSegments(conn, run, { firstVariantIdx: 0, lastVariantIdx: 11 } as GwasShard)).length,
    ).toBe(6);
    conn.closeSync();
    db.closeSync();
  });
});
