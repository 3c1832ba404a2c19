/**
 * PheWAS activities: materialise the run's phenome, then test one predictor (a variant's
 * dosage, a burden score or a person-level column) against every phecode of the version.
 *
 * Model, per phecode P (stats/logistic-fit.ts has the formulas):
 *     logit P(case_P) = β0 + β·predictor + γᵀ·covariates
 * over the analysis samples that are a case or a control for P (excluded persons dropped) and
 * have a predictor value. Wald test of β = 0 from maximum likelihood; Firth penalised
 * likelihood on separation or non-convergence (`phewas.firth = 'fallback'`, the default), or
 * always. Sex-restricted phecodes drop the sex covariate (it is constant there).
 *
 * The fits (activities/phewas-fit.ts) start at the intercept-only estimate, go straight to Firth
 * when the predictor alone separates cases from controls (the ML fit cannot converge there), and
 * run in batches on pooled worker threads when the PheWAS is large (`PHEWAS_THREADING`).
 *
 * Every phecode gets a row, tested or not: with fewer than `minCases` cases or `minControls`
 * controls the status is `too_few_cases` / `too_few_controls` and β, SE and p are NULL. A
 * predictor that is constant among the tested persons is `monomorphic`. Significance after
 * Bonferroni is p < 0.05 / (number of phecodes tested); `bh_q` would follow the same count.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { DuckDBBlobValue, DuckDBConnection } from '@duckdb/node-api';
import { Context } from '@temporalio/activity';
import { sqlIdent, sqlString, withCompute } from '../engine/duckdb.js';
import { atomicProduce, atomicWriteFile, exists } from '../engine/fsutil.js';
import { decodeDs, GT_PACKED_MISSING, packedCode } from '../engine/genotypes.js';
import { runInThread, sourceModule } from '../engine/thread.js';
import { loadAnalysis } from '../phenotype/analysis-table.js';
import { buildPhenome } from '../phenotype/build.js';
import { mapTables, resolveMapsDir } from '../phenotype/maps.js';
import type { StudySpec } from '../schemas/study.js';
import type {
  AnalysisTable,
  PhenomeRef,
  PhewasPredictor,
  PhewasResult,
  RunContext,
} from '../schemas/study-io.js';
import type { EngineConfig } from '../temporal.config.js';
import { cancellableStep } from './keepalive.js';
import { fitPhecodes, type PhecodeFit, type PhecodeSets, type PhewasBatch } from './phewas-fit.js';
import { type ManyBatch, type PhecodeRows, scorePhecodes } from './phewas-many-fit.js';

type PhewasSpec = StudySpec['phewas'];

export interface PhewasRow {
  predictor: string;
  predictor_type: PhewasPredictor['type'];
  phecode: string;
  phecode_version: string;
  description: string | null;
  category: string | null;
  n_cases: number;
  n_controls: number;
  n_excluded: number;
  beta: number | null;
  se: number | null;
  odds_ratio: number | null;
  ci_low: number | null;
  ci_high: number | null;
  p: number | null;
  neg_log10_p: number | null;
  test: 'score' | 'wald' | 'firth' | null;
  status: string;
  reason: string | null;
}

const ROW_DDL = `predictor VARCHAR, predictor_type VARCHAR, phecode VARCHAR, phecode_version VARCHAR,
  description VARCHAR, category VARCHAR, n_cases DOUBLE, n_controls DOUBLE, n_excluded DOUBLE,
  beta DOUBLE, se DOUBLE, odds_ratio DOUBLE, ci_low DOUBLE, ci_high DOUBLE, p DOUBLE, neg_log10_p DOUBLE,
  test VARCHAR, status VARCHAR, reason VARCHAR`;

/** File-name-safe form of a predictor id. */
function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120);
}

