/**
 * EHR → Parquet: persons, conditions, measurements and the user's extra tables into the
 * canonical schemas of docs/ARCHITECTURE.md. Every row is validated with zod. Bad rows
 * fail the ingest with an InputError naming file, line and field, or — with `quarantine`
 * — go to `rejects.parquet` with the reason. Condition codes are normalised (see
 * `icd.ts`); codes that do not have their vocabulary's shape are kept as given (upper
 * case) and listed in `unknown_codes.parquet`, never dropped silently.
 */
import { join } from 'node:path';
import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import { sqlIdent, sqlString } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import { atomicProduce } from '../../engine/fsutil.js';
import { type ExtraTable, missingTokens, type ReleaseManifest, VOCABULARIES } from '../../schemas/release.js';
import { normalizeIcd, parseVocabulary } from './icd.js';
import { openTable, requireColumn } from './table.js';

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

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
  .refine((s) => {
    const d = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
  }, 'is not a calendar date');

const personRow = z
  .strictObject({
    person_id: z.string().min(1, 'is empty'),
    sex: z.preprocess(
      (v) =>
        typeof v === 'string'
          ? ({ MALE: 'M', FEMALE: 'F', UNKNOWN: 'U' }[v.toUpperCase()] ?? v.toUpperCase())
          : 'U',
      z.enum(['M', 'F', 'U'], 'must be M, F or U'),
    ),
    birth_date: isoDate.nullable(),
    birth_year: z.coerce.number().int('must be a whole year').min(1850, 'is before 1850').nullable(),
    ancestry: z.string().nullable(),
  })
  .superRefine((p, ctx) => {
    if (p.birth_date === null && p.birth_year === null)
      ctx.addIssue({ code: 'custom', path: ['birth_year'], message: 'birth_date or birth_year is required' });
    if (p.birth_date !== null && p.birth_year !== null && Number(p.birth_date.slice(0, 4)) !== p.birth_year)
      ctx.addIssue({ code: 'custom', path: ['birth_year'], message: 'disagrees with birth_date' });
  });

const conditionRow = z.strictObject({
  person_id: z.string().min(1, 'is empty'),
  code: z.string().min(1, 'is empty'),
  vocabulary: z.string().transform((v, ctx) => {
    const voc = parseVocabulary(v);
    if (!voc) {
      ctx.addIssue({ code: 'custom', message: `must be one of ${VOCABULARIES.join(', ')}` });
      return z.NEVER;
    }
    return voc;
  }),
  date: isoDate,
});

const measurementRow = z
  .strictObject({
    person_id: z.string().min(1, 'is empty'),
    name: z.string().nullable(),
    loinc: z.string().nullable(),
    value: z.coerce.number('must be a number').refine(Number.isFinite, 'must be a finite number'),
    unit: z.string().nullable(),
    date: isoDate,
  })
  .superRefine((m, ctx) => {
    if (m.name === null && m.loinc === null)
      ctx.addIssue({ code: 'custom', path: ['name'], message: 'name or loinc is required' });
  });

interface Birth {
  date: string | null;
  year: number;
}

/** Collects rejects (quarantine) or throws at the first bad row. */
class RowErrors {
  readonly rows: Array<[string, string, number, string, string]> = [];
  constructor(private readonly quarantine: boolean) {}
  report(table: string, file: string, line: number, field: string, reason: string): void {
    if (!this.quarantine)
      throw new InputError(reason, { file, line, field }, 'fix the row, or ingest with --quarantine');
    this.rows.push([table, file, line, field, reason]);
  }
}

function zodFailure(err: z.ZodError, columnOf: (key: string) => string): { field: string; reason: string } {
  const issue = err.issues[0];
  const key = String(issue.path[0] ?? '');
  return { field: columnOf(key) || key, reason: `${key || 'row'} ${issue.message}` };
}

/** Appender columns and the canonical SELECT of the conditions and measurements tables. */
const CONDITIONS_DDL = 'person_id VARCHAR, code VARCHAR, vocabulary VARCHAR, date VARCHAR';
const CONDITIONS_SELECT = 'person_id, code, vocabulary, CAST(date AS DATE) AS date';
const MEASUREMENTS_DDL =
  'person_id VARCHAR, name VARCHAR, loinc VARCHAR, value DOUBLE, unit VARCHAR, date VARCHAR';
const MEASUREMENTS_SELECT =
  'person_id, coalesce(name, loinc) AS name, loinc, value, unit, CAST(date AS DATE) AS date';

