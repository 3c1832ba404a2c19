/**
 * Table contracts as zod: each column is a zod schema registered with its DuckDB type, so one
 * object schema gives the TypeScript row type, the validation, and the DDL (`createTableSqlOf`)
 * of a table or a Parquet layout. Identifiers and literals in derived SQL are quoted here, and
 * only here (engine/duckdb.ts re-exports `quoteIdent` as `sqlIdent`).
 *
 * Pure zod, no I/O: workflow code may import it.
 */
import { z } from 'zod';

interface ColumnMeta {
  /** DuckDB type. */
  sql: string;
  /** SQL default expression, e.g. `current_timestamp`. */
  default?: string;
}

/** DuckDB column type of each column schema. */
const sqlTypes = z.registry<ColumnMeta>();

/** A column: `schema` for values, `sql` for its DuckDB type. */
export function col<T extends z.ZodType>(schema: T, sql: string, options: { default?: string } = {}): T {
  sqlTypes.add(schema, { sql, ...options });
  return schema;
}

export const text = () => col(z.string().min(1), 'VARCHAR');
export const textOrNull = () => col(z.string().nullable(), 'VARCHAR');
export const int = () => col(z.int().min(0), 'INTEGER');
export const intOrNull = () => col(z.int().min(0).nullable(), 'INTEGER');
export const bigint = () => col(z.int().min(0), 'BIGINT');
export const bigintOrNull = () => col(z.int().min(0).nullable(), 'BIGINT');
export const real = () => col(z.number(), 'DOUBLE');
export const realOrNull = () => col(z.number().nullable(), 'DOUBLE');
export const prob = () => col(z.number().min(0).max(1).nullable(), 'DOUBLE');
export const timestamp = () => col(z.iso.datetime({ offset: true }), 'TIMESTAMP WITH TIME ZONE');
export const timestampOrNull = () =>
  col(z.iso.datetime({ offset: true }).nullable(), 'TIMESTAMP WITH TIME ZONE');
export const json = () => col(z.string().refine(isJson, 'must be a JSON text'), 'JSON');
export const jsonOrNull = () => col(z.string().refine(isJson, 'must be a JSON text').nullable(), 'JSON');
export function oneOf<const V extends readonly [string, ...string[]]>(values: V) {
  return col(z.enum(values), 'VARCHAR');
}
export function oneOfOrNull<const V extends readonly [string, ...string[]]>(values: V) {
  return col(z.enum(values).nullable(), 'VARCHAR');
}

function isJson(value: string): boolean {
  try {
    JSON.parse(value);
    return true;
  } catch {
    return false;
  }
}

export interface ColumnInfo {
  name: string;
  /** DuckDB type. */
  sql: string;
  nullable: boolean;
  /** Allowed values for enumerations. */
  values?: readonly string[];
  default?: string;
}

type RowSchema = z.ZodObject<z.ZodRawShape>;

function unwrap(schema: z.ZodType): z.ZodType {
  return schema instanceof z.ZodNullable ? (schema.unwrap() as z.ZodType) : schema;
}

/** Columns of a row schema, in order. `name` names the table in errors. */
export function columnsOfSchema(name: string, schema: RowSchema): ColumnInfo[] {
  const shape = schema.shape as Record<string, z.ZodType>;
  return Object.entries(shape).map(([column, s]) => {
    const meta = sqlTypes.get(s);
    if (!meta) throw new Error(`schemas: column ${name}.${column} has no SQL type`);
    const inner = unwrap(s);
    return {
      name: column,
      sql: meta.sql,
      nullable: s.safeParse(null).success,
      values: inner instanceof z.ZodEnum ? (inner.options as string[]) : undefined,
      ...(meta.default ? { default: meta.default } : {}),
    };
  });
}

/** Quote an SQL identifier (the one place identifiers are quoted). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quote an SQL string literal. */
export function quoteValue(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** SQL column definitions (name, type, NOT NULL, DEFAULT, CHECK on enumerations, primary key). */
export function columnDefinitionsOf(name: string, schema: RowSchema, primaryKey?: readonly string[]): string {
  const defs = columnsOfSchema(name, schema).map((c) => {
    const parts = [quoteIdent(c.name), c.sql];
    if (!c.nullable) parts.push('NOT NULL');
    if (c.default) parts.push(`DEFAULT ${c.default}`);
    if (c.values) parts.push(`CHECK (${quoteIdent(c.name)} IN (${c.values.map(quoteValue).join(', ')}))`);
    return parts.join(' ');
  });
  if (primaryKey) defs.push(`PRIMARY KEY (${primaryKey.map(quoteIdent).join(', ')})`);
  return defs.join(',\n  ');
}

/** `CREATE TABLE IF NOT EXISTS` for a table of rows of `schema`. */
export function createTableSqlOf(name: string, schema: RowSchema, primaryKey?: readonly string[]): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(name)} (\n  ${columnDefinitionsOf(name, schema, primaryKey)}\n)`;
}

/**
 * Predicates true for a row breaking the contract (NULL in a NOT NULL column, a value outside
 * an enumeration, a number outside its bounds, a NaN, an empty required text).
 */
export function violationPredicatesOf(
  name: string,
  schema: RowSchema,
): { column: string; predicate: string }[] {
  const shape = schema.shape as Record<string, z.ZodType>;
  return columnsOfSchema(name, schema).flatMap((c) => {
    const id = quoteIdent(c.name);
    const out: { column: string; predicate: string }[] = [];
    if (!c.nullable) out.push({ column: c.name, predicate: `${id} IS NULL` });
    if (c.values)
      out.push({ column: c.name, predicate: `${id} NOT IN (${c.values.map(quoteValue).join(', ')})` });
    const inner = unwrap(shape[c.name]);
    if (inner instanceof z.ZodNumber) {
      if (inner.minValue !== null && Number.isFinite(inner.minValue))
        out.push({ column: c.name, predicate: `${id} < ${inner.minValue}` });
      if (inner.maxValue !== null && Number.isFinite(inner.maxValue))
        out.push({ column: c.name, predicate: `${id} > ${inner.maxValue}` });
      if (c.sql === 'DOUBLE') out.push({ column: c.name, predicate: `(isnan(${id}) OR isinf(${id}))` });
    }
    if (c.sql === 'VARCHAR' && !c.nullable && !c.values)
      out.push({ column: c.name, predicate: `${id} = ''` });
    return out;
  });
}
