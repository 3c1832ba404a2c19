/**
 * Checks of the PheWAS benchmark's results (bench/phewas.ts): status counts and a digest of a
 * results file, R glm refits of some phecodes, and plink2 --glm on the same rows.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sqlString, withCompute } from '../engine/duckdb.js';
import type { PhenomeRef } from '../schemas/study-io.js';
import { analysis, config, OUT, predictor } from './phewas-setup.js';

/** Status / test counts of a results file and a digest of its numbers (to compare code versions). */
export async function summarise(path: string) {
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
export async function compareR(phenome: PhenomeRef, resultPath: string, k: number) {
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
export async function comparePlink2(phenome: PhenomeRef, resultPath: string) {
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
