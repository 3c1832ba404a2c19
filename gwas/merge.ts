import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import type { GwasShardResult, GwasSummary, LeadLocus, QcCounts } from '../schemas/study-io.js';
import { distanceClump } from '../stats/clump.js';
import { lambdaGcFromMiddleP } from '../stats/multiple-testing.js';
import { emptyQc } from './shard.js';

/** "3,832 collinear, 12 monomorphic": counts by status, largest first. */
export function describeStatusCounts(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([status, n]) => `${n.toLocaleString('en-US')} ${status}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/**
 * A GWAS in which no variant gave a result (no `ok` row for any trait) cannot succeed on a retry:
 * bad input, with the QC and status counts that say why.
 */
function noResults(qc: QcCounts, statusCounts: Record<string, number>): InputError {
  const removed = [
    ['missingness', qc.removedMissing],
    ['MAC', qc.removedMac],
    ['MAF', qc.removedMaf],
    ['HWE', qc.removedHwe],
  ]
    .filter(([, n]) => (n as number) > 0)
    .map(([what, n]) => `${(n as number).toLocaleString('en-US')} by ${what}`);
  const hint =
    qc.nTested === 0
      ? 'every variant was removed by QC: check gwas.minMac, minMaf, maxMissing and hweP against the cohort size'
      : (statusCounts.collinear ?? 0) > 0
        ? 'collinear: the covariates are (nearly) dependent, e.g. a categorical covariate with very many levels or a column that repeats another; check the covariates'
        : 'check the cohort (cases and controls) and the covariates';
  return new InputError(
    `no variant produced a GWAS result: ${qc.nInput.toLocaleString('en-US')} variants in the shards, ` +
      `${removed.length > 0 ? `QC removed ${removed.join(', ')}; ` : ''}` +
      `${qc.nTested.toLocaleString('en-US')} tested, by status: ${describeStatusCounts(statusCounts)}`,
    { field: 'gwas' },
    hint,
  );
}

/**
 * Merge the shards: totals of the QC filters, λGC over the `ok` rows (median χ²₁ / 0.4549),
 * and lead loci by distance clumping (p threshold and ± window from the spec).
 */
export async function mergeShards(
  conn: DuckDBConnection,
  dir: string,
  records: GwasShardResult[],
  leadLoci: { p: number; windowKb: number; max: number },
  traits?: string[],
): Promise<GwasSummary> {
  const qc = emptyQc();
  for (const r of records) for (const k of Object.keys(qc) as (keyof QcCounts)[]) qc[k] += r.qc[k];
  const glob = join(dir, '*.parquet');
  // Rows per trait and status: every summary says why variants gave no result.
  const byStatus =
    records.length === 0
      ? []
      : (
          await conn.runAndReadAll(
            `SELECT trait::INTEGER AS trait, status, count(*)::BIGINT AS n
             FROM read_parquet(${sqlString(glob)}) GROUP BY ALL ORDER BY ALL`,
          )
        ).getRows();
  const statusOf = (k: number): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [t, status, n] of byStatus) if (Number(t) === k) out[String(status)] = Number(n);
    return out;
  };
  const statusCounts = statusOf(0);
  if (!byStatus.some(([, status]) => status === 'ok')) throw noResults(qc, statusCounts);
  // λGC per trait from the middle p-values (median χ²), sorted by DuckDB.
  const middle = await conn.runAndReadAll(
    `WITH r AS (
       SELECT trait, p, row_number() OVER (PARTITION BY trait ORDER BY p) AS rn,
              count(*) OVER (PARTITION BY trait) AS cnt
       FROM read_parquet(${sqlString(glob)}) WHERE status = 'ok' AND p IS NOT NULL AND NOT isnan(p))
     SELECT trait::INTEGER, p FROM r WHERE rn = (cnt + 1) // 2 OR rn = cnt // 2 + 1`,
  );
  const mid = new Map<number, number[]>();
  for (const [k, p] of middle.getRows()) mid.set(Number(k), [...(mid.get(Number(k)) ?? []), Number(p)]);
  const lambdaOf = (k: number) => (mid.has(k) ? lambdaGcFromMiddleP(mid.get(k) as number[]) : null);
  const lambdaGc = lambdaOf(0);
  const perTrait =
    traits && traits.length > 1
      ? traits.map((phenotype, k) => ({ phenotype, lambdaGc: lambdaOf(k), statusCounts: statusOf(k) }))
      : undefined;
  // Lead loci (and the PheWAS after them) follow the main trait.
  const sig = await conn.runAndReadAll(
    `SELECT variant_idx, chrom, pos, ref, alt, p, neg_log10_p, beta FROM read_parquet(${sqlString(glob)})
     WHERE status = 'ok' AND p < $1 AND trait = 0 ORDER BY variant_idx`,
    [leadLoci.p],
  );
  const rows = sig.getRowObjectsJS() as {
    variant_idx: bigint;
    chrom: string;
    pos: bigint;
    ref: string;
    alt: string;
    p: number;
    neg_log10_p: number;
    beta: number | null;
  }[];
  const clumped = distanceClump(
    rows.map((r) => r.chrom),
    Float64Array.from(rows, (r) => Number(r.pos)),
    Float64Array.from(rows, (r) => r.neg_log10_p),
    { pThreshold: leadLoci.p, windowBp: leadLoci.windowKb * 1000 },
  );
  const loci: LeadLocus[] = [];
  for (const lead of clumped.leads) {
    if (loci.length >= leadLoci.max) break;
    const members = rows.filter((_, i) => clumped.leadOf[i] === lead);
    const r = rows[lead];
    loci.push({
      locusId: `${r.chrom}:${r.pos}`,
      variantIdx: Number(r.variant_idx),
      chrom: r.chrom,
      pos: Number(r.pos),
      ref: r.ref,
      alt: r.alt,
      p: r.p,
      beta: r.beta,
      start: Math.min(...members.map((m) => Number(m.pos))),
      end: Math.max(...members.map((m) => Number(m.pos))),
      nVariants: members.length,
    });
  }
  return {
    resultsGlob: glob,
    nTested: qc.nTested,
    statusCounts,
    lambdaGc,
    ...(perTrait ? { traits: perTrait } : {}),
    leadLoci: loci,
    qc,
  };
}
