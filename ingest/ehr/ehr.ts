/**
 * EHR → Parquet: persons, conditions, measurements and the user's extra tables into the
 * canonical schemas of docs/ARCHITECTURE.md. Every row is validated with zod. Bad rows
 * fail the ingest with an InputError naming file, line and field, or — with `quarantine`
 * — go to `rejects.parquet` with the reason. Condition codes are normalised (see
 * `icd.ts`); codes that do not have their vocabulary's shape are kept as given (upper
 * case) and listed in `unknown_codes.parquet`, never dropped silently.
 */
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { InputError } from '../../engine/errors.js';
import type { ReleaseManifest } from '../../schemas/release.js';
import { ingestOmop } from '../omop/omop.js';
import { ingestExtraTable } from './ehr-extra.js';
import { type Birth, conditionRow, measurementRow, openSource, personRow, RowErrors } from './ehr-rows.js';
import {
  CONDITIONS_TABLE,
  MEASUREMENTS_TABLE,
  PERSONS_TABLE,
  put,
  type RowSink,
  writeEmptyTable,
  writeRejects,
  writeTable,
  writeValidRows,
} from './ehr-write.js';
import { normalizeIcd } from './icd.js';
import { requireColumn } from './table.js';

export { NUMERIC_COLUMN_MIN_SHARE } from './ehr-extra.js';

export interface EhrInput {
  manifest: ReleaseManifest;
  /** Folder the manifest's relative paths start from. */
  baseDir: string;
  /** Staging folder of the release. */
  outDir: string;
  quarantine: boolean;
  /** "Today" for the future-date check, YYYY-MM-DD (UTC). */
  today: string;
  /** Called every 65,536 rows (activities heartbeat with it). */
  heartbeat?: (progress: { table: string; rows: number }) => void;
}

export interface EhrResult {
  nPersons: number;
  nConditions: number;
  nMeasurements: number;
  nRejects: number;
  nUnknownCodes: number;
  tables: Record<string, number>;
  /**
   * Column typing worth a look, one line each: a numeric column whose bad values were rejected
   * (how many, the first one), a text column most of whose values are numbers.
   */
  notes: string[];
}

