/**
 * Cohort spec → one parameterised DuckDB statement over the release's Parquet tables.
 *
 * Clauses (all combined with AND): age range at the reference date, sex, ancestry labels,
 * `include` criteria (each must hold) and `exclude` criteria (none may hold). A criterion is
 * having a phecode (≥ minCodeCount distinct dates, optionally within a date window), having
 * ICD codes (exact or prefix, optionally by vocabulary and window), a measurement
 * threshold (any measurement row meeting it, optionally in a unit and window), or
 * membership in a user table (optionally with a column non-NULL or equal to given values).
 *
 * Age = completed years between birth_date and the reference date; when birth_date is NULL,
 * year(reference) − birth_year. The reference date defaults to the latest condition or
 * measurement date in the release, so a cohort is reproducible for a release.
 *
 * Values are bound ($n); user table and column names are checked against the real files
 * and schemas (`identifiers.ts`) and quoted; comparison operators come from a fixed list.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { listValue } from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import type { CohortCriterion, CohortSpec, DateWindow } from '../schemas/phenotype.js';
import { checkColumn, checkUserTable, Params } from './identifiers.js';
import { mapsLoaded, mapTables } from './maps.js';
import type { ReleaseTables } from './release.js';

export interface CompiledCohort {
  /** SELECT person_id … with `$n` placeholders. */
  sql: string;
  params: Params['values'];
  referenceDate: string;
}

const OPS: Record<string, string> = { '<': '<', '<=': '<=', '>': '>', '>=': '>=', '=': '=', '!=': '<>' };

function windowSql(column: string, w: DateWindow | undefined, params: Params): string {
  let out = '';
  if (w?.from) out += ` AND ${column} >= ${params.add(w.from)}::DATE`;
  if (w?.to) out += ` AND ${column} <= ${params.add(w.to)}::DATE`;
  return out;
}

/** Named statement: the reference date default (latest dated record of the release). */
export async function defaultReferenceDate(conn: DuckDBConnection, rel: ReleaseTables): Promise<string> {
  const r = await conn.runAndReadAll(
    `SELECT strftime(max(d), '%Y-%m-%d') AS d FROM (
       SELECT max(date) AS d FROM read_parquet(${sqlString(rel.conditions)})
       UNION ALL SELECT max(date) FROM read_parquet(${sqlString(rel.measurements)}))`,
  );
  const d = r.getRowObjectsJS()[0].d as string | null;
  if (!d)
    throw new InputError('the release has no dated records; set cohort.referenceDate', {
      field: 'referenceDate',
    });
  return d;
}

