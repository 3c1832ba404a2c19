/**
 * Stratified studies (issue 15) through the real workflows on a real Temporal server.
 *
 * - LDL by ancestry: each ancestry group runs as its own child study (runs recorded, GWAS rows,
 *   λGC, a Cox PheWAS of its lead loci: `phewas.model: "cox"` works in strata too); the strata's
 *   GWAS are meta-analysed by a child `metaAnalysis`, whose fixed-effect β and SE equal an
 *   inverse-variance combination computed here from the strata's own `gwas_results` rows
 *   (1e-8); the report has the strata table; a second start is the same run.
 * - A binary trait by sex with the default 200-case minimum: every stratum below it is skipped
 *   and says so, no GWAS is run for it and no meta-analysis follows.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
import { runIdOf } from '../../engine/study.js';
import { type StudySpec, studySpecSchema } from '../../schemas/study.js';
import type { StudyResult } from '../../schemas/study-io.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { ingestSyntheticRelease, ldlSpec, lmnaSpec, type StudyFixture } from '../helpers/study-fixture.js';

let engine: TestEngine;
let worker: { stop(): Promise<void> };
let release: StudyFixture;
let byAncestry: StudyResult;
let bySex: StudyResult;
let ancestrySpec: StudySpec;
let burdenBySex: StudyResult;

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

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  release = await ingestSyntheticRelease(engine.client, engine.taskQueue, engine.dataDir, {
    releaseId: 'strata-release',
    persons: 1200,
  });
  const base = ldlSpec(release.releaseId);
  ancestrySpec = ldlSpec(release.releaseId, {
    studyId: 'test-ldl-strata',
    strata: { by: 'ancestry', minCases: 10 },
    phewas: { ...base.phewas, model: 'cox', minCases: 10, leadLoci: { p: 1e-6, max: 2 } },
  });
  byAncestry = await runStudy(ancestrySpec);
  bySex = await runStudy(
    ldlSpec(release.releaseId, {
      studyId: 'test-t2d-strata',
      phenotype: { type: 'phecode', phecode: '250.2', phecodeVersion: '1.2' },
      strata: { by: 'sex' },
    }),
  );
  burdenBySex = await runStudy(
    studySpecSchema.parse({
      ...lmnaSpec(release.releaseId),
      studyId: 'test-lmna-strata',
      strata: { by: 'sex', minCases: 15 },
    }),
  );
}, 1_200_000);

/** Inverse-variance β, SE and Cochran's Q of (β, SE) pairs, computed here. */
function ivw(parts: { beta: number; se: number }[]) {
  const w = parts.map((p) => 1 / (p.se * p.se));
  const W = w.reduce((a, b) => a + b, 0);
  const beta = parts.reduce((a, p, i) => a + w[i] * p.beta, 0) / W;
  const q = parts.reduce((a, p, i) => a + w[i] * (p.beta - beta) ** 2, 0);
  return { beta, se: Math.sqrt(1 / W), q };
}

const near = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
});