/** The predictor's value for each genotype position (variant) or person (other kinds). */
async function loadPredictor(
  conn: DuckDBConnection,
  run: RunContext,
  predictor: PhewasPredictor,
  personIds: string[],
  sampleIdx: Int32Array,
): Promise<Float64Array> {
  const n = personIds.length;
  const out = new Float64Array(n).fill(Number.NaN);
  if (predictor.type === 'variant') {
    const shard = await conn.runAndReadAll(
      `SELECT shard FROM read_parquet(${sqlString(join(run.releaseDir, 'variants.parquet'))}) WHERE variant_idx = $1`,
      [predictor.variantIdx],
    );
    const file = join(run.releaseDir, 'genotypes', `${String(shard.getRows()[0]?.[0])}.parquet`);
    const r = await conn.runAndReadAll(
      `SELECT gt, ds FROM read_parquet(${sqlString(file)}) WHERE variant_idx = $1`,
      [predictor.variantIdx],
    );
    const row = r.getRows()[0];
    if (!row) throw new Error(`variant ${predictor.id} (index ${predictor.variantIdx}) not found in ${file}`);
    const gt = (row[0] as DuckDBBlobValue).bytes;
    const ds = row[1] ? decodeDs((row[1] as DuckDBBlobValue).bytes) : null;
    for (let i = 0; i < n; i++) {
      const k = sampleIdx[i];
      if (ds) out[i] = ds[k];
      else {
        const c = packedCode(gt, k);
        out[i] = c === GT_PACKED_MISSING ? Number.NaN : c;
      }
    }
    return out;
  }
  const r = await conn.runAndReadAll(
    `SELECT CAST(person_id AS VARCHAR), CAST(${sqlIdent(predictor.column)} AS DOUBLE) FROM read_parquet(${sqlString(predictor.path)})`,
  );
  const byPerson = new Map<string, number>();
  for (const [id, v] of r.getRows()) if (v !== null) byPerson.set(String(id), Number(v));
  for (let i = 0; i < n; i++) out[i] = byPerson.get(personIds[i]) ?? Number.NaN;
  return out;
}

/**
 * Fitting runs on pooled worker threads (engine/thread.ts) when the work is large enough to pay
 * for them: (analysis samples) × (phecodes with enough cases) ≥ `minWork`. Tests lower it to
 * exercise the threaded path on small data.
 */
export const PHEWAS_THREADING = { minWork: 5_000_000 };

const PHEWAS_THREAD = sourceModule('activities/phewas-fit.ts');

/**
 * Phecodes `candidates` in ~6 interleaved batches per thread (each batch mixes common and rare
 * phecodes, whose fits cost more iterations) on up to `threads` pooled threads running
 * `module`'s threadMain with `{ ...batch, phecodes }`; heartbeats the number done. Appends to
 * `out` (rows already computed inline) and returns it in phecode order.
 */
async function inThreadBatches<B extends object, R extends { index: number }>(
  module: URL,
  batch: B,
  candidates: PhecodeSets[],
  out: R[],
  threads: number,
  ctx: Context,
): Promise<R[]> {
  const signal = ctx.cancellationSignal;
  const nBatches = Math.min(candidates.length, threads * 6);
  const queue = Array.from({ length: nBatches }, (_, b) => candidates.filter((_, k) => k % nBatches === b));
  let done = out.length;
  await Promise.all(
    Array.from({ length: threads }, async () => {
      for (let part = queue.shift(); part; part = queue.shift()) {
        if (signal.aborted) throw signal.reason ?? new Error('cancelled');
        let partDone = 0;
        const rows = await runInThread<B & { phecodes: PhecodeSets[] }, R[], number>(
          module,
          { ...batch, phecodes: part },
          {
            onProgress: (k) => {
              done += k - partDone;
              partDone = k;
              ctx.heartbeat({ phecodes: done });
            },
            signal,
          },
        );
        done += part.length - partDone;
        ctx.heartbeat({ phecodes: done });
        out.push(...rows);
      }
    }),
  );
  return out.sort((p, q) => p.index - q.index);
}

/**
 * Fit every phecode: inline for small jobs, else in batches on up to `duckdbThreads` pooled
 * threads (the per-phecode fits are independent; each batch gets the predictor and covariates
 * and its phecodes' sets). Results come back in phecode order either way.
 */
