/**
 * Lead loci of a meta-analysis, and what the report needs about them.
 *
 * - Lead loci: distance clumping of the fixed-effect −log10 p (stats/clump.ts `distanceClump`:
 *   p < `p`, default 5e-8, ±`windowKb`, default 500 kb; ties by chromosome then position). A
 *   locus spans its claimed significant variants; it carries k, the direction string, Cochran's
 *   Q p and I² of its lead.
 * - Forest rows: every input's aligned β and SE at each lead (NULL where the input lacks the
 *   variant or alignment dropped it), with the alignment action (`meta_forest`).
 * - Leave-one-out at each lead: the fixed-effect meta-analysis without each input in turn
 *   (stats/meta.ts `metaLeaveOneOut`, as metafor's `leave1out`).
 *
 * Everything is read from the parts meta/run.ts wrote (`parts/` for the statistics, `sig/` for
 * the per-input detail of significant variants), never from the inputs again.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import type { MetaLeadLocus } from '../schemas/meta.js';
import type { MetaForestRow, MetaLeaveOneOutRow } from '../schemas/results.js';
import { distanceClump } from '../stats/clump.js';
import { LOO_STATUS, metaLeaveOneOut } from '../stats/meta.js';

type Row<T> = Omit<T, 'run_id'>;

export interface MetaLoci {
  leads: MetaLeadLocus[];
  forest: Row<MetaForestRow>[];
  /** Leave-one-out rows of the leads (empty unless asked for). */
  leaveOneOut: Row<MetaLeaveOneOutRow>[];
}

const orNull = (x: unknown): number | null => (x === null || x === undefined ? null : Number(x));

export async function metaLeadLoci(
  conn: DuckDBConnection,
  globs: { partsGlob: string; sigGlob: string },
  labels: readonly string[],
  options: { p: number; windowKb: number; leaveOneOut: boolean },
): Promise<MetaLoci> {
  const threshold = -Math.log10(options.p);
  const sig = (
    await conn.runAndReadAll(
      `SELECT chrom, pos, effect_allele, other_allele, beta, se, p, neg_log10_p, k, direction, q_p, i2
       FROM read_parquet(${sqlString(globs.partsGlob)}) WHERE neg_log10_p > ${threshold}`,
    )
  ).getRows();
  const chrom = sig.map((r) => String(r[0]));
  const pos = sig.map((r) => Number(r[1]));
  const mlog10p = sig.map((r) => Number(r[7]));
  const clumps = distanceClump(chrom, pos, mlog10p, {
    pThreshold: options.p,
    windowBp: options.windowKb * 1000,
  });
  const span = new Map<number, { start: number; end: number; n: number }>();
  for (let i = 0; i < sig.length; i++) {
    const lead = clumps.leadOf[i];
    if (lead < 0) continue;
    const s = span.get(lead) ?? { start: pos[i], end: pos[i], n: 0 };
    s.start = Math.min(s.start, pos[i]);
    s.end = Math.max(s.end, pos[i]);
    s.n++;
    span.set(lead, s);
  }
  const leads: MetaLeadLocus[] = Array.from(clumps.leads, (i) => {
    const r = sig[i];
    const s = span.get(i) ?? { start: pos[i], end: pos[i], n: 1 };
    return {
      chrom: chrom[i],
      pos: pos[i],
      effectAllele: String(r[2]),
      otherAllele: String(r[3]),
      beta: Number(r[4]),
      se: Number(r[5]),
      p: Number(r[6]),
      negLog10P: mlog10p[i],
      k: Number(r[8]),
      direction: String(r[9]),
      qP: orNull(r[10]),
      i2: orNull(r[11]),
      start: s.start,
      end: s.end,
      nVariants: s.n,
    };
  });
  if (leads.length === 0) return { leads, forest: [], leaveOneOut: [] };
  // per-input detail of the leads
  const k = labels.length;
  const L = leads.length;
  const key = (c: string, p: number, e: string, o: string) => `${c}\t${p}\t${e}\t${o}`;
  const col = new Map<string, number>(
    leads.map((l, c) => [key(l.chrom, l.pos, l.effectAllele, l.otherAllele), c]),
  );
  const detail = (
    await conn.runAndReadAll(
      `SELECT chrom, pos, effect_allele, other_allele, input_index, beta, se, aligned
       FROM read_parquet(${sqlString(globs.sigGlob)})`,
    )
  ).getRows();
  const beta = new Float64Array(k * L).fill(Number.NaN);
  const se = new Float64Array(k * L).fill(Number.NaN);
  const action = new Array<string>(k * L).fill('absent');
  for (const r of detail) {
    const c = col.get(key(String(r[0]), Number(r[1]), String(r[2]), String(r[3])));
    if (c === undefined) continue;
    const i = Number(r[4]);
    beta[i * L + c] = r[5] === null ? Number.NaN : Number(r[5]);
    se[i * L + c] = r[6] === null ? Number.NaN : Number(r[6]);
    action[i * L + c] = String(r[7]);
  }
  const forest: Row<MetaForestRow>[] = [];
  for (let c = 0; c < L; c++) {
    const l = leads[c];
    for (let i = 0; i < k; i++) {
      const b = beta[i * L + c];
      const s = se[i * L + c];
      forest.push({
        chrom: l.chrom,
        pos: l.pos,
        effect_allele: l.effectAllele,
        other_allele: l.otherAllele,
        label: labels[i],
        beta: Number.isFinite(b) ? b : null,
        se: Number.isFinite(s) ? s : null,
        aligned: action[i * L + c],
      });
    }
  }
  const leaveOneOut: Row<MetaLeaveOneOutRow>[] = [];
  if (options.leaveOneOut) {
    const loo = metaLeaveOneOut({ k, m: L, beta, se });
    const fin = (x: number) => (Number.isFinite(x) ? x : null);
    for (let c = 0; c < L; c++) {
      const l = leads[c];
      for (let i = 0; i < k; i++) {
        const o = i * L + c;
        leaveOneOut.push({
          chrom: l.chrom,
          pos: l.pos,
          effect_allele: l.effectAllele,
          other_allele: l.otherAllele,
          left_out: labels[i],
          beta: fin(loo.beta[o]),
          se: fin(loo.se[o]),
          p: fin(loo.p[o]),
          q_p: fin(loo.qP[o]),
          i2: fin(loo.i2[o]),
          status: LOO_STATUS[loo.status[o]],
        });
      }
    }
  }
  return { leads, forest, leaveOneOut };
}
