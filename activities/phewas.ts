/**
 * PheWAS activities: materialise the run's phenome, then test one predictor (a variant's
 * dosage, a burden score or a person-level column) against every phecode of the version.
 *
 * Model, per phecode P (stats/logistic-fit.ts has the formulas):
 *     logit P(case_P) = β0 + β·predictor + γᵀ·covariates
 * over the analysis samples that are a case or a control for P (excluded persons dropped) and
 * have a predictor value. Wald test of β = 0 from maximum likelihood; Firth penalised
 * likelihood on separation or non-convergence (`phewas.firth = 'fallback'`, the default), or
 * always. Sex-restricted phecodes drop the sex covariate (it is constant there). Unbalanced
 * phecodes (`phewas.spa`, `phewas.spaCaseFraction`) get saddlepoint p-values of the score
 * against the null fit, with the fit's β and SE (test `spa_wald` or `spa_firth`; `spa` where no
 * fit ran and β, SE are the score approximation; phewas/fit.ts).
 *
 * The domain core is phewas/: inputs.ts reads, fit.ts and many-fit.ts fit (on pooled threads
 * when large, schedule.ts), write.ts writes rows and records. Every phecode gets a row, tested
 * or not: with fewer than `minCases` cases or `minControls` controls the status is
 * `too_few_cases` / `too_few_controls` and β, SE and p are NULL. A predictor that is constant
 * among the tested persons is `monomorphic`. Significance after Bonferroni is
 * p < 0.05 / (number of phecodes tested).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { Context } from '@temporalio/activity';
import { asEngineContext, type EngineContext } from '../engine/context.js';
import { sqlString } from '../engine/duckdb.js';
import { atomicProduce, atomicWriteFile, exists } from '../engine/fsutil.js';
import { locoOffsets } from '../gwas/step1.js';
import { buildPhenome } from '../phenotype/build.js';
import { mapTables, resolveMapsDir } from '../phenotype/maps.js';
import { buildTimeline, loadTimeline } from '../phenotype/timeline.js';
import { attachOnsets, type CoxSettings, coxOutcome } from '../phewas/cox.js';
import { type CoxTimeScale, coxPhewasPath, writeCoxPhewas } from '../phewas/cox-write.js';
import type { PhewasBatch } from '../phewas/fit.js';
import { loadPhewasInputs, loadPredictor, loadPredictors, safeName } from '../phewas/inputs.js';
import { type KmParquetRow, kaplanMeierRows, writeKmParquet } from '../phewas/km.js';
import type { ManyBatch } from '../phewas/many-fit.js';
import {
  coxFitAll,
  coxScoreAll,
  fitAll,
  type Heartbeat,
  scoreAll,
  type Threading,
} from '../phewas/schedule.js';
import { writePhewas } from '../phewas/write.js';
import { type StudySpec, SURVIVAL_DEFAULTS } from '../schemas/study.js';
import type {
  AnalysisTable,
  PhenomeRef,
  PhewasPredictor,
  PhewasResult,
  RunContext,
  TimelineRefPayload,
} from '../schemas/study-io.js';
import type { EngineConfig } from '../temporal.config.js';
import { cancellableStep } from './keepalive.js';

type PhewasSpec = StudySpec['phewas'];

function heartbeatOf(ctx: Context): Heartbeat {
  return { heartbeat: (d) => ctx.heartbeat(d), signal: ctx.cancellationSignal };
}

/** Kaplan–Meier curves stored per many-predictor Cox PheWAS (its strongest associations). */
const KM_CURVES = 4;

/** `phewas_cox_results.time_scale` of a timeline's origin. */
function timeScaleOf(t: TimelineRefPayload): CoxTimeScale {
  return t.origin === 'birth' ? 'age' : t.origin;
}

/** The PheWAS inputs with the timeline: the Cox settings and every phecode's sets with onsets. */
async function coxInputs(
  conn: DuckDBConnection,
  analysis: AnalysisTable,
  phenome: PhenomeRef,
  timeline: TimelineRefPayload,
  phewas: PhewasSpec,
) {
  const inp = await loadPhewasInputs(conn, analysis, phenome);
  const tl = await loadTimeline(conn, timeline, inp.personIdxOfSample);
  const settings: CoxSettings = {
    n: inp.a.n,
    cov: inp.a.cov,
    nCov: inp.a.c,
    sexCols: inp.sexCols,
    entry: tl.entry,
    exit: tl.exit,
    minCases: phewas.minCases,
    minControls: phewas.minControls,
    firth: phewas.firth,
    ties: timeline.ties,
  };
  return { inp, settings, sets: attachOnsets(inp.sets, inp.phecodes, tl) };
}