async function fitAll(
  batch: Omit<PhewasBatch, 'phecodes'>,
  sets: PhecodeSets[],
  config: EngineConfig,
  ctx: Context,
): Promise<PhecodeFit[]> {
  const signal = ctx.cancellationSignal;
  const candidates = sets.filter((s) => s.cases.length >= batch.minCases);
  const threads = Math.max(1, Math.min(availableParallelism(), config.worker.duckdbThreads));
  if (threads === 1 || batch.n * candidates.length < PHEWAS_THREADING.minWork) {
    let last = 0;
    return fitPhecodes(
      { ...batch, phecodes: sets },
      (k) => {
        if (k - last >= 50) {
          last = k;
          ctx.heartbeat({ phecodes: k });
        }
      },
      signal,
    );
  }
  // Phecodes below minCases (by their cohort case count, an upper bound) only need counting:
  // done inline. The rest go out in ~6 batches per thread, interleaved so that each batch
  // mixes common and rare phecodes (fit cost grows with the iterations rare ones need).
  const out: PhecodeFit[] = fitPhecodes({
    ...batch,
    phecodes: sets.filter((s) => s.cases.length < batch.minCases),
  });
  return inThreadBatches(PHEWAS_THREAD, batch, candidates, out, threads, ctx);
}

/** Defaults of the many-predictor score path (spec fields `scoreThreshold`, `scoreMinCarriers`). */
export const PHEWAS_SCORE_DEFAULTS = { scoreThreshold: 0.05, minCarriers: 0 };

const PHEWAS_MANY_THREAD = sourceModule('activities/phewas-many-fit.ts');

/**
 * The many-predictor path over every phecode: inline (in slices, yielding to the event loop so
 * heartbeats go out) for small jobs, else in interleaved batches on pooled threads, as `fitAll`.
 * Results come back in phecode order.
 */
async function scoreAll(
  batch: Omit<ManyBatch, 'phecodes'>,
  sets: PhecodeSets[],
  config: EngineConfig,
  ctx: Context,
): Promise<PhecodeRows[]> {
  const signal = ctx.cancellationSignal;
  const candidates = sets.filter((s) => s.cases.length >= batch.minCases);
  const few = sets.filter((s) => s.cases.length < batch.minCases);
  const threads = Math.max(1, Math.min(availableParallelism(), config.worker.duckdbThreads));
  const work = batch.n * candidates.length * Math.max(1, batch.xs.length / 10);
  const out: PhecodeRows[] = [];
  if (threads === 1 || work < PHEWAS_THREADING.minWork) {
    for (let k = 0; k < sets.length; k += 20) {
      out.push(...scorePhecodes({ ...batch, phecodes: sets.slice(k, k + 20) }, undefined, signal));
      ctx.heartbeat({ phecodes: out.length });
      await new Promise((r) => setImmediate(r));
    }
    return out;
  }
  out.push(...scorePhecodes({ ...batch, phecodes: few }));
  return inThreadBatches(PHEWAS_MANY_THREAD, batch, candidates, out, threads, ctx);
}

/** Every predictor's values per analysis sample; burden/column predictors of one file in one read. */
async function loadPredictors(
  conn: DuckDBConnection,
  run: RunContext,
  predictors: PhewasPredictor[],
  personIds: string[],
  sampleIdx: Int32Array,
): Promise<Float64Array[]> {
  const out: Float64Array[] = new Array(predictors.length);
  const byPath = new Map<string, number[]>();
  for (const [k, p] of predictors.entries()) {
    if (p.type === 'variant') out[k] = await loadPredictor(conn, run, p, personIds, sampleIdx);
    else byPath.set(p.path, [...(byPath.get(p.path) ?? []), k]);
  }
  const row = new Map(personIds.map((id, i) => [id, i]));
  for (const [path, ks] of byPath) {
    const cols = ks.map((k) => {
      const p = predictors[k] as Extract<PhewasPredictor, { path: string }>;
      return `CAST(${sqlIdent(p.column)} AS DOUBLE)`;
    });
    const r = await conn.runAndReadAll(
      `SELECT CAST(person_id AS VARCHAR), ${cols.join(', ')} FROM read_parquet(${sqlString(path)})`,
    );
    const xs = ks.map(() => new Float64Array(personIds.length).fill(Number.NaN));
    for (const rec of r.getRows()) {
      const i = row.get(String(rec[0]));
      if (i === undefined) continue;
      for (let t = 0; t < ks.length; t++) if (rec[t + 1] !== null) xs[t][i] = Number(rec[t + 1]);
    }
    ks.forEach((k, t) => {
      out[k] = xs[t];
    });
  }
  return out;
}

