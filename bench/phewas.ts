/**
 * PheWAS benchmark (issue 5): one predictor against every phecode 1.2 code, through the
 * engine's own activities as the study workflows run them — `buildRunPhenome` then
 * `runPhewas` (activities/phewas.ts) in a MockActivityEnvironment.
 *
 *   node --import tsx bench/phewas.ts [--persons 50000] [--codes-per-person 16] [--dates-per-code 4]
 *                                     [--predictor dosage|burden] [--r-compare 5] [--plink2] [--reuse] [--keep]
 *                                     [--predictors 50 [--old-sample 5]]
 *
 * `--predictors K` (K > 1): the genotype-first case, K burden-like carrier scores (the planted
 * predictor and K − 1 null ones with 0.2–5 % carriers) over the phenome. New path: one
 * `runPhewasMany` (null fit per phecode, score test, refit where p < 0.05 or unreliable). Old
 * path: `runPhewas` per predictor (full fits everywhere), timed on the first `--old-sample`
 * predictors and scaled to K (all K with `--old-sample K`); their rows are compared (refitted
 * rows must be identical, score rows must have p ≥ 0.05).
 *
 * Data (deterministic, SQL hashes of the person index; bench/synth-ehr.ts): persons and
 * condition records whose codes are drawn from the real phecode 1.2 map in
 * the shipped public maps (data/phecode) — a person has 0..2·16 distinct codes, each recorded on 1..4
 * dates (≈ 40 records per person), so most phecodes reach 20 cases at 50,000 persons; an analysis table with 3 covariates (sex, age, a PC-like normal);
 * a person-level predictor — an allele dosage 0/1/2 (allele frequency 0.25, default) or a
 * burden-like carrier score (2 % carriers) — that raises the odds of two planted phecodes
 * (250.2 via E11.9, 401.1 via I10; log OR 0.4 per unit). Default spec: min 20 cases and 20
 * controls, Wald with Firth fallback, exclusion ranges on, 2 distinct dates for a case.
 *
 * The timed part runs in a child process under GNU time (wall, CPU and peak RSS of that process):
 * phenome build (maps load, phenome, Parquet) and PheWAS (every phecode, results Parquet)
 * are timed separately inside it. `--r-compare k` refits k tested phecodes with R `glm` on the
 * same rows for speed context (and checks β agrees). `--plink2` runs the same PheWAS with
 * `plink2 --glm hide-covar firth-fallback --threads 2`: the predictor as one variant of a .bed,
 * every phecode we tested as a binary phenotype (excluded persons missing), the same covariates
 * (sex dropped for sex-restricted phecodes is not possible there: PLINK2 drops constant
 * covariates itself), timed under GNU time, with the largest β difference to ours.
 */

import { spawnSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createPhewasActivities } from '../activities/phewas.js';
import { sqlString, withCompute } from '../engine/duckdb.js';
import type { PhenomeRef, PhewasResult } from '../schemas/study-io.js';
import { comparePlink2, compareR, summarise } from './phewas-compare.js';
import {
  analysis,
  config,
  K,
  MAPS,
  manyPredictors,
  N,
  nullRate,
  OLD_SAMPLE,
  OUT,
  PREDICTOR,
  phewas,
  predictor,
  predictorSql,
  releaseDir,
  run,
  values,
} from './phewas-setup.js';
import { personIdSql, synthesiseEhr } from './synth-ehr.js';

async function generate(): Promise<void> {
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });
  const t0 = performance.now();
  await withCompute(config, async (conn) => {
    // Planted: two dated records of the code with probability expit(−3 + 0.4·predictor).
    const planted = [
      ['E11.9', 31],
      ['I10', 32],
    ]
      .map(
        ([code, salt]) => `
        SELECT ${personIdSql('i')} AS person_id, '${code}' AS code, 'ICD10CM' AS vocabulary,
               DATE '2012-01-01' + (hash(i, ${salt}, d) % 2500)::INTEGER AS date
        FROM range(${N}) t(i), range(2) s(d)
        WHERE (hash(i, ${salt}) % 1000000) / 1e6 < 1 / (1 + exp(3 - 0.4 * ${predictorSql('i')}))`,
      )
      .join(' UNION ALL ');
    const records = await synthesiseEhr(conn, {
      releaseDir,
      mapsDir: MAPS,
      version: '1.2',
      persons: N,
      recordsPerPerson: Number(values['codes-per-person']),
      datesPerCode: Number(values['dates-per-code']),
      extraRecords: planted,
    });
    // Covariates: sex (M = 1), age in 2020 from the birth date, a standard-normal "PC".
    await conn.run(
      `COPY (
         SELECT i::INTEGER AS sample_idx, p.person_id, 0.0::DOUBLE AS y,
                (p.sex = 'M')::INTEGER::DOUBLE AS cov_sex,
                ((DATE '2020-01-01' - p.birth_date) / 365.25)::DOUBLE AS cov_age,
                sqrt(-2 * ln(((hash(i, 41) % 999983) + 1) / 999984.0)) * cos(2 * pi() * (hash(i, 42) % 1000000) / 1e6) AS cov_pc1
         FROM range(${N}) t(i) JOIN read_parquet(${sqlString(join(releaseDir, 'persons.parquet'))}) p
           ON p.person_id = ${personIdSql('i')}
         ORDER BY i)
       TO ${sqlString(analysis.path)} (FORMAT parquet)`,
    );
    await conn.run(
      `COPY (SELECT ${personIdSql('i')} AS person_id, ${predictorSql('i')}::DOUBLE AS score${Array.from(
        { length: K - 1 },
        (_, j) => `, (hash(i, ${100 + j}) % 10000 < ${nullRate(j + 1)})::INTEGER::DOUBLE AS score_${j + 1}`,
      ).join('')} FROM range(${N}) t(i))
       TO ${sqlString(join(OUT, 'predictor.parquet'))} (FORMAT parquet)`,
    );
    console.log(
      `synthesised ${N} persons, ${records} condition records, predictor ${PREDICTOR} in ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s → ${OUT}`,
    );
  });
}

