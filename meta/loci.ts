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
 * - Each input's own lead loci (`meta_input_loci`): the same clumping (`clumpLoci`) of the
 *   input's own −log10 p, so that a locus significant in one input only (an ancestry-specific
 *   effect, say) is found even when the pooled p is not significant. Each carries the pooled row
 *   at that variant, whether the pooled p passes the lead-loci p, and how many inputs are
 *   significant on their own there (every input whose own p passes, whether or not alignment
 *   kept its entry).
 *
 * Everything is read from the parts meta/run.ts wrote (`parts/` for the statistics, `sig/` for
 * the per-input detail of pooled-significant variants, `insig/` for every input's own significant
 * variants), never from the inputs again.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import type { MetaLeadLocus } from '../schemas/meta.js';
import type { MetaForestRow, MetaInputLocusRow, MetaLeaveOneOutRow } from '../schemas/results.js';
import { distanceClump } from '../stats/clump.js';
import { LOO_STATUS, metaLeaveOneOut } from '../stats/meta.js';

type Row<T> = Omit<T, 'run_id'>;

export interface MetaLoci {
  leads: MetaLeadLocus[];
  forest: Row<MetaForestRow>[];
  /** Leave-one-out rows of the leads (empty unless asked for). */
  leaveOneOut: Row<MetaLeaveOneOutRow>[];
  /** Every input's own lead loci with the pooled row there (absent in loci of older runs). */
  inputLoci?: Row<MetaInputLocusRow>[];
}

const orNull = (x: unknown): number | null => (x === null || x === undefined ? null : Number(x));

/** A lead of `clumpLoci`: its row and the span of the significant variants it claims. */
export interface Clump {
  index: number;
  start: number;
  end: number;
  nVariants: number;
}

/**
 * Lead loci of rows by distance clumping (stats/clump.ts `distanceClump`: −log10 p above
 * −log10 `p`, ±`windowKb`), most significant first, each with the span (first and last position)
 * and number of the significant variants it claims. Rows of several chromosomes may be mixed.
 */
export function clumpLoci(
  chrom: readonly string[],
  pos: ArrayLike<number>,
  mlog10p: ArrayLike<number>,
  options: { p: number; windowKb: number },
): Clump[] {
  const clumps = distanceClump(chrom, pos, mlog10p, {
    pThreshold: options.p,
    windowBp: options.windowKb * 1000,
  });
  const span = new Map<number, Clump>();
  for (let i = 0; i < chrom.length; i++) {
    const lead = clumps.leadOf[i];
    if (lead < 0) continue;
    const s = span.get(lead) ?? { index: lead, start: pos[i], end: pos[i], nVariants: 0 };
    s.start = Math.min(s.start, pos[i]);
    s.end = Math.max(s.end, pos[i]);
    s.nVariants++;
    span.set(lead, s);
  }
  return Array.from(
    clumps.leads,
    (i) => span.get(i) ?? { index: i, start: pos[i], end: pos[i], nVariants: 1 },
  );
}

/**
 * Every input's own lead loci from `insig/` (meta/run.ts): per input, `clumpLoci` of its own
 * −log10 p; each lead with the pooled row at that variant. `pooled_significant`: the pooled
 * fixed-effect −log10 p above −log10 `p`, the test `metaLeadLoci` applies. Inputs in spec order,
 * each input's leads most significant first.
 */
export async function metaInputLoci(
  conn: DuckDBConnection,
  inputSigGlob: string,
  options: { p: number; windowKb: number },
): Promise<Row<MetaInputLocusRow>[]> {
  const files = (await conn.runAndReadAll(`SELECT count(*) FROM glob(${sqlString(inputSigGlob)})`)).getRows();
  if (Number(files[0][0]) === 0) return [];
  const rows = (
    await conn.runAndReadAll(
      `SELECT input_index, label, chrom, pos, effect_allele, other_allele, beta, se, p, neg_log10_p,
         meta_beta, meta_p, meta_neg_log10_p, meta_k, q_p, i2, direction, n_inputs_significant
       FROM read_parquet(${sqlString(inputSigGlob)}) ORDER BY input_index`,
    )
  ).getRows();
  const threshold = -Math.log10(options.p);
  const out: Row<MetaInputLocusRow>[] = [];
  for (let start = 0; start < rows.length; ) {
    let end = start;
    while (end < rows.length && rows[end][0] === rows[start][0]) end++;
    const block = rows.slice(start, end);
    const chrom = block.map((r) => String(r[2]));
    const pos = block.map((r) => Number(r[3]));
    const mlog10p = block.map((r) => Number(r[9]));
    for (const { index } of clumpLoci(chrom, pos, mlog10p, options)) {
      const r = block[index];
      const metaNlp = orNull(r[12]);
      out.push({
        label: String(r[1]),
        chrom: chrom[index],
        pos: pos[index],
        effect_allele: String(r[4]),
        other_allele: String(r[5]),
        beta: orNull(r[6]),
        se: orNull(r[7]),
        p: Number(r[8]),
        meta_beta: orNull(r[10]),
        meta_p: orNull(r[11]),
        meta_k: Number(r[13]),
        q_p: orNull(r[14]),
        i2: orNull(r[15]),
        direction: String(r[16]),
        n_inputs_significant: Number(r[17]),
        pooled_significant: metaNlp !== null && metaNlp > threshold,
      });
    }
    start = end;
  }
  return out;
}

export async function metaLeadLoci(
  conn: DuckDBConnection,
  globs: { partsGlob: string; sigGlob: string; inputSigGlob?: string },
  labels: readonly string[],
  options: { p: number; windowKb: number; leaveOneOut: boolean },
): Promise<MetaLoci> {
  const inputLoci = globs.inputSigGlob ? await metaInputLoci(conn, globs.inputSigGlob, options) : [];
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
  const leads: MetaLeadLocus[] = clumpLoci(chrom, pos, mlog10p, options).map((s) => {
    const i = s.index;
    const r = sig[i];
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
      nVariants: s.nVariants,
    };
  });
  if (leads.length === 0) return { leads, forest: [], leaveOneOut: [], inputLoci };
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
  return { leads, forest, leaveOneOut, inputLoci };
}
