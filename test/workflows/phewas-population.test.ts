/**
 * The PheWAS population of a phenotype-first study (issue 14): by default the lead loci's
 * PheWAS is fitted on the cohort — every genotyped person with every covariate, whether or not
 * the GWAS trait (LDL, missing for ≈ 3 % of the synthetic persons) is present — and with
 * `phewas.population: 'gwas-sample'` on the GWAS sample only. Checked through the real workflow:
 * (1) a phecode's n (cases + controls) equals the count over the genotyped persons, computed
 *     here from the release's own tables, and is larger than the GWAS sample's;
 * (2) β and SE of one row equal R `glm(binomial)` on the cohort population (excluded persons and
 *     missing calls dropped, as the engine does), to 1e-4 relative.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBBlobValue, DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute, withEngineDb } from '../../engine/duckdb.js';
import { runDir } from '../../engine/run-paths.js';
import { runIdOf } from '../../engine/study.js';
import type { PhewasResultRow } from '../../schemas/results.js';
import type { StudySpec } from '../../schemas/study.js';
import type { AnalysisTable, StudyResult } from '../../schemas/study-io.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { ingestSyntheticRelease, ldlSpec, type StudyFixture } from '../helpers/study-fixture.js';

let engine: TestEngine;
let worker: { stop(): Promise<void> };
let release: StudyFixture;
let cohortRun: StudyResult;
let sampleRun: StudyResult;
const tmp = mkdtempSync(join(tmpdir(), 'biobank-phewas-pop-'));

async function runStudy(spec: StudySpec): Promise<StudyResult> {
  return (await engine.client.workflow.execute('phenotypeFirstStudy', {
    workflowId: await runIdOf(engine.config, spec),
    taskQueue: engine.taskQueue,
    args: [spec],
  })) as StudyResult;
}

async function phewasRows(runId: string, predictor: string): Promise<PhewasResultRow[]> {
  return withEngineDb(
    engine.config,
    async (conn) =>
      (
        await conn.runAndReadAll(
          'SELECT * FROM phewas_results WHERE run_id = $1 AND predictor = $2 ORDER BY phecode',
          [runId, predictor],
        )
      ).getRowObjectsJS() as unknown as PhewasResultRow[],
    { readOnly: true },
  );
}

const releaseDir = () =>
  join(engine.dataDir, 'releases', release.releaseId, release.fingerprint.slice(0, 12));
const q = (s: string) => `'${s.replaceAll("'", "''")}'`;

async function strings(conn: DuckDBConnection, sql: string, params: (string | number)[] = []) {
  return (await conn.runAndReadAll(sql, params))
    .getRows()
    .map((r) => r.map((v) => (v === null ? null : String(v))));
}

/** The lead variant's ALT dosage per sample_idx (DS when stored, else the 2-bit hard call; NaN missing). */
async function variantDosage(conn: DuckDBConnection, variantIdx: number): Promise<Float64Array> {
  const [[shard]] = await strings(
    conn,
    `SELECT shard FROM read_parquet(${q(join(releaseDir(), 'variants.parquet'))}) WHERE variant_idx = $1`,
    [variantIdx],
  );
  const r = await conn.runAndReadAll(
    `SELECT gt, ds FROM read_parquet(${q(join(releaseDir(), 'genotypes', `${shard}.parquet`))}) WHERE variant_idx = $1`,
    [variantIdx],
  );
  const [gtv, dsv] = r.getRows()[0] as [DuckDBBlobValue, DuckDBBlobValue | null];
  const gt = gtv.bytes;
  const nSamples = Number(
    (
      await strings(conn, `SELECT count(*) FROM read_parquet(${q(join(releaseDir(), 'samples.parquet'))})`)
    )[0][0],
  );
  const out = new Float64Array(nSamples);
  const ds = dsv ? new Float32Array(Uint8Array.from(dsv.bytes).buffer) : null;
  for (let i = 0; i < nSamples; i++) {
    const code = (gt[i >> 2] >> ((i & 3) * 2)) & 3; // first sample in the low bits
    out[i] = ds ? ds[i] : code === 3 ? Number.NaN : code;
  }
  return out;
}