async function writeTable(
  conn: DuckDBConnection,
  name: string,
  ddl: string,
  select: string,
  target: string,
  fill: (app: DuckDBAppender) => Promise<number>,
): Promise<number> {
  const t = sqlIdent(`ehr_${name}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`);
  await conn.run(`CREATE OR REPLACE TABLE ${t} (${ddl})`);
  try {
    const app = await conn.createAppender(t.slice(1, -1));
    let n: number;
    try {
      n = await fill(app);
    } finally {
      app.closeSync();
    }
    await atomicProduce(target, (tmp) =>
      conn.run(
        `COPY (SELECT ${select} FROM ${t}) TO ${sqlString(tmp)} (FORMAT parquet, ROW_GROUP_SIZE 65536)`,
      ),
    );
    return n;
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${t}`);
  }
}

function put(app: DuckDBAppender, v: string | number | null): void {
  if (v === null) app.appendNull();
  else if (typeof v === 'number') app.appendDouble(v);
  else app.appendVarchar(v);
}

/** Ingest every EHR table of the manifest into `outDir`. */
export async function ingestEhr(conn: DuckDBConnection, input: EhrInput): Promise<EhrResult> {
  const { manifest, baseDir, outDir, today } = input;
  const errors = new RowErrors(input.quarantine);
  let rowsSeen = 0;
  const tick = (table: string) => {
    if ((++rowsSeen & 0xffff) === 0) input.heartbeat?.({ table, rows: rowsSeen });
  };
  const births = new Map<string, Birth>();

  // persons
  const pt = manifest.persons;
  const pFile = pt.path;
  const persons = await openTable(conn, join(baseDir, pt.path), pt.format, missingTokens(pt), pFile);
  const pCol = (key: string) =>
    key === 'person_id' ? pt.idColumn : (pt.columns?.[key as keyof typeof pt.columns] ?? key);
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
  const nPersons = await writeTable(
    conn,
    'persons',
    'person_id VARCHAR, sex VARCHAR, birth_date VARCHAR, birth_year INTEGER, ancestry VARCHAR',
    'person_id, sex, CAST(birth_date AS DATE) AS birth_date, birth_year, ancestry',
    join(outDir, 'persons.parquet'),
    async (app) => {
      let n = 0;
      for await (const row of persons.rows) {
        tick('persons');
        const at = (i: number) => (i >= 0 ? row.values[i] : null);
        const parsed = personRow.safeParse({
          person_id: at(pIdx.person_id) ?? '',
          sex: at(pIdx.sex),
          birth_date: at(pIdx.birth_date),
          birth_year: at(pIdx.birth_year),
          ancestry: at(pIdx.ancestry),
        });
        if (!parsed.success) {
          const { field, reason } = zodFailure(parsed.error, pCol);
          errors.report('persons', pFile, row.line, field, reason);
          continue;
        }
        const p = parsed.data;
        if (births.has(p.person_id)) {
          errors.report('persons', pFile, row.line, pt.idColumn, `duplicate person_id ${p.person_id}`);
          continue;
        }
        if (p.birth_date !== null && p.birth_date > today) {
          errors.report(
            'persons',
            pFile,
            row.line,
            pCol('birth_date'),
            `birth_date ${p.birth_date} is in the future`,
          );
          continue;
        }
        const year = p.birth_year ?? Number(p.birth_date!.slice(0, 4));
        births.set(p.person_id, { date: p.birth_date, year });
        app.appendVarchar(p.person_id);
        app.appendVarchar(p.sex);
        put(app, p.birth_date);
        app.appendInteger(year);
        put(app, p.ancestry);
        app.endRow();
        n++;
      }
      return n;
    },
  );

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
    await writeTable(
      conn,
      'conditions',
      CONDITIONS_DDL,
      CONDITIONS_SELECT,
      join(outDir, 'conditions.parquet'),
      async () => 0,
    );
  } else {
    const cFile = ct.path;
    const conditions = await openTable(conn, join(baseDir, ct.path), ct.format, missingTokens(ct), cFile);
    const cCol = (key: string) =>
      key === 'person_id' ? ct.idColumn : (ct.columns?.[key as keyof typeof ct.columns] ?? key);
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
    nConditions = await writeTable(
      conn,
      'conditions',
      CONDITIONS_DDL,
      CONDITIONS_SELECT,
      join(outDir, 'conditions.parquet'),
      async (app) => {
        let n = 0;
        for await (const row of conditions.rows) {
          tick('conditions');
          const parsed = conditionRow.safeParse({
            person_id: row.values[cIdx.person_id] ?? '',
            code: row.values[cIdx.code] ?? '',
            vocabulary: row.values[cIdx.vocabulary] ?? '',
            date: row.values[cIdx.date] ?? '',
          });
          if (!parsed.success) {
            const { field, reason } = zodFailure(parsed.error, cCol);
            errors.report('conditions', cFile, row.line, field, reason);
            continue;
          }
          const c = parsed.data;
          if (!checkDate('conditions', cFile, row.line, [ct.idColumn, cCol('date')], c.person_id, c.date))
            continue;
          let code = normalizeIcd(c.code, c.vocabulary);
          if (code === null) {
            code = c.code.trim().toUpperCase();
            const key = `${c.vocabulary}\t${code}`;
            const u = unknown.get(key);
            if (u) u.n++;
            else unknown.set(key, { code, vocabulary: c.vocabulary, n: 1, line: row.line });
          }
          app.appendVarchar(c.person_id);
          app.appendVarchar(code);
          app.appendVarchar(c.vocabulary);
          app.appendVarchar(c.date);
          app.endRow();
          n++;
        }
        return n;
      },
    );
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
    const mFile = mt.path;
    const meas = await openTable(conn, join(baseDir, mt.path), mt.format, missingTokens(mt), mFile);
    const mCol = (key: string) =>
      key === 'person_id' ? mt.idColumn : (mt.columns?.[key as keyof typeof mt.columns] ?? key);
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
    nMeasurements = await writeTable(
      conn,
      'measurements',
      MEASUREMENTS_DDL,
      MEASUREMENTS_SELECT,
      join(outDir, 'measurements.parquet'),
      async (app) => {
        let n = 0;
        for await (const row of meas.rows) {
          tick('measurements');
          const at = (i: number) => (i >= 0 ? row.values[i] : null);
          const parsed = measurementRow.safeParse({
            person_id: at(mIdx.person_id) ?? '',
            name: at(mIdx.name),
            loinc: at(mIdx.loinc),
            value: at(mIdx.value) ?? undefined,
            unit: at(mIdx.unit),
            date: at(mIdx.date) ?? '',
          });
          if (!parsed.success) {
            const { field, reason } = zodFailure(parsed.error, mCol);
            errors.report('measurements', mFile, row.line, field, reason);
            continue;
          }
          const m = parsed.data;
          if (!checkDate('measurements', mFile, row.line, [mt.idColumn, mCol('date')], m.person_id, m.date))
            continue;
          put(app, m.person_id);
          put(app, m.name);
          put(app, m.loinc);
          app.appendDouble(m.value);
          put(app, m.unit);
          put(app, m.date);
          app.endRow();
          n++;
        }
        return n;
      },
    );
  } else {
    // No measurements table: an empty one with the canonical columns (see conditions above).
    await writeTable(
      conn,
      'measurements',
      MEASUREMENTS_DDL,
      MEASUREMENTS_SELECT,
      join(outDir, 'measurements.parquet'),
      async () => 0,
    );
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

  await writeTable(
    conn,
    'rejects',
    'table_name VARCHAR, file VARCHAR, line BIGINT, field VARCHAR, reason VARCHAR',
    '*',
    join(outDir, 'rejects.parquet'),
    async (app) => {
      for (const [table, file, line, field, reason] of errors.rows) {
        app.appendVarchar(table);
        app.appendVarchar(file);
        app.appendBigInt(BigInt(line));
        app.appendVarchar(field);
        app.appendVarchar(reason);
        app.endRow();
      }
      return errors.rows.length;
    },
  );
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

/**
 * A user column is numeric when at least this share of its present (non-missing) values are
 * numbers. Its other values are bad values: without `--quarantine` the ingest fails naming the
 * first one (file, line, column) and how many there are; with it, their rows go to
 * `rejects.parquet`. Below the share the column is text, kept as written. The manifest's
 * `types` overrides the rule per column. See docs/ARCHITECTURE.md (Release layout).
 */
export const NUMERIC_COLUMN_MIN_SHARE = 0.99;

/** A decimal number as written in a table: sign, digits, optional fraction and exponent. */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function isNumber(v: string): boolean {
  return NUMBER.test(v) && Number.isFinite(Number(v));
}

/** What the first pass saw in one column. */
interface ColumnTally {
  present: number;
  numbers: number;
  /** First value that is not a number, and its line. */
  firstOther: { line: number; value: string } | null;
}

/** Share of a count, for messages: "2,318 of 2,319 (99.96 %)". */
function ofPresent(n: number, present: number): string {
  return `${n.toLocaleString('en-US')} of ${present.toLocaleString('en-US')} present values (${((100 * n) / present).toFixed(2)} %)`;
}

/**
 * An extra table: every column kept, the id column renamed `person_id`, missing tokens
 * NULL; a column is DOUBLE by the rule of `NUMERIC_COLUMN_MIN_SHARE` (or the manifest's
 * `types`), else VARCHAR. Two passes over the file: one to type the columns, one to write.
 */
async function ingestExtraTable(
  conn: DuckDBConnection,
  t: ExtraTable,
  baseDir: string,
  outDir: string,
  births: Map<string, Birth>,
  errors: RowErrors,
  tick: (table: string) => void,
  quarantine: boolean,
  notes: string[],
): Promise<number> {
  const path = join(baseDir, t.path);
  const first = await openTable(conn, path, t.format, missingTokens(t), t.path);
  const idIdx = requireColumn(first.columns, t.idColumn, t.path, `tables[${t.name}].idColumn`);
  for (const col of Object.keys(t.types ?? {}))
    requireColumn(first.columns, col, t.path, `tables[${t.name}].types`);
  const tally: ColumnTally[] = first.columns.map(() => ({ present: 0, numbers: 0, firstOther: null }));
  for await (const row of first.rows) {
    tick(`tables/${t.name}`);
    row.values.forEach((v, i) => {
      if (v === null) return;
      const c = tally[i];
      c.present++;
      if (isNumber(v)) c.numbers++;
      else c.firstOther ??= { line: row.line, value: v };
    });
  }
  const numeric = first.columns.map((col, i) => {
    if (i === idIdx) return false;
    const declared = t.types?.[col];
    if (declared) return declared === 'number';
    const c = tally[i];
    return c.numbers > 0 && c.numbers >= NUMERIC_COLUMN_MIN_SHARE * c.present;
  });
  // Bad values of numeric columns: named at once without quarantine (nothing of the table written).
  first.columns.forEach((col, i) => {
    const c = tally[i];
    if (!numeric[i] || c.firstOther === null || quarantine) return;
    const rule = t.types?.[col]
      ? `the manifest declares it a number (tables[${t.name}].types)`
      : `it is numeric because ${ofPresent(c.numbers, c.present)} are numbers (rule: at least ${100 * NUMERIC_COLUMN_MIN_SHARE} %)`;
    throw new InputError(
      `${JSON.stringify(c.firstOther.value)} is not a number in column ${col}; ${rule}; ${ofPresent(c.present - c.numbers, c.present)} are not numbers`,
      { file: t.path, line: c.firstOther.line, field: col },
      `fix the value, add it to the table's "missing" tokens, declare the column text ("types": { ${JSON.stringify(col)}: "text" }), or ingest with --quarantine to reject those rows`,
    );
  });
  first.columns.forEach((col, i) => {
    const c = tally[i];
    if (i === idIdx || c.firstOther === null) return;
    const where = `${t.path} line ${c.firstOther.line}`;
    if (numeric[i])
      notes.push(
        `tables/${t.name} column ${col} is numeric; ${ofPresent(c.present - c.numbers, c.present)} are not numbers and their rows were rejected (first ${JSON.stringify(c.firstOther.value)}, ${where})`,
      );
    else if (!t.types?.[col] && c.numbers >= 0.5 * c.present)
      notes.push(
        `tables/${t.name} column ${col} is text: only ${ofPresent(c.numbers, c.present)} are numbers (numeric needs ${100 * NUMERIC_COLUMN_MIN_SHARE} %); first non-number ${JSON.stringify(c.firstOther.value)}, ${where}`,
      );
  });
  const names = first.columns.map((c, i) => (i === idIdx ? 'person_id' : c));
  if (names.filter((n) => n === 'person_id').length > 1)
    throw new InputError('a column other than the id column is named person_id', {
      file: t.path,
      line: 1,
      field: 'person_id',
    });
  const ddl = names.map((c, i) => `${sqlIdent(c)} ${numeric[i] ? 'DOUBLE' : 'VARCHAR'}`).join(', ');
  const second = await openTable(conn, path, t.format, missingTokens(t), t.path);
  return writeTable(
    conn,
    `t_${t.name}`,
    ddl,
    '*',
    join(outDir, 'tables', `${t.name}.parquet`),
    async (app) => {
      let n = 0;
      rows: for await (const row of second.rows) {
        const pid = row.values[idIdx];
        if (pid === null || !births.has(pid)) {
          errors.report(
            `tables/${t.name}`,
            t.path,
            row.line,
            t.idColumn,
            `person_id ${pid ?? '(missing)'} is not in persons`,
          );
          continue;
        }
        for (const [i, v] of row.values.entries()) {
          if (numeric[i] && v !== null && !isNumber(v)) {
            errors.report(
              `tables/${t.name}`,
              t.path,
              row.line,
              first.columns[i],
              `${JSON.stringify(v)} is not a number in numeric column ${first.columns[i]}`,
            );
            continue rows;
          }
        }
        row.values.forEach((v, i) => {
          put(app, v === null ? null : numeric[i] ? Number(v) : v);
        });
        app.endRow();
        n++;
      }
      return n;
    },
  );
}
