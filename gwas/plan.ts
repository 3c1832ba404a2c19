import { join } from 'node:path';
import { type DuckDBConnection, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import type { GwasShard, RunContext } from '../schemas/study-io.js';

/**
 * Split the release's variants (or those of the chosen chromosomes) into shards of about
 * `shardVariants` variants: contiguous runs in genome order (variant_idx), cut into
 * ⌈n / shardVariants⌉ shards of equal size. A shard may span the end of one chromosome and
 * the start of the next (small chromosomes would otherwise make many tiny shards, each paying
 * the fixed cost of an activity); it never spans variants that are not being tested. The
 * shard id names its position and chromosome span, e.g. `s0003-chr6-chr9`; ids are stable
 * for a release, chromosome list and shard size. With `splitChromosomes` every chromosome is cut
 * on its own, so no shard spans two: LOCO studies started before the patch 'loco-spanning-shards'
 * planned so (one offset per shard); newer ones use the plain plan and switch offsets inside a
 * shard (gwas/shard.ts).
 */
export async function planShards(
  conn: DuckDBConnection,
  run: RunContext,
  chromosomes: string[] | null,
  shardVariants: number,
  splitChromosomes = false,
): Promise<GwasShard[]> {
  const by = splitChromosomes ? 'run, chrom' : 'run';
  const reader = await conn.runAndReadAll(
    `WITH v AS (
       SELECT chrom, variant_idx, shard,
              variant_idx - row_number() OVER (ORDER BY variant_idx) AS run
       FROM read_parquet(${sqlString(join(run.releaseDir, 'variants.parquet'))})
       ${chromosomes ? 'WHERE list_contains($2::VARCHAR[], chrom)' : ''}),
     k AS (
       SELECT *, row_number() OVER (PARTITION BY ${by} ORDER BY variant_idx) - 1 AS k,
              count(*) OVER (PARTITION BY ${by}) AS n_run
       FROM v),
     p AS (SELECT *, (k * ceil(n_run / $1)::BIGINT) // n_run AS part FROM k)
     SELECT min(variant_idx)::BIGINT AS first, max(variant_idx)::BIGINT AS last,
            count(*)::INTEGER AS n, list(DISTINCT shard ORDER BY shard) AS files,
            arg_min(chrom, variant_idx) AS chrom_first, arg_max(chrom, variant_idx) AS chrom_last
     FROM p GROUP BY ${by}, part ORDER BY first`,
    chromosomes ? [shardVariants, listValue(chromosomes)] : [shardVariants],
    chromosomes ? [undefined as never, LIST(VARCHAR)] : undefined,
  );
  const label = (c: string) => `chr${c.replace(/^chr/i, '')}`;
  return reader.getRowObjectsJS().map((r, i) => {
    const a = String(r.chrom_first);
    const b = String(r.chrom_last);
    return {
      shardId: `s${String(i).padStart(4, '0')}-${label(a)}${a === b ? '' : `-${label(b)}`}`,
      chrom: a === b ? a : `${a}-${b}`,
      files: (r.files as string[]).map((f) => join(run.releaseDir, 'genotypes', `${f}.parquet`)),
      firstVariantIdx: Number(r.first),
      lastVariantIdx: Number(r.last),
      nVariants: Number(r.n),
    };
  });
}
