/**
 * The `metaAnalysis` workflow with `kind: "phewas"` on a real Temporal server and worker: three
 * sites send PheWAS results (seeded RNG):
 *  - sites A and B run this engine and send `biobank export phewas` (written by the exporter
 *    itself, small counts suppressed); site B names variant 1:1000:A:G as 1:1000:G:A (β negated)
 *    and lacks one association; site A did not test one;
 *  - site C sends the PheWAS R package's result written by R's `write.csv` (no burden rows; one
 *    row NA).
 * Per association, the fixed-effect and DerSimonian–Laird β, SE, p, Cochran's Q, its p and I²
 * equal R metafor's `rma(yi, sei = …, method = "FE" / "DL")` on the aligned inputs (1e-8
 * relative), computed at test time; k and the direction strings follow from the fixture. A second
 * start is a no-op returning the same run; a bad input fails non-retryably, recording no run.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
import { canonicalJson, sha256Text } from '../../engine/fsutil.js';
import {
  getRun,
  listRuns,
  recordRun,
  recordStudy,
  softwareVersion,
  writeRunResults,
} from '../../engine/results.js';
import { runIdFor } from '../../engine/run-paths.js';
import { exportPhewas } from '../../export/phewas.js';
import { metaIdentity, readMetaSpec } from '../../meta/spec.js';
import type { MetaResult, MetaSpec } from '../../schemas/meta.js';
import type { PhewasResultRow } from '../../schemas/results.js';
import { loadConfig } from '../../temporal.config.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { rng } from '../helpers/rng.js';
import { tempDir } from '../ingest/helpers.js';

const SITES = ['site A', 'site B', 'site C'] as const;
const VARIANTS = ['1:1000:A:G', '2:2000:C:T', '3:3000:G:T'];
const PREDICTORS = [...VARIANTS, 'GENE1__lof__0.01', 'labs.bmi'];
const PHECODES = ['008', '250.2', '401.1', '411.4', '555'];
const SWAPPED = '1:1000:A:G';

type Row = Omit<PhewasResultRow, 'run_id'>;
interface Entry {
  beta: number;
  se: number;
  nCases: number;
  nControls: number;
}
interface Assoc {
  predictor: string;
  phecode: string;
  /** per site, in the reference orientation; null: not tested; undefined: absent. */
  sites: (Entry | null | undefined)[];
}

const typeOf = (p: string) => (VARIANTS.includes(p) ? 'variant' : p.includes('__') ? 'burden' : 'column');
const swapName = (v: string) => v.replace(/^(.+):(\d+):([^:]+):([^:]+)$/, '$1:$2:$4:$3');

function fixture(seed: number): Assoc[] {
  const { next, normal } = rng(seed);
  const out: Assoc[] = [];
  for (const predictor of PREDICTORS)
    for (const phecode of PHECODES) {
      const hit = predictor === '2:2000:C:T' && phecode === '250.2';
      const mu = hit ? 0.6 : 0.15 * normal();
      const tau = phecode === '401.1' ? 0.3 : 0;
      const sites = SITES.map((): Entry => {
        const se = (hit ? 0.04 : 0.06) + 0.12 * next();
        return {
          beta: mu + tau * normal() + se * normal(),
          se,
          nCases: Math.round(next() < 0.15 ? 5 + 10 * next() : 100 + 900 * next()),
          nControls: Math.round(3000 + 2000 * next()),
        };
      });
      const a: Assoc = { predictor, phecode, sites };
      if (typeOf(predictor) === 'burden') a.sites[2] = undefined; // the R package has no burden scores
      if (predictor === '3:3000:G:T' && phecode === '555') a.sites[0] = null;
      if (predictor === '2:2000:C:T' && phecode === '411.4') a.sites[1] = undefined;
      if (predictor === 'labs.bmi' && phecode === '008') a.sites[2] = null;
      out.push(a);
    }
  return out;
}

