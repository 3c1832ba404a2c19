/**
 * Covariates of a study for the persons of a cohort, as temp table `_covar`
 * (person_id VARCHAR, then one DOUBLE column per design column).
 *
 * Built-ins (schemas/phenotype.ts): `age` (completed years at the reference date, or at the
 * person's last condition/measurement with `ageAt: 'lastRecord'`), `age2` = (age − mean age)²
 * (centred, so age and age² are not collinear; the fitted model is the same as with raw
 * age²), `sex`, `ehrLength` (years between the first and last dated record; 0 without
 * records), `nVisits` (distinct dates with a condition or measurement), `PCk` (from the
 * release's PCs), and `table.column` from a user table (checked against its schema).
 *
 * Hygiene, in order:
 * 1. complete cases: persons with a missing value in any requested covariate are dropped
 *    (counted in `nDroppedMissing`);
 * 2. categorical columns (text, boolean, and `sex`) are one-hot encoded against a reference
 *    level, the most frequent one (ties: alphabetical); columns are named `<covariate>=<level>`;
 *    more than `MAX_COVARIATE_LEVELS` levels is an `InputError`;
 * 3. constant columns are dropped and reported;
 * 4. collinearity: a pair with |Pearson r| > maxCorrelation (PLINK2 default 0.999), a singular
 *    correlation matrix, or a variance inflation factor VIF_j = [R⁻¹]_jj > maxVif (PLINK2
 *    `--vif` default 50) is an `InputError` naming the columns;
 * 5. standardisation: non-one-hot columns are centred and scaled to SD 1 (`standardize`).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import type { CovariateOptions } from '../schemas/phenotype.js';
import { checkColumn, checkUserTable, isNumericType, Params } from './identifiers.js';
import type { ReleaseTables } from './release.js';

export interface CovariateInput {
  rel: ReleaseTables;
  /** Temp table or view with column person_id: the cohort. */
  cohortTable: string;
  covariates: string[];
  options: CovariateOptions;
  referenceDate: string;
  /** `pcs.parquet` of the release (needed for PCk). */
  pcsPath?: string;
  specFile?: string;
}

export interface CovariateResult {
  /** Design column names, in `_covar` order. */
  columns: string[];
  n: number;
  nDroppedMissing: number;
  droppedConstant: string[];
  oneHot: { covariate: string; reference: string; levels: string[] }[];
  /** Mean and SD used to standardise each column (null when not standardised). */
  scaling: Record<string, { mean: number; sd: number } | null>;
  maxAbsCorrelation: number;
  maxVif: number;
}

/**
 * Most levels a categorical covariate may have (its reference level included): each level
 * beyond the first is a design column, and hundreds of them (typically a numeric column read
 * as text) leave every variant collinear. More is an `InputError` naming the covariate.
 */
export const MAX_COVARIATE_LEVELS = 50;

interface RawColumn {
  name: string;
  kind: 'numeric' | 'categorical';
  alias: string;
}

/** Invert a symmetric positive (semi)definite k × k matrix by Gauss–Jordan; null if singular. */
function invert(A: Float64Array, k: number): Float64Array | null {
  const M = Float64Array.from(A);
  const I = new Float64Array(k * k);
  for (let i = 0; i < k; i++) I[i * k + i] = 1;
  for (let c = 0; c < k; c++) {
    let piv = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(M[r * k + c]) > Math.abs(M[piv * k + c])) piv = r;
    if (Math.abs(M[piv * k + c]) < 1e-10) return null;
    if (piv !== c) {
      for (let j = 0; j < k; j++) {
        [M[c * k + j], M[piv * k + j]] = [M[piv * k + j], M[c * k + j]];
        [I[c * k + j], I[piv * k + j]] = [I[piv * k + j], I[c * k + j]];
      }
    }
    const d = M[c * k + c];
    for (let j = 0; j < k; j++) {
      M[c * k + j] /= d;
      I[c * k + j] /= d;
    }
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = M[r * k + c];
      if (f === 0) continue;
      for (let j = 0; j < k; j++) {
        M[r * k + j] -= f * M[c * k + j];
        I[r * k + j] -= f * I[c * k + j];
      }
    }
  }
  return I;
}