/** Per person: 'case' | 'control' | 'excluded' for `phecode`, from a phenome folder holding every one of `persons`. */
async function phecodeStatus(
  conn: DuckDBConnection,
  phecode: string,
  persons: string[],
): Promise<Map<string, 'case' | 'control' | 'excluded'>> {
  const base = join(releaseDir(), 'derived', 'phenome');
  const dirs = await strings(
    conn,
    `SELECT DISTINCT regexp_replace(file, '/cohort\\.parquet$', '') FROM glob(${q(join(base, '*', 'cohort.parquet'))})`,
  );
  for (const [dir] of dirs) {
    const cohort = await strings(
      conn,
      `SELECT person_id, person_idx FROM read_parquet(${q(join(dir as string, 'cohort.parquet'))})`,
    );
    const idx = new Map(cohort.map(([p, i]) => [p as string, Number(i)]));
    if (!persons.every((p) => idx.has(p))) continue;
    const ph = await strings(
      conn,
      `SELECT cases, excluded FROM read_parquet(${q(join(dir as string, 'phenome.parquet'))}) WHERE phecode = $1`,
      [phecode],
    );
    const [cases, excluded] = ph[0] ?? [null, null];
    const bit = (s: string | null, i: number) => s !== null && s[i] === '1';
    return new Map(
      persons.map((p) => {
        const i = idx.get(p) as number;
        return [p, bit(excluded, i) ? 'excluded' : bit(cases, i) ? 'case' : 'control'] as const;
      }),
    );
  }
  throw new Error('no phenome folder covers the cohort');
}

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  release = await ingestSyntheticRelease(engine.client, engine.taskQueue, engine.dataDir, {
    releaseId: 'phewas-population-release',
  });
  // Wald rows are compared with R glm below: SPA off (its rows are checked in spa-phewas.test.ts).
  const plain = ldlSpec(release.releaseId);
  const base = ldlSpec(release.releaseId, { phewas: { ...plain.phewas, spa: 'never' } });
  cohortRun = await runStudy(base);
  sampleRun = await runStudy(
    ldlSpec(release.releaseId, {
      studyId: 'test-ldl-sample',
      phewas: { ...base.phewas, population: 'gwas-sample' },
    }),
  );
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

