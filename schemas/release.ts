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

/** Genotype file formats a release may list. */
export const GENOTYPE_FORMATS = ['vcf', 'bed', 'pgen', 'bgen'] as const;
export type GenotypeFormat = (typeof GENOTYPE_FORMATS)[number];

const GENOTYPE_NAME = /\.(vcf(\.b?gz)?|bed|pgen|bgen)$/i;

/** The format a genotype file name implies, or null. */
export function genotypeFormatOf(path: string): GenotypeFormat | null {
  const m = GENOTYPE_NAME.exec(path);
  if (!m) return null;
  const ext = m[1].toLowerCase();
  return ext.startsWith('vcf') ? 'vcf' : (ext as GenotypeFormat);
}

const genotypeOptionsSchema = z.strictObject({
  /** The genotype file: `.vcf(.gz)`, `.bed`, `.pgen` or `.bgen`. */
  path: relPath,
  /** Format, when the name does not say it. */
  format: z.enum(GENOTYPE_FORMATS).optional(),
  /** PLINK 1: the `.bim` and `.fam` (default: beside the `.bed`, same stem). */
  bim: relPath.optional(),
  fam: relPath.optional(),
  /**
   * PLINK 1: which `.bim` allele is ALT (the allele counted). `a1` (default): column 5 is ALT
   * and column 6 REF, as `plink2 --make-bed` writes. `a2`: the other way round. A `.bim`
   * written by PLINK 1.9 has the minor allele as A1, not the ALT: give `refFasta` then.
   */
  countedAllele: z.enum(['a1', 'a2']).optional(),
  /** PLINK 1: a reference FASTA (plain, `.fai` used when present); REF is the allele that matches it. */
  refFasta: relPath.optional(),
  /** PLINK 2: the `.pvar`/`.pvar.zst` and `.psam` (default: beside the `.pgen`). */
  pvar: relPath.optional(),
  psam: relPath.optional(),
  /** BGEN: a `.sample` file (default: beside the `.bgen` if present, else the sample block). */
  sample: relPath.optional(),
  /**
   * BGEN: the hard-call rule. A call is the most probable genotype when its probability is at
   * least this (default 0.9), else missing.
   */
  hardCallThreshold: z.number().min(0.5).max(1).optional(),
});

/** One genotype input: a file name, or an object with options. */
export const genotypeInputSchema = z.union([relPath, genotypeOptionsSchema]).superRefine((g, ctx) => {
  const path = typeof g === 'string' ? g : g.path;
  const format = typeof g === 'string' ? undefined : g.format;
  if (!format && !genotypeFormatOf(path))
    ctx.addIssue({
      code: 'custom',
      message: 'must end in .vcf, .vcf.gz, .bed, .pgen or .bgen (or give "format")',
    });
});
export type GenotypeInput = z.infer<typeof genotypeInputSchema>;
export type GenotypeOptions = z.infer<typeof genotypeOptionsSchema>;

/** A genotype input with its format resolved. */
export function genotypeOptions(g: GenotypeInput): GenotypeOptions & { format: GenotypeFormat } {
  const o = typeof g === 'string' ? { path: g } : g;
  return { ...o, format: o.format ?? (genotypeFormatOf(o.path) as GenotypeFormat) };
}

/**
 * An OMOP CDM v5.4 EHR folder (ingest/omop/): `person`, `condition_occurrence`,
 * `observation`, `procedure_occurrence`, `measurement`, `visit_occurrence` and `concept`, as
 * `<table>.csv`, `.tsv`, `.csv.gz` or `.parquet`.
 */
export const omopEhrSchema = z.strictObject({
  format: z.literal('omop'),
  /** The folder, relative to the manifest. */
  path: relPath,
  /**
   * How genotype sample ids name persons: `person_id` (default; All of Us), the person's
   * `person_source_value`, or a `linkage` table.
   */
  sampleId: z.enum(['person_id', 'person_source_value', 'linkage']).optional(),
  /** With `sampleId: "linkage"`: a table of (person_id, sample id). */
  linkage: z
    .strictObject({
      path: relPath,
      format: tableFormatSchema,
      personColumn: columnName,
      sampleColumn: columnName,
    })
    .optional(),
  /** Tokens read as missing in the CSV files. Default `["NA", ""]`. */
  missing: z.array(z.string()).optional(),
});
export type OmopEhr = z.infer<typeof omopEhrSchema>;

/** The OMOP CDM tables the engine reads. */
export const OMOP_TABLES = [
  'person',
  'condition_occurrence',
  'observation',
  'procedure_occurrence',
  'measurement',
  'visit_occurrence',
  'concept',
] as const;
export type OmopTable = (typeof OMOP_TABLES)[number];
/** `<table>.csv`, `.tsv`, `.csv.gz`, `.tsv.gz` or `.parquet` (case-insensitive). */
export const OMOP_FILE = new RegExp(
  `^(${OMOP_TABLES.join('|')})\\.(csv|tsv|csv\\.gz|tsv\\.gz|parquet)$`,
  'i',
);

export const releaseManifestSchema = z
  .strictObject({
    releaseId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be letters, digits, ., _ or - (max 128)'),
    /**
     * Genotype files, all with the same samples in the same order: VCF (`.vcf`, `.vcf.gz`),
     * PLINK 1 (`.bed`), PLINK 2 (`.pgen`) or BGEN 1.2 (`.bgen`), by name or as an object with
     * options (see {@link genotypeInputSchema}). Formats may be mixed across files, not within
     * one chromosome.
     */
    genotypes: z.array(genotypeInputSchema).min(1),
    /** The persons table. Required unless `ehr` names an OMOP folder (which has `person`). */
    persons: personsTableSchema.optional(),
    /** An OMOP CDM v5.4 folder instead of `persons`/`conditions`/`measurements` (ingest/omop/). */
    ehr: omopEhrSchema.optional(),
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
    if (m.ehr) {
      for (const k of ['persons', 'conditions', 'measurements'] as const)
        if (m[k] !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: [k],
            message: 'not allowed with "ehr": the OMOP folder provides it',
          });
    } else if (m.persons === undefined) {
      ctx.addIssue({ code: 'custom', path: ['persons'], message: 'required (or an OMOP "ehr" folder)' });
    }
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
