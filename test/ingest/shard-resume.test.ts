/**
 * A shard that dies mid-way resumes after its last committed chunk: no record is
 * written twice or lost, and a finished shard is skipped on a re-run.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { planRelease } from '../../ingest/release.js';
import { ingestAnyShard as ingestShard } from '../../ingest/shards.js';
import { FIXTURE_VCF, makeReleaseFolder, readText, tempDir, testConfig } from './helpers.js';

function bigVcf(reps: number): string {
  const text = readText(FIXTURE_VCF);
  const header = text.split('\n').filter((l) => l.startsWith('#'));
  const body = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const out: string[] = [];
  for (const chrom of ['1', 'X'])
    for (let rep = 0; rep < reps; rep++)
      for (const l of body) {
        const f = l.split('\t');
        if (f[0] !== chrom) continue;
        f[1] = String(Number(f[1]) + rep * 1_000_000);
        out.push(f.join('\t'));
      }
  return `${header.join('\n')}\n${out.join('\n')}\n`;
}

describe('resumable VCF shards', () => {
  it('a retried shard resumes after its last chunk and never duplicates rows', async () => {
    const { manifestPath } = makeReleaseFolder({ vcfText: bigVcf(400), bgzip: true });
    const config = testConfig(tempDir('data'));
    const plan = await planRelease(config, { manifestPath, shardsPerFile: 3, minShardBytes: 0 });
    expect(plan.shards.length).toBe(3);
    const task = plan.shards[1];
    await withCompute(config, async (conn) => {
      const beats: number[] = [];
      await expect(
        ingestShard(conn, task, {
          chunkVariants: 100,
          failAfterChunks: 3,
          heartbeat: (p) => beats.push(p.chunk),
        }),
      ).rejects.toThrow(/test hook/);
      expect(beats).toEqual([0, 1, 2]);
      const dir = join(task.partsDir, task.shardKey);
      expect(readdirSync(dir).filter((f) => f.endsWith('.json'))).toEqual([
        'c00000.json',
        'c00001.json',
        'c00002.json',
      ]);

      const resumed = await ingestShard(conn, task, { chunkVariants: 100 });
      expect(resumed.resumedFromChunk).toBe(3);
      expect(resumed.reused).toBe(false);

      // The same shard in one go, into another folder.
      const freshParts = tempDir('parts');
      const fresh = await ingestShard(conn, { ...task, partsDir: freshParts }, { chunkVariants: 100 });
      expect(resumed.nVariants).toBe(fresh.nVariants);
      expect(resumed.nRecords).toBe(fresh.nRecords);
      const rows = async (d: string) => {
        const r = await conn.runAndReadAll(
          `SELECT chrom, pos, alt, ac, an, variant_idx FROM read_parquet('${d}/*.var.parquet') ORDER BY variant_idx`,
        );
        return r.getRowsJson();
      };
      const a = await rows(dir);
      const b = await rows(join(freshParts, task.shardKey));
      expect(a.length).toBe(resumed.nVariants);
      expect(b).toEqual(a);
      const distinct = await conn.runAndReadAll(
        `SELECT count(DISTINCT variant_idx)::INTEGER, count(*)::INTEGER FROM read_parquet('${dir}/*.gt.parquet')`,
      );
      expect(distinct.getRows()[0]).toEqual([resumed.nVariants, resumed.nVariants]);

      // A finished shard is skipped (verified by its row counts).
      const again = await ingestShard(conn, task, { chunkVariants: 100 });
      expect(again.reused).toBe(true);
      expect(again.nVariants).toBe(resumed.nVariants);
    });
  });

  it('shards of one file partition its records exactly', async () => {
    const { manifestPath } = makeReleaseFolder({ vcfText: bigVcf(300), bgzip: false });
    const config = testConfig(tempDir('data'));
    for (const n of [2, 5, 7]) {
      const plan = await planRelease(config, { manifestPath, shardsPerFile: n, minShardBytes: 0 });
      let total = 0;
      await withCompute(config, async (conn) => {
        for (const task of plan.shards) total += (await ingestShard(conn, task)).nRecords;
      });
      expect(total).toBe(300 * 8);
    }
  });
});
