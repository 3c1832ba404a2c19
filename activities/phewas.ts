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
 * Every phecode gets a row, tested or not: with fewer than `minCases` cases or `minControls`
 * controls the status is `too_few_cases` / `too_few_controls` and β, SE and p are NULL. A
 * predictor that is constant among the tested persons is `monomorphic`. Significance after
 * Bonferroni is p < 0.05 / (number of phecodes tested); `bh_q` would follow the same count.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBBlobValue, DuckDBConnection } from '@duckdb/node-api';
import { Context } from '@temporalio/activity';
import { sqlIdent, sqlString, withCompute } from '../engine/duckdb.js';
import { atomicProduce, atomicWriteFile, exists } from '../engine/fsutil.js';
import { decodeDs, GT_PACKED_MISSING, packedCode } from '../engine/genotypes.js';
import { buildPhenome } from '../phenotype/build.js';
import { mapTables } from '../phenotype/maps.js';
import type { StudySpec } from '../schemas/study.js';
import type {
  AnalysisTable,
  PhenomeRef,
  PhewasPredictor,
  PhewasResult,
  RunContext,
} from '../schemas/study-io.js';
import { logisticFitWithFallback } from '../stats/logistic-fit.js';
import type { EngineConfig } from '../temporal.config.js';
import { loadAnalysis } from './gwas.js';
import { cancellableStep } from './keepalive.js';

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
  test: 'wald' | 'firth' | null;
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
      const mapsDir = phewas.maps ?? join(config.dataDir, 'phecode', phewas.phecodeVersion);
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
        const a = await loadAnalysis(conn, analysis);
        const ids = (
          await conn.runAndReadAll(
            `SELECT CAST(person_id AS VARCHAR) FROM read_parquet(${sqlString(analysis.path)}) ORDER BY sample_idx`,
          )
        )
          .getRows()
          .map((r) => String(r[0]));
        const x = await loadPredictor(conn, run, predictor, ids, a.sampleIdx);
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
        ).getRowObjectsJS() as {
          phecode: string;
          description: string | null;
          category: string | null;
          sex: string | null;
          /** BIT string over cohort person_idx ('1' = in the set), or NULL: see phenotype/phenome.ts. */
          cases: string | null;
          excluded: string | null;
        }[];

        const n = a.n;
        const status = new Int8Array(n); // 1 case, 0 control, -1 excluded or no predictor
        const rows: PhewasRow[] = [];
        for (let k = 0; k < phecodes.length; k++) {
          const ph = phecodes[k];
          status.fill(0);
          for (let i = 0; i < n; i++) if (Number.isNaN(x[i])) status[i] = -1;
          const excl = ph.excluded ?? '';
          const cases = ph.cases ?? '';
          const lim = Math.min(sampleOfPerson.length, Math.max(excl.length, cases.length));
          for (let p = 0; p < lim; p++) {
            const i = sampleOfPerson[p];
            if (i < 0) continue;
            if (excl.charCodeAt(p) === 49) status[i] = -1;
            else if (cases.charCodeAt(p) === 49 && !Number.isNaN(x[i])) status[i] = 1;
          }
          let nCases = 0;
          let nControls = 0;
          for (let i = 0; i < n; i++) {
            if (status[i] === 1) nCases++;
            else if (status[i] === 0) nControls++;
          }
          const base: PhewasRow = {
            predictor: predictor.id,
            predictor_type: predictor.type,
            phecode: ph.phecode,
            phecode_version: phenome.phecodeVersion,
            description: ph.description,
            category: ph.category,
            n_cases: nCases,
            n_controls: nControls,
            n_excluded: n - nCases - nControls,
            beta: null,
            se: null,
            odds_ratio: null,
            ci_low: null,
            ci_high: null,
            p: null,
            neg_log10_p: null,
            test: null,
            status: 'ok',
            reason: null,
          };
          if (nCases < phewas.minCases) {
            rows.push({
              ...base,
              status: 'too_few_cases',
              reason: `${nCases} cases < minCases ${phewas.minCases}`,
            });
            continue;
          }
          if (nControls < phewas.minControls) {
            rows.push({
              ...base,
              status: 'too_few_controls',
              reason: `${nControls} controls < minControls ${phewas.minControls}`,
            });
            continue;
          }
          const used = nCases + nControls;
          const covIdx = analysis.covariates.map((_, j) => j).filter((j) => !(ph.sex && sexCols.includes(j)));
          const pcols = 2 + covIdx.length;
          const design = new Float64Array(used * pcols);
          const y = new Float64Array(used);
          let r = 0;
          let xmin = Number.POSITIVE_INFINITY;
          let xmax = Number.NEGATIVE_INFINITY;
          for (let i = 0; i < n; i++) {
            if (status[i] < 0) continue;
            y[r] = status[i];
            design[r] = 1;
            design[used + r] = x[i];
            if (x[i] < xmin) xmin = x[i];
            if (x[i] > xmax) xmax = x[i];
            for (let t = 0; t < covIdx.length; t++) design[(2 + t) * used + r] = a.cov[covIdx[t] * n + i];
            r++;
          }
          if (xmin === xmax) {
            rows.push({
              ...base,
              status: 'monomorphic',
              reason: 'the predictor is constant among cases and controls',
            });
            continue;
          }
          const fit = logisticFitWithFallback(y, design, pcols, phewas.firth);
          if (fit.status !== 'ok') {
            rows.push({ ...base, test: fit.test, status: fit.status, reason: `logistic fit: ${fit.status}` });
            continue;
          }
          rows.push({
            ...base,
            beta: fit.beta[1],
            se: fit.se[1],
            odds_ratio: fit.oddsRatio[1],
            ci_low: fit.orLower95[1],
            ci_high: fit.orUpper95[1],
            p: fit.pValue[1],
            neg_log10_p: fit.mlog10p[1],
            test: fit.test,
          });
          if (k % 50 === 0) {
            ctx.heartbeat({ phecodes: k });
            if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
          }
        }

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
      });
    },
  };
}
