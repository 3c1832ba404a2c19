import { join } from 'node:path';
import type { DuckDBBlobValue, DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../engine/duckdb.js';
import { decodeDs, GT_PACKED_MISSING, packedCode } from '../engine/genotypes.js';
import { loadAnalysis } from '../phenotype/analysis-table.js';
import type { AnalysisTable, PhenomeRef, PhewasPredictor, RunContext } from '../schemas/study-io.js';
import type { PhecodeSets } from './fit.js';

/** File-name-safe form of a predictor id. */
export function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120);
}

/** The predictor's value for each genotype position (variant) or person (other kinds). */
export async function loadPredictor(
  conn: DuckDBConnection,
  run: RunContext,
  predictor: PhewasPredictor,
  personIds: string[],
  sampleIdx: Int32Array,
): Promise<Float64Array> {
  const n = personIds.length;
  const out = new Float64Array(n).fill(Number.NaN);
  if (predictor.type === 'variant') {
    const shard = await conn.runAndReadAll(
      `SELECT shard FROM read_parquet(${sqlString(join(run.releaseDir, 'variants.parquet'))}) WHERE variant_idx = $1`,
      [predictor.variantIdx],
    );
    const file = join(run.releaseDir, 'genotypes', `${String(shard.getRows()[0]?.[0])}.parquet`);
    const r = await conn.runAndReadAll(
      `SELECT gt, ds FROM read_parquet(${sqlString(file)}) WHERE variant_idx = $1`,
      [predictor.variantIdx],
    );
    const row = r.getRows()[0];
    if (!row) throw new Error(`variant ${predictor.id} (index ${predictor.variantIdx}) not found in ${file}`);
    const gt = (row[0] as DuckDBBlobValue).bytes;
    const ds = row[1] ? decodeDs((row[1] as DuckDBBlobValue).bytes) : null;
    for (let i = 0; i < n; i++) {
      const k = sampleIdx[i];
      if (ds) out[i] = ds[k];
      else {
        const c = packedCode(gt, k);
        out[i] = c === GT_PACKED_MISSING ? Number.NaN : c;
      }
    }
    return out;
  }
  const r = await conn.runAndReadAll(
    `SELECT CAST(person_id AS VARCHAR), CAST(${sqlIdent(predictor.column)} AS DOUBLE) FROM read_parquet(${sqlString(predictor.path)})`,
  );
  const byPerson = new Map<string, number>();
  for (const [id, v] of r.getRows()) if (v !== null) byPerson.set(String(id), Number(v));
  for (let i = 0; i < n; i++) out[i] = byPerson.get(personIds[i]) ?? Number.NaN;
  return out;
}

/** Every predictor's values per analysis sample; burden/column predictors of one file in one read. */
export async function loadPredictors(
  conn: DuckDBConnection,
  run: RunContext,
  predictors: PhewasPredictor[],
  personIds: string[],
  sampleIdx: Int32Array,
): Promise<Float64Array[]> {
  const out: Float64Array[] = new Array(predictors.length);
  const byPath = new Map<string, number[]>();
  for (const [k, p] of predictors.entries()) {
    if (p.type === 'variant') out[k] = await loadPredictor(conn, run, p, personIds, sampleIdx);
    else byPath.set(p.path, [...(byPath.get(p.path) ?? []), k]);
  }
  const row = new Map(personIds.map((id, i) => [id, i]));
  for (const [path, ks] of byPath) {
    const cols = ks.map((k) => {
      const p = predictors[k] as Extract<PhewasPredictor, { path: string }>;
      return `CAST(${sqlIdent(p.column)} AS DOUBLE)`;
    });
    const r = await conn.runAndReadAll(
      `SELECT CAST(person_id AS VARCHAR), ${cols.join(', ')} FROM read_parquet(${sqlString(path)})`,
    );
    const xs = ks.map(() => new Float64Array(personIds.length).fill(Number.NaN));
    for (const rec of r.getRows()) {
      const i = row.get(String(rec[0]));
      if (i === undefined) continue;
      for (let t = 0; t < ks.length; t++) if (rec[t + 1] !== null) xs[t][i] = Number(rec[t + 1]);
    }
    ks.forEach((k, t) => {
      out[k] = xs[t];
    });
  }
  return out;
}

export interface PhecodeInfo {
  phecode: string;
  description: string | null;
  category: string | null;
  sex: string | null;
  /** BIT string over cohort person_idx ('1' = in the set), or NULL: see phenotype/phenome.ts. */
  cases: string | null;
  excluded: string | null;
}

/** The analysis table, its person ids, every phecode and its case / excluded sample sets. */
export async function loadPhewasInputs(conn: DuckDBConnection, analysis: AnalysisTable, phenome: PhenomeRef) {
  const a = await loadAnalysis(conn, analysis);
  const ids = (
    await conn.runAndReadAll(
      `SELECT CAST(person_id AS VARCHAR) FROM read_parquet(${sqlString(analysis.path)}) ORDER BY sample_idx`,
    )
  )
    .getRows()
    .map((r) => String(r[0]));
  // cohort person_idx of each analysis sample
  const cohort = await conn.runAndReadAll(
    `SELECT CAST(person_id AS VARCHAR), person_idx FROM read_parquet(${sqlString(join(phenome.dir, 'cohort.parquet'))})`,
  );
  const personIdx = new Map<string, number>(cohort.getRows().map((r) => [String(r[0]), Number(r[1])]));
  let maxIdx = -1; // a loop, not Math.max(...spread): a cohort of 500,000 overflows the call stack
  for (const v of personIdx.values()) if (v > maxIdx) maxIdx = v;
  const sampleOfPerson = new Int32Array(maxIdx + 1).fill(-1);
  /** cohort person_idx of each analysis sample (-1: not in the phenome's cohort). */
  const personIdxOfSample = new Int32Array(ids.length).fill(-1);
  ids.forEach((id, i) => {
    const p = personIdx.get(id);
    if (p !== undefined) {
      sampleOfPerson[p] = i;
      personIdxOfSample[i] = p;
    }
  });
  const sexCols = analysis.covariates
    .map((c, j) => (c === 'sex' || c.startsWith('sex=') || c.startsWith('sex_') ? j : -1))
    .filter((j) => j >= 0);

  const phecodes = (
    await conn.runAndReadAll(
      `SELECT p.phecode, p.description, p.category, p.sex, ph.cases, ph.excluded
       FROM read_parquet(${sqlString(phenome.phecodesPath)}) p
       LEFT JOIN read_parquet(${sqlString(join(phenome.dir, 'phenome.parquet'))}) ph USING (phecode)
       ORDER BY p.phecode`,
    )
  ).getRowObjectsJS() as unknown as PhecodeInfo[];

  // Per phecode: its cases and excluded persons as analysis-sample indexes (the BIT strings
  // are scanned with indexOf, which skips the runs of '0' natively).
  const toSamples = (bits: string | null): Int32Array => {
    if (!bits) return new Int32Array(0);
    const out: number[] = [];
    const lim = Math.min(bits.length, sampleOfPerson.length);
    for (let p = bits.indexOf('1'); p >= 0 && p < lim; p = bits.indexOf('1', p + 1)) {
      const i = sampleOfPerson[p];
      if (i >= 0) out.push(i);
    }
    return Int32Array.from(out);
  };
  const sets: PhecodeSets[] = phecodes.map((ph, k) => ({
    index: k,
    sex: ph.sex,
    cases: toSamples(ph.cases),
    excluded: toSamples(ph.excluded),
  }));
  return { a, ids, sexCols, phecodes, sets, personIdxOfSample };
}
