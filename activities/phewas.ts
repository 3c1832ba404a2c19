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
 * against the null fit, with the fit's β and SE (test `spa`; phewas/fit.ts).
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
import { Context } from '@temporalio/activity';
import { asEngineContext, type EngineContext } from '../engine/context.js';
import { sqlString } from '../engine/duckdb.js';
import { atomicProduce, atomicWriteFile, exists } from '../engine/fsutil.js';
import { locoOffsets } from '../gwas/step1.js';
import { buildPhenome } from '../phenotype/build.js';
import { mapTables, resolveMapsDir } from '../phenotype/maps.js';
import type { PhewasBatch } from '../phewas/fit.js';
import { loadPhewasInputs, loadPredictor, loadPredictors, safeName } from '../phewas/inputs.js';
import type { ManyBatch } from '../phewas/many-fit.js';
import { fitAll, type Heartbeat, scoreAll, type Threading } from '../phewas/schedule.js';
import { writePhewas } from '../phewas/write.js';
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

type PhewasSpec = StudySpec['phewas'];

function heartbeatOf(ctx: Context): Heartbeat {
  return { heartbeat: (d) => ctx.heartbeat(d), signal: ctx.cancellationSignal };
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

    /** Test one predictor against every phecode. Idempotent: a finished predictor is reused. */
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
  };
}
