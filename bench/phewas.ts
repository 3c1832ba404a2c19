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

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createPhewasActivities } from '../activities/phewas.js';
import { sqlString, withCompute } from '../engine/duckdb.js';
import { phewasSpecSchema } from '../schemas/study.js';
import type {
  AnalysisTable,
  PhenomeRef,
  PhewasPredictor,
  PhewasResult,
  RunContext,
} from '../schemas/study-io.js';
import { loadConfig } from '../temporal.config.js';
import { personIdSql, shippedMaps, synthesiseEhr } from './synth-ehr.js';

const { values } = parseArgs({
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
const N = Number(values.persons);
const K = Math.max(1, Number(values.predictors));
const OLD_SAMPLE = Math.max(1, Math.min(K, Number(values['old-sample'])));
const OUT = resolve(values.out as string);
const PREDICTOR = values.predictor === 'burden' || K > 1 ? 'burden' : 'dosage';
const MAPS = shippedMaps('1.2');
const releaseDir = join(OUT, 'release');
const config = loadConfig({
  BIOBANK_DATA_DIR: join(OUT, 'data'),
  BIOBANK_DUCKDB_THREADS: '2',
  BIOBANK_DUCKDB_MEMORY: '4GB',
});
const run: RunContext = {
  runId: 'bench-phewas-0123456789abcdef',
  studyId: 'bench-phewas',
  releaseId: 'bench',
  releaseFingerprint: '0'.repeat(64),
  releaseDir,
  specHash: '0'.repeat(64),
  runDir: join(OUT, 'run'),
};
const analysis: AnalysisTable = {
  path: join(OUT, 'analysis.parquet'),
  trait: 'none',
  nSamples: N,
  covariates: ['sex', 'age', 'pc1'],
  droppedCovariates: [],
};
const predictor: PhewasPredictor = {
  type: PREDICTOR === 'burden' ? 'burden' : 'column',
  id: `bench-${PREDICTOR}`,
  path: join(OUT, 'predictor.parquet'),
  column: 'score',
};
/** Many-predictor mode: `score` (planted) and the null carrier scores score_1 … score_{K−1}. */
const manyPredictors: PhewasPredictor[] = Array.from({ length: K }, (_, k) => ({
  type: 'burden',
  id: k === 0 ? 'bench-burden' : `bench-null-${k}`,
  path: join(OUT, 'predictor.parquet'),
  column: k === 0 ? 'score' : `score_${k}`,
}));
/** carriers per 10,000 of the null score k (0.2 %, 0.5 %, 1 %, 2 %, 5 %). */
const nullRate = (k: number) => [20, 50, 100, 200, 500][k % 5];
const phewas = phewasSpecSchema.parse({ phecodeVersion: '1.2', maps: MAPS });

/** The predictor of person index `i`, as SQL. */
function predictorSql(i: string): string {
  return PREDICTOR === 'burden'
    ? `(hash(${i}, 13) % 1000 < 20)::INTEGER`
    : `((hash(${i}, 11) % 1000 < 250)::INTEGER + (hash(${i}, 12) % 1000 < 250)::INTEGER)`;
}

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

/** The timed part (child process): phenome build, then the PheWAS. */
async function timed() {
  await rm(join(releaseDir, 'derived'), { recursive: true, force: true });
  await rm(run.runDir, { recursive: true, force: true });
  const acts = createPhewasActivities(config);
  const t0 = performance.now();
  const phenome = (await new MockActivityEnvironment().run(acts.buildRunPhenome, {
    run,
    analysis,
    phewas,
  })) as PhenomeRef;
  const t1 = performance.now();
  const result = (await new MockActivityEnvironment().run(acts.runPhewas, {
    run,
    analysis,
    phenome,
    phewas,
    predictor,
  })) as PhewasResult;
  const t2 = performance.now();
  return { phenomeSeconds: (t1 - t0) / 1000, phewasSeconds: (t2 - t1) / 1000, phenome, result };
}

/** The timed part in many-predictor mode: phenome, new path (all K), old path (first OLD_SAMPLE). */
async function timedMany() {
  await rm(join(releaseDir, 'derived'), { recursive: true, force: true });
  await rm(run.runDir, { recursive: true, force: true });
  const manyRun = { ...run, runDir: join(OUT, 'run-many') };
  await rm(manyRun.runDir, { recursive: true, force: true });
  const acts = createPhewasActivities(config);
  const t0 = performance.now();
  const phenome = (await new MockActivityEnvironment().run(acts.buildRunPhenome, {
    run,
    analysis,
    phewas,
  })) as PhenomeRef;
  const t1 = performance.now();
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
    phenomeSeconds: (t1 - t0) / 1000,
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

/** Status / test counts of a results file and a digest of its numbers (to compare code versions). */
async function summarise(path: string) {
  return withCompute(config, async (conn) => {
    const counts = (
      await conn.runAndReadAll(
        `SELECT status, coalesce(test, '-') AS test, count(*)::INTEGER AS n FROM read_parquet(${sqlString(path)})
         GROUP BY ALL ORDER BY ALL`,
      )
    ).getRowObjectsJS() as { status: string; test: string; n: number }[];
    const rows = (
      await conn.runAndReadAll(
        `SELECT phecode, n_cases, n_controls, n_excluded, beta, se, p, test, status
         FROM read_parquet(${sqlString(path)}) ORDER BY phecode`,
      )
    ).getRows();
    const digest = createHash('sha256').update(JSON.stringify(rows)).digest('hex').slice(0, 16);
    const top = (
      await conn.runAndReadAll(
        `SELECT phecode, n_cases, round(beta, 4) AS beta, p, test FROM read_parquet(${sqlString(path)})
         WHERE status = 'ok' ORDER BY p LIMIT 3`,
      )
    ).getRowObjectsJS();
    return { counts, digest, top };
  });
}

/** Refit `k` tested phecodes with R glm on the same rows: R's time per fit, and β agreement. */
async function compareR(phenome: PhenomeRef, resultPath: string, k: number) {
  const dir = join(OUT, 'r');
  await mkdir(dir, { recursive: true });
  const picked = await withCompute(config, async (conn) => {
    const tested = (
      await conn.runAndReadAll(
        `SELECT r.phecode, r.beta, r.test, p.sex FROM read_parquet(${sqlString(resultPath)}) r
         JOIN read_parquet(${sqlString(phenome.phecodesPath)}) p USING (phecode)
         WHERE r.status = 'ok' AND r.test = 'wald' ORDER BY hash(r.phecode) LIMIT ${k}`,
      )
    ).getRowObjectsJS() as { phecode: string; beta: number; test: string; sex: string | null }[];
    for (const t of tested) {
      await conn.run(
        `COPY (
           SELECT CASE WHEN substr(ph.cases, c.person_idx + 1, 1) = '1' THEN 1 ELSE 0 END AS y,
                  x.score AS g, a.cov_sex AS sex, a.cov_age AS age, a.cov_pc1 AS pc1
           FROM read_parquet(${sqlString(analysis.path)}) a
           JOIN read_parquet(${sqlString(join(phenome.dir, 'cohort.parquet'))}) c USING (person_id)
           JOIN read_parquet(${sqlString(predictor.type === 'variant' ? '' : predictor.path)}) x USING (person_id)
           LEFT JOIN (SELECT * FROM read_parquet(${sqlString(join(phenome.dir, 'phenome.parquet'))})
                      WHERE phecode = ${sqlString(t.phecode)}) ph ON true
           WHERE coalesce(substr(ph.excluded, c.person_idx + 1, 1), '0') <> '1'
           ORDER BY a.sample_idx)
         TO ${sqlString(join(dir, `${t.phecode}.csv`))} (HEADER)`,
      );
    }
    return tested;
  });
  const script = picked
    .map(
      (t) => `d <- read.csv('${join(dir, `${t.phecode}.csv`)}')
t0 <- proc.time()[['elapsed']]
f <- glm(${t.sex ? 'y ~ g + age + pc1' : 'y ~ g + sex + age + pc1'}, family = binomial, data = d)
el <- proc.time()[['elapsed']] - t0
cat(sprintf('%s %.12g %.4f\\n', '${t.phecode}', coef(f)[['g']], el))`,
    )
    .join('\n');
  const out = execFileSync('Rscript', ['-e', script], { encoding: 'utf8' }).trim().split('\n');
  return out.map((line, j) => {
    const [phecode, rBeta, seconds] = line.split(' ');
    const ours = Number(picked[j].beta);
    return {
      phecode,
      rGlmSeconds: Number(seconds),
      relDiffBeta: Number((Math.abs(ours - Number(rBeta)) / Math.abs(Number(rBeta))).toExponential(2)),
    };
  });
}

/** The same PheWAS with plink2 --glm (one variant, one binary phenotype per tested phecode). */
async function comparePlink2(phenome: PhenomeRef, resultPath: string) {
  const dir = join(OUT, 'plink2');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const { phecodes, persons, score, covRows, statusCols } = await withCompute(config, async (conn) => {
    const tested = (
      await conn.runAndReadAll(
        `SELECT phecode FROM read_parquet(${sqlString(resultPath)}) WHERE status = 'ok' ORDER BY phecode`,
      )
    ).getRows();
    const codes = tested.map((r) => String(r[0]));
    const a = (
      await conn.runAndReadAll(
        `SELECT a.person_id, c.person_idx, x.score, a.cov_sex, a.cov_age, a.cov_pc1
         FROM read_parquet(${sqlString(analysis.path)}) a
         JOIN read_parquet(${sqlString(join(phenome.dir, 'cohort.parquet'))}) c USING (person_id)
         JOIN read_parquet(${sqlString(predictor.type === 'variant' ? '' : predictor.path)}) x USING (person_id)
         ORDER BY a.sample_idx`,
      )
    ).getRows();
    const bits = new Map(
      (
        await conn.runAndReadAll(
          `SELECT phecode, cases, excluded FROM read_parquet(${sqlString(join(phenome.dir, 'phenome.parquet'))})`,
        )
      )
        .getRows()
        .map((r) => [String(r[0]), [r[1] as string | null, r[2] as string | null]] as const),
    );
    // one column per phecode: 2 case, 1 control, NA excluded (PLINK's 1/2 coding)
    const cols = codes.map((code) => {
      const [cases, excl] = bits.get(code) ?? [null, null];
      return a.map((r) => {
        const p = Number(r[1]);
        if (excl && excl.charCodeAt(p) === 49) return 'NA';
        return cases && cases.charCodeAt(p) === 49 ? '2' : '1';
      });
    });
    return {
      phecodes: codes,
      persons: a.map((r) => String(r[0])),
      score: a.map((r) => Number(r[2])),
      covRows: a.map((r) => `${r[0]}\t${r[0]}\t${r[3]}\t${r[4]}\t${r[5]}`),
      statusCols: cols,
    };
  });
  const n = persons.length;
  // .bed: one variant, SNP-major; A1 = ALT so the dosage counts ALT; 2 → 00, 1 → 10, 0 → 11
  const bed = Buffer.alloc(3 + Math.ceil(n / 4));
  bed.set([0x6c, 0x1b, 0x01]);
  for (let i = 0; i < n; i++) {
    const g = Math.round(score[i]);
    const code = g >= 2 ? 0 : g === 1 ? 2 : 3;
    bed[3 + (i >> 2)] |= code << ((i & 3) * 2);
  }
  await writeFile(join(dir, 'x.bed'), bed);
  await writeFile(join(dir, 'x.bim'), '1\tpredictor\t0\t1000\tA\tG\n');
  await writeFile(join(dir, 'x.fam'), `${persons.map((p) => `${p}\t${p}\t0\t0\t0\t-9`).join('\n')}\n`);
  await writeFile(join(dir, 'covar.tsv'), `#FID\tIID\tsex\tage\tpc1\n${covRows.join('\n')}\n`);
  const lines = [`#FID\tIID\t${phecodes.map((c) => `P${c}`).join('\t')}`];
  for (let i = 0; i < n; i++)
    lines.push(`${persons[i]}\t${persons[i]}\t${statusCols.map((c) => c[i]).join('\t')}`);
  await writeFile(join(dir, 'pheno.tsv'), `${lines.join('\n')}\n`);
  const args = [
    '-f',
    'BENCH_TIME %e %M',
    'plink2',
    '--bfile',
    join(dir, 'x'),
    '--pheno',
    join(dir, 'pheno.tsv'),
    '--covar',
    join(dir, 'covar.tsv'),
    '--glm',
    'hide-covar',
    'firth-fallback',
    '--threads',
    '2',
    '--memory',
    '4000',
    '--out',
    join(dir, 'plink'),
  ];
  const r = spawnSync('/usr/bin/time', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`plink2 failed: ${String(r.stderr).slice(-2000)}`);
  const m = /BENCH_TIME ([\d.]+) (\d+)/.exec(String(r.stderr));
  const agreement = await withCompute(config, async (conn) => {
    const row = (
      await conn.runAndReadAll(
        `WITH p AS (
           SELECT regexp_extract(filename, 'plink\\.P(.*)\\.glm\\.logistic\\.hybrid$', 1) AS phecode,
                  TRY_CAST("OR" AS DOUBLE) AS odds, "FIRTH?" AS firth
           FROM read_csv(${sqlString(join(dir, 'plink.P*.glm.logistic.hybrid'))}, filename = true, delim = '\t',
                         header = true, all_varchar = true))
         SELECT count(*)::INTEGER AS n, count(odds)::INTEGER AS n_estimated,
                count(*) FILTER (WHERE firth = 'Y')::INTEGER AS n_firth,
                max(abs(ln(odds) - o.beta) / abs(o.beta)) FILTER (WHERE abs(o.beta) > 1e-3) AS max_rel_diff_beta,
                quantile_cont(abs(ln(odds) - o.beta) / abs(o.beta), 0.5) FILTER (WHERE abs(o.beta) > 1e-3) AS median_rel_diff_beta
         FROM p JOIN read_parquet(${sqlString(resultPath)}) o USING (phecode)`,
      )
    ).getRowObjectsJS()[0];
    return row;
  });
  return {
    plink2Seconds: m ? Number(m[1]) : null,
    plink2PeakRssMiB: m ? Math.round(Number(m[2]) / 1024) : null,
    phenotypes: phecodes.length,
    ...agreement,
  };
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
