/**
 * Meta-analysis of PheWAS and burden-PheWAS results across strata or sites (issue 15): the rows
 * of k inputs, each a set of predictor × phecode associations with β and SE (`phewas_results`,
 * `phewas_cox_results`, or another site's export), are matched by predictor and phecode and
 * combined with the per-variant methods of stats/meta.ts:
 *
 *  - fixed-effect inverse variance (Willer, Li & Abecasis 2010): wᵢ = 1/SEᵢ², β = Σwᵢβᵢ/Σwᵢ,
 *    SE = 1/√Σwᵢ;
 *  - DerSimonian & Laird (1986) random effects; Cochran's Q, its p on k − 1 df, and I²
 *    (Higgins & Thompson 2002).
 *
 * β is a log odds ratio (`logistic`) or a log hazard ratio (`cox`) per unit of the predictor;
 * inputs of one meta-analysis share the model. Rows are matched as follows:
 *  - burden predictors by name (`gene__mask__aaf_bin`; the older `gene/mask/aaf_bin` is read as
 *    the same), column predictors by name;
 *  - variant predictors `chrom:pos:a1:a2` by chromosome, position and the unordered allele pair:
 *    the first input that tested the association is the reference (its name is the output's
 *    predictor); an input whose alleles are the reference's swapped has β negated (`swapped`).
 *    There are no allele frequencies in a PheWAS row, so strand flips are not inferred: inputs
 *    are taken to be on the forward strand of one build, as this engine's are.
 *
 * Edge cases:
 *  - a row that was not tested (β or SE missing or non-finite, SE ≤ 0: too few cases,
 *    separation without Firth, …) does not contribute; its forest row says `not_tested`, its
 *    direction character is `?`;
 *  - an association that no input tested is kept with status `no_inputs` (all statistics NULL);
 *    one tested by a single input has status `single_input` (its own β and SE, Q p and I² NULL);
 *  - score rows of a many-predictor PheWAS carry the one-step β = U/V and SE = 1/√V (REGENIE's
 *    approximation, docs/methods.md); they are combined like fitted rows, which is what METAL
 *    does with such rows too. The forest row keeps the input's `test` so a reader can tell;
 *  - n_cases / n_controls sum the contributing inputs and are NULL when one of them is unknown
 *    (a count the sender suppressed under the small-cell rule).
 */
import type {
  META_PHEWAS_MODELS,
  MetaPhewasForestRow,
  MetaPhewasResultRow,
  PREDICTOR_TYPES,
} from '../schemas/results.js';
import { META_STATUS, metaAnalyse } from '../stats/meta.js';

export type MetaPhewasModel = (typeof META_PHEWAS_MODELS)[number];
type PredictorType = (typeof PREDICTOR_TYPES)[number];

/** One association of one input, already mapped to this layout (cases: events for Cox). */
export interface AssociationRow {
  predictor: string;
  predictor_type: PredictorType;
  phecode: string;
  description: string | null;
  category: string | null;
  n_cases: number | null;
  n_controls: number | null;
  beta: number | null;
  se: number | null;
  p: number | null;
  test: string | null;
}

export interface AssociationInput {
  label: string;
  rows: AssociationRow[];
}

export interface MetaPhewasOutput {
  results: Omit<MetaPhewasResultRow, 'run_id'>[];
  forest: Omit<MetaPhewasForestRow, 'run_id'>[];
}

const VARIANT = /^(.+):(\d+):([^:]+):([^:]+)$/;

/** The matching key of a predictor, and for variants the allele order relative to the key. */
function keyOf(row: AssociationRow): { key: string; alleles: string | null } {
  if (row.predictor_type === 'variant') {
    const m = VARIANT.exec(row.predictor);
    if (m) {
      const [, chrom, pos, a1, a2] = m;
      const pair = a1 <= a2 ? `${a1}:${a2}` : `${a2}:${a1}`;
      return { key: `v|${chrom}:${pos}:${pair}|${row.phecode}`, alleles: `${a1}:${a2}` };
    }
  }
  const name = row.predictor_type === 'burden' ? row.predictor.replaceAll('/', '__') : row.predictor;
  return { key: `${row.predictor_type[0]}|${name}|${row.phecode}`, alleles: null };
}

function usable(row: AssociationRow): boolean {
  return (
    row.beta !== null && row.se !== null && Number.isFinite(row.beta) && Number.isFinite(row.se) && row.se > 0
  );
}

const num = (x: number) => (Number.isFinite(x) ? x : null);
const prob = (x: number) => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : null);

/**
 * Meta-analyse the inputs' associations. Output rows are sorted by predictor and phecode; the
 * forest has one row per association and input (input order).
 */
