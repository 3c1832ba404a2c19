/**
 * Running SQL that a user wrote (`biobank query`): read statements only, file access limited to
 * the data folder, configuration locked, no extensions installed or loaded.
 *
 * - Each statement is parsed by DuckDB (`extractStatements`, then its prepared statement's
 *   `statementType`), never matched by regex. Allowed: SELECT — which is also what DESCRIBE,
 *   SHOW, SUMMARIZE, PRAGMA table functions and `WITH …` parse to — and EXPLAIN of such a
 *   statement (an EXPLAIN must stand alone, so its inner statement can be parsed and checked:
 *   `EXPLAIN ANALYZE` runs it). Anything else (COPY, ATTACH, DETACH, SET/USE, INSTALL/LOAD,
 *   CREATE/INSERT/UPDATE/DELETE/DROP, CALL, PRAGMA statements, EXPORT, transactions) is refused
 *   with an `InputError` naming its type, before anything runs.
 * - The connection's instance is locked down first: `allowed_directories` = the data folder and
 *   the engine database's folder, `enable_external_access = false` (no other file, no network),
 *   `autoinstall_known_extensions` and `autoload_known_extensions` off, then
 *   `lock_configuration = true` so no statement can undo it. This lock is for the whole process's
 *   compute instance: call it only in a process that runs nothing else afterwards (the CLI).
 * - The engine database is attached READ_ONLY by the caller (`withEngineDb(..., {readOnly})`).
 * A syntax error or a refused file access is bad input too (InputError: exit code 2).
 */
import { dirname } from 'node:path';
import { type DuckDBConnection, StatementType } from '@duckdb/node-api';
import type { EngineConfig } from '../temporal.config.js';
import { sqlString } from './duckdb.js';
import { InputError } from './errors.js';

const NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(StatementType)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);

/** Lock the connection's instance down to reading the data folder (see the module comment). */
export async function lockDown(conn: DuckDBConnection, config: EngineConfig): Promise<void> {
  const dirs = [...new Set([config.dataDir, dirname(config.database)])].map((d) => sqlString(`${d}/`));
  await conn.run(`SET allowed_directories = [${dirs.join(', ')}]`);
  await conn.run('SET enable_external_access = false');
  await conn.run('SET autoinstall_known_extensions = false');
  await conn.run('SET autoload_known_extensions = false');
  await conn.run('SET lock_configuration = true');
}

function badSql(err: unknown): InputError {
  const message = String((err as Error)?.message ?? err).split('\n')[0];
  return new InputError(message, { field: 'SQL' });
}

/**
 * The statement types of `sql`, parsed by DuckDB. Each statement is prepared in turn and its type
 * handed to `check` before the next is prepared (a later statement may not bind until an earlier
 * one ran, e.g. a CREATE in a database an ATTACH would open: the ATTACH is refused first).
 */
async function statementTypes(
  conn: DuckDBConnection,
  sql: string,
  check: (type: number, i: number, n: number) => void,
) {
  let extracted: Awaited<ReturnType<DuckDBConnection['extractStatements']>>;
  try {
    extracted = await conn.extractStatements(sql);
  } catch (err) {
    throw badSql(err);
  }
  const types: number[] = [];
  for (let i = 0; i < extracted.count; i++) {
    let type: number;
    try {
      type = (await extracted.prepare(i)).statementType;
    } catch (err) {
      throw badSql(err);
    }
    check(type, i, extracted.count);
    types.push(type);
  }
  return types;
}

function refuse(type: number, i: number, n: number, sql = ''): never {
  // A PIVOT without an IN (…) list first creates an enum type of the values, so DuckDB reports
  // it as a CREATE: say how to write it as a read.
  const pivot =
    type === StatementType.CREATE && /\bpivot\b/i.test(sql)
      ? "list the pivoted values (PIVOT … ON col IN ('a', 'b') USING …) so that it reads only"
      : undefined;
  throw new InputError(
    `${NAMES[type] ?? `type ${type}`} statements are not allowed: biobank query runs read statements only (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE)`,
    { field: n > 1 ? `SQL statement ${i + 1}` : 'SQL' },
    pivot,
  );
}

/** `sql` without the comments and blank space before its first token. */
function withoutLeadingComments(sql: string): string {
  return sql.replace(/^(\s+|--[^\n]*(\n|$)|\/\*[\s\S]*?\*\/)*/, '');
}

/**
 * Check that `sql` holds only read statements; throws `InputError` naming the first refused
 * statement's type. Returns the number of statements.
 */
export async function checkReadOnlySql(conn: DuckDBConnection, sql: string): Promise<number> {
  const types = await statementTypes(conn, sql, (type, i, n) => {
    if (type === StatementType.SELECT) return;
    if (type === StatementType.EXPLAIN) {
      if (n > 1)
        throw new InputError('EXPLAIN must be run on its own, not with other statements', { field: 'SQL' });
      return; // its inner statement is checked below
    }
    refuse(type, i, n, sql);
  });
  if (types.length === 0) throw new InputError('no SQL statement given', { field: 'SQL' });
  if (types[0] === StatementType.EXPLAIN) {
    const inner = withoutLeadingComments(sql).replace(/^explain(\s+analyze)?\s+/i, '');
    await statementTypes(conn, inner, (type) => {
      if (type !== StatementType.SELECT)
        throw new InputError(
          `only read statements may be explained; this EXPLAIN wraps a statement of type ${NAMES[type] ?? type}`,
          { field: 'SQL' },
        );
    });
  }
  return types.length;
}

/** Lock down, check, then run `sql`, returning the last statement's result. */
export async function runUserSql(conn: DuckDBConnection, config: EngineConfig, sql: string) {
  await lockDown(conn, config);
  await checkReadOnlySql(conn, sql);
  try {
    return await conn.runAndReadAll(sql);
  } catch (err) {
    const message = String((err as Error)?.message ?? err);
    // Deterministic statement errors are the user's SQL; anything else (I/O, memory) is not.
    if (/^(Parser|Binder|Catalog|Conversion|Invalid Input|Permission) Error/.test(message)) throw badSql(err);
    throw err;
  }
}
