/**
 * PheWAS activities on real Parquet, the real phecode 1.2 maps (shipped in data/phecode) and DuckDB:
 * a variant planted to raise three phecodes is tested against every phecode; each tested
 * phecode's estimate agrees with R `glm(family = binomial)` fitted on the same case/control
 * rows, to 1e-4 relative on β and SE. Phecodes below minCases get a row with a status.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPhewasActivities } from '../../activities/phewas.js';
import { GT_PACKED_MISSING, packedCode } from '../../engine/genotypes.js';
import { shippedMapsDir } from '../../phenotype/maps.js';
import { phewasSpecSchema } from '../../schemas/study.js';
import type { AnalysisTable, PhewasPredictor, RunContext } from '../../schemas/study-io.js';
import { loadConfig } from '../../temporal.config.js';
import { runActivity } from '../helpers/activity.js';
import {
  type FixtureVariant,
  writeAnalysisFixture,
  writeReleaseFixture,
} from '../helpers/release-fixture.js';
import { rng } from '../helpers/rng.js';

const MAPS = shippedMapsDir('1.2');
const N = 1500;
let dir = '';
let run: RunContext;
let analysis: AnalysisTable;
/** the fixture's genotype codes (255 = missing) and covariates, by sample index. */
let gtOf = new Uint8Array(0);
let c1Of = new Float64Array(0);
let sexOf = new Float64Array(0);
const planted = [
  { code: 'E11.9', phecode: '250.2', beta: 0.9, base: -2.2 },
  { code: 'I10', phecode: '401.1', beta: 0.6, base: -1.6 },
  { code: 'K21.9', phecode: '530.11', beta: 0.0, base: -2.0 },
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'biobank-phewas-'));
  const r = rng(7);
  const ids = Array.from({ length: N }, (_, i) => `P${i + 1}`);
  const gt = new Uint8Array(N);
  for (let i = 0; i < N; i++)
    gt[i] = r.next() < 0.03 ? 255 : (r.next() < 0.3 ? 1 : 0) + (r.next() < 0.3 ? 1 : 0);
  const variants: FixtureVariant[] = [{ chrom: '1', pos: 1000, ref: 'C', alt: 'T', gt, shard: 's0' }];
  const releaseDir = join(dir, 'release');
  await writeReleaseFixture(releaseDir, ids, variants);
  const c1 = Float64Array.from({ length: N }, () => r.normal());
  const sex = Float64Array.from({ length: N }, (_, i) => (i % 2 === 0 ? 1 : 0));
  gtOf = gt;
  c1Of = c1;
  sexOf = sex;

  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(
    'CREATE TABLE persons (person_id VARCHAR, sex VARCHAR, birth_date DATE, birth_year INTEGER, ancestry VARCHAR)',
  );
  await conn.run('CREATE TABLE conditions (person_id VARCHAR, code VARCHAR, vocabulary VARCHAR, date DATE)');
  const pa = await conn.createAppender('persons');
  const ca = await conn.createAppender('conditions');
  const { dateValue } = await import('@duckdb/node-api');
  for (let i = 0; i < N; i++) {
    pa.appendVarchar(ids[i]);
    pa.appendVarchar(sex[i] ? 'M' : 'F');
    pa.appendDate(dateValue({ year: 1950 + (i % 30), month: 1, day: 1 }));
    pa.appendInteger(1950 + (i % 30));
    pa.appendVarchar('EUR');
    pa.endRow();
    const g = gt[i] === 255 ? 0 : gt[i];
    for (const p of planted) {
      const eta = p.base + p.beta * g + 0.3 * c1[i];
      if (r.next() < 1 / (1 + Math.exp(-eta))) {
        const nDates = r.next() < 0.15 ? 1 : 2 + Math.floor(r.next() * 3);
        for (let d = 0; d < nDates; d++) {
          ca.appendVarchar(ids[i]);
          ca.appendVarchar(p.code);
          ca.appendVarchar('ICD10CM');
          ca.appendDate(dateValue({ year: 2015 + d, month: 1 + (i % 12), day: 1 + (d % 28) }));
          ca.endRow();
        }
      }
    }
  }
  pa.closeSync();
  ca.closeSync();
  await conn.run(`COPY persons TO '${join(releaseDir, 'persons.parquet')}' (FORMAT parquet)`);
  await conn.run(`COPY conditions TO '${join(releaseDir, 'conditions.parquet')}' (FORMAT parquet)`);
  conn.closeSync();
  db.closeSync();

  await writeAnalysisFixture(join(dir, 'analysis.parquet'), ids, new Float64Array(N), { c1, sex });
  run = {
    runId: 'phewas-test-0123456789abcdef',
    studyId: 'phewas-test',
    releaseId: 'fixture',
    releaseFingerprint: 'a'.repeat(64),
    releaseDir,
    specHash: 'b'.repeat(64),
    runDir: join(dir, 'run'),
  };
  analysis = {
    path: join(dir, 'analysis.parquet'),
    trait: 'none',
    nSamples: N,
    covariates: ['c1', 'sex'],
    droppedCovariates: [],
  };
});

