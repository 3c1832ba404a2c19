/**
 * Phenotypes that are not phecodes: quantitative traits from measurements, and binary or
 * quantitative traits from a user-table column. Each builds temp table `_trait`
 * (person_id VARCHAR, y DOUBLE) for the persons of a cohort table that have a value.
 *
 * Measurement traits:
 * 1. rows of the named measurement (optionally within a date window; NaN/inf values dropped);
 * 2. unit check (units compare case-insensitively): with `unit` set, rows in any other unit
 *    are dropped and counted; without it, more than one distinct unit is an error listing them;
 * 3. per-person aggregate: median, mean, min, max, first or last (by date; ties on one date
 *    broken by the smaller value);
 * 4. optional outlier filter: drop persons with |y − mean| > outlierSd · SD (over persons);
 * 5. optional rank-based inverse normal transform (`rint.ts`, Blom offset 3/8).
 *
 * Column traits: the column must exist (checked against the table's real schema). Binary:
 * BOOLEAN, or numbers in {0, 1}, or text in {0, 1, true, false, case, control} (case-insensitive);
 * anything else is an error naming the values. Quantitative: a numeric column, or text whose
 * every non-NULL value parses as a number. A person with two rows is an error.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import type { PhenotypeSpec } from '../schemas/phenotype.js';
import { checkColumn, checkUserTable, isNumericType, Params } from './identifiers.js';
import type { ReleaseTables } from './release.js';
import { rankInverseNormal } from './rint.js';

type MeasurementSpec = Extract<PhenotypeSpec, { type: 'measurement' }>;
type ColumnSpec = Extract<PhenotypeSpec, { type: 'column' }>;

export interface TraitResult {
  n: number;
  /** Rows dropped for being in another unit. */
  droppedUnit: number;
  /** Persons dropped as outliers. */
  droppedOutliers: number;
  unit: string | null;
  binary: boolean;
  nCases?: number;
  nControls?: number;
}

const AGG: Record<MeasurementSpec['aggregate'], string> = {
  median: 'median(value)',
  mean: 'avg(value)',
  min: 'min(value)',
  max: 'max(value)',
  first: 'first(value ORDER BY date ASC, value ASC)',
  last: 'last(value ORDER BY date ASC, value DESC)',
};

async function applyRint(conn: DuckDBConnection): Promise<void> {
  const rows = (
    await conn.runAndReadAll('SELECT person_id, y FROM _trait ORDER BY person_id')
  ).getRowObjectsJS();
  const y = Float64Array.from(rows.map((r) => r.y as number));
  const z = rankInverseNormal(y);
  await conn.run('CREATE OR REPLACE TEMP TABLE _trait (person_id VARCHAR, y DOUBLE)');
  const app = await conn.createAppender('_trait', 'main', 'temp');
  rows.forEach((r, i) => {
    app.appendVarchar(r.person_id as string);
    app.appendDouble(z[i]);
    app.endRow();
  });
  app.closeSync();
}

/** Build `_trait` from measurements for the persons in `cohortTable`. */
export async function measurementTrait(
  conn: DuckDBConnection,
  rel: ReleaseTables,
  spec: MeasurementSpec,
  cohortTable: string,
  specFile?: string,
): Promise<TraitResult> {
  const params = new Params();
  const name = params.add(spec.name);
  let where = `name = ${name} AND isfinite(value) AND person_id IN (SELECT person_id FROM ${cohortTable})`;
  if (spec.window?.from) where += ` AND date >= ${params.add(spec.window.from)}::DATE`;
  if (spec.window?.to) where += ` AND date <= ${params.add(spec.window.to)}::DATE`;
  const src = `read_parquet(${sqlString(rel.measurements)})`;
  const units = (
    await conn.runAndReadAll(
      `SELECT coalesce(mode(unit), '') AS unit, count(*)::INTEGER AS n FROM ${src} WHERE ${where}
       GROUP BY lower(coalesce(unit, '')) ORDER BY n DESC, unit`,
      params.values,
    )
  ).getRowObjectsJS() as { unit: string; n: number }[];
  if (units.length === 0) {
    throw new InputError(`no measurement named ${JSON.stringify(spec.name)} in the cohort`, {
      file: specFile,
      field: 'phenotype.name',
    });
  }
  let droppedUnit = 0;
  let unit: string | null = units[0].unit || null;
  if (spec.unit !== undefined) {
    const want = spec.unit.toLowerCase();
    droppedUnit = units.filter((u) => u.unit.toLowerCase() !== want).reduce((a, u) => a + u.n, 0);
    if (!units.some((u) => u.unit.toLowerCase() === want)) {
      throw new InputError(
        `no ${spec.name} row is in unit ${JSON.stringify(spec.unit)} (units found: ${units.map((u) => `${u.unit || '(none)'} ×${u.n}`).join(', ')})`,
        { file: specFile, field: 'phenotype.unit' },
      );
    }
    where += ` AND lower(coalesce(unit, '')) = lower(${params.add(spec.unit)})`;
    unit = spec.unit;
  } else if (units.length > 1) {
    throw new InputError(
      `${spec.name} is recorded in ${units.length} units (${units.map((u) => `${u.unit || '(none)'} ×${u.n}`).join(', ')}); set phenotype.unit to choose one`,
      { file: specFile, field: 'phenotype.unit' },
    );
  }
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE _trait AS
     SELECT person_id, ${AGG[spec.aggregate]}::DOUBLE AS y FROM ${src} WHERE ${where} GROUP BY person_id`,
    params.values,
  );
  let droppedOutliers = 0;
  if (spec.outlierSd !== undefined) {
    const before = await count(conn);
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE _trait AS
       SELECT person_id, y FROM (
         SELECT person_id, y, avg(y) OVER () AS mu, stddev_samp(y) OVER () AS sd FROM _trait)
       WHERE sd IS NULL OR sd = 0 OR abs(y - mu) <= $1 * sd`,
      [spec.outlierSd],
    );
    droppedOutliers = before - (await count(conn));
  }
  if (spec.transform === 'rint') await applyRint(conn);
  return { n: await count(conn), droppedUnit, droppedOutliers, unit, binary: false };
}