/**
 * Removes the outputs of an earlier timed run (the release's derived folder and `runDirs`), then
 * builds the phenome through the activity; `t1` is when the build ended.
 */
async function freshPhenome(...runDirs: string[]) {
  await rm(join(releaseDir, 'derived'), { recursive: true, force: true });
  for (const dir of runDirs) await rm(dir, { recursive: true, force: true });
  const acts = createPhewasActivities(config);
  const t0 = performance.now();
  const phenome = (await new MockActivityEnvironment().run(acts.buildRunPhenome, {
    run,
    analysis,
    phewas,
  })) as PhenomeRef;
  const t1 = performance.now();
  return { acts, phenome, phenomeSeconds: (t1 - t0) / 1000, t1 };
}

/** The timed part (child process): phenome build, then the PheWAS. */
async function timed() {
  const { acts, phenome, phenomeSeconds, t1 } = await freshPhenome(run.runDir);
  const result = (await new MockActivityEnvironment().run(acts.runPhewas, {
    run,
    analysis,
    phenome,
    phewas,
    predictor,
  })) as PhewasResult;
  const t2 = performance.now();
  return { phenomeSeconds, phewasSeconds: (t2 - t1) / 1000, phenome, result };
}

/** The timed part in many-predictor mode: phenome, new path (all K), old path (first OLD_SAMPLE). */
async function timedMany() {
  const manyRun = { ...run, runDir: join(OUT, 'run-many') };
  const { acts, phenome, phenomeSeconds, t1 } = await freshPhenome(run.runDir, manyRun.runDir);
  const many = (await new MockActivityEnvironment().run(acts.runPhewasMany, {
    run: manyRun,
    analysis,
    phenome,
    phewas,
    predictors: manyPredictors,
  })) as PhewasResult[];
  const t2 = performance.now();
  const old: PhewasResult[] = [];
  for (const p of manyPredictors.slice(0, OLD_SAMPLE))
    old.push(
      (await new MockActivityEnvironment().run(acts.runPhewas, {
        run,
        analysis,
        phenome,
        phewas,
        predictor: p,
      })) as PhewasResult,
    );
  const t3 = performance.now();
  return {
    phenomeSeconds,
    newSeconds: (t2 - t1) / 1000,
    oldSampleSeconds: (t3 - t2) / 1000,
    phenome,
    many,
    old,
  };
}

/** Old vs new rows of the sampled predictors, and the new path's test counts over all K. */
async function compareMany(r: Awaited<ReturnType<typeof timedMany>>) {
  return withCompute(config, async (conn) => {
    const list = (xs: PhewasResult[]) => `[${xs.map((x) => sqlString(x.path)).join(', ')}]`;
    const counts = (
      await conn.runAndReadAll(
        `SELECT status, coalesce(test, '-') AS test, count(*)::INTEGER AS n FROM read_parquet(${list(r.many)})
         GROUP BY ALL ORDER BY ALL`,
      )
    ).getRowObjectsJS();
    const cmp = (
      await conn.runAndReadAll(
        `SELECT count(*)::INTEGER AS rows,
                count(*) FILTER (WHERE n.test = 'score')::INTEGER AS score_rows,
                count(*) FILTER (WHERE n.test = 'score' AND n.p < 0.05)::INTEGER AS score_rows_below_threshold,
                count(*) FILTER (WHERE n.test IS DISTINCT FROM 'score' AND (n.status <> o.status OR n.beta IS DISTINCT FROM o.beta
                                 OR n.se IS DISTINCT FROM o.se OR n.p IS DISTINCT FROM o.p OR n.test IS DISTINCT FROM o.test))::INTEGER AS refit_rows_differing,
                count(*) FILTER (WHERE n.status <> o.status)::INTEGER AS status_differing,
                count(*) FILTER (WHERE n.test = 'score' AND o.p < 0.05)::INTEGER AS score_rows_old_p_below_threshold,
                max(abs(n.beta - o.beta)) FILTER (WHERE n.test = 'score') AS score_max_abs_beta_diff,
                corr(n.neg_log10_p, o.neg_log10_p) FILTER (WHERE n.test = 'score') AS score_corr_neg_log10_p
         FROM read_parquet(${list(r.many.slice(0, r.old.length))}) n
         JOIN read_parquet(${list(r.old)}) o USING (predictor, phecode)`,
      )
    ).getRowObjectsJS()[0];
    return { counts, oldVsNew: cmp };
  });
}