describe('stratified study by ancestry', () => {
  it('runs every ancestry group as its own recorded study', async () => {
    const strata = byAncestry.strata!;
    expect(strata.map((s) => s.name).sort()).toEqual(['AFR', 'EAS', 'EUR']);
    for (const s of strata) {
      expect(s.skipped).toBeNull();
      const runs = await query<{ status: string; study_id: string }>(
        'SELECT status, study_id FROM runs WHERE run_id = $1',
        [s.runId],
      );
      expect(runs[0]).toEqual({ status: 'completed', study_id: `test-ldl-strata.${s.name}` });
      const n = await query<{ n: bigint }>('SELECT count(*) AS n FROM gwas_results WHERE run_id = $1', [
        s.runId,
      ]);
      expect(Number(n[0].n)).toBeGreaterThan(500);
      expect(s.lambdaGc).not.toBeNull();
    }
    // the strata partition the cohort by ancestry
    const counts = await query<{ ancestry: string; n: bigint }>(
      `SELECT ancestry, count(*) AS n FROM read_parquet('${engine.dataDir}/releases/${release.releaseId}/${release.fingerprint.slice(0, 12)}/persons.parquet') GROUP BY 1`,
    );
    expect(strata.reduce((a, s) => a + s.nSamples, 0)).toBeLessThanOrEqual(
      counts.reduce((a, c) => a + Number(c.n), 0),
    );
    // Cox PheWAS of each stratum's lead loci
    const withLoci = strata.filter((s) => s.nLeadLoci > 0);
    expect(withLoci.length).toBeGreaterThan(0);
    const cox = await query<{ n: bigint }>('SELECT count(*) AS n FROM phewas_cox_results WHERE run_id = $1', [
      withLoci[0].runId,
    ]);
    expect(Number(cox[0].n)).toBeGreaterThan(0);
  });

  it('meta-analyses the strata: fixed-effect β and SE equal inverse-variance weighting of the strata rows', async () => {
    expect(byAncestry.meta).toBeDefined();
    const metaRun = byAncestry.meta!.runId;
    const runIds = byAncestry.strata!.map((s) => s.runId);
    const rows = await query<{ chrom: string; pos: bigint; beta: number; se: number; k: number }>(
      `SELECT chrom, pos, beta, se, k FROM meta_results WHERE run_id = $1 AND status = 'ok' AND k = 3
       ORDER BY p LIMIT 50`,
      [metaRun],
    );
    expect(rows.length).toBeGreaterThan(10);
    for (const r of rows) {
      const parts = await query<{ beta: number; se: number }>(
        `SELECT beta, se FROM gwas_results WHERE run_id IN (${runIds.map((id) => `'${id}'`).join(', ')})
         AND chrom = $1 AND pos = $2 AND status = 'ok'`,
        [r.chrom, r.pos],
      );
      expect(parts.length).toBe(3);
      const w = parts.map((p) => 1 / (p.se * p.se));
      const W = w.reduce((a, b) => a + b, 0);
      const beta = parts.reduce((a, p, i) => a + w[i] * p.beta, 0) / W;
      expect(Math.abs(r.beta - beta)).toBeLessThan(
        1e-8 * Math.max(1, Math.abs(beta)) + 1e-6 * Math.sqrt(1 / W),
      );
      expect(Math.abs(r.se - Math.sqrt(1 / W)) / Math.sqrt(1 / W)).toBeLessThan(1e-6);
    }
  });

  it('runs the PheWAS of the meta lead loci in every stratum and meta-analyses those rows', async () => {
    const ph = byAncestry.meta?.phewas;
    expect(ph?.model).toBe('cox');
    const leads = await query<{ variant_id: string }>('SELECT variant_id FROM lead_loci WHERE run_id = $1', [
      byAncestry.meta!.runId,
    ]);
    expect(leads.length).toBeGreaterThan(0);
    const rounds = byAncestry.strata!.map((s) => s.phewasRunId as string);
    expect(rounds.every((r) => typeof r === 'string' && r !== '')).toBe(true);
    for (const r of rounds) {
      // no GWAS in the PheWAS round; Cox rows for the meta lead loci only (alleles in either order)
      const g = await query<{ n: bigint }>('SELECT count(*) AS n FROM gwas_results WHERE run_id = $1', [r]);
      expect(Number(g[0].n)).toBe(0);
      const preds = await query<{ predictor: string }>(
        'SELECT DISTINCT predictor FROM phewas_cox_results WHERE run_id = $1',
        [r],
      );
      const key = (v: string) => v.split(':').slice(0, 2).join(':');
      expect(new Set(preds.map((x) => key(x.predictor)))).toEqual(
        new Set(leads.map((l) => key(l.variant_id))),
      );
    }
    const rows = await query<{
      predictor: string;
      phecode: string;
      beta: number;
      se: number;
      q: number;
      k: number;
    }>(
      `SELECT predictor, phecode, beta, se, q, k FROM meta_phewas_results WHERE run_id = $1 AND k >= 2 ORDER BY p LIMIT 40`,
      [byAncestry.runId],
    );
    expect(rows.length).toBeGreaterThan(5);
    expect(ph?.nAssociations).toBeGreaterThanOrEqual(rows.length);
    const list = rounds.map((r) => `'${r}'`).join(', ');
    for (const row of rows) {
      const parts = await query<{ beta: number; se: number }>(
        `SELECT beta, se FROM phewas_cox_results WHERE run_id IN (${list}) AND predictor = $1 AND phecode = $2
         AND beta IS NOT NULL AND se > 0`,
        [row.predictor, row.phecode],
      );
      expect(parts.length).toBe(row.k);
      const m = ivw(parts);
      expect(near(row.beta, m.beta, 1e-9)).toBe(true);
      expect(near(row.se, m.se, 1e-9)).toBe(true);
      expect(near(row.q, m.q, 1e-8)).toBe(true);
    }
    const forest = await query<{ n: bigint }>(
      'SELECT count(*) AS n FROM meta_phewas_forest WHERE run_id = $1',
      [byAncestry.runId],
    );
    expect(Number(forest[0].n)).toBe(ph!.nAssociations * 3);
  });

  it('reports the strata and is a no-op when started again', async () => {
    const html = readFileSync(byAncestry.reportPath!, 'utf8');
    expect(html).toContain('id="strata"');
    for (const s of byAncestry.strata!) expect(html).toContain(`<td>${s.name}</td>`);
    const again = await runStudy(ancestrySpec);
    expect(again.runId).toBe(byAncestry.runId);
  });
});

