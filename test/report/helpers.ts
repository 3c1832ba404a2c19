/**
 * Extra fixture data for the report and viewer tests, written through the engine's own results
 * writers on top of `test/results/fixture.ts`: a genotype-first burden PheWAS, and a second run
 * with a synthetic genome-wide GWAS (Parquet generated in DuckDB, then `writeRunResults`).
 */
import { join } from 'node:path';
import { withCompute } from '../../engine/duckdb.js';
import { sha256Text } from '../../engine/fsutil.js';
import { recordRun, runIdFor, softwareVersion, writeRunResults } from '../../engine/results.js';
import type { PhewasResultRow } from '../../schemas/results.js';
import { type Fixture, seeded } from '../results/fixture.js';

export const BURDEN_PREDICTORS = ['PCSK9/pLoF/0.01', 'LDLR/missense/0.001'];

/** The fixture's PheWAS rows plus a burden PheWAS (2 masks × 30 phecodes, 3 untested). */
export async function addBurdenPhewas(fx: Fixture): Promise<Omit<PhewasResultRow, 'run_id'>[]> {
  const rand = seeded(7);
  const cats = ['circulatory system', 'endocrine/metabolic', 'digestive'];
  const rows: Omit<PhewasResultRow, 'run_id'>[] = [];
  for (const predictor of BURDEN_PREDICTORS) {
    for (let k = 0; k < 30; k++) {
      const tested = k % 10 !== 3;
      const n_cases = tested ? 40 + k * 13 : 8;
      const p = tested ? (k === 5 ? 2e-9 : 0.02 + rand() * 0.97) : null;
      const beta = tested ? (rand() - 0.5) * 1.2 : null;
      const se = tested ? 0.1 + rand() * 0.2 : null;
      rows.push({
        predictor,
        predictor_type: 'burden',
        phecode: `${401 + k}.${k % 2}`,
        phecode_version: '1.2',
        description: `burden phecode ${k}`,
        category: cats[k % cats.length],
        n_cases,
        n_controls: 3000 - n_cases,
        n_excluded: 11,
        beta,
        se,
        odds_ratio: beta === null ? null : Math.exp(beta),
        ci_low: beta === null || se === null ? null : Math.exp(beta - 1.96 * se),
        ci_high: beta === null || se === null ? null : Math.exp(beta + 1.96 * se),
        p,
        neg_log10_p: p === null ? null : -Math.log10(p),
        test: tested ? 'firth' : null,
        status: tested ? 'ok' : 'too_few_cases',
        reason: tested ? null : '8 cases < 20',
      });
    }
  }
  await writeRunResults(fx.config, fx.runId, 'phewas_results', [...fx.phewas, ...rows]);
  return rows;
}

/**
 * A second run whose single phenotype `height` has `n` variants over chromosomes 1–22 (n/22
 * each, at hashed positions in a chromosome of 250 − 8·c Mb), null p-values from a hash of the
 * index, plus 3 strong signals (p ≈ 1e-12). Returns its run id.
 */
export async function addBigRun(fx: Fixture, n: number): Promise<string> {
  const specHash = sha256Text('big spec');
  const releaseFingerprint = sha256Text('big release');
  const runId = runIdFor({ studyId: 'big-gwas', releaseFingerprint, specHash });
  await recordRun(fx.config, {
    run_id: runId,
    study_id: 'big-gwas',
    release_id: 'synthetic-1m',
    release_fingerprint: releaseFingerprint,
    spec_hash: specHash,
    phecode_maps_json: '{}',
    software_version: await softwareVersion(),
    status: 'completed',
    started_at: '2026-11-24T04:00:00.000Z',
    finished_at: '2026-11-24T04:30:00.000Z',
    timings_json: null,
    workflow_id: null,
    workflow_run_id: null,
    error: null,
  });
  const file = join(fx.dataDir, 'big-gwas.parquet');
  await withCompute(fx.config, async (conn) => {
    await conn.run(`COPY (
      WITH i AS (SELECT range AS i FROM range(${Math.floor(n)})),
      c AS (SELECT i, CAST(1 + (i * 22) // ${Math.floor(n)} AS INTEGER) AS c FROM i),
      v AS (SELECT i, c, CAST(10000 + hash(i) % (250000000 - 8000000 * c) AS BIGINT) AS pos,
                   ((hash(i * 7 + 1) % 1000000000) + 0.5) / 1e9 AS u FROM c),
      s AS (SELECT i, c, pos, CASE WHEN i IN (1000, 400000, 800000) THEN 1e-12 * (1 + i / 1e5) ELSE u END AS p FROM v)
      SELECT 'height' AS phenotype, CAST(c AS VARCHAR) AS chrom, pos, 'A' AS ref, 'G' AS alt,
             c || ':' || pos || ':A:G' AS variant_id, 'rs' || (i + 1) AS rsid, 100000 AS n, 0.3 AS af,
             0.01 AS beta, 0.005 AS se, 2.0 AS stat, p, -log10(p) AS neg_log10_p, 'linear' AS test, 'ok' AS status
      FROM s) TO '${file}' (FORMAT parquet)`);
  });
  await writeRunResults(fx.config, runId, 'gwas_results', { parquet: file });
  return runId;
}