describe('PheWAS population of a phenotype-first study', () => {
  it('defaults to the cohort: n per phecode counts everyone genotyped, more than the GWAS sample', async () => {
    expect(cohortRun.gwas!.leadLoci.length).toBeGreaterThan(0);
    const lead = cohortRun.gwas!.leadLoci[0];
    const predictor = cohortRun.phewas[0].predictorId;
    expect(cohortRun.phewas[0].population?.kind).toBe('cohort');
    expect(sampleRun.phewas[0].population?.kind).toBe('gwas-sample');
    expect(sampleRun.phewas[0].predictorId).toBe(predictor);

    const cohortRows = await phewasRows(cohortRun.runId, predictor);
    const sampleRows = await phewasRows(sampleRun.runId, predictor);
    const row = cohortRows
      .filter((r) => r.status === 'ok')
      .sort((a, b) => b.n_cases - a.n_cases || a.phecode.localeCompare(b.phecode))[0];
    expect(row).toBeDefined();
    const other = sampleRows.find((r) => r.phecode === row.phecode) as PhewasResultRow;

    // Independent counts from the release: the default cohort is every genotyped person (every
    // covariate is present in the synthetic release), the GWAS sample those with an LDL value.
    const { cohortN, sampleN } = await withCompute(engine.config, async (conn) => {
      const samples = await strings(
        conn,
        `SELECT sample_idx, person_id FROM read_parquet(${q(join(releaseDir(), 'samples.parquet'))}) ORDER BY sample_idx`,
      );
      const ldl = new Set(
        (
          await strings(
            conn,
            `SELECT CAST(person_id AS VARCHAR) FROM read_parquet(${q(join(releaseDir(), 'tables', 'pheno.parquet'))}) WHERE LDL IS NOT NULL`,
          )
        ).map(([p]) => p as string),
      );
      const persons = samples.map(([, p]) => p as string);
      const status = await phecodeStatus(conn, row.phecode, persons);
      const x = await variantDosage(conn, lead.variantIdx);
      const counted = (keep: (p: string) => boolean) =>
        samples.filter(
          ([i, p]) =>
            keep(p as string) && status.get(p as string) !== 'excluded' && !Number.isNaN(x[Number(i)]),
        ).length;
      return { cohortN: counted(() => true), sampleN: counted((p) => ldl.has(p)) };
    });
    console.log(`phecode ${row.phecode}: n cohort ${cohortN}, n GWAS sample ${sampleN}`);
    expect(row.n_cases + row.n_controls).toBe(cohortN);
    expect(other.n_cases + other.n_controls).toBe(sampleN);
    expect(cohortN).toBeGreaterThan(sampleN);

    // The record the report reads, and the report's line.
    const record = JSON.parse(
      readFileSync(
        join(runDir(engine.dataDir, cohortRun.runId), 'analysis-phewas-cohort.parquet.json'),
        'utf8',
      ),
    ) as AnalysisTable;
    expect(record.population).toBe('cohort');
    expect(record.nSamples).toBeGreaterThan(cohortRun.analysis.nSamples);
    const html = readFileSync(cohortRun.reportPath!, 'utf8');
    expect(html).toContain('PheWAS population: the cohort');
    expect(readFileSync(sampleRun.reportPath!, 'utf8')).toContain('PheWAS population: the GWAS sample');
  });

  it('β and SE equal R glm(binomial) on the cohort population', async () => {
    const lead = cohortRun.gwas!.leadLoci[0];
    const predictor = cohortRun.phewas[0].predictorId;
    const rows = await phewasRows(cohortRun.runId, predictor);
    const row = rows
      .filter((r) => r.status === 'ok' && r.test === 'wald')
      .sort((a, b) => b.n_cases - a.n_cases || a.phecode.localeCompare(b.phecode))[0];
    expect(row).toBeDefined();
    const table = join(runDir(engine.dataDir, cohortRun.runId), 'analysis-phewas-cohort.parquet');
    const csv = join(tmp, 'population.csv');
    const { covs, sexRestricted } = await withCompute(engine.config, async (conn) => {
      const cols = (await strings(conn, `DESCRIBE SELECT * FROM read_parquet(${q(table)})`)).map(
        ([c]) => c as string,
      );
      const covs = cols.filter((c) => c.startsWith('cov_'));
      const data = await strings(
        conn,
        `SELECT sample_idx, person_id, ${covs.map((c) => `"${c}"::DOUBLE`).join(', ')} FROM read_parquet(${q(table)}) ORDER BY sample_idx`,
      );
      const status = await phecodeStatus(
        conn,
        row.phecode,
        data.map((r) => r[1] as string),
      );
      const x = await variantDosage(conn, lead.variantIdx);
      const lines = [['case', 'g', ...covs.map((_, j) => `c${j}`)].join(',')];
      for (const r of data) {
        const s = status.get(r[1] as string);
        const g = x[Number(r[0])];
        if (s === 'excluded' || Number.isNaN(g)) continue;
        lines.push([s === 'case' ? 1 : 0, g, ...r.slice(2)].join(','));
      }
      writeFileSync(csv, `${lines.join('\n')}\n`);
      const [[sex]] = await strings(
        conn,
        `SELECT sex FROM read_parquet(${q(join(runDir(engine.dataDir, cohortRun.runId), 'phecodes-1.2.parquet'))}) WHERE phecode = $1`,
        [row.phecode],
      );
      return { covs, sexRestricted: sex !== null };
    });
    // Sex-restricted phecodes drop the sex columns in the engine; mirror that in R.
    const keep = covs
      .map((c, j) => ({ c, j }))
      .filter(({ c }) => !(sexRestricted && c.startsWith('cov_sex')));
    const formula = `case ~ g${keep.map(({ j }) => ` + c${j}`).join('')}`;
    const out = execFileSync(
      'Rscript',
      [
        '-e',
        `d <- read.csv("${csv}"); f <- glm(${formula}, family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100)); s <- summary(f)$coefficients; cat(sprintf("%.15g %.15g %d\\n", s["g", 1], s["g", 2], nrow(d)))`,
      ],
      { encoding: 'utf8' },
    );
    const [beta, se, n] = out.trim().split(/\s+/).map(Number);
    console.log(`phecode ${row.phecode} n=${n}: engine β=${row.beta} SE=${row.se}; R β=${beta} SE=${se}`);
    expect(n).toBe(row.n_cases + row.n_controls);
    expect(Math.abs((row.beta as number) - beta) / Math.abs(beta)).toBeLessThan(1e-4);
    expect(Math.abs((row.se as number) - se) / se).toBeLessThan(1e-4);
  });
});
