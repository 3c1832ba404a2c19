/**
 * Validation of OMOP rows in SQL with errors that name file, line and field.
 *
 * A check is an SQL predicate over a row (plus derived columns) and a reason. All checks of a
 * table run as one query returning the distinct keys (the row's values, `keySql`) of the bad
 * rows; when there are any, the file is scanned once (`scanRows`) and each bad row is reported
 * at its line through `RowErrors`: without `--quarantine` the first bad row in file order fails
 * the ingest (InputError naming file, line and the file's column), with it every bad row goes to
 * `rejects.parquet`. The rows the ingest keeps are those matching no check (`goodSql`), so what
 * is rejected and what is kept are decided by the same predicates.
 *
 * Defects of the CDM as a whole — a concept id missing from `concept`, a duplicate primary key —
 * are not row defects: `failAtRow` always throws, naming the first offending line.
 *
 * Value parsing (SQL macros, mirrored in JS by `parseConceptId`):
 * - concept ids and integers: optional minus sign and digits, an optional `.0` tail allowed
 *   (pandas writes integer columns holding NULLs as `8507.0`);
 * - dates: `YYYY-MM-DD`, optionally followed by a time (`YYYY-MM-DD hh:mm[:ss[.f]]`, `T`
 *   separator and zone allowed: the CDM's `*_datetime` columns and Parquet TIMESTAMP values);
 *   the date part must be a calendar date.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import type { RowErrors } from '../ehr/ehr-rows.js';
import { fileColumn, keySql, type LoadedTable, rowKey, scanRows } from './source.js';

/** What every step of the OMOP ingest shares. */
export interface OmopContext {
  conn: DuckDBConnection;
  errors: RowErrors;
  quarantine: boolean;
  /** "Today" (YYYY-MM-DD, UTC) as an SQL DATE literal. */
  todaySql: string;
  today: string;
  notes: string[];
  /** Temp tables, views and macros created (dropped at the end). */
  temps: Array<['TABLE' | 'VIEW' | 'MACRO', string]>;
}

/** Create the SQL macros the checks use (`_omop_id`, `_omop_int`, `_omop_date`). */
export async function createMacros(ctx: OmopContext): Promise<void> {
  const macros: Array<[string, string]> = [
    [
      '_omop_id',
      `CASE WHEN regexp_full_match(s, '-?[0-9]{1,18}(\\.0*)?') THEN TRY_CAST(split_part(s, '.', 1) AS BIGINT) END`,
    ],
    [
      '_omop_int',
      `CASE WHEN regexp_full_match(s, '-?[0-9]{1,9}(\\.0*)?') THEN TRY_CAST(split_part(s, '.', 1) AS INTEGER) END`,
    ],
    [
      '_omop_date',
      `CASE WHEN regexp_full_match(s, '[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?')
            THEN TRY_CAST(left(s, 10) AS DATE) END`,
    ],
  ];
  for (const [name, body] of macros) {
    await ctx.conn.run(`CREATE OR REPLACE TEMP MACRO ${name}(s) AS ${body}`);
    ctx.temps.push(['MACRO', name]);
  }
}

/** JS twin of the `_omop_id` macro: the canonical decimal text of a concept id, or null. */
export function parseConceptId(v: string | null): string | null {
  if (v === null || !/^-?[0-9]{1,18}(\.0*)?$/.test(v)) return null;
  return BigInt(v.split('.')[0]).toString();
}

/** Create a temp table (or view) and remember it for the cleanup. */
export async function tempTable(
  ctx: OmopContext,
  name: string,
  sql: string,
  kind: 'TABLE' | 'VIEW' = 'TABLE',
): Promise<string> {
  await ctx.conn.run(`CREATE OR REPLACE TEMP ${kind} ${sqlIdent(name)} AS ${sql}`);
  ctx.temps.push([kind, name]);
  return sqlIdent(name);
}

/** Drop what `ctx` created (views first, then tables, then macros). */
export async function dropTemps(ctx: OmopContext): Promise<void> {
  const order = { VIEW: 0, TABLE: 1, MACRO: 2 } as const;
  const all = [...ctx.temps].reverse().sort((a, b) => order[a[0]] - order[b[0]]);
  for (const [kind, name] of all) await ctx.conn.run(`DROP ${kind} IF EXISTS ${sqlIdent(name)}`);
  ctx.temps.length = 0;
}

