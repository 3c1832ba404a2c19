/**
 * Release manifest contract. A biobank **release** is a JSON manifest listing its files;
 * paths are relative to the manifest. Unknown fields are rejected (strict objects) so a
 * typo such as `idColum` is reported by name instead of being ignored.
 *
 * Example (must parse):
 * ```json
 * { "releaseId": "demo-2026-11",
 *   "genotypes": ["chr1-22.vcf.gz"],
 *   "persons": { "path": "persons.tsv", "format": "tsv", "idColumn": "person_id" },
 *   "conditions": { "path": "conditions.parquet", "format": "parquet", "idColumn": "person_id" },
 *   "measurements": { "path": "labs.csv", "format": "csv", "idColumn": "person_id" },
 *   "tables": [ { "name": "pheno", "path": "pheno.txt", "format": "whitespace", "idColumn": "IID",
 *                 "missing": ["NA", "-9"] } ] }
 * ```
 */
import { z } from 'zod';

/** Missing-value tokens used when a table does not name its own. */
export const DEFAULT_MISSING_TOKENS = ['NA', ''] as const;

export const tableFormatSchema = z.enum(['csv', 'tsv', 'whitespace', 'parquet']);
export type TableFormat = z.infer<typeof tableFormatSchema>;

const relPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), {
    message: 'must be a path relative to the manifest, without ..',
  });

const columnName = z.string().min(1);

/** Canonical column → the column name used in the file. Only canonical names are allowed. */
function columnMap<const K extends readonly [string, ...string[]]>(keys: K) {
  return z.partialRecord(z.enum(keys), columnName);
}

const baseTable = {
  path: relPath,
  format: tableFormatSchema,
  /** Column holding the person id in this file (renamed `person_id`). */
  idColumn: columnName,
  /** Tokens read as missing (NULL). Default `["NA", ""]`; PLINK files usually add `"-9"`. */
  missing: z.array(z.string()).optional(),
};

export const PERSON_COLUMNS = ['sex', 'birth_date', 'birth_year', 'ancestry'] as const;
export const CONDITION_COLUMNS = ['code', 'vocabulary', 'date'] as const;
export const MEASUREMENT_COLUMNS = ['name', 'loinc', 'value', 'unit', 'date'] as const;

export const personsTableSchema = z.strictObject({
  ...baseTable,
  columns: columnMap(PERSON_COLUMNS).optional(),
});
export const conditionsTableSchema = z.strictObject({
  ...baseTable,
  columns: columnMap(CONDITION_COLUMNS).optional(),
});
export const measurementsTableSchema = z.strictObject({
  ...baseTable,
  columns: columnMap(MEASUREMENT_COLUMNS).optional(),
});
export const extraTableSchema = z.strictObject({
  /** Table name: becomes `tables/<name>.parquet`. */
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,62}$/, 'must be a letter then letters, digits or _'),
  ...baseTable,
  /**
   * Column types, when the rule of `ingest/ehr/ehr.ts` (numeric when ≥ 99 % of the present
   * values are numbers) should not decide: `"number"` (every present value must be a number) or
   * `"text"` (kept as written, e.g. codes that are mostly digits).
   */
  types: z.record(columnName, z.enum(['number', 'text'])).optional(),
});

export const releaseManifestSchema = z
  .strictObject({
    releaseId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be letters, digits, ., _ or - (max 128)'),
    /** VCF files (`.vcf` or bgzipped `.vcf.gz`), all with the same samples in the same order. */
    genotypes: z
      .array(relPath.refine((p) => /\.vcf(\.b?gz)?$/i.test(p), { message: 'must end in .vcf or .vcf.gz' }))
      .min(1),
    persons: personsTableSchema,
    /** Optional: a genotype-only release has no EHR conditions (studies needing a phenome then refuse it). */
    conditions: conditionsTableSchema.optional(),
    measurements: measurementsTableSchema.optional(),
    tables: z.array(extraTableSchema).default([]),
    /**
     * The genome assembly of the genotypes (GRCh37 or GRCh38; hg19/hg38/b37 are understood).
     * Optional when the VCF headers name it (`##reference`, `##contig=<…,assembly=…>`); when
     * both do, they must agree.
     */
    assembly: z.string().min(1).max(64).optional(),
  })
  .superRefine((m, ctx) => {
    const seen = new Set<string>();
    m.tables.forEach((t, i) => {
      if (seen.has(t.name))
        ctx.addIssue({ code: 'custom', path: ['tables', i, 'name'], message: 'duplicate name' });
      seen.add(t.name);
    });
  });

export type ReleaseManifest = z.infer<typeof releaseManifestSchema>;
export type PersonsTable = z.infer<typeof personsTableSchema>;
export type ConditionsTable = z.infer<typeof conditionsTableSchema>;
export type MeasurementsTable = z.infer<typeof measurementsTableSchema>;
export type ExtraTable = z.infer<typeof extraTableSchema>;

/** Tokens that read as missing for one table. */
export function missingTokens(table: { missing?: string[] }): string[] {
  return table.missing ?? [...DEFAULT_MISSING_TOKENS];
}

/** Canonical ICD vocabularies of the conditions table. */
export const VOCABULARIES = ['ICD9CM', 'ICD10CM', 'ICD10'] as const;
export type Vocabulary = (typeof VOCABULARIES)[number];

// The catalog tables (releases, variants) are contracts in schemas/catalog.ts.
export {
  CATALOG_VARIANT_COLUMNS,
  CATALOG_VARIANTS_DDL,
  RELEASES_DDL,
  RELEASES_MIGRATIONS,
} from './catalog.js';