afterAll(async () => {
  if (dir && !process.env.KEEP) await rm(dir, { recursive: true, force: true });
});

describe('PheWAS of a variant over phecode 1.2', () => {
  it('gives every phecode a row and agrees with R glm on the tested ones', async () => {
    expect(existsSync(MAPS)).toBe(true);
    const config = loadConfig({ BIOBANK_DATA_DIR: join(dir, 'data'), BIOBANK_DUCKDB_THREADS: '2' });
    const acts = createPhewasActivities(config);
    const phewas = phewasSpecSchema.parse({ phecodeVersion: '1.2', maps: MAPS, minCases: 20, spa: 'never' });
    const phenome = await runActivity(acts.buildRunPhenome, { run, analysis, phewas });
    expect(phenome.nPhecodes).toBeGreaterThan(1500);
    const result = await runActivity(acts.runPhewas, {
      run,
      analysis,
      phenome,
      phewas,
      predictor: {
        type: 'variant',
        id: '1:1000:C:T',
        variantIdx: 0,
        chrom: '1',
        pos: 1000,
        ref: 'C',
        alt: 'T',
      },
    });

    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const rows = (
      await conn.runAndReadAll(`SELECT * FROM read_parquet('${result.path}') ORDER BY phecode`)
    ).getRowObjectsJS();
    expect(rows.length).toBe(phenome.nPhecodes);
    const byCode = new Map(rows.map((r) => [r.phecode as string, r]));
    // planted effects: 250.2 and 401.1 strongly associated; 530.11 null
    expect(byCode.get('250.2')?.status).toBe('ok');
    expect(Number(byCode.get('250.2')?.p)).toBeLessThan(1e-8);
    expect(Number(byCode.get('401.1')?.p)).toBeLessThan(1e-4);
    expect(byCode.get('008')?.status).toBe('too_few_cases');
    expect(byCode.get('008')?.beta).toBeNull();
    const tested = rows.filter((r) => r.status === 'ok');
    expect(result.nTested).toBe(tested.length);
    expect(tested.length).toBeGreaterThanOrEqual(3);

    // R reference: refit each tested phecode on exactly the same rows.
    const cohort = join(phenome.dir, 'cohort.parquet');
    const phen = join(phenome.dir, 'phenome.parquet');
    for (const t of tested) {
      const csv = join(dir, `fit-${t.phecode}.csv`);
      // Rebuild y, g and covariates from the same Parquet files, for R.
      const gtRow = (
        await conn.runAndReadAll(
          `SELECT gt FROM read_parquet('${join(run.releaseDir, 'genotypes', 's0.parquet')}')`,
        )
      ).getRows()[0][0] as { bytes: Uint8Array };
      const st = (
        await conn.runAndReadAll(
          `SELECT a.sample_idx, a.cov_c1, a.cov_sex,
                  CASE WHEN substr(ph.excluded, c.person_idx + 1, 1) = '1' THEN -1
                       WHEN substr(ph.cases, c.person_idx + 1, 1) = '1' THEN 1 ELSE 0 END AS y
           FROM read_parquet('${join(dir, 'analysis.parquet')}') a
           JOIN read_parquet('${cohort}') c USING (person_id)
           LEFT JOIN (SELECT * FROM read_parquet('${phen}') WHERE phecode = $1) ph ON true
           ORDER BY a.sample_idx`,
          [t.phecode as string],
        )
      ).getRows();
      const lines = ['y,g,c1,sex'];
      for (const [idx, c1v, sexv, y] of st) {
        const g = packedCode(gtRow.bytes, Number(idx));
        if (Number(y) < 0 || g === GT_PACKED_MISSING) continue;
        lines.push(`${y},${g},${c1v},${sexv}`);
      }
      await writeFile(csv, `${lines.join('\n')}\n`);
      const restricted = false;
      const formula = restricted ? 'y ~ g + c1' : 'y ~ g + c1 + sex';
      const out = execFileSync(
        'Rscript',
        [
          '-e',
          `d <- read.csv('${csv}'); f <- glm(${formula}, family = binomial, data = d, control = glm.control(epsilon = 1e-12, maxit = 50)); s <- summary(f)$coefficients; cat(sprintf('%.12g %.12g %d', s['g', 1], s['g', 2], sum(d$y)))`,
        ],
        { encoding: 'utf8' },
      ).trim();
      const [rb, rse, rcases] = out.split(' ').map(Number);
      expect(Number(t.n_cases)).toBe(rcases);
      expect(Math.abs(Number(t.beta) - rb) / Math.abs(rb)).toBeLessThan(1e-4);
      expect(Math.abs(Number(t.se) - rse) / rse).toBeLessThan(1e-4);
    }
    conn.closeSync();
  });

  it('gives the same rows when the fits run on pooled worker threads', async () => {
    const config = loadConfig({ BIOBANK_DATA_DIR: join(dir, 'data'), BIOBANK_DUCKDB_THREADS: '2' });
    const acts = createPhewasActivities(config);
    const phewas = phewasSpecSchema.parse({ phecodeVersion: '1.2', maps: MAPS, minCases: 20, spa: 'never' });
    const phenome = await runActivity(acts.buildRunPhenome, { run, analysis, phewas });
    const variant = { type: 'variant', variantIdx: 0, chrom: '1', pos: 1000, ref: 'C', alt: 'T' } as const;
    const inline = await runActivity(acts.runPhewas, {
      run,
      analysis,
      phenome,
      phewas,
      predictor: { ...variant, id: 'inline' },
    });
    // Every PheWAS on pooled threads (minimum work 0).
    const threadedActs = createPhewasActivities({
      ...config,
      worker: { ...config.worker, phewasThreadMinWork: 0 },
    });
    {
      const threaded = await runActivity(threadedActs.runPhewas, {
        run,
        analysis,
        phenome,
        phewas,
        predictor: { ...variant, id: 'threaded' },
      });
      expect(threaded.nTested).toBe(inline.nTested);
      const db = await DuckDBInstance.create(':memory:');
      const conn = await db.connect();
      const read = async (path: string) =>
        (
          await conn.runAndReadAll(
            `SELECT * EXCLUDE (predictor) FROM read_parquet('${path}') ORDER BY phecode`,
          )
        ).getRowObjectsJS();
      expect(await read(threaded.path)).toEqual(await read(inline.path));
      conn.closeSync();
    }
  });
});