export interface RowCheck {
  /** The CDM column named in the error. */
  field: string;
  /** SQL: true for a bad row (NULL counts as false). */
  bad: string;
  /** SQL: the reason (VARCHAR). */
  reason: string;
}

/** SQL predicate of the rows that pass every check. */
export function goodSql(checks: RowCheck[]): string {
  if (checks.length === 0) return 'true';
  return `NOT (${checks.map((c) => `coalesce((${c.bad}), false)`).join(' OR ')})`;
}

/** Bad keys fetched without quarantine (the first one in file order is reported). */
const FIRST_BAD_KEYS = 10_000;

/**
 * Run `checks` over `relation` (rows of `t` with derived columns); report every bad row at its
 * line (see the module comment). Returns the SQL predicate of the rows to keep.
 */
export async function applyChecks(
  ctx: OmopContext,
  t: LoadedTable,
  relation: string,
  checks: RowCheck[],
): Promise<string> {
  if (checks.length === 0) return 'true';
  const when = (pick: (c: RowCheck) => string) =>
    `CASE ${checks.map((c) => `WHEN coalesce((${c.bad}), false) THEN ${pick(c)}`).join(' ')} END`;
  const r = await ctx.conn.runAndReadAll(
    `SELECT DISTINCT ${keySql(t)} AS k, ${when((c) => sqlString(c.field))} AS field, ${when((c) => c.reason)} AS reason
     FROM ${relation} WHERE NOT (${goodSql(checks)}) ${ctx.quarantine ? '' : `LIMIT ${FIRST_BAD_KEYS}`}`,
  );
  const bad = new Map<string, { field: string; reason: string }>();
  for (const row of r.getRowObjectsJS())
    bad.set(String(row.k), { field: String(row.field), reason: String(row.reason) });
  if (bad.size === 0) return goodSql(checks);
  const table = t.source.table;
  const file = t.source.file;
  await scanRows(ctx.conn, t, (value, line) => {
    const b = bad.get(rowKey(t, value));
    if (b) ctx.errors.report(table, file, line, fileColumn(t, b.field), b.reason);
    return false;
  });
  if (!ctx.quarantine) {
    // The rows were found in SQL but not by the scan (a quoting corner case): still refuse.
    const first = bad.values().next().value as { field: string; reason: string };
    throw new InputError(first.reason, { file, field: fileColumn(t, first.field) });
  }
  return goodSql(checks);
}

/**
 * Throw an InputError at the first row of `t` whose column `column` (value normalised by
 * `norm`) has a message in `messages`; with `second`, at the second such row of one value
 * (a duplicate key). Names the file without a line if the scan finds none.
 */
export async function failAtRow(
  ctx: OmopContext,
  t: LoadedTable,
  column: string,
  messages: Map<string, string>,
  options: { norm?: (v: string | null) => string | null; second?: boolean; hint?: string } = {},
): Promise<never> {
  const norm = options.norm ?? ((v: string | null) => v);
  const seen = new Set<string>();
  const field = fileColumn(t, column);
  let found: { line: number; message: string } | undefined;
  await scanRows(ctx.conn, t, (value, line) => {
    const v = norm(value(column));
    if (v === null) return false;
    const message = messages.get(v);
    if (message === undefined) return false;
    if (options.second && !seen.has(v)) {
      seen.add(v);
      return false;
    }
    found = { line, message };
    return true;
  });
  const f = found as { line: number; message: string } | undefined;
  const message = f?.message ?? (messages.values().next().value as string);
  throw new InputError(message, { file: t.source.file, line: f?.line, field }, options.hint);
}

/** Refuse a duplicate value of key column `column` of `t` (the CDM's primary key). */
export async function refuseDuplicates(
  ctx: OmopContext,
  t: LoadedTable,
  column: string,
  valueSql: string,
  norm?: (v: string | null) => string | null,
): Promise<void> {
  const r = await ctx.conn.runAndReadAll(
    `SELECT CAST(v AS VARCHAR) AS v FROM (SELECT ${valueSql} AS v FROM ${t.name}) WHERE v IS NOT NULL
     GROUP BY v HAVING count(*) > 1 LIMIT 1000`,
  );
  const dupes = r.getRowObjectsJS().map((x) => String(x.v));
  if (dupes.length === 0) return;
  const messages = new Map(dupes.map((v) => [v, `duplicate ${column} ${v}`]));
  await failAtRow(ctx, t, column, messages, {
    norm,
    second: true,
    hint: `${column} is the primary key of ${t.source.table}: each value must occur once`,
  });
}

/** Number formatting for notes. */
export function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
