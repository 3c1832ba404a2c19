/**
 * Direct burden tests of a genotype-first study: each mask's score against each of the spec's
 * traits (linear or logistic with Firth fallback, plus the covariates). Binary traits get
 * saddlepoint p-values (SPA) under the study's `phewas.spa` / `phewas.spaCaseFraction` (`auto`:
 * when min(cases, controls)/n is below the fraction), exactly as the GWAS kernel gives them
 * (stats/logistic.ts step 5): the SPA p of the mask score's covariate-adjusted score with the
 * Wald/Firth fit's β and SE, or the score-based β/SE where the fit fails; the row's test is
 * `spa_wald` / `spa_firth` (β and SE of that fit) or `spa` (score-based β and SE).
 */

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { atomicProduce } from '../engine/fsutil.js';
import { buildAnalysisTable } from '../phenotype/analysis.js';
import { loadAnalysis } from '../phenotype/analysis-table.js';
import type { GenotypeFirstSpec } from '../schemas/study.js';
import type { AnalysisTable, BurdenPlan, RunContext } from '../schemas/study-io.js';
import { linearGwas, prepareLinear } from '../stats/linear.js';
import { logisticGwas, prepareLogistic } from '../stats/logistic.js';
import { STATUS, TEST } from '../stats/status.js';
import type { EngineConfig } from '../temporal.config.js';

/**
 * Burden tests of every mask column against each of the spec's traits: linear regression
 * (quantitative) or logistic with Firth fallback (binary) of the trait on the burden score
 * plus the covariates (stats/linear.ts, stats/logistic.ts with a full fit for every mask, and
 * SPA p-values as `spec.phewas.spa` asks).
 * Writes `burden/tests.parquet` with the `burden_results` columns (without run_id).
 */
export async function runBurdenTests(
  conn: DuckDBConnection,
  config: EngineConfig,
  run: RunContext,
  spec: GenotypeFirstSpec,
  burden: BurdenPlan,
  /** Runs one trait's analysis-table build (the activity makes it cancellable). */
  step: (trait: number, fn: (conn: DuckDBConnection) => Promise<AnalysisTable>) => Promise<AnalysisTable>,
): Promise<{ path: string; nTests: number }> {
  const _out = join(run.runDir, 'burden', 'tests.parquet');
  const out = join(run.runDir, 'burden', 'tests.parquet');
  const nGeno = Number(
    (
      await conn.runAndReadAll(
        `SELECT count(*) FROM read_parquet(${sqlString(join(run.releaseDir, 'samples.parquet'))})`,
      )
    ).getRows()[0][0],
  );
  const rows: (string | number | null)[][] = [];
  for (const [t, trait] of spec.traits.entries()) {
    const label =
      trait.type === 'phecode'
        ? `phecode_${trait.phecode}`
        : trait.type === 'measurement'
          ? trait.name
          : `${trait.table}.${trait.column}`;
    const tablePath = join(run.runDir, 'burden', `analysis-trait-${t}.parquet`);
    await mkdir(join(run.runDir, 'burden'), { recursive: true });
    const analysis = await step(t, (c) => buildAnalysisTable(c, config, run, spec, trait, tablePath));
    const a = await loadAnalysis(conn, analysis);
    const scores = await conn.runAndReadAll(
      `SELECT s.sample_idx, b.* EXCLUDE (person_id)
         FROM read_parquet(${sqlString(burden.scoresPath)}) b
         JOIN read_parquet(${sqlString(join(run.releaseDir, 'samples.parquet'))}) s USING (person_id)`,
    );
    const names = scores.columnNames().slice(1);
    const vectors = names.map(() => new Float32Array(nGeno).fill(Number.NaN));
    for (const row of scores.getRows()) {
      const k = Number(row[0]);
      for (let j = 0; j < names.length; j++) vectors[j][k] = Number(row[1 + j]);
    }
    const binary = analysis.trait === 'binary';
    const res = binary
      ? logisticGwas(
          prepareLogistic(a.y, a.cov, a.c, nGeno, a.sampleIdx, {
            fullFitBelow: 1,
            firth: 'fallback',
            spa: spec.phewas.spa,
            spaCaseFraction: spec.phewas.spaCaseFraction,
          }),
          vectors,
        )
      : linearGwas(prepareLinear([a.y], a.cov, a.c, nGeno, a.sampleIdx), vectors);
    for (const [j, name] of names.entries()) {
      const m = burden.masks.find((x) => x.column === name);
      if (!m) continue;
      const ok = STATUS[res.status[j]] === 'ok';
      rows.push([
        m.gene,
        m.mask,
        m.aafBin,
        m.nVariants,
        m.nCarriers,
        label,
        ok ? res.beta[j] : null,
        ok ? res.se[j] : null,
        ok ? res.p[j] : null,
        TEST[res.test[j]] === 'none' ? null : TEST[res.test[j]],
        STATUS[res.status[j]],
      ]);
    }
  }
  const table = `burden_tests_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await conn.run(`CREATE OR REPLACE TABLE ${table} (gene VARCHAR, mask VARCHAR, aaf_bin VARCHAR,
      n_variants INTEGER, n_carriers INTEGER, phenotype VARCHAR, beta DOUBLE, se DOUBLE, p DOUBLE,
      test VARCHAR, status VARCHAR)`);
  const app = await conn.createAppender(table);
  for (const row of rows) {
    row.forEach((v, i) => {
      if (v === null || (typeof v === 'number' && !Number.isFinite(v))) app.appendNull();
      else if (i === 3 || i === 4) app.appendInteger(Number(v));
      else if (typeof v === 'number') app.appendDouble(v);
      else app.appendVarchar(v);
    });
    app.endRow();
  }
  app.closeSync();
  await atomicProduce(out, (tmp) => conn.run(`COPY ${table} TO ${sqlString(tmp)} (FORMAT parquet)`));
  await conn.run(`DROP TABLE ${table}`);
  return { path: out, nTests: rows.length };
}