async function main() {
  if (values.child && K > 1) {
    const r = await timedMany();
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  if (values.child) {
    const r = await timed();
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  if (!values.reuse) await generate();
  const load = loadavg().map((v) => Number(v.toFixed(2)));
  const child = spawnSync(
    '/usr/bin/time',
    [
      '-f',
      'BENCH_TIME %e %M %U %S',
      process.execPath,
      ...process.execArgv,
      join(import.meta.dirname, 'phewas.ts'),
      '--child',
      '--out',
      OUT,
      '--persons',
      String(N),
      '--predictor',
      PREDICTOR,
      '--predictors',
      String(K),
      '--old-sample',
      String(OLD_SAMPLE),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  if (child.status !== 0) throw new Error(`PheWAS child failed:\n${child.stdout}\n${child.stderr}`);
  const m = /BENCH_TIME ([\d.]+) (\d+) ([\d.]+) ([\d.]+)/.exec(child.stderr);
  const loadAfter = loadavg().map((v) => Number(v.toFixed(2)));
  if (K > 1) {
    const r = JSON.parse(child.stdout.trim().split('\n').pop() as string) as Awaited<
      ReturnType<typeof timedMany>
    >;
    const perOld = r.oldSampleSeconds / r.old.length;
    const report = {
      bench: 'phewas-many',
      date: new Date().toISOString().slice(0, 16).replace('T', ' '),
      persons: N,
      predictors: K,
      phecodes: r.phenome.nPhecodes,
      tested: r.many[0].nTested,
      phenomeBuildSeconds: Number(r.phenomeSeconds.toFixed(2)),
      newPathSeconds: Number(r.newSeconds.toFixed(2)),
      oldPathSampled: r.old.length,
      oldPathSampleSeconds: Number(r.oldSampleSeconds.toFixed(2)),
      oldPathSecondsPerPredictor: Number(perOld.toFixed(2)),
      oldPathSecondsForAll: Number((perOld * K).toFixed(1)),
      speedup: Number(((perOld * K) / r.newSeconds).toFixed(1)),
      processWallSeconds: m ? Number(m[1]) : null,
      processCpuSeconds: m ? Number((Number(m[3]) + Number(m[4])).toFixed(1)) : null,
      peakRssMiB: m ? Math.round(Number(m[2]) / 1024) : null,
      loadBefore: load,
      loadAfter,
      ...(await compareMany(r)),
      plantedTop: r.many[0].top.slice(0, 3),
    };
    console.log(JSON.stringify(report, null, 2));
    await writeFile(join(OUT, `result-many-${K}.json`), `${JSON.stringify(report, null, 2)}\n`);
    if (!values.keep && !values.reuse)
      for (const f of ['data', 'run', 'run-many']) await rm(join(OUT, f), { recursive: true, force: true });
    return;
  }
  const ours = JSON.parse(child.stdout.trim().split('\n').pop() as string) as Awaited<
    ReturnType<typeof timed>
  >;
  const s = await summarise(ours.result.path);
  const skipped = s.counts.filter((c) => c.status !== 'ok').reduce((a, c) => a + c.n, 0);
  const report: Record<string, unknown> = {
    bench: 'phewas',
    date: new Date().toISOString().slice(0, 16).replace('T', ' '),
    persons: N,
    predictor: PREDICTOR,
    phecodes: ours.phenome.nPhecodes,
    tested: ours.result.nTested,
    skipped,
    statusCounts: s.counts,
    phenomeBuildSeconds: Number(ours.phenomeSeconds.toFixed(2)),
    phewasSeconds: Number(ours.phewasSeconds.toFixed(2)),
    processWallSeconds: m ? Number(m[1]) : null,
    /** user + system CPU of the whole child process (phenome build, PheWAS, start-up). */
    processCpuSeconds: m ? Number((Number(m[3]) + Number(m[4])).toFixed(1)) : null,
    peakRssMiB: m ? Math.round(Number(m[2]) / 1024) : null,
    loadBefore: load,
    loadAfter,
    nSignificant: ours.result.nSignificant,
    top: s.top,
    resultsDigest: s.digest,
  };
  const k = Number(values['r-compare']);
  if (k > 0) report.rGlm = await compareR(ours.phenome, ours.result.path, k);
  if (values.plink2) report.plink2 = await comparePlink2(ours.phenome, ours.result.path);
  console.log(JSON.stringify(report, null, 2));
  await writeFile(join(OUT, `result-${PREDICTOR}.json`), `${JSON.stringify(report, null, 2)}\n`);
  if (!values.keep && !values.reuse) {
    for (const f of ['data', 'run', 'r', 'plink2']) await rm(join(OUT, f), { recursive: true, force: true });
  }
}

await main();