/** Site `s`'s rows as its engine would hold them (its own allele order). */
function siteRows(assocs: Assoc[], s: number): Row[] {
  const rows: Row[] = [];
  for (const a of assocs) {
    const e = a.sites[s];
    if (e === undefined) continue;
    const swap = s === 1 && a.predictor === SWAPPED;
    const beta = e === null ? null : swap ? -e.beta : e.beta;
    const se = e === null ? null : e.se;
    const p = beta === null || se === null ? null : Math.min(1, Math.exp(-Math.abs(beta / se)));
    rows.push({
      predictor: swap ? swapName(a.predictor) : a.predictor,
      predictor_type: typeOf(a.predictor),
      phecode: a.phecode,
      phecode_version: '1.2',
      description: `phecode ${a.phecode}`,
      category: null,
      n_cases: e === null ? 12 : e.nCases,
      n_controls: e === null ? 4000 : e.nControls,
      n_excluded: 0,
      beta,
      se,
      odds_ratio: beta === null ? null : Math.exp(beta),
      ci_low: null,
      ci_high: null,
      p,
      neg_log10_p: p === null ? null : -Math.log10(p),
      test: beta === null ? null : 'wald',
      status: beta === null ? 'too_few_cases' : 'ok',
      reason: beta === null ? '12 cases < minCases 20' : null,
    });
  }
  return rows;
}

/** A site's rows exported by the engine's own exporter from a database of the site's own. */
async function siteExport(dir: string, name: string, rows: Row[]): Promise<string> {
  const config = loadConfig({
    BIOBANK_DATA_DIR: join(dir, `${name}-db`),
    BIOBANK_DUCKDB_THREADS: '1',
    BIOBANK_DUCKDB_MEMORY: '1GB',
  });
  const specJson = canonicalJson({ site: name });
  const specHash = sha256Text(specJson);
  const fingerprint = sha256Text(`${name} release`);
  const runId = runIdFor({ studyId: name, releaseFingerprint: fingerprint, specHash });
  await recordStudy(config, {
    study_id: name,
    kind: 'genotype-first',
    spec_json: specJson,
    spec_hash: specHash,
    created_at: new Date().toISOString(),
  });
  await recordRun(config, {
    run_id: runId,
    study_id: name,
    release_id: 'r1',
    release_fingerprint: fingerprint,
    spec_hash: specHash,
    phecode_maps_json: '{}',
    software_version: await softwareVersion(),
    status: 'completed',
    started_at: new Date().toISOString(),
    finished_at: new Date().toISOString(),
    timings_json: null,
    workflow_id: name,
    workflow_run_id: null,
    error: null,
  });
  await writeRunResults(config, runId, 'phewas_results', rows);
  const out = join(dir, `${name}-export`);
  await exportPhewas(config, { runId, out });
  return join(out, 'phewas_results.csv');
}

/** Site C's rows as the PheWAS R package's phewas() result, written by R's write.csv. */
function phewasRExport(dir: string, assocs: Assoc[]): string {
  const rows = assocs.filter((a) => a.sites[2] !== undefined);
  const src = join(dir, 'siteC-src.csv');
  const out = join(dir, 'siteC_phewas.csv');
  const v = (x: number | null) => (x === null ? 'NA' : String(x));
  writeFileSync(
    src,
    [
      'phenotype,snp,beta,SE,p,n_cases,n_controls',
      ...rows.map((a) => {
        const e = a.sites[2] as Entry | null;
        const p = e === null ? null : Math.min(1, Math.exp(-Math.abs(e.beta / e.se)));
        return [
          a.phecode,
          a.predictor,
          v(e?.beta ?? null),
          v(e?.se ?? null),
          v(p),
          v(e?.nCases ?? null),
          v(e?.nControls ?? null),
        ].join(',');
      }),
    ].join('\n'),
  );
  const r = `
    s <- read.csv(${JSON.stringify(src)}, colClasses = c("character", "character", rep("numeric", 3), rep("integer", 2)))
    d <- data.frame(phenotype = s$phenotype, snp = s$snp, adjustment = NA_character_,
                    beta = s$beta, SE = s$SE, OR = exp(s$beta), p = s$p,
                    type = ifelse(is.na(s$beta), NA, "logistic"),
                    n_total = s$n_cases + s$n_controls, n_cases = s$n_cases, n_controls = s$n_controls,
                    HWE_p = NA_real_, allele_freq = NA_real_, n_no_snp = 0L,
                    note = ifelse(is.na(s$beta), "[Error: <20 cases or controls]", ""), stringsAsFactors = FALSE)
    write.csv(d, ${JSON.stringify(out)})`;
  execFileSync('Rscript', ['-e', r]);
  return out;
}