interface PhecodeInfo {
  phecode: string;
  description: string | null;
  category: string | null;
  sex: string | null;
  /** BIT string over cohort person_idx ('1' = in the set), or NULL: see phenotype/phenome.ts. */
  cases: string | null;
  excluded: string | null;
}

/** The analysis table, its person ids, every phecode and its case / excluded sample sets. */
async function loadPhewasInputs(conn: DuckDBConnection, analysis: AnalysisTable, phenome: PhenomeRef) {
  const a = await loadAnalysis(conn, analysis);
  const ids = (
    await conn.runAndReadAll(
      `SELECT CAST(person_id AS VARCHAR) FROM read_parquet(${sqlString(analysis.path)}) ORDER BY sample_idx`,
    )
  )
    .getRows()
    .map((r) => String(r[0]));
  // cohort person_idx of each analysis sample
  const cohort = await conn.runAndReadAll(
    `SELECT CAST(person_id AS VARCHAR), person_idx FROM read_parquet(${sqlString(join(phenome.dir, 'cohort.parquet'))})`,
  );
  const personIdx = new Map<string, number>(cohort.getRows().map((r) => [String(r[0]), Number(r[1])]));
  const maxIdx = Math.max(-1, ...personIdx.values());
  const sampleOfPerson = new Int32Array(maxIdx + 1).fill(-1);
  ids.forEach((id, i) => {
    const p = personIdx.get(id);
    if (p !== undefined) sampleOfPerson[p] = i;
  });
  const sexCols = analysis.covariates
    .map((c, j) => (c === 'sex' || c.startsWith('sex=') || c.startsWith('sex_') ? j : -1))
    .filter((j) => j >= 0);

  const phecodes = (
    await conn.runAndReadAll(
      `SELECT p.phecode, p.description, p.category, p.sex, ph.cases, ph.excluded
       FROM read_parquet(${sqlString(phenome.phecodesPath)}) p
       LEFT JOIN read_parquet(${sqlString(join(phenome.dir, 'phenome.parquet'))}) ph USING (phecode)
       ORDER BY p.phecode`,
    )
  ).getRowObjectsJS() as unknown as PhecodeInfo[];

  // Per phecode: its cases and excluded persons as analysis-sample indexes (the BIT strings
  // are scanned with indexOf, which skips the runs of '0' natively).
  const toSamples = (bits: string | null): Int32Array => {
    if (!bits) return new Int32Array(0);
    const out: number[] = [];
    const lim = Math.min(bits.length, sampleOfPerson.length);
    for (let p = bits.indexOf('1'); p >= 0 && p < lim; p = bits.indexOf('1', p + 1)) {
      const i = sampleOfPerson[p];
      if (i >= 0) out.push(i);
    }
    return Int32Array.from(out);
  };
  const sets: PhecodeSets[] = phecodes.map((ph, k) => ({
    index: k,
    sex: ph.sex,
    cases: toSamples(ph.cases),
    excluded: toSamples(ph.excluded),
  }));
  return { a, ids, sexCols, phecodes, sets };
}