describe('many predictors over phecode 1.2 (runPhewasMany: one null fit per phecode, score test, refit)', () => {
  /** Person-level predictors of every kind the score path must handle, in predictors.parquet. */
  async function predictorFixture(): Promise<PhewasPredictor[]> {
    const r = rng(11);
    const cols: Record<string, (number | null)[]> = {
      carrier: Array.from({ length: N }, () => (r.next() < 0.05 ? 1 : 0)),
      dose: Array.from(gtOf, (g) => (g === 255 ? 0 : g)),
      cont: Array.from({ length: N }, () => r.normal()),
      partial: Array.from({ length: N }, () => (r.next() < 0.1 ? null : r.normal())),
      sexcopy: Array.from(sexOf, (s) => 2 * s),
      constant: Array.from({ length: N }, () => 1),
    };
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const names = Object.keys(cols);
    await conn.run(`CREATE TABLE x (person_id VARCHAR, ${names.map((c) => `${c} DOUBLE`).join(', ')})`);
    const app = await conn.createAppender('x');
    for (let i = 0; i < N; i++) {
      app.appendVarchar(`P${i + 1}`);
      for (const c of names) {
        const v = cols[c][i];
        if (v === null) app.appendNull();
        else app.appendDouble(v);
      }
      app.endRow();
    }
    app.closeSync();
    const path = join(dir, 'predictors.parquet');
    await conn.run(`COPY x TO '${path}' (FORMAT parquet)`);
    conn.closeSync();
    db.closeSync();
    return [
      { type: 'variant', id: '1:1000:C:T', variantIdx: 0, chrom: '1', pos: 1000, ref: 'C', alt: 'T' },
      ...names.map((c) => ({ type: 'burden' as const, id: c, path, column: c })),
    ];
  }

  const runIn = (name: string): RunContext => ({ ...run, runDir: join(dir, name) });

  async function readRows(path: string) {
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const rows = (
      await conn.runAndReadAll(`SELECT * FROM read_parquet('${path}') ORDER BY phecode`)
    ).getRowObjectsJS();
    conn.closeSync();
    db.closeSync();
    return rows;
  }

  it('agrees with runPhewas where both fit, with R glm (refits) and R Rao (score rows)', async () => {
    const config = loadConfig({ BIOBANK_DATA_DIR: join(dir, 'data'), BIOBANK_DUCKDB_THREADS: '2' });
    const acts = createPhewasActivities(config);
    const phewas = phewasSpecSchema.parse({ phecodeVersion: '1.2', maps: MAPS, minCases: 20, spa: 'never' });
    const phenome = await runActivity(acts.buildRunPhenome, { run, analysis, phewas });
    const predictors = await predictorFixture();

    // the old path: one runPhewas per predictor (full fits everywhere)
    const single = [];
    for (const predictor of predictors)
      single.push(
        await runActivity(acts.runPhewas, { run: runIn('single'), analysis, phenome, phewas, predictor }),
      );
    // scoreThreshold 1: every row refitted, so every row must equal runPhewas's
    const allFit = await runActivity(acts.runPhewasMany, {
      run: runIn('many-all'),
      analysis,
      phenome,
      phewas: { ...phewas, scoreThreshold: 1 },
      predictors,
    });
    // the default: score test, refit below p 0.05 or where unreliable
    const many = await runActivity(acts.runPhewasMany, {
      run: runIn('many'),
      analysis,
      phenome,
      phewas,
      predictors,
    });
    expect(many.map((r) => r.predictorId)).toEqual(predictors.map((p) => p.id));

    let scoreRows = 0;
    let refitRows = 0;
    const scored: { phecode: string; predictor: string; beta: number; se: number; p: number }[] = [];
    const refitted: { phecode: string; predictor: string; beta: number; se: number }[] = [];
    for (const [k, p] of predictors.entries()) {
      const old = await readRows(single[k].path);
      expect(await readRows(allFit[k].path)).toEqual(old);
      const rows = await readRows(many[k].path);
      expect(rows.length).toBe(phenome.nPhecodes);
      expect(many[k].nTested).toBe(single[k].nTested);
      rows.forEach((row, j) => {
        const o = old[j];
        expect(row.phecode).toBe(o.phecode);
        expect([row.status, row.n_cases, row.n_controls, row.n_excluded]).toEqual([
          o.status,
          o.n_cases,
          o.n_controls,
          o.n_excluded,
        ]);
        if (row.test === 'score') {
          scoreRows++;
          expect(Number(row.p)).toBeGreaterThanOrEqual(0.05);
          expect(Number(row.odds_ratio)).toBeCloseTo(Math.exp(Number(row.beta)), 12);
          // the one-step β agrees in sign with the ML β where both exist (score p ≥ 0.05: small)
          scored.push({
            phecode: String(row.phecode),
            predictor: p.id,
            beta: Number(row.beta),
            se: Number(row.se),
            p: Number(row.p),
          });
        } else {
          expect(row).toEqual(o);
          if (row.status === 'ok') {
            refitRows++;
            if (row.test === 'wald')
              refitted.push({
                phecode: String(row.phecode),
                predictor: p.id,
                beta: Number(row.beta),
                se: Number(row.se),
              });
          }
        }
      });
    }
    expect(scoreRows).toBeGreaterThanOrEqual(5);
    expect(refitRows).toBeGreaterThanOrEqual(3);
    // the planted associations are refitted (score p < 0.05) and keep their Wald rows
    const variantRows = await readRows(many[0].path);
    const v250 = variantRows.find((r) => r.phecode === '250.2')!;
    expect(v250.test).toBe('wald');
    expect(Number(v250.p)).toBeLessThan(1e-8);
    // edge predictors: a copy of sex and a constant go through the full fit's verdicts
    const statusOf = async (id: string) =>
      new Set((await readRows(many[predictors.findIndex((p) => p.id === id)].path)).map((r) => r.status));
    expect(await statusOf('constant')).not.toContain('ok');
    expect([...(await statusOf('sexcopy'))].filter((s) => s === 'ok')).toHaveLength(0);

    // R on the same rows: Rao score for the score rows, glm β/SE for the refitted Wald rows
    const cohort = join(phenome.dir, 'cohort.parquet');
    const phen = join(phenome.dir, 'phenome.parquet');
    const xcols = ['carrier', 'dose', 'cont', 'partial'];
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const px = (
      await conn.runAndReadAll(
        `SELECT ${xcols.join(', ')} FROM read_parquet('${join(dir, 'predictors.parquet')}') ORDER BY CAST(substr(person_id, 2) AS INTEGER)`,
      )
    ).getRows();
    const codes = [...new Set([...scored, ...refitted].map((s) => s.phecode))];
    for (const code of codes) {
      const st = (
        await conn.runAndReadAll(
          `SELECT a.sample_idx, CASE WHEN substr(ph.excluded, c.person_idx + 1, 1) = '1' THEN -1
                  WHEN substr(ph.cases, c.person_idx + 1, 1) = '1' THEN 1 ELSE 0 END AS y
           FROM read_parquet('${join(dir, 'analysis.parquet')}') a
           JOIN read_parquet('${cohort}') c USING (person_id)
           LEFT JOIN (SELECT * FROM read_parquet('${phen}') WHERE phecode = $1) ph ON true
           ORDER BY a.sample_idx`,
          [code],
        )
      ).getRows();
      const lines = [`y,c1,sex,variant,${xcols.join(',')}`];
      for (const [idx, y] of st) {
        if (Number(y) < 0) continue;
        const i = Number(idx);
        const g = gtOf[i] === 255 ? 'NA' : gtOf[i];
        lines.push([y, c1Of[i], sexOf[i], g, ...px[i].map((v) => (v === null ? 'NA' : v))].join(','));
      }
      await writeFile(join(dir, `many-${code}.csv`), `${lines.join('\n')}\n`);
    }
    const script = `ctl <- glm.control(epsilon = 1e-14, maxit = 100)
for (code in c(${codes.map((c) => `'${c}'`).join(', ')})) {
  d <- read.csv(file.path('${dir}', paste0('many-', code, '.csv')))
  for (v in c('variant', ${xcols.map((c) => `'${c}'`).join(', ')})) {
    e <- d[!is.na(d[[v]]), ]
    f0 <- glm(y ~ c1 + sex, family = binomial, data = e, control = ctl)
    for (it in 1:2) f0 <- glm(y ~ c1 + sex, family = binomial, data = e, control = ctl, start = coef(f0))
    f1 <- glm(as.formula(paste('y ~', v, '+ c1 + sex')), family = binomial, data = e, control = ctl)
    s <- coef(summary(f1))[v, ]
    cat(code, v, sprintf('%.15g', anova(f0, f1, test = 'Rao')$Rao[2]), sprintf('%.15g', s[1]), sprintf('%.15g', s[2]), '\\n')
  }
}`;
    const out = execFileSync('Rscript', ['--vanilla', '-e', script], { encoding: 'utf8' });
    conn.closeSync();
    db.closeSync();
    const ref = new Map<string, [number, number, number]>();
    for (const line of out.trim().split('\n')) {
      const [code, v, rao, b, se] = line.trim().split(/\s+/);
      ref.set(`${code}:${v === 'variant' ? '1:1000:C:T' : v}`, [Number(rao), Number(b), Number(se)]);
    }
    let checkedScore = 0;
    for (const s of scored) {
      const r = ref.get(`${s.phecode}:${s.predictor}`);
      if (!r) continue;
      const chi2 = (s.beta / s.se) ** 2;
      expect(
        Math.abs(chi2 - r[0]) / Math.max(r[0], 1e-12),
        `${s.phecode} ${s.predictor} χ² ${chi2} vs R ${r[0]}`,
      ).toBeLessThan(1e-6);
      checkedScore++;
    }
    let checkedRefit = 0;
    for (const s of refitted) {
      const r = ref.get(`${s.phecode}:${s.predictor}`);
      if (!r) continue;
      expect(Math.abs(s.beta - r[1]) / Math.abs(r[1]), `${s.phecode} ${s.predictor} β`).toBeLessThan(1e-4);
      expect(Math.abs(s.se - r[2]) / r[2], `${s.phecode} ${s.predictor} SE`).toBeLessThan(1e-4);
      checkedRefit++;
    }
    expect(checkedScore).toBeGreaterThanOrEqual(5);
    expect(checkedRefit).toBeGreaterThanOrEqual(3);

    // idempotent: a second call reuses every finished predictor
    const again = await runActivity(acts.runPhewasMany, {
      run: runIn('many'),
      analysis,
      phenome,
      phewas,
      predictors,
    });
    expect(again).toEqual(many);
  });

  it('gives the same rows when the score path runs on pooled worker threads', async () => {
    const config = loadConfig({ BIOBANK_DATA_DIR: join(dir, 'data'), BIOBANK_DUCKDB_THREADS: '2' });
    const acts = createPhewasActivities(config);
    const phewas = phewasSpecSchema.parse({ phecodeVersion: '1.2', maps: MAPS, minCases: 20, spa: 'never' });
    const phenome = await runActivity(acts.buildRunPhenome, { run, analysis, phewas });
    const predictors = await predictorFixture();
    const inline = await runActivity(acts.runPhewasMany, {
      run: runIn('m-inline'),
      analysis,
      phenome,
      phewas,
      predictors,
    });
    // Every PheWAS on pooled threads (minimum work 0).
    const threadedActs = createPhewasActivities({
      ...config,
      worker: { ...config.worker, phewasThreadMinWork: 0 },
    });
    {
      const threaded = await runActivity(threadedActs.runPhewasMany, {
        run: runIn('m-threaded'),
        analysis,
        phenome,
        phewas,
        predictors,
      });
      for (const [k] of predictors.entries())
        expect(await readRows(threaded[k].path)).toEqual(await readRows(inline[k].path));
    }
  });
});