async function criterionSql(
  conn: DuckDBConnection,
  rel: ReleaseTables,
  c: CohortCriterion,
  field: string,
  params: Params,
  specFile?: string,
): Promise<string> {
  switch (c.type) {
    case 'phecode': {
      if (!(await mapsLoaded(conn, c.phecodeVersion))) {
        throw new Error(`phecode ${c.phecodeVersion} maps must be loaded before compiling ${field}`);
      }
      const t = mapTables(c.phecodeVersion);
      return `p.person_id IN (
        SELECT c.person_id FROM read_parquet(${sqlString(rel.conditions)}) c
        JOIN ${t.map} m ON m.vocabulary = c.vocabulary AND m.code = c.code
        WHERE m.phecode = ${params.add(c.phecode)} AND c.date IS NOT NULL${windowSql('c.date', c.window, params)}
        GROUP BY c.person_id HAVING count(DISTINCT c.date) >= ${params.add(c.minCodeCount)})`;
    }
    case 'icd': {
      const terms = c.codes.map((code) =>
        c.prefix
          ? `starts_with(c.code, ${params.add(code.toUpperCase())})`
          : `c.code = ${params.add(code.toUpperCase())}`,
      );
      const vocab = c.vocabulary ? ` AND c.vocabulary = ${params.add(c.vocabulary)}` : '';
      return `p.person_id IN (
        SELECT c.person_id FROM read_parquet(${sqlString(rel.conditions)}) c
        WHERE (${terms.join(' OR ')})${vocab}${windowSql('c.date', c.window, params)})`;
    }
    case 'measurement': {
      const op = OPS[c.op];
      if (!op)
        throw new InputError(`unknown operator ${JSON.stringify(c.op)}`, {
          file: specFile,
          field: `${field}.op`,
        });
      const unit = c.unit !== undefined ? ` AND lower(x.unit) = lower(${params.add(c.unit)})` : '';
      return `p.person_id IN (
        SELECT x.person_id FROM read_parquet(${sqlString(rel.measurements)}) x
        WHERE x.name = ${params.add(c.name)} AND x.value ${op} ${params.add(c.value)}${unit}${windowSql('x.date', c.window, params)})`;
    }
    case 'table': {
      const table = await checkUserTable(conn, rel, c.table, `${field}.table`, specFile);
      let where = '';
      if (c.column !== undefined) {
        checkColumn(table, c.column, `${field}.column`, specFile);
        const col = sqlIdent(c.column);
        where = c.values
          ? ` WHERE CAST(u.${col} AS VARCHAR) IN (SELECT unnest(${params.add(listValue(c.values.map(String)))}::VARCHAR[]))`
          : ` WHERE u.${col} IS NOT NULL`;
      } else if (c.values) {
        throw new InputError('values needs a column', { file: specFile, field: `${field}.values` });
      }
      return `p.person_id IN (SELECT CAST(u.person_id AS VARCHAR) FROM read_parquet(${sqlString(table.path)}) u${where})`;
    }
  }
}

/**
 * Compile a (zod-parsed) cohort spec. Phecode criteria need their maps loaded in `conn`
 * (`loadPhecodeMaps`). `specFile` names the spec in error messages.
 */
export async function compileCohort(
  conn: DuckDBConnection,
  rel: ReleaseTables,
  spec: CohortSpec,
  specFile?: string,
): Promise<CompiledCohort> {
  const params = new Params();
  const referenceDate = spec.referenceDate ?? (await defaultReferenceDate(conn, rel));
  const where: string[] = [];
  if (spec.ageRange) {
    const ref = params.add(referenceDate);
    where.push(
      `coalesce(date_sub('year', p.birth_date, ${ref}::DATE), year(${ref}::DATE) - p.birth_year)
         BETWEEN ${params.add(spec.ageRange[0])} AND ${params.add(spec.ageRange[1])}`,
    );
  }
  if (spec.sex) where.push(`p.sex IN (SELECT unnest(${params.add(listValue(spec.sex))}::VARCHAR[]))`);
  if (spec.ancestry) {
    where.push(`p.ancestry IN (SELECT unnest(${params.add(listValue(spec.ancestry))}::VARCHAR[]))`);
  }
  for (const [i, c] of (spec.include ?? []).entries()) {
    where.push(await criterionSql(conn, rel, c, `cohort.include[${i}]`, params, specFile));
  }
  for (const [i, c] of (spec.exclude ?? []).entries()) {
    where.push(`NOT (${await criterionSql(conn, rel, c, `cohort.exclude[${i}]`, params, specFile)})`);
  }
  const sql = `SELECT DISTINCT p.person_id FROM read_parquet(${sqlString(rel.persons)}) p
    WHERE ${where.length ? where.join('\n      AND ') : 'TRUE'}`;
  return { sql, params: params.values, referenceDate };
}

/** Run a compiled cohort into temp table `name` (person_id); returns its size. */
export async function materializeCohort(conn: DuckDBConnection, compiled: CompiledCohort, name = '_cohort') {
  if (!/^_?[a-z][a-z0-9_]*$/.test(name)) throw new Error(`bad temp table name ${name}`);
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${name} AS ${compiled.sql}`, compiled.params);
  const r = await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM ${name}`);
  return r.getRowObjectsJS()[0].n as number;
}
