import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import type { GwasShardResult, GwasSummary, LeadLociSpec, LeadLocus, QcCounts } from '../schemas/study-io.js';
import { distanceClump } from '../stats/clump.js';
import { lambdaGcFromMiddleP } from '../stats/multiple-testing.js';
import type { EngineConfig } from '../temporal.config.js';
import { ldClumpRelease } from './ld.js';
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

/** Where LD clumping reads genotypes and which samples its r² is computed in. */
export interface LdSource {
  config: EngineConfig;
  releaseDir: string;
  /** The analysis table (Parquet): r² is computed in its samples with a main-trait value. */
  analysisPath: string;
}

/**
 * Merge the shards: totals of the QC filters, λGC over the `ok` rows (median χ²₁ / 0.4549),
 * and lead loci: LD clumping (`plink --clump` semantics, gwas/ld.ts) when the spec asks for it
 * (the default) and `ld` says where the genotypes are; otherwise distance clumping (p threshold
 * and ± window from the spec).
 */
export async function mergeShards(
  conn: DuckDBConnection,
  dir: string,
  records: GwasShardResult[],
  leadLoci: LeadLociSpec,
  traits?: string[],
  ld?: LdSource,
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
     WHERE status = 'ok' AND p <= $1 AND trait = 0 ORDER BY variant_idx`,
    [Math.max(leadLoci.p, leadLoci.p2 ?? 0)],
  );
  const rows = sig.getRowObjectsJS() as unknown as SigRow[];
  const useLd = (leadLoci.clump ?? 'distance') === 'ld' && ld !== undefined;
  // Distance clumping takes the rows below p (strictly), as it always has.
  const base = useLd ? rows : rows.filter((r) => r.p < leadLoci.p);
  const groups = useLd ? await ldGroups(conn, ld, base, leadLoci) : distanceGroups(base, leadLoci);
  const loci: LeadLocus[] = [];
  for (const { lead, members } of groups) {
    if (loci.length >= leadLoci.max) break;
    const r = base[lead];
    loci.push({
      locusId: `${r.chrom}:${r.pos}`,
      variantIdx: Number(r.variant_idx),
      chrom: r.chrom,
      pos: Number(r.pos),
      ref: r.ref,
      alt: r.alt,
      p: r.p,
      beta: r.beta,
      start: Math.min(...members.map((m) => Number(base[m].pos))),
      end: Math.max(...members.map((m) => Number(base[m].pos))),
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
    clumping: useLd ? 'ld' : 'distance',
    qc,
  };
}

interface SigRow {
  variant_idx: bigint;
  chrom: string;
  pos: bigint;
  ref: string;
  alt: string;
  p: number;
  neg_log10_p: number;
  beta: number | null;
}

/** A lead (row index) and the rows of its locus (the lead included). */
interface LocusGroup {
  lead: number;
  members: number[];
}

function distanceGroups(rows: SigRow[], leadLoci: LeadLociSpec): LocusGroup[] {
  const clumped = distanceClump(
    rows.map((r) => r.chrom),
    Float64Array.from(rows, (r) => Number(r.pos)),
    Float64Array.from(rows, (r) => r.neg_log10_p),
    { pThreshold: leadLoci.p, windowBp: leadLoci.windowKb * 1000 },
  );
  return Array.from(clumped.leads, (lead) => ({
    lead,
    members: rows.flatMap((_, i) => (clumped.leadOf[i] === lead ? [i] : [])),
  }));
}

/**
 * LD clumping of the significant rows with r² in the analysis samples that have a main-trait
 * value: index p ≤ `p`, members p ≤ `p2` (default `p`) with r² > `r2` within ± `windowKb`.
 */
async function ldGroups(
  conn: DuckDBConnection,
  ld: LdSource,
  rows: SigRow[],
  leadLoci: LeadLociSpec,
): Promise<LocusGroup[]> {
  if (rows.length === 0) return [];
  const samples = (
    await conn.runAndReadAll(
      `SELECT sample_idx::INTEGER FROM read_parquet(${sqlString(ld.analysisPath)}) WHERE y IS NOT NULL ORDER BY 1`,
    )
  )
    .getRows()
    .map(([i]) => Number(i));
  const rowOf = new Map(rows.map((r, i) => [Number(r.variant_idx), i]));
  const p2 = leadLoci.p2 ?? leadLoci.p;
  const result = await ldClumpRelease(
    ld.config,
    ld.releaseDir,
    { sampleIdx: samples },
    rows.map((r) => ({
      variantIdx: Number(r.variant_idx),
      chrom: r.chrom,
      pos: Number(r.pos),
      p: r.p,
      mlog10p: r.neg_log10_p,
    })),
    // PLINK lists members with p < p2 (strictly); the spec's p2 is inclusive like its p.
    { p1: leadLoci.p, p2: p2 * (1 + 1e-12), r2: leadLoci.r2 ?? 0.1, kb: leadLoci.windowKb },
  );
  return result.clumps.map((c) => {
    const lead = rowOf.get(c.index) as number;
    return { lead, members: [lead, ...c.members.map((m) => rowOf.get(m.variantIdx) as number)] };
  });
}