/** Write one predictor's rows (one per phecode, in phecode order) and its record; its summary. */
async function writePhewas(
  conn: DuckDBConnection,
  run: RunContext,
  phenome: PhenomeRef,
  predictor: PhewasPredictor,
  phecodes: PhecodeInfo[],
  fits: PhecodeFit[],
): Promise<PhewasResult> {
  const out = join(run.runDir, 'phewas', `${safeName(predictor.id)}.parquet`);
  const record = `${out}.json`;
  const rows: PhewasRow[] = fits.map((f) => {
    const ph = phecodes[f.index];
    return {
      predictor: predictor.id,
      predictor_type: predictor.type,
      phecode: ph.phecode,
      phecode_version: phenome.phecodeVersion,
      description: ph.description,
      category: ph.category,
      n_cases: f.n_cases,
      n_controls: f.n_controls,
      n_excluded: f.n_excluded,
      beta: f.beta,
      se: f.se,
      odds_ratio: f.odds_ratio,
      ci_low: f.ci_low,
      ci_high: f.ci_high,
      p: f.p,
      neg_log10_p: f.neg_log10_p,
      test: f.test,
      status: f.status,
      reason: f.reason,
    };
  });

  const table = `phewas_rows_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await conn.run(`CREATE OR REPLACE TABLE ${table} (${ROW_DDL})`);
  const app = await conn.createAppender(table);
  for (const row of rows) {
    for (const v of Object.values(row)) {
      if (v === null) app.appendNull();
      else if (typeof v === 'number') {
        if (Number.isFinite(v)) app.appendDouble(v);
        else app.appendNull();
      } else app.appendVarchar(String(v));
    }
    app.endRow();
  }
  app.closeSync();
  await mkdir(join(run.runDir, 'phewas'), { recursive: true });
  await atomicProduce(out, (tmp) =>
    conn.run(
      `COPY (SELECT * REPLACE (CAST(n_cases AS INTEGER) AS n_cases, CAST(n_controls AS INTEGER) AS n_controls,
                               CAST(n_excluded AS INTEGER) AS n_excluded) FROM ${table})
       TO ${sqlString(tmp)} (FORMAT parquet)`,
    ),
  );
  await conn.run(`DROP TABLE ${table}`);

  const tested = rows.filter((r) => r.status === 'ok');
  const bonf = 0.05 / Math.max(1, tested.length);
  const result: PhewasResult = {
    predictorId: predictor.id,
    path: out,
    nTested: tested.length,
    nSignificant: tested.filter((r) => (r.p ?? 1) < bonf).length,
    top: [...tested]
      .sort((p, q) => (q.neg_log10_p ?? 0) - (p.neg_log10_p ?? 0))
      .slice(0, 10)
      .map((r) => ({
        phecode: r.phecode,
        description: r.description ?? '',
        p: r.p ?? 1,
        oddsRatio: r.odds_ratio,
        nCases: r.n_cases,
      })),
  };
  await atomicWriteFile(record, JSON.stringify(result));
  return result;
}

export function createPhewasActivities(config: EngineConfig) {
  return {
    /**
     * Materialise the phenome of the run's cohort (reused across runs with the same release,
     * maps, rules and cohort) and the list of every phecode with its label and sex restriction.
     */
    async buildRunPhenome(input: {
      run: RunContext;
      analysis: AnalysisTable;
      phewas: PhewasSpec;
    }): Promise<PhenomeRef> {
      const { run, analysis, phewas } = input;
      const mapsDir = resolveMapsDir(config.dataDir, phewas.phecodeVersion, phewas.maps);
      return withCompute(config, async (conn) => {
        const built = await cancellableStep(conn, { step: 'buildRunPhenome' }, (c) =>
          buildPhenome(c, {
            releaseId: run.releaseId,
            releaseDir: run.releaseDir,
            version: phewas.phecodeVersion,
            mapsDir,
            minCodeCount: phewas.minCodeCount,
            exclusions: phewas.phecodeVersion === '1.2' ? phewas.exclusions : false,
            cohortPath: analysis.path,
          }),
        );
        const t = mapTables(phewas.phecodeVersion);
        const phecodesPath = join(run.runDir, `phecodes-${phewas.phecodeVersion}.parquet`);
        await mkdir(run.runDir, { recursive: true });
        await atomicProduce(phecodesPath, (tmp) =>
          conn.run(
            `COPY (SELECT i.phecode, i.description, i.category,
                          CASE WHEN s.male_only THEN 'M' WHEN s.female_only THEN 'F' END AS sex
                   FROM ${t.info} i LEFT JOIN ${t.sex} s USING (phecode) ORDER BY i.phecode)
             TO ${sqlString(tmp)} (FORMAT parquet)`,
          ),
        );
        const n = await conn.runAndReadAll(`SELECT count(*)::INTEGER FROM ${t.info}`);
        return {
          dir: built.dir,
          phecodesPath,
          phecodeVersion: phewas.phecodeVersion,
          nPhecodes: Number(n.getRows()[0][0]),
          maps: built.maps.files.map((f) => ({ name: f.name, sha256: f.sha256 })),
        };
      });
    },

    /** Test one predictor against every phecode. Idempotent: a finished predictor is reused. */
    async runPhewas(input: {
      run: RunContext;
      analysis: AnalysisTable;
      phenome: PhenomeRef;
      phewas: PhewasSpec;
      predictor: PhewasPredictor;
    }): Promise<PhewasResult> {
      const { run, analysis, phenome, phewas, predictor } = input;
      const out = join(run.runDir, 'phewas', `${safeName(predictor.id)}.parquet`);
      const record = `${out}.json`;
      if ((await exists(out)) && (await exists(record))) {
        return JSON.parse(await readFile(record, 'utf8')) as PhewasResult;
      }
      const ctx = Context.current();
      return withCompute(config, async (conn) => {
        const inp = await loadPhewasInputs(conn, analysis, phenome);
        const x = await loadPredictor(conn, run, predictor, inp.ids, inp.a.sampleIdx);
        const batch: Omit<PhewasBatch, 'phecodes'> = {
          n: inp.a.n,
          x,
          cov: inp.a.cov,
          nCov: inp.a.c,
          sexCols: inp.sexCols,
          minCases: phewas.minCases,
          minControls: phewas.minControls,
          firth: phewas.firth,
        };
        const fits = await fitAll(batch, inp.sets, config, ctx);
        return writePhewas(conn, run, phenome, predictor, inp.phecodes, fits);
      });
    },

    /**
     * Test many predictors (a genotype-first study's burden scores) against every phecode: one
     * null fit per phecode, a score test per predictor, the full fit only where the score p <
     * `phewas.scoreThreshold` or the score test is unreliable (activities/phewas-many-fit.ts).
     * Writes the same per-predictor Parquet and record as `runPhewas`. Idempotent: predictors
     * already finished are reused, only the rest are computed.
     */
    async runPhewasMany(input: {
      run: RunContext;
      analysis: AnalysisTable;
      phenome: PhenomeRef;
      phewas: PhewasSpec;
      predictors: PhewasPredictor[];
    }): Promise<PhewasResult[]> {
      const { run, analysis, phenome, phewas, predictors } = input;
      const outOf = (p: PhewasPredictor) => join(run.runDir, 'phewas', `${safeName(p.id)}.parquet`);
      const done = new Map<string, PhewasResult>();
      for (const p of predictors) {
        const out = outOf(p);
        if ((await exists(out)) && (await exists(`${out}.json`)))
          done.set(p.id, JSON.parse(await readFile(`${out}.json`, 'utf8')) as PhewasResult);
      }
      const todo = predictors.filter((p) => !done.has(p.id));
      if (todo.length > 0) {
        const ctx = Context.current();
        await withCompute(config, async (conn) => {
          const inp = await loadPhewasInputs(conn, analysis, phenome);
          const xs = await loadPredictors(conn, run, todo, inp.ids, inp.a.sampleIdx);
          const batch: Omit<ManyBatch, 'phecodes'> = {
            n: inp.a.n,
            xs,
            cov: inp.a.cov,
            nCov: inp.a.c,
            sexCols: inp.sexCols,
            minCases: phewas.minCases,
            minControls: phewas.minControls,
            firth: phewas.firth,
            scoreThreshold: phewas.scoreThreshold ?? PHEWAS_SCORE_DEFAULTS.scoreThreshold,
            minCarriers: phewas.scoreMinCarriers ?? PHEWAS_SCORE_DEFAULTS.minCarriers,
          };
          const perPhecode = await scoreAll(batch, inp.sets, config, ctx);
          for (const [k, p] of todo.entries()) {
            ctx.heartbeat({ writing: p.id });
            const r = await writePhewas(
              conn,
              run,
              phenome,
              p,
              inp.phecodes,
              perPhecode.map((rows) => rows.fits[k]),
            );
            done.set(p.id, r);
          }
        });
      }
      return predictors.map((p) => done.get(p.id) as PhewasResult);
    },
  };
}
