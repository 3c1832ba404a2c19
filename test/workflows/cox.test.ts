/**
 * `phewas.model: 'cox'` through the real workflows on a real Temporal server (issue 16).
 *
 * - Genotype-first: the LMNA pLoF burden PheWAS with Cox. The synthetic release plants an
 *   age-dependent effect (carriers get coronary atherosclerosis, phecodeX CV_404.2, earlier:
 *   HR 4 on the age scale). Its row is checked against R `coxph` on data rebuilt in the test
 *   from the release's own Parquet tables (persons, conditions, measurements) and the run's
 *   burden scores and covariates, with the rules written again here: age time scale, entry at
 *   the first dated record, exit at the last, event at the 2nd distinct code date, one-code
 *   persons excluded, prevalent (first code on or before entry) excluded. β and SE to 1e-6.
 *   The planted HR lies in the 95 % CI; Kaplan–Meier rows are stored; no logistic rows.
 * - Phenotype-first: the LDL GWAS's lead loci get Cox rows over the phenome; the report has
 *   the Cox section; a second start of the same spec is the same run.
 * - A spec asking for LOCO offsets in a Cox PheWAS is refused.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute, withEngineDb } from '../../engine/duckdb.js';
import { runDir } from '../../engine/run-paths.js';
import { runIdOf } from '../../engine/study.js';
import { type StudySpec, studySpecSchema } from '../../schemas/study.js';
import type { StudyResult } from '../../schemas/study-io.js';
import { PLANTED_TIME_TO_EVENT } from '../../synth/planted.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { ingestSyntheticRelease, ldlSpec, lmnaSpec, type StudyFixture } from '../helpers/study-fixture.js';

let engine: TestEngine;
let worker: { stop(): Promise<void> };
let release: StudyFixture;
let gf: StudyResult;
let pf: StudyResult;
const tmp = mkdtempSync(join(tmpdir(), 'biobank-cox-wf-'));

async function runStudy(spec: StudySpec): Promise<StudyResult> {
  const type = spec.kind === 'phenotype-first' ? 'phenotypeFirstStudy' : 'genotypeFirstStudy';
  return (await engine.client.workflow.execute(type, {
    workflowId: await runIdOf(engine.config, spec),
    taskQueue: engine.taskQueue,
    args: [spec],
  })) as StudyResult;
}

async function query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  return withEngineDb(
    engine.config,
    async (conn) => (await conn.runAndReadAll(sql, params as never)).getRowObjectsJS() as T[],
    { readOnly: true },
  );
}

const releaseDir = () =>
  join(engine.dataDir, 'releases', release.releaseId, release.fingerprint.slice(0, 12));
const q = (s: string) => `'${s.replaceAll("'", "''")}'`;

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  release = await ingestSyntheticRelease(engine.client, engine.taskQueue, engine.dataDir, {
    releaseId: 'cox-release',
    persons: 2500,
    variants: 2000,
    seed: 5,
  });
  const lmna = lmnaSpec(release.releaseId);
  gf = await runStudy(
    studySpecSchema.parse({
      ...lmna,
      studyId: 'test-lmna-cox',
      traits: [],
      phewas: { ...lmna.phewas, model: 'cox' },
    }),
  );
  const ldl = ldlSpec(release.releaseId);
  pf = await runStudy(
    ldlSpec(release.releaseId, {
      studyId: 'test-ldl-cox',
      phewas: { ...ldl.phewas, model: 'cox', leadLoci: { p: 1e-6, max: 2 } },
    }),
  );
}, 600_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

interface CoxRow {
  predictor: string;
  phecode: string;
  beta: number;
  se: number;
  hazard_ratio: number;
  ci_low: number;
  ci_high: number;
  p: number;
  n_events: number;
  n_prevalent: number;
  n_at_risk: number;
  test: string;
  status: string;
  time_scale: string;
}

describe('Cox PheWAS in a genotype-first study', () => {
  it('finds the planted earlier onset: the row equals R coxph on independently rebuilt data', async () => {
    expect(gf.phewas.length).toBeGreaterThan(0);
    expect(gf.phewas.every((p) => p.model === 'cox')).toBe(true);
    const rows = await query<CoxRow>(`SELECT * FROM phewas_cox_results WHERE run_id = $1 AND phecode = $2`, [
      gf.runId,
      PLANTED_TIME_TO_EVENT.phecodeX,
    ]);
    expect(rows.length).toBe(gf.phewas.length);
    const row = rows[0];
    expect(row.status).toBe('ok');
    expect(row.time_scale).toBe('age');
    expect(row.p).toBeLessThan(1e-4);
    expect(row.ci_low).toBeLessThan(PLANTED_TIME_TO_EVENT.hr);
    expect(row.ci_high).toBeGreaterThan(PLANTED_TIME_TO_EVENT.hr);
    expect(row.n_prevalent).toBeGreaterThan(0);
    expect(
      (
        await query<{ n: bigint }>('SELECT count(*) AS n FROM phewas_results WHERE run_id = $1', [gf.runId])
      )[0].n,
    ).toBe(0n);

    // The data, rebuilt from the release tables and the run's inputs.
    const csv = join(tmp, 'cox.csv');
    const dir = runDir(engine.dataDir, gf.runId);
    const scores = gf.burden!.scoresPath;
    const column = row.predictor;
    await withCompute(engine.config, async (conn) => {
      const rd = releaseDir();
      await conn.run(`COPY (
        WITH rec AS (
          SELECT person_id, min(d) AS first_d, max(d) AS last_d FROM (
            SELECT person_id, CAST(date AS DATE) AS d FROM read_parquet(${q(join(rd, 'conditions.parquet'))})
            UNION ALL
            SELECT person_id, CAST(date AS DATE) AS d FROM read_parquet(${q(join(rd, 'measurements.parquet'))}))
          GROUP BY person_id),
        codes AS (
          SELECT person_id, list_sort(list(DISTINCT CAST(date AS DATE))) AS ds
          FROM read_parquet(${q(join(rd, 'conditions.parquet'))})
          WHERE (vocabulary = 'ICD10CM' AND code = 'I25.10') OR (vocabulary = 'ICD9CM' AND code IN ('414.00', '414.01'))
          GROUP BY person_id)
        SELECT a.*, s."${column}" AS x,
               date_diff('day', CAST(p.birth_date AS DATE), r.first_d) / 365.25 AS entry,
               date_diff('day', CAST(p.birth_date AS DATE), r.last_d) / 365.25 AS exit,
               CASE WHEN len(c.ds) >= 1 THEN date_diff('day', CAST(p.birth_date AS DATE), c.ds[1]) / 365.25 END AS first_t,
               CASE WHEN len(c.ds) >= 2 THEN date_diff('day', CAST(p.birth_date AS DATE), c.ds[2]) / 365.25 END AS event_t,
               coalesce(len(c.ds), 0) AS n_dates
        FROM read_parquet(${q(join(dir, 'analysis.parquet'))}) a
        JOIN read_parquet(${q(join(rd, 'persons.parquet'))}) p USING (person_id)
        JOIN read_parquet(${q(scores)}) s USING (person_id)
        JOIN rec r USING (person_id)
        LEFT JOIN codes c USING (person_id)
      ) TO ${q(csv)} (HEADER, DELIMITER ',')`);
    });
    const script = `
      suppressMessages(library(survival))
      d <- read.csv('${csv}')
      d <- d[d$n_dates != 1, ]                                   # one code date: excluded
      d <- d[is.na(d$first_t) | d$first_t > d$entry, ]           # prevalent: excluded
      d$event <- as.integer(!is.na(d$event_t) & d$event_t <= d$exit)
      d$stop <- ifelse(d$event == 1, d$event_t, d$exit)
      d <- d[d$stop > d$entry, ]
      covs <- grep('^cov_', names(d), value = TRUE)
      f <- coxph(as.formula(paste('Surv(entry, stop, event) ~ x +', paste(covs, collapse = '+'))),
                 data = d, ties = 'efron', control = coxph.control(eps = 1e-12, iter.max = 50))
      s <- summary(f)$coefficients['x', ]
      cat(sprintf('%.15g %.15g %d %d\\n', s[1], s[3], sum(d$event), nrow(d)))`;
    const [beta, se, events, n] = execFileSync('Rscript', ['--vanilla', '-e', script], { encoding: 'utf8' })
      .trim()
      .split(/\s+/)
      .map(Number);
    expect(row.n_events).toBe(events);
    expect(row.n_at_risk).toBe(n);
    expect(Math.abs(row.beta - beta) / Math.abs(beta)).toBeLessThan(1e-6);
    expect(Math.abs(row.se - se) / se).toBeLessThan(1e-6);
  });

  it('stores Kaplan–Meier curves of the strongest associations', async () => {
    const phecodes = await query<{ phecode: string }>(
      'SELECT DISTINCT phecode FROM phewas_cox_km WHERE run_id = $1 ORDER BY 1',
      [gf.runId],
    );
    const best = await query<{ phecode: string }>(
      `SELECT phecode FROM phewas_cox_results WHERE run_id = $1 AND status = 'ok' ORDER BY p LIMIT 1`,
      [gf.runId],
    );
    expect(phecodes.length).toBeGreaterThan(0);
    expect(phecodes.length).toBeLessThanOrEqual(4);
    expect(phecodes.map((r) => r.phecode)).toContain(best[0].phecode);
    const km = await query<{ group: string; n: bigint; s: number }>(
      `SELECT "group", count(*) AS n, min(survival) AS s FROM phewas_cox_km WHERE run_id = $1 AND phecode = $2 GROUP BY 1 ORDER BY 1`,
      [gf.runId, best[0].phecode],
    );
    expect(km.map((r) => r.group)).toEqual(['carrier', 'non_carrier']);
    // the carriers' risk is raised: their curve ends lower
    expect(km[0].s).toBeLessThan(km[1].s);
  });
});

describe('Cox PheWAS in a phenotype-first study', () => {
  it('tests each lead locus across the phenome, reports it, and a re-run is the same run', async () => {
    expect(pf.gwas!.leadLoci.length).toBeGreaterThan(0);
    expect(pf.phewas.length).toBe(pf.gwas!.leadLoci.length);
    const rows = await query<{ n: bigint; ok: bigint }>(
      `SELECT count(*) AS n, count(*) FILTER (WHERE status = 'ok') AS ok FROM phewas_cox_results WHERE run_id = $1`,
      [pf.runId],
    );
    expect(Number(rows[0].ok)).toBeGreaterThan(0);
    const html = readFileSync(pf.reportPath!, 'utf8');
    expect(html).toContain('Time-to-event PheWAS (Cox)');
    const ldl = ldlSpec(release.releaseId);
    const again = await runStudy(
      ldlSpec(release.releaseId, {
        studyId: 'test-ldl-cox',
        phewas: { ...ldl.phewas, model: 'cox', leadLoci: { p: 1e-6, max: 2 } },
      }),
    );
    expect(again.runId).toBe(pf.runId);
  });

  it('refuses LOCO offsets in a Cox PheWAS', () => {
    const ldl = ldlSpec(release.releaseId);
    const r = studySpecSchema.safeParse({
      ...ldl,
      phewas: { ...ldl.phewas, model: 'cox', relatedness: 'loco' },
    });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('Cox');
  });
});