interface Expected {
  k: number;
  direction: string;
  yi: number[];
  sei: number[];
}

function expected(a: Assoc): Expected {
  const yi: number[] = [];
  const sei: number[] = [];
  let direction = '';
  for (const e of a.sites) {
    if (!e) {
      direction += '?';
      continue;
    }
    yi.push(e.beta);
    sei.push(e.se);
    direction += e.beta > 0 ? '+' : '-';
  }
  return { k: yi.length, direction, yi, sei };
}

interface Metafor {
  b: number;
  se: number;
  p: number;
  q: number;
  qp: number;
  i2: number;
  bRe: number;
  seRe: number;
  pRe: number;
  tau2: number;
}

/** metafor's FE and DL fits of every association with k ≥ 2. */
function metafor(dir: string, want: Map<string, Expected>): Map<string, Metafor> {
  const input = join(dir, 'metafor-in.csv');
  const output = join(dir, 'metafor-out.csv');
  const lines = ['key,yi,sei'];
  for (const [key, e] of want) {
    if (e.k < 2) continue;
    for (let i = 0; i < e.k; i++) lines.push(`${key},${e.yi[i]},${e.sei[i]}`);
  }
  writeFileSync(input, lines.join('\n'));
  const r = `
    suppressMessages(library(metafor))
    d <- read.csv(${JSON.stringify(input)}, colClasses = c("character", "numeric", "numeric"))
    out <- do.call(rbind, lapply(split(d, d$key), function(g) {
      fe <- rma(yi = g$yi, sei = g$sei, method = "FE")
      dl <- rma(yi = g$yi, sei = g$sei, method = "DL")
      data.frame(key = g$key[1], b = fe$b[1], se = fe$se, p = fe$pval, q = fe$QE, qp = fe$QEp, i2 = fe$I2,
                 bRe = dl$b[1], seRe = dl$se, pRe = dl$pval, tau2 = dl$tau2)
    }))
    write.csv(out, ${JSON.stringify(output)}, row.names = FALSE)`;
  execFileSync('Rscript', ['-e', `options(digits = 17); ${r}`]);
  const text = readFileSync(output, 'utf8').trim().split('\n');
  const header = text[0].split(',').map((h) => h.replaceAll('"', ''));
  const got = new Map<string, Metafor>();
  for (const line of text.slice(1)) {
    const f = line.split(',');
    const rec = Object.fromEntries(
      header.map((h, i) => [h, h === 'key' ? f[i].replaceAll('"', '') : Number(f[i])]),
    );
    got.set(rec.key as string, rec as unknown as Metafor);
  }
  return got;
}

const close = (got: number | null, want: number, what: string) => {
  expect(got, what).not.toBeNull();
  const tol = 1e-8 * Math.abs(want) + 1e-13;
  expect(Math.abs((got as number) - want), `${what}: ${got} vs ${want}`).toBeLessThanOrEqual(tol);
};

let engine: TestEngine;
let worker: { stop(): Promise<void> };
let dir: string;
let assocs: Assoc[];
let spec: MetaSpec;
let workflowId: string;
let first: MetaResult;
let files: string[];