/** Build `_covar`. */
export async function buildCovariates(
  conn: DuckDBConnection,
  input: CovariateInput,
): Promise<CovariateResult> {
  const { rel, options } = input;
  const params = new Params();
  const raw: RawColumn[] = [];
  const joins: string[] = [];
  let refParam: string | undefined;
  const ref = () => {
    refParam ??= params.add(input.referenceDate);
    return refParam;
  };
  const records = `(SELECT person_id, date FROM read_parquet(${sqlString(rel.conditions)}) WHERE date IS NOT NULL
                    UNION ALL SELECT person_id, date FROM read_parquet(${sqlString(rel.measurements)}) WHERE date IS NOT NULL)`;
  joins.push(`LEFT JOIN (SELECT person_id, min(date) AS first_date, max(date) AS last_date,
                     count(DISTINCT date)::DOUBLE AS n_visits FROM ${records} GROUP BY person_id) r USING (person_id)`);
  joins.push(`LEFT JOIN read_parquet(${sqlString(rel.persons)}) p USING (person_id)`);
  const select: string[] = ['k.person_id'];
  const ageExpr = () => {
    const ageAt = options.ageAt === 'lastRecord' ? 'r.last_date' : `${ref()}::DATE`;
    return `coalesce(date_sub('year', p.birth_date, ${ageAt}), year(${ageAt}) - p.birth_year)::DOUBLE`;
  };
  const tables = new Map<string, string>();
  let pcsJoined = false;
  for (const [i, cov] of input.covariates.entries()) {
    const alias = `c${i}`;
    const field = `covariates[${i}]`;
    if (cov === 'age' || cov === 'age2') {
      select.push(`${ageExpr()} AS ${alias}`);
      raw.push({ name: cov, kind: 'numeric', alias });
    } else if (cov === 'sex') {
      select.push(`p.sex AS ${alias}`);
      raw.push({ name: cov, kind: 'categorical', alias });
    } else if (cov === 'ehrLength') {
      select.push(`coalesce(date_diff('day', r.first_date, r.last_date) / 365.25, 0)::DOUBLE AS ${alias}`);
      raw.push({ name: cov, kind: 'numeric', alias });
    } else if (cov === 'nVisits') {
      select.push(`coalesce(r.n_visits, 0)::DOUBLE AS ${alias}`);
      raw.push({ name: cov, kind: 'numeric', alias });
    } else if (/^PC\d+$/.test(cov)) {
      if (!input.pcsPath) {
        throw new InputError(`${cov} needs the release's genetic PCs; compute them first`, {
          file: input.specFile,
          field,
        });
      }
      if (!pcsJoined) {
        const d = await conn.runAndReadAll(
          `DESCRIBE SELECT * FROM read_parquet(${sqlString(input.pcsPath)})`,
        );
        const have = new Set(d.getRowObjectsJS().map((r) => r.column_name as string));
        const maxPc = input.covariates.filter((c) => /^PC\d+$/.test(c)).find((c) => !have.has(c));
        if (maxPc) {
          throw new InputError(
            `${maxPc} is not among the computed PCs (${[...have].filter((c) => c.startsWith('PC')).join(', ')})`,
            {
              file: input.specFile,
              field,
            },
          );
        }
        joins.push(`LEFT JOIN read_parquet(${sqlString(input.pcsPath)}) pcs USING (person_id)`);
        pcsJoined = true;
      }
      select.push(`pcs.${sqlIdent(cov)}::DOUBLE AS ${alias}`);
      raw.push({ name: cov, kind: 'numeric', alias });
    } else {
      const dot = cov.indexOf('.');
      const tname = cov.slice(0, dot);
      const cname = cov.slice(dot + 1);
      const table = await checkUserTable(conn, rel, tname, field, input.specFile);
      const type = checkColumn(table, cname, field, input.specFile);
      let talias = tables.get(tname);
      if (!talias) {
        talias = `u${tables.size}`;
        tables.set(tname, talias);
        joins.push(
          `LEFT JOIN (SELECT * REPLACE (CAST(person_id AS VARCHAR) AS person_id) FROM read_parquet(${sqlString(table.path)})) ${talias} USING (person_id)`,
        );
      }
      const numeric = isNumericType(type);
      select.push(`${talias}.${sqlIdent(cname)}${numeric ? '::DOUBLE' : '::VARCHAR'} AS ${alias}`);
      raw.push({ name: cov, kind: numeric ? 'numeric' : 'categorical', alias });
    }
  }
  const sql = `SELECT ${select.join(', ')} FROM (SELECT DISTINCT person_id FROM ${input.cohortTable}) k ${joins.join(' ')}
               ORDER BY k.person_id`;
  const rows = (await conn.runAndReadAll(sql, params.values)).getRowObjectsJS();
  const persons = new Set<string>();
  for (const r of rows) {
    if (persons.has(r.person_id as string)) {
      throw new InputError(`person ${r.person_id} has several rows in a covariate table`, {
        field: 'covariates',
      });
    }
    persons.add(r.person_id as string);
  }
  const complete = rows.filter((r) =>
    raw.every((c) => r[c.alias] !== null && r[c.alias] !== undefined && !Number.isNaN(r[c.alias])),
  );
  const n = complete.length;
  if (n === 0) throw new InputError('no person of the cohort has every covariate', { field: 'covariates' });

  // Design columns.
  const names: string[] = [];
  const cols: Float64Array[] = [];
  const isDummy: boolean[] = [];
  const oneHot: CovariateResult['oneHot'] = [];
  for (const c of raw) {
    if (c.kind === 'numeric') {
      const v = Float64Array.from(complete.map((r) => Number(r[c.alias])));
      if (c.name === 'age2') {
        const mu = v.reduce((a, b) => a + b, 0) / n;
        for (let i = 0; i < n; i++) v[i] = (v[i] - mu) ** 2;
      }
      names.push(c.name);
      cols.push(v);
      isDummy.push(false);
    } else {
      const values = complete.map((r) => String(r[c.alias]));
      const freq = new Map<string, number>();
      for (const v of values) freq.set(v, (freq.get(v) ?? 0) + 1);
      const levels = [...freq.keys()].sort(
        (a, b) => (freq.get(b) as number) - (freq.get(a) as number) || (a < b ? -1 : 1),
      );
      if (levels.length > MAX_COVARIATE_LEVELS) {
        const numbers = levels.filter((l) => /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(l)).length;
        throw new InputError(
          `categorical covariate ${c.name} has ${levels.length} levels among ${n} persons (at most ${MAX_COVARIATE_LEVELS}: each level is a design column); e.g. ${levels
            .slice(0, 5)
            .map((l) => JSON.stringify(l))
            .join(
              ', ',
            )}${numbers > levels.length / 2 ? `; ${numbers} of the levels are numbers, so the column was probably meant to be numeric` : ''}`,
          { file: input.specFile, field: `covariates[${input.covariates.indexOf(c.name)}]` },
          numbers > levels.length / 2
            ? 'fix the column\'s non-numeric values in the release (or declare it with the manifest\'s "types") and ingest it again'
            : 'group the levels into fewer categories in the table, or leave the covariate out',
        );
      }
      oneHot.push({ covariate: c.name, reference: levels[0], levels });
      for (const level of levels.slice(1)) {
        names.push(`${c.name}=${level}`);
        cols.push(Float64Array.from(values.map((v) => (v === level ? 1 : 0))));
        isDummy.push(true);
      }
    }
  }
  // Drop constant columns.
  const droppedConstant: string[] = [];
  const keep: number[] = [];
  cols.forEach((v, j) => {
    const first = v[0];
    if (v.every((x) => x === first)) droppedConstant.push(names[j]);
    else keep.push(j);
  });
  const k = keep.length;
  const means = keep.map((j) => cols[j].reduce((a, b) => a + b, 0) / n);
  const sds = keep.map((j, t) =>
    Math.sqrt(cols[j].reduce((a, b) => a + (b - means[t]) ** 2, 0) / Math.max(1, n - 1)),
  );
  // Correlation matrix, max |r|, VIF.
  const R = new Float64Array(k * k);
  let maxAbs = 0;
  for (let a = 0; a < k; a++) {
    R[a * k + a] = 1;
    for (let b = a + 1; b < k; b++) {
      let s = 0;
      const x = cols[keep[a]];
      const y = cols[keep[b]];
      for (let i = 0; i < n; i++) s += (x[i] - means[a]) * (y[i] - means[b]);
      const r = s / ((n - 1) * sds[a] * sds[b]);
      R[a * k + b] = r;
      R[b * k + a] = r;
      if (Math.abs(r) > maxAbs) maxAbs = Math.abs(r);
      if (Math.abs(r) > options.maxCorrelation) {
        throw new InputError(
          `covariates ${names[keep[a]]} and ${names[keep[b]]} are collinear (r = ${r.toFixed(4)}, limit ${options.maxCorrelation}); drop one`,
          { file: input.specFile, field: 'covariates' },
        );
      }
    }
  }
  let maxVif = k > 0 ? 1 : 0;
  if (k > 1) {
    const inv = invert(R, k);
    if (!inv) {
      throw new InputError(
        `covariates ${keep.map((j) => names[j]).join(', ')} are linearly dependent (singular correlation matrix); drop one of the dependent columns`,
        { file: input.specFile, field: 'covariates' },
      );
    }
    for (let a = 0; a < k; a++) {
      const vif = inv[a * k + a];
      maxVif = Math.max(maxVif, vif);
      if (vif > options.maxVif) {
        throw new InputError(
          `covariate ${names[keep[a]]} has variance inflation factor ${vif.toFixed(1)} > ${options.maxVif}: it is nearly a linear combination of the others`,
          { file: input.specFile, field: 'covariates' },
        );
      }
    }
  }
  const scaling: CovariateResult['scaling'] = {};
  const outNames = keep.map((j) => names[j]);
  const outCols = keep.map((j, t) => {
    const v = cols[j];
    if (options.standardize && !isDummy[j]) {
      scaling[names[j]] = { mean: means[t], sd: sds[t] };
      return v.map((x) => (x - means[t]) / sds[t]);
    }
    scaling[names[j]] = null;
    return v;
  });
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE _covar (person_id VARCHAR${outNames.map((c) => `, ${sqlIdent(c)} DOUBLE`).join('')})`,
  );
  const app = await conn.createAppender('_covar', 'main', 'temp');
  for (let i = 0; i < n; i++) {
    app.appendVarchar(complete[i].person_id as string);
    for (const v of outCols) app.appendDouble(v[i]);
    app.endRow();
  }
  app.closeSync();
  return {
    columns: outNames,
    n,
    nDroppedMissing: rows.length - n,
    droppedConstant,
    oneHot,
    scaling,
    maxAbsCorrelation: maxAbs,
    maxVif,
  };
}
