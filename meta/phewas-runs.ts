/**
 * The PheWAS meta-analysis of a stratified study: the strata's own PheWAS rows, read from the
 * engine database (`phewas_results`, or `phewas_cox_results` for a Cox PheWAS), meta-analysed by
 * meta/phewas.ts and written under the stratified run's id to `meta_phewas_results` and
 * `meta_phewas_forest`. Idempotent: a re-run replaces the run's rows.
 */
import { readRunResults, writeRunResults } from '../engine/result-tables.js';
import type { EngineConfig } from '../temporal.config.js';
import {
  type AssociationInput,
  type AssociationRow,
  bonferroniByPredictor,
  type MetaPhewasModel,
  type MetaPhewasOutput,
  metaAnalysePhewas,
} from './phewas.js';

/** A run's PheWAS rows in the meta-analysis layout (Cox: cases = events, controls = at risk − events). */
export async function associationsOfRun(
  config: EngineConfig,
  runId: string,
  model: MetaPhewasModel,
): Promise<AssociationRow[]> {
  if (model === 'cox')
    return (await readRunResults(config, runId, 'phewas_cox_results')).map((r) => ({
      predictor: r.predictor,
      predictor_type: r.predictor_type,
      phecode: r.phecode,
      description: r.description,
      category: r.category,
      n_cases: r.n_events,
      n_controls: r.n_at_risk - r.n_events,
      beta: r.beta,
      se: r.se,
      p: r.p,
      test: r.test,
    }));
  return (await readRunResults(config, runId, 'phewas_results')).map((r) => ({
    predictor: r.predictor,
    predictor_type: r.predictor_type,
    phecode: r.phecode,
    description: r.description,
    category: r.category,
    n_cases: r.n_cases,
    n_controls: r.n_controls,
    beta: r.beta,
    se: r.se,
    p: r.p,
    test: r.test,
  }));
}

/** What a PheWAS meta-analysis wrote. */
export interface MetaPhewasSummary {
  model: MetaPhewasModel;
  /** Predictor × phecode associations in the union of the inputs. */
  nAssociations: number;
  /** … with at least two contributing inputs. */
  nMulti: number;
  /** Fixed-effect p below 0.05 / (associations of the predictor). */
  nSignificant: number;
  /** … of which Cochran's Q p < 0.05 / m, m = the significant ones with k ≥ 2 (heterogeneous). */
  nHeterogeneous: number;
}

export function summariseMetaPhewas(model: MetaPhewasModel, out: MetaPhewasOutput): MetaPhewasSummary {
  const bonf = bonferroniByPredictor(out.results);
  const sig = out.results.filter((r) => r.p !== null && r.p < (bonf.get(r.predictor) ?? 0));
  const multi = out.results.filter((r) => r.k >= 2).length;
  // as for lead loci: m = the significant associations with a heterogeneity test (k ≥ 2)
  const qThreshold = 0.05 / Math.max(1, sig.filter((r) => r.k >= 2).length);
  return {
    model,
    nAssociations: out.results.length,
    nMulti: multi,
    nSignificant: sig.length,
    nHeterogeneous: sig.filter((r) => r.q_p !== null && r.q_p < qThreshold).length,
  };
}

/** Write a PheWAS meta-analysis under `runId`. */
export async function writeMetaPhewas(
  config: EngineConfig,
  runId: string,
  out: MetaPhewasOutput,
): Promise<void> {
  await writeRunResults(config, runId, 'meta_phewas_results', out.results);
  await writeRunResults(config, runId, 'meta_phewas_forest', out.forest);
}

/** Meta-analyse the PheWAS rows of the strata's runs into the stratified run `runId`. */
export async function metaPhewasOfRuns(
  config: EngineConfig,
  runId: string,
  strata: { name: string; runId: string }[],
  model: MetaPhewasModel,
): Promise<MetaPhewasSummary> {
  const inputs: AssociationInput[] = [];
  for (const s of strata)
    inputs.push({ label: s.name, rows: await associationsOfRun(config, s.runId, model) });
  const out = metaAnalysePhewas(inputs, model);
  await writeMetaPhewas(config, runId, out);
  return summariseMetaPhewas(model, out);
}