async function count(conn: DuckDBConnection): Promise<number> {
  return (await conn.runAndReadAll('SELECT count(*)::INTEGER AS n FROM _trait')).getRowObjectsJS()[0]
    .n as number;
}

const BINARY_TEXT: Record<string, number> = { '0': 0, '1': 1, false: 0, true: 1, control: 0, case: 1 };

/** Build `_trait` from a user-table column for the persons in `cohortTable`. */
export async function columnTrait(
  conn: DuckDBConnection,
  rel: ReleaseTables,
  spec: ColumnSpec,
  cohortTable: string,
  specFile?: string,
): Promise<TraitResult> {
  const table = await checkUserTable(conn, rel, spec.table, 'phenotype.table', specFile);
  const type = checkColumn(table, spec.column, 'phenotype.column', specFile);
  const col = sqlIdent(spec.column);
  const src = `(SELECT CAST(person_id AS VARCHAR) AS person_id, ${col} AS v FROM read_parquet(${sqlString(table.path)})
                WHERE CAST(person_id AS VARCHAR) IN (SELECT person_id FROM ${cohortTable}) AND ${col} IS NOT NULL)`;
  const dup = (
    await conn.runAndReadAll(
      `SELECT person_id, count(*)::INTEGER AS n FROM ${src} GROUP BY 1 HAVING n > 1 LIMIT 1`,
    )
  ).getRowObjectsJS()[0];
  if (dup) {
    throw new InputError(`person ${dup.person_id} has ${dup.n} rows`, {
      file: table.path,
      field: spec.column,
    });
  }
  if (spec.trait === 'binary') {
    const values = (
      await conn.runAndReadAll(`SELECT DISTINCT lower(trim(CAST(v AS VARCHAR))) AS v FROM ${src} ORDER BY 1`)
    )
      .getRowObjectsJS()
      .map((r) => r.v as string);
    const bad = values.filter((v) => !(v in BINARY_TEXT) && !(type !== 'VARCHAR' && /^[01](\.0+)?$/.test(v)));
    if (bad.length > 0 || values.length > 2) {
      throw new InputError(
        `a binary trait needs two values (0/1, true/false or case/control); found ${values.slice(0, 10).join(', ')}`,
        { file: table.path, field: spec.column },
      );
    }
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE _trait AS
       SELECT person_id, CASE WHEN lower(trim(CAST(v AS VARCHAR))) IN ('1', '1.0', 'true', 'case') THEN 1.0 ELSE 0.0 END AS y
       FROM ${src}`,
    );
    const cc = (
      await conn.runAndReadAll(
        'SELECT count(*) FILTER (WHERE y = 1)::INTEGER AS c, count(*) FILTER (WHERE y = 0)::INTEGER AS k FROM _trait',
      )
    ).getRowObjectsJS()[0];
    return {
      n: await count(conn),
      droppedUnit: 0,
      droppedOutliers: 0,
      unit: null,
      binary: true,
      nCases: cc.c as number,
      nControls: cc.k as number,
    };
  }
  if (!isNumericType(type)) {
    const bad = (
      await conn.runAndReadAll(
        `SELECT person_id, CAST(v AS VARCHAR) AS v FROM ${src} WHERE TRY_CAST(v AS DOUBLE) IS NULL LIMIT 1`,
      )
    ).getRowObjectsJS()[0];
    if (bad) {
      throw new InputError(`value ${JSON.stringify(bad.v)} of person ${bad.person_id} is not a number`, {
        file: table.path,
        field: spec.column,
      });
    }
  }
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE _trait AS SELECT person_id, CAST(v AS DOUBLE) AS y FROM ${src} WHERE isfinite(CAST(v AS DOUBLE))`,
  );
  if (spec.transform === 'rint') await applyRint(conn);
  return { n: await count(conn), droppedUnit: 0, droppedOutliers: 0, unit: null, binary: false };
}