/** Ingest every EHR table of the manifest into `outDir`. */
export async function ingestEhr(conn: DuckDBConnection, input: EhrInput): Promise<EhrResult> {
  const { manifest, baseDir, outDir, today } = input;
  // An OMOP CDM folder instead of the flat tables (ingest/omop/, docs/omop.md).
  if (manifest.ehr) return ingestOmop(conn, input);
  const errors = new RowErrors(input.quarantine);
  let rowsSeen = 0;
  const tick = (table: string) => {
    if ((++rowsSeen & 0xffff) === 0) input.heartbeat?.({ table, rows: rowsSeen });
  };
  const sink: RowSink = { conn, outDir, errors, tick };
  const births = new Map<string, Birth>();

  // persons
  const pt = manifest.persons;
  if (!pt)
    throw new InputError('the manifest has no persons table (or OMOP "ehr" folder)', { field: 'persons' });
  const persons = await openSource(conn, baseDir, pt);
  const { file: pFile, col: pCol } = persons;
  const pIdx = {
    person_id: requireColumn(persons.columns, pt.idColumn, pFile, 'persons.idColumn'),
    sex: requireColumn(persons.columns, pCol('sex'), pFile, 'persons column sex'),
    birth_date: persons.columns.indexOf(pCol('birth_date')),
    birth_year: persons.columns.indexOf(pCol('birth_year')),
    ancestry: persons.columns.indexOf(pCol('ancestry')),
  };
  if (pIdx.birth_date < 0 && pIdx.birth_year < 0)
    throw new InputError(`no column '${pCol('birth_year')}' or '${pCol('birth_date')}'`, {
      file: pFile,
      line: 1,
      field: pCol('birth_year'),
    });
  const nPersons = await writeValidRows(sink, PERSONS_TABLE, persons, {
    schema: personRow,
    input: (at) => ({
      person_id: at(pIdx.person_id) ?? '',
      sex: at(pIdx.sex),
      birth_date: at(pIdx.birth_date),
      birth_year: at(pIdx.birth_year),
      ancestry: at(pIdx.ancestry),
    }),
    append: (app, p, line) => {
      if (births.has(p.person_id)) {
        errors.report('persons', pFile, line, pt.idColumn, `duplicate person_id ${p.person_id}`);
        return false;
      }
      if (p.birth_date !== null && p.birth_date > today) {
        errors.report(
          'persons',
          pFile,
          line,
          pCol('birth_date'),
          `birth_date ${p.birth_date} is in the future`,
        );
        return false;
      }
      const year = p.birth_year ?? Number(p.birth_date!.slice(0, 4));
      births.set(p.person_id, { date: p.birth_date, year });
      app.appendVarchar(p.person_id);
      app.appendVarchar(p.sex);
      put(app, p.birth_date);
      app.appendInteger(year);
      put(app, p.ancestry);
      return true;
    },
  });

  const checkDate = (
    table: string,
    file: string,
    line: number,
    [idField, field]: [string, string],
    pid: string,
    date: string,
  ): boolean => {
    const birth = births.get(pid);
    if (!birth) {
      errors.report(table, file, line, idField, `person_id ${pid} is not in persons`);
      return false;
    }
    if (date > today) {
      errors.report(table, file, line, field, `date ${date} is in the future`);
      return false;
    }
    if ((birth.date !== null && date < birth.date) || Number(date.slice(0, 4)) < birth.year) {
      errors.report(table, file, line, field, `date ${date} is before birth (${birth.date ?? birth.year})`);
      return false;
    }
    return true;
  };

  // conditions (optional: a genotype-only release has none; an empty table is written so every
  // reader sees the same canonical columns, and release.json says the table was not provided)
  const ct = manifest.conditions;
  const unknown = new Map<string, { code: string; vocabulary: string; n: number; line: number }>();
  let nConditions = 0;
  if (!ct) {
    await writeEmptyTable(sink, CONDITIONS_TABLE);
  } else {
    const conditions = await openSource(conn, baseDir, ct);
    const { file: cFile, col: cCol } = conditions;
    const cIdx = {
      person_id: requireColumn(conditions.columns, ct.idColumn, cFile, 'conditions.idColumn'),
      code: requireColumn(conditions.columns, cCol('code'), cFile, 'conditions column code'),
      vocabulary: requireColumn(
        conditions.columns,
        cCol('vocabulary'),
        cFile,
        'conditions column vocabulary',
      ),
      date: requireColumn(conditions.columns, cCol('date'), cFile, 'conditions column date'),
    };
    nConditions = await writeValidRows(sink, CONDITIONS_TABLE, conditions, {
      schema: conditionRow,
      input: (at) => ({
        person_id: at(cIdx.person_id) ?? '',
        code: at(cIdx.code) ?? '',
        vocabulary: at(cIdx.vocabulary) ?? '',
        date: at(cIdx.date) ?? '',
      }),
      append: (app, c, line) => {
        if (!checkDate('conditions', cFile, line, [ct.idColumn, cCol('date')], c.person_id, c.date))
          return false;
        let code = normalizeIcd(c.code, c.vocabulary);
        if (code === null) {
          code = c.code.trim().toUpperCase();
          const key = `${c.vocabulary}\t${code}`;
          const u = unknown.get(key);
          if (u) u.n++;
          else unknown.set(key, { code, vocabulary: c.vocabulary, n: 1, line });
        }
        app.appendVarchar(c.person_id);
        app.appendVarchar(code);
        app.appendVarchar(c.vocabulary);
        app.appendVarchar(c.date);
        return true;
      },
    });
  }
  await writeTable(
    conn,
    'unknown',
    'code VARCHAR, vocabulary VARCHAR, n_rows BIGINT, first_line BIGINT, reason VARCHAR',
    '*',
    join(outDir, 'unknown_codes.parquet'),
    async (app) => {
      for (const u of unknown.values()) {
        app.appendVarchar(u.code);
        app.appendVarchar(u.vocabulary);
        app.appendBigInt(BigInt(u.n));
        app.appendBigInt(BigInt(u.line));
        app.appendVarchar(`not a ${u.vocabulary} code shape`);
        app.endRow();
      }
      return unknown.size;
    },
  );

  // measurements
  let nMeasurements = 0;
  const mt = manifest.measurements;
  if (mt) {
    const meas = await openSource(conn, baseDir, mt);
    const { file: mFile, col: mCol } = meas;
    const mIdx = {
      person_id: requireColumn(meas.columns, mt.idColumn, mFile, 'measurements.idColumn'),
      name: meas.columns.indexOf(mCol('name')),
      loinc: meas.columns.indexOf(mCol('loinc')),
      value: requireColumn(meas.columns, mCol('value'), mFile, 'measurements column value'),
      unit: meas.columns.indexOf(mCol('unit')),
      date: requireColumn(meas.columns, mCol('date'), mFile, 'measurements column date'),
    };
    if (mIdx.name < 0 && mIdx.loinc < 0)
      requireColumn(meas.columns, mCol('name'), mFile, 'measurements column name');
    nMeasurements = await writeValidRows(sink, MEASUREMENTS_TABLE, meas, {
      schema: measurementRow,
      input: (at) => ({
        person_id: at(mIdx.person_id) ?? '',
        name: at(mIdx.name),
        loinc: at(mIdx.loinc),
        value: at(mIdx.value) ?? undefined,
        unit: at(mIdx.unit),
        date: at(mIdx.date) ?? '',
      }),
      append: (app, m, line) => {
        if (!checkDate('measurements', mFile, line, [mt.idColumn, mCol('date')], m.person_id, m.date))
          return false;
        put(app, m.person_id);
        put(app, m.name);
        put(app, m.loinc);
        app.appendDouble(m.value);
        put(app, m.unit);
        put(app, m.date);
        return true;
      },
    });
  } else {
    // No measurements table: an empty one with the canonical columns (see conditions above).
    await writeEmptyTable(sink, MEASUREMENTS_TABLE);
  }

  const tables: Record<string, number> = {};
  const notes: string[] = [];
  for (const t of manifest.tables)
    tables[t.name] = await ingestExtraTable(
      conn,
      t,
      baseDir,
      outDir,
      births,
      errors,
      tick,
      input.quarantine,
      notes,
    );

  await writeRejects(conn, errors, outDir);
  return {
    nPersons,
    nConditions,
    nMeasurements,
    nRejects: errors.rows.length,
    nUnknownCodes: unknown.size,
    tables,
    notes,
  };
}