export function createPhewasActivities(from: EngineConfig | EngineContext) {
  const engine = asEngineContext(from);
  const { config } = engine;
  const threading: Threading = {
    threads: Math.max(1, Math.min(availableParallelism(), config.worker.duckdbThreads)),
    minWork: config.worker.phewasThreadMinWork,
  };
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
      return engine.compute(async (conn) => {
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

    /**
     * The time-to-event view of the run's phenome for `phewas.model: 'cox'` (phenotype/timeline.ts):
     * entry and exit per cohort person and the onsets per person × phecode. Reused across runs
     * with the same phenome and settings.
     */
    async buildRunTimeline(input: {
      run: RunContext;
      phenome: PhenomeRef;
      phewas: PhewasSpec;
    }): Promise<TimelineRefPayload> {
      const { run, phenome, phewas } = input;
      const mapsDir = resolveMapsDir(config.dataDir, phewas.phecodeVersion, phewas.maps);
      return engine.compute(async (conn) => {
        const t = await cancellableStep(conn, { step: 'buildRunTimeline' }, (c) =>
          buildTimeline(c, {
            releaseDir: run.releaseDir,
            phenomeDir: phenome.dir,
            version: phewas.phecodeVersion,
            mapsDir,
            minCodeCount: phewas.minCodeCount,
            survival: phewas.survival,
          }),
        );
        return {
          dir: t.dir,
          persons: t.persons,
          onsets: t.onsets,
          origin: t.origin,
          cutoff: t.cutoff,
          ties: phewas.survival?.ties ?? SURVIVAL_DEFAULTS.ties,
          nPersons: t.nPersons,
          nFollowed: t.nFollowed,
          leftOut: t.leftOut,
          personYears: t.personYears,
        };
      });
    },

    /**
     * The phecodes of a lead-locus PheWAS as step-1 traits (`relatedness: 'loco'`): every phecode
     * with at least `minCases` cases and `minControls` controls in the population, as a file of
     * n × K values in the analysis table's order (case 1, control 0, excluded NaN) and the list
     * of its phecodes (`<file>.json`). Idempotent: derived from the run folder and the phenome.
     */
    async materializePhewasStep1Traits(input: {
      run: RunContext;
      analysis: AnalysisTable;
      phenome: PhenomeRef;
      phewas: PhewasSpec;
    }): Promise<{ path: string; K: number; binary: true }> {
      const { run, analysis, phenome, phewas } = input;
      const path = join(run.runDir, 'step1-traits', `phecodes-${phenome.phecodeVersion}.f64`);
      if ((await exists(path)) && (await exists(`${path}.json`))) {
        const labels = JSON.parse(await readFile(`${path}.json`, 'utf8')) as string[];
        return { path, K: labels.length, binary: true };
      }
      return engine.compute(async (conn) => {
        const inp = await loadPhewasInputs(conn, analysis, phenome);
        const n = inp.a.n;
        const columns: Float64Array[] = [];
        const labels: string[] = [];
        for (const [k, set] of inp.sets.entries()) {
          const cases = set.cases.length;
          const controls = n - cases - set.excluded.length;
          if (cases < phewas.minCases || controls < phewas.minControls) continue;
          const y = new Float64Array(n);
          for (const i of set.cases) y[i] = 1;
          for (const i of set.excluded) y[i] = Number.NaN;
          columns.push(y);
          labels.push(inp.phecodes[k].phecode);
        }
        const all = new Float64Array(n * columns.length);
        for (const [k, y] of columns.entries()) all.set(y, k * n);
        await mkdir(join(run.runDir, 'step1-traits'), { recursive: true });
        await atomicWriteFile(path, new Uint8Array(all.buffer));
        await atomicWriteFile(`${path}.json`, JSON.stringify(labels));
        return { path, K: labels.length, binary: true as const };
      });
    },

    /** Test one predictor against every phecode. Idempotent: a finished predictor is reused. */
    async runPhewas(input: {
      run: RunContext;
      analysis: AnalysisTable;
      phenome: PhenomeRef;
      phewas: PhewasSpec;
      predictor: PhewasPredictor;
      /**
       * `relatedness: 'loco'`: the finished step 1 over the phecodes (materializePhewasStep1Traits)
       * whose LOCO prediction of the predictor's chromosome is each phecode's offset.
       */
      loco?: { dir: string; traitsPath: string } | null;
    }): Promise<PhewasResult> {
      const { run, analysis, phenome, phewas, predictor } = input;
      const out = join(run.runDir, 'phewas', `${safeName(predictor.id)}.parquet`);
      const record = `${out}.json`;
      if ((await exists(out)) && (await exists(record))) {
        return JSON.parse(await readFile(record, 'utf8')) as PhewasResult;
      }
      const ctx = Context.current();
      return engine.compute(async (conn) => {
        const inp = await loadPhewasInputs(conn, analysis, phenome);
        const x = await loadPredictor(conn, run, predictor, inp.ids, inp.a.sampleIdx);
        if (input.loco) {
          if (predictor.type !== 'variant')
            throw new Error('LOCO offsets need a variant predictor (its chromosome)');
          const labels = JSON.parse(await readFile(`${input.loco.traitsPath}.json`, 'utf8')) as string[];
          const offsets = await locoOffsets(input.loco.dir, predictor.chrom, labels.length);
          const at = new Map(labels.map((p, k) => [p, k]));
          for (const [k, set] of inp.sets.entries()) {
            const t = at.get(inp.phecodes[k].phecode);
            if (t !== undefined) set.offset = offsets[t];
          }
        }
        const batch: Omit<PhewasBatch, 'phecodes'> = {
          n: inp.a.n,
          x,
          cov: inp.a.cov,
          nCov: inp.a.c,
          sexCols: inp.sexCols,
          minCases: phewas.minCases,
          minControls: phewas.minControls,
          firth: phewas.firth,
          spa: phewas.spa,
          spaCaseFraction: phewas.spaCaseFraction,
        };
        const fits = await fitAll(batch, inp.sets, threading, heartbeatOf(ctx));
        return writePhewas(conn, run, phenome, predictor, inp.phecodes, fits);
      });
    },

    /**
     * Test many predictors (a genotype-first study's burden scores) against every phecode: one
     * null fit per phecode, a score test per predictor, the full fit only where the score p <
     * `phewas.scoreThreshold` or the score test is unreliable (phewas/many-fit.ts).
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
        await engine.compute(async (conn) => {
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
            spa: phewas.spa,
            spaCaseFraction: phewas.spaCaseFraction,
            scoreThreshold: phewas.scoreThreshold,
            minCarriers: phewas.scoreMinCarriers,
          };
          const perPhecode = await scoreAll(batch, inp.sets, threading, heartbeatOf(ctx));
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

    /**
     * The Cox PheWAS of one predictor (`phewas.model: 'cox'`; phewas/cox.ts): per phecode the
     * survival outcome from the run's timeline (prevalent cases excluded and counted), a Cox fit
     * of predictor + covariates (Firth as `phewas.firth`), Wald and score p and, for p < 0.05, the
     * proportional-hazards check. Rows go to `<runDir>/phewas-cox/` (table `phewas_cox_results`).
     * Idempotent: a finished predictor is reused.
     */
    async runPhewasCox(input: {
      run: RunContext;
      analysis: AnalysisTable;
      phenome: PhenomeRef;
      timeline: TimelineRefPayload;
      phewas: PhewasSpec;
      predictor: PhewasPredictor;
    }): Promise<PhewasResult> {
      const { run, analysis, phenome, timeline, phewas, predictor } = input;
      const out = coxPhewasPath(run.runDir, predictor.id);
      if ((await exists(out)) && (await exists(`${out}.json`)))
        return JSON.parse(await readFile(`${out}.json`, 'utf8')) as PhewasResult;
      const ctx = Context.current();
      return engine.compute(async (conn) => {
        const { inp, settings, sets } = await coxInputs(conn, analysis, phenome, timeline, phewas);
        const x = await loadPredictor(conn, run, predictor, inp.ids, inp.a.sampleIdx);
        const fits = await coxFitAll({ ...settings, x }, sets, threading, heartbeatOf(ctx));
        return writeCoxPhewas(conn, run, phenome, predictor, inp.phecodes, fits, timeScaleOf(timeline));
      });
    },

    /**
     * The Cox PheWAS of many predictors (a genotype-first study's burden scores): per phecode one
     * covariates-only Cox null fit, a score test per predictor, full fits where the score p <
     * `phewas.scoreThreshold` (phewas/cox-many.ts). Also writes Kaplan–Meier curves (carriers vs
     * non-carriers, phewas/km.ts) of the strongest associations for the report, to
     * `<runDir>/phewas-cox-km/km.parquet` (table `phewas_cox_km`). Idempotent per predictor.
     */
    async runPhewasCoxMany(input: {
      run: RunContext;
      analysis: AnalysisTable;
      phenome: PhenomeRef;
      timeline: TimelineRefPayload;
      phewas: PhewasSpec;
      predictors: PhewasPredictor[];
    }): Promise<PhewasResult[]> {
      const { run, analysis, phenome, timeline, phewas, predictors } = input;
      const done = new Map<string, PhewasResult>();
      for (const p of predictors) {
        const out = coxPhewasPath(run.runDir, p.id);
        if ((await exists(out)) && (await exists(`${out}.json`)))
          done.set(p.id, JSON.parse(await readFile(`${out}.json`, 'utf8')) as PhewasResult);
      }
      const kmPath = join(run.runDir, 'phewas-cox-km', 'km.parquet');
      const todo = predictors.filter((p) => !done.has(p.id));
      if (todo.length === 0 && (await exists(kmPath)))
        return predictors.map((p) => done.get(p.id) as PhewasResult);
      const ctx = Context.current();
      await engine.compute(async (conn) => {
        const { inp, settings, sets } = await coxInputs(conn, analysis, phenome, timeline, phewas);
        const xs = await loadPredictors(conn, run, predictors, inp.ids, inp.a.sampleIdx);
        if (todo.length > 0) {
          const at = todo.map((p) => predictors.indexOf(p));
          const perPhecode = await coxScoreAll(
            { ...settings, xs: at.map((k) => xs[k]), scoreThreshold: phewas.scoreThreshold },
            sets,
            threading,
            heartbeatOf(ctx),
          );
          for (const [t, p] of todo.entries()) {
            ctx.heartbeat({ writing: p.id });
            const fits = perPhecode.map((rows) => rows.fits[t]);
            done.set(
              p.id,
              await writeCoxPhewas(conn, run, phenome, p, inp.phecodes, fits, timeScaleOf(timeline)),
            );
          }
        }
        // Kaplan–Meier curves of the strongest associations: the significant ones (Bonferroni
        // over each predictor's tested phecodes), at most KM_CURVES, else the single best.
        const ranked = predictors
          .flatMap((p, k) => {
            const r = done.get(p.id) as PhewasResult;
            const bonf = 0.05 / Math.max(1, r.nTested);
            return r.top.map((t) => ({ k, phecode: t.phecode, p: t.p, significant: t.p < bonf }));
          })
          .sort((a, b) => a.p - b.p);
        const chosen = ranked.filter((r) => r.significant).slice(0, KM_CURVES);
        if (chosen.length === 0 && ranked.length > 0) chosen.push(ranked[0]);
        const kmRows: KmParquetRow[] = [];
        const byCode = new Map(inp.phecodes.map((ph, i) => [ph.phecode, i]));
        for (const c of chosen) {
          const set = sets[byCode.get(c.phecode) as number];
          const x = xs[c.k];
          const o = coxOutcome(settings, set, x);
          const curves = kaplanMeierRows({
            phecode: c.phecode,
            predictor: predictors[c.k].id,
            start: o.start,
            stop: o.stop,
            event: o.event,
            x: Float64Array.from(o.rows, (i) => x[i]),
          });
          for (const row of curves)
            kmRows.push({ ...row, predictor: predictors[c.k].id, phecode: c.phecode });
        }
        await mkdir(join(run.runDir, 'phewas-cox-km'), { recursive: true });
        await writeKmParquet(conn, kmRows, kmPath);
      });
      return predictors.map((p) => done.get(p.id) as PhewasResult);
    },
  };
}