describe('stratified study of a binary trait', () => {
  it('skips strata with fewer than 200 cases, runs no GWAS there and no meta-analysis', async () => {
    const strata = bySex.strata!;
    expect(strata.map((s) => s.name)).toEqual(['F', 'M']);
    for (const s of strata) {
      expect(s.nCases).toBeLessThan(200);
      expect(s.skipped).toMatch(/fewer than 200/);
      const n = await query<{ n: bigint }>('SELECT count(*) AS n FROM gwas_results WHERE run_id = $1', [
        s.runId,
      ]);
      expect(Number(n[0].n)).toBe(0);
    }
    expect(bySex.meta).toBeUndefined();
    const html = readFileSync(bySex.reportPath!, 'utf8');
    expect(html).toContain('skipped: fewer than 200');
    expect(html).not.toMatch(/\b\d+ cases, fewer than/);
  });

  it('refuses strata given both ways', () => {
    const r = studySpecSchema.safeParse({
      ...ldlSpec(release.releaseId),
      strata: {
        by: 'sex',
        cohorts: [
          { name: 'a', cohort: {} },
          { name: 'b', cohort: {} },
        ],
      },
    });
    expect(r.success).toBe(false);
  });
});

describe('stratified genotype-first study', () => {
  it("meta-analyses the strata's burden PheWAS rows", async () => {
    const strata = burdenBySex.strata!;
    expect(strata.map((s) => s.name)).toEqual(['F', 'M']);
    const ph = burdenBySex.meta?.phewas;
    expect(ph?.model).toBe('logistic');
    const rows = await query<{
      predictor: string;
      phecode: string;
      beta: number;
      se: number;
      k: number;
      direction: string;
    }>(
      `SELECT predictor, phecode, beta, se, k, direction FROM meta_phewas_results WHERE run_id = $1 AND k = 2`,
      [burdenBySex.runId],
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows.slice(0, 40)) {
      const parts = await query<{ beta: number; se: number; run_id: string }>(
        `SELECT beta, se, run_id FROM phewas_results WHERE run_id IN ($1, $2) AND predictor = $3 AND phecode = $4
         AND beta IS NOT NULL AND se > 0 ORDER BY run_id = $1 DESC`,
        [strata[0].runId, strata[1].runId, row.predictor, row.phecode],
      );
      expect(parts.length).toBe(2);
      const m = ivw(parts);
      expect(near(row.beta, m.beta, 1e-9)).toBe(true);
      expect(near(row.se, m.se, 1e-9)).toBe(true);
      expect(row.direction).toBe(parts.map((p) => (p.beta > 0 ? '+' : p.beta < 0 ? '-' : '0')).join(''));
    }
  });
});
