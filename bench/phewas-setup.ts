/**
 * The PheWAS benchmark's command line (bench/phewas.ts) and what it fixes: the output folder,
 * the engine configuration, the run, the analysis table and the predictors.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { phewasSpecSchema } from '../schemas/study.js';
import type { AnalysisTable, PhewasPredictor, RunContext } from '../schemas/study-io.js';
import { loadConfig } from '../temporal.config.js';
import { shippedMaps } from './synth-ehr.js';

export const { values } = parseArgs({
  options: {
    persons: { type: 'string', default: '50000' },
    'codes-per-person': { type: 'string', default: '16' },
    'dates-per-code': { type: 'string', default: '4' },
    predictor: { type: 'string', default: 'dosage' },
    out: { type: 'string', default: 'bench/out/phewas' },
    'r-compare': { type: 'string', default: '0' },
    /** Also run plink2 --glm firth-fallback over the phecodes we tested, same rows. */
    plink2: { type: 'boolean', default: false },
    predictors: { type: 'string', default: '1' },
    'old-sample': { type: 'string', default: '5' },
    reuse: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    /** Internal: run the timed part on an existing folder and print JSON. */
    child: { type: 'boolean', default: false },
  },
});
export const N = Number(values.persons);
export const K = Math.max(1, Number(values.predictors));
export const OLD_SAMPLE = Math.max(1, Math.min(K, Number(values['old-sample'])));
export const OUT = resolve(values.out as string);
export const PREDICTOR = values.predictor === 'burden' || K > 1 ? 'burden' : 'dosage';
export const MAPS = shippedMaps('1.2');
export const releaseDir = join(OUT, 'release');
export const config = loadConfig({
  BIOBANK_DATA_DIR: join(OUT, 'data'),
  BIOBANK_DUCKDB_THREADS: '2',
  BIOBANK_DUCKDB_MEMORY: '4GB',
});
export const run: RunContext = {
  runId: 'bench-phewas-0123456789abcdef',
  studyId: 'bench-phewas',
  releaseId: 'bench',
  releaseFingerprint: '0'.repeat(64),
  releaseDir,
  specHash: '0'.repeat(64),
  runDir: join(OUT, 'run'),
};
export const analysis: AnalysisTable = {
  path: join(OUT, 'analysis.parquet'),
  trait: 'none',
  nSamples: N,
  covariates: ['sex', 'age', 'pc1'],
  droppedCovariates: [],
};
export const predictor: PhewasPredictor = {
  type: PREDICTOR === 'burden' ? 'burden' : 'column',
  id: `bench-${PREDICTOR}`,
  path: join(OUT, 'predictor.parquet'),
  column: 'score',
};
/** Many-predictor mode: `score` (planted) and the null carrier scores score_1 … score_{K−1}. */
export const manyPredictors: PhewasPredictor[] = Array.from({ length: K }, (_, k) => ({
  type: 'burden',
  id: k === 0 ? 'bench-burden' : `bench-null-${k}`,
  path: join(OUT, 'predictor.parquet'),
  column: k === 0 ? 'score' : `score_${k}`,
}));
/** carriers per 10,000 of the null score k (0.2 %, 0.5 %, 1 %, 2 %, 5 %). */
export const nullRate = (k: number) => [20, 50, 100, 200, 500][k % 5];
export const phewas = phewasSpecSchema.parse({ phecodeVersion: '1.2', maps: MAPS });

/** The predictor of person index `i`, as SQL. */
export function predictorSql(i: string): string {
  return PREDICTOR === 'burden'
    ? `(hash(${i}, 13) % 1000 < 20)::INTEGER`
    : `((hash(${i}, 11) % 1000 < 250)::INTEGER + (hash(${i}, 12) % 1000 < 250)::INTEGER)`;
}
