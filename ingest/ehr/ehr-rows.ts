/**
 * The user's persons, conditions and measurements tables as read: their columns by canonical
 * name, the zod schemas of their rows, and the collection of bad rows (rejects or InputError).
 */
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import { InputError } from '../../engine/errors.js';
import { missingTokens, type TableFormat, VOCABULARIES } from '../../schemas/release.js';
import { parseVocabulary } from './icd.js';
import { type OpenTable, openTable } from './table.js';

/** A user table opened from its manifest entry. */
export interface SourceTable extends OpenTable {
  /** The path as written in the manifest (named in errors). */
  file: string;
  /** The file's column of canonical field `key` (`person_id`: the id column). */
  col: (key: string) => string;
}

/** Opens the user table of a persons, conditions or measurements manifest entry. */
export async function openSource(
  conn: DuckDBConnection,
  baseDir: string,
  t: {
    path: string;
    format: TableFormat;
    idColumn: string;
    missing?: string[];
    columns?: Partial<Record<string, string>>;
  },
): Promise<SourceTable> {
  const table = await openTable(conn, join(baseDir, t.path), t.format, missingTokens(t), t.path);
  const col = (key: string) => (key === 'person_id' ? t.idColumn : (t.columns?.[key] ?? key));
  return { ...table, file: t.path, col };
}

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
  .refine((s) => {
    const d = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
  }, 'is not a calendar date');

export const personRow = z
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

export const conditionRow = z.strictObject({
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

export const measurementRow = z
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

export interface Birth {
  date: string | null;
  year: number;
}

/** Collects rejects (quarantine) or throws at the first bad row. */
export class RowErrors {
  readonly rows: Array<[string, string, number, string, string]> = [];
  constructor(private readonly quarantine: boolean) {}
  report(table: string, file: string, line: number, field: string, reason: string): void {
    if (!this.quarantine)
      throw new InputError(reason, { file, line, field }, 'fix the row, or ingest with --quarantine');
    this.rows.push([table, file, line, field, reason]);
  }
}

export function zodFailure(
  err: z.ZodError,
  columnOf: (key: string) => string,
): { field: string; reason: string } {
  const issue = err.issues[0];
  const key = String(issue.path[0] ?? '');
  return { field: columnOf(key) || key, reason: `${key || 'row'} ${issue.message}` };
}