export function metaAnalysePhewas(inputs: AssociationInput[], model: MetaPhewasModel): MetaPhewasOutput {
  const k = inputs.length;
  if (k < 1) throw new RangeError('metaAnalysePhewas: no inputs');
  // index: key → association number; per input, the row at each association
  const index = new Map<string, number>();
  const first: { row: AssociationRow; alleles: string | null; input: number }[] = [];
  const at: (AssociationRow | undefined)[][] = inputs.map(() => []);
  const allelesAt: (string | null)[][] = inputs.map(() => []);
  inputs.forEach((input, i) => {
    for (const row of input.rows) {
      const { key, alleles } = keyOf(row);
      let j = index.get(key);
      if (j === undefined) {
        j = first.length;
        index.set(key, j);
        first.push({ row, alleles, input: i });
      }
      if (at[i][j] !== undefined)
        throw new RangeError(`input ${input.label}: ${row.predictor} × ${row.phecode} appears twice`);
      at[i][j] = row;
      allelesAt[i][j] = alleles;
    }
  });
  const m = first.length;
  // the reference of each association: the first input that tested it (else the first that has it)
  const reference = first.map((f, j) => {
    for (let i = 0; i < k; i++) {
      const r = at[i][j];
      if (r && usable(r)) return { row: r, alleles: allelesAt[i][j], input: i };
    }
    return f;
  });
  const beta = new Float64Array(k * m).fill(Number.NaN);
  const se = new Float64Array(k * m).fill(Number.NaN);
  const aligned: string[] = new Array(k * m);
  for (let i = 0; i < k; i++)
    for (let j = 0; j < m; j++) {
      const r = at[i][j];
      const t = i * m + j;
      if (!r) {
        aligned[t] = 'absent';
        continue;
      }
      if (!usable(r)) {
        aligned[t] = 'not_tested';
        continue;
      }
      const ref = reference[j];
      const swapped = ref.alleles !== null && allelesAt[i][j] !== ref.alleles;
      aligned[t] = i === ref.input ? 'reference' : swapped ? 'swapped' : 'same';
      beta[t] = swapped ? -(r.beta as number) : (r.beta as number);
      se[t] = r.se as number;
    }
  const res = metaAnalyse({ k, m, beta, se });

  const order = Array.from({ length: m }, (_, j) => j).sort((a, b) => {
    const ra = reference[a].row;
    const rb = reference[b].row;
    return ra.predictor < rb.predictor
      ? -1
      : ra.predictor > rb.predictor
        ? 1
        : ra.phecode < rb.phecode
          ? -1
          : ra.phecode > rb.phecode
            ? 1
            : 0;
  });
  const results: MetaPhewasOutput['results'] = [];
  const forest: MetaPhewasOutput['forest'] = [];
  for (const j of order) {
    const ref = reference[j].row;
    let nCases: number | null = 0;
    let nControls: number | null = 0;
    let description = ref.description;
    let category = ref.category;
    for (let i = 0; i < k; i++) {
      const r = at[i][j];
      const t = i * m + j;
      description ??= r?.description ?? null;
      category ??= r?.category ?? null;
      if (r && Number.isFinite(beta[t])) {
        nCases = nCases === null || r.n_cases === null ? null : nCases + r.n_cases;
        nControls = nControls === null || r.n_controls === null ? null : nControls + r.n_controls;
      }
      forest.push({
        model,
        predictor: ref.predictor,
        phecode: ref.phecode,
        label: inputs[i].label,
        beta: Number.isFinite(beta[t]) ? beta[t] : null,
        se: Number.isFinite(se[t]) ? se[t] : null,
        p: r && Number.isFinite(beta[t]) && r.p !== null ? prob(r.p) : null,
        n_cases: r?.n_cases ?? null,
        n_controls: r?.n_controls ?? null,
        test: r?.test ?? null,
        aligned: aligned[t],
      });
    }
    const status = META_STATUS[res.status[j]];
    const none = status === 'no_inputs';
    results.push({
      model,
      predictor: ref.predictor,
      predictor_type: ref.predictor_type,
      phecode: ref.phecode,
      description,
      category,
      k: res.nInputs[j],
      direction: res.direction[j],
      n_cases: none ? null : nCases,
      n_controls: none ? null : nControls,
      beta: num(res.beta[j]),
      se: num(res.se[j]),
      z: num(res.z[j]),
      p: prob(res.p[j]),
      neg_log10_p: num(res.mlog10p[j]),
      beta_random: num(res.betaRe[j]),
      se_random: num(res.seRe[j]),
      p_random: prob(res.pRe[j]),
      tau2: num(res.tau2[j]),
      q: num(res.q[j]),
      q_p: prob(res.qP[j]),
      i2: num(res.i2[j]),
      status,
    });
  }
  return { results, forest };
}

/** Bonferroni threshold of each predictor: 0.05 / the associations meta-analysed for it (k ≥ 1). */
export function bonferroniByPredictor(
  rows: { predictor: string; k: number }[],
  alpha = 0.05,
): Map<string, number> {
  const tested = new Map<string, number>();
  for (const r of rows) if (r.k > 0) tested.set(r.predictor, (tested.get(r.predictor) ?? 0) + 1);
  return new Map([...tested].map(([p, n]) => [p, alpha / n]));
}