async function writeSpec(at: string, inputs: string[]): Promise<MetaSpec> {
  const path = join(at, 'meta.json');
  writeFileSync(
    path,
    JSON.stringify({
      metaId: 'phewas-meta',
      kind: 'phewas',
      inputs: inputs.map((p, i) => ({ path: p, label: SITES[i] })),
    }),
  );
  return readMetaSpec(path);
}

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  dir = tempDir('meta-phewas');
  assocs = fixture(2015);
  files = [
    await siteExport(dir, 'siteA', siteRows(assocs, 0)),
    await siteExport(dir, 'siteB', siteRows(assocs, 1)),
    phewasRExport(dir, assocs),
  ];
  spec = await writeSpec(dir, files);
  workflowId = (await metaIdentity(spec)).runId;
  first = (await engine.client.workflow.execute('metaAnalysis', {
    workflowId,
    taskQueue: engine.taskQueue,
    args: [spec],
  })) as MetaResult;
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function query(sql: string, params: (string | number)[] = []): Promise<Record<string, unknown>[]> {
  return withEngineDb(
    engine.config,
    async (conn) => (await conn.runAndReadAll(sql, params)).getRowObjectsJson() as Record<string, unknown>[],
    { readOnly: true },
  );
}

describe('metaAnalysis workflow, kind phewas', () => {
  it('records the run, its inputs and one row per association', async () => {
    expect(first.runId).toBe(workflowId);
    expect(first.reused).toBe(false);
    expect(first.phewas).toMatchObject({ model: 'logistic', nAssociations: assocs.length });
    expect(first.phewas?.nSignificant).toBeGreaterThanOrEqual(1);
    expect((await getRun(engine.config, first.runId))?.status).toBe('completed');
    const inputs = await query('SELECT * FROM meta_inputs WHERE run_id = $1 ORDER BY input_index', [
      first.runId,
    ]);
    expect(inputs.map((r) => [r.label, r.format])).toEqual([
      ['site A', 'biobank-phewas'],
      ['site B', 'biobank-phewas'],
      ['site C', 'phewas-r'],
    ]);
    expect(inputs.map((r) => r.sha256)).toEqual((await metaIdentity(spec)).sha256);
    const n = await query('SELECT count(*) AS n FROM meta_phewas_results WHERE run_id = $1', [first.runId]);
    expect(Number(n[0].n)).toBe(assocs.length);
    const forest = await query(
      `SELECT label, aligned, beta FROM meta_phewas_forest WHERE run_id = $1 AND predictor = $2 AND phecode = '250.2' ORDER BY label`,
      [first.runId, SWAPPED],
    );
    expect(forest.map((r) => r.aligned)).toEqual(['reference', 'swapped', 'same']);
    const truth = assocs.find((a) => a.predictor === SWAPPED && a.phecode === '250.2') as Assoc;
    close(Number(forest[1].beta), (truth.sites[1] as Entry).beta, 'swapped β');
    expect(existsReport(first.reportPath)).toBe(true);
  });

  it('equals metafor FE and DL for every association', async () => {
    const want = new Map(assocs.map((a) => [`${a.predictor}|${a.phecode}`, expected(a)]));
    const ref = metafor(dir, want);
    const rows = await query('SELECT * FROM meta_phewas_results WHERE run_id = $1', [first.runId]);
    expect(rows.length).toBe(want.size);
    let compared = 0;
    for (const row of rows) {
      const key = `${row.predictor}|${row.phecode}`;
      const e = want.get(key);
      expect(e, key).toBeDefined();
      if (!e) continue;
      expect(row.k, key).toBe(e.k);
      expect(row.direction, key).toBe(e.direction);
      const num = (c: string) => (row[c] === null ? null : Number(row[c]));
      if (e.k === 1) {
        expect(row.status, key).toBe('single_input');
        close(num('beta'), e.yi[0], `${key} β`);
        close(num('se'), e.sei[0], `${key} SE`);
        expect(row.q_p, key).toBeNull();
        continue;
      }
      const m = ref.get(key) as Metafor;
      close(num('beta'), m.b, `${key} β`);
      close(num('se'), m.se, `${key} SE`);
      close(num('p'), m.p, `${key} p`);
      close(num('q'), m.q, `${key} Q`);
      close(num('q_p'), m.qp, `${key} Q p`);
      close(num('i2'), m.i2, `${key} I²`);
      close(num('beta_random'), m.bRe, `${key} β DL`);
      close(num('se_random'), m.seRe, `${key} SE DL`);
      close(num('p_random'), m.pRe, `${key} p DL`);
      close(num('tau2'), m.tau2, `${key} τ²`);
      compared++;
    }
    expect(compared).toBeGreaterThan(assocs.length - 10);
    // heterogeneity is there to find: the 401.1 column was planted with τ = 0.3
    expect([...ref.values()].some((m) => m.tau2 > 0)).toBe(true);
  });

  it('sums counts only where none was suppressed', async () => {
    const rows = await query(
      'SELECT predictor, phecode, n_cases FROM meta_phewas_results WHERE run_id = $1',
      [first.runId],
    );
    let summed = 0;
    let unknown = 0;
    for (const row of rows) {
      const a = assocs.find((x) => x.predictor === row.predictor && x.phecode === row.phecode) as Assoc;
      const used = a.sites.filter((e): e is Entry => !!e);
      const suppressed = a.sites.some((e, s) => !!e && s < 2 && (e.nCases <= 20 || e.nControls <= 20));
      if (suppressed) {
        expect(row.n_cases, `${row.predictor} ${row.phecode}`).toBeNull();
        unknown++;
      } else {
        expect(row.n_cases).toBe(used.reduce((t, e) => t + e.nCases, 0));
        summed++;
      }
    }
    expect(summed).toBeGreaterThan(0);
    expect(unknown).toBeGreaterThan(0);
  });

  it('a second start is a no-op returning the same run', async () => {
    const other = (await engine.client.workflow.execute('metaAnalysis', {
      workflowId: `${workflowId}-again`,
      taskQueue: engine.taskQueue,
      args: [spec],
    })) as MetaResult;
    expect(other.runId).toBe(first.runId);
    expect(other.reused).toBe(true);
    expect(other.phewas).toEqual(first.phewas);
    expect((await listRuns(engine.config)).filter((r) => r.run_id === first.runId).length).toBe(1);
  }, 60_000);

  it('a bad input fails non-retryably, naming file, line and column, and records no run', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad, { recursive: true });
    const lines = readFileSync(files[2], 'utf8').split('\n');
    const f = lines[3].split(',');
    f[5] = '"oops"'; // the SE column (after the row names, phenotype, snp, adjustment, beta)
    lines[3] = f.join(',');
    const badC = join(bad, 'siteC_phewas.csv');
    writeFileSync(badC, lines.join('\n'));
    const badSpec = await writeSpec(bad, [files[0], files[1], badC]);
    const id = (await metaIdentity(badSpec)).runId;
    const err = await engine.client.workflow
      .execute('metaAnalysis', { workflowId: id, taskQueue: engine.taskQueue, args: [badSpec] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause?.cause ?? (err as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    const failure = cause as ApplicationFailure;
    expect(failure.type).toBe('InputError');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(badC);
    expect(failure.message).toMatch(/line 4, field SE: SE must be a finite number/);
    expect(await getRun(engine.config, id)).toBeUndefined();
  }, 60_000);
});

function existsReport(path: string | undefined): boolean {
  if (!path) return false;
  try {
    return readFileSync(path, 'utf8').length > 0;
  } catch {
    return false;
  }
}
