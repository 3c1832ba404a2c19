/**
 * The OMOP `concept` table: which concepts the CDM uses, their names and codes, and the ICD
 * codes the conditions are made of.
 *
 * Facts relied on (OMOP CDM v5.4, OHDSI standardized vocabularies):
 * - `concept` has `concept_id` (primary key), `concept_name`, `vocabulary_id`, `concept_code`.
 *   ICD diagnosis vocabularies are `ICD9CM`, `ICD10CM` and `ICD10` (WHO); their `concept_code`
 *   is the dotted code (`250.00`, `E11.9`). LOINC concepts have `vocabulary_id` `LOINC` and the
 *   LOINC code as `concept_code`; units are `UCUM` concepts whose `concept_code` is the UCUM
 *   string (`mg/dL`, `%`).
 * - Concept id 0 is "No matching concept": allowed anywhere, it means "no concept".
 *
 * Only the concepts the CDM's rows use, plus every ICD concept (to look source values up by
 * code), are read: a full Athena `CONCEPT.csv` has millions of rows.
 *
 * A used concept id that is not in `concept` fails the ingest (InputError naming the file, line
 * and column of the first row using it): the vocabulary delivered with the CDM is incomplete.
 */
import type { DuckDBAppender } from '@duckdb/node-api';
import { sqlIdent } from '../../engine/duckdb.js';
import type { OmopTable, Vocabulary } from '../../schemas/release.js';
import { normalizeIcd } from '../ehr/icd.js';
import { failAtRow, type OmopContext, parseConceptId, refuseDuplicates, tempTable } from './checks.js';
import { type CdmFile, type LoadedTable, loadCdmTable } from './source.js';

/** Columns holding concept ids the engine uses, by table, with their parsed (`_omop_id`) column. */
export const CONCEPT_REFS: ReadonlyArray<[OmopTable, string, string]> = [
  ['person', 'gender_concept_id', '_gid'],
  ['person', 'race_concept_id', '_rid'],
  ['person', 'ethnicity_concept_id', '_eid'],
  ['condition_occurrence', 'condition_source_concept_id', '_sid'],
  ['observation', 'observation_source_concept_id', '_sid'],
  ['procedure_occurrence', 'procedure_source_concept_id', '_sid'],
  ['measurement', 'measurement_concept_id', '_mid'],
  ['measurement', 'unit_concept_id', '_uid'],
];

/** The ICD diagnosis vocabularies (canonical `vocabulary` values). */
export const ICD_VOCABULARIES: readonly Vocabulary[] = ['ICD9CM', 'ICD10CM', 'ICD10'];
const ICD_LIST = ICD_VOCABULARIES.map((v) => `'${v}'`).join(', ');

/** Temp table of the used concepts: `concept_id BIGINT, concept_name, vocabulary_id, concept_code`. */
export const CONCEPTS = sqlIdent('_omop_c');
/** Temp table of the ICD concepts: `concept_id BIGINT, vocabulary, code` (canonical), `shaped`. */
export const ICD_CONCEPTS = sqlIdent('_omop_icd');
/**
 * Temp table of source values: `value`; `c9`, `c10`: the value normalised as ICD-9-CM and as
 * ICD-10(-CM) (NULL when it lacks the shape); `code_vocab`, `code`: the one ICD concept whose code
 * it is (NULL if none); `code_ambiguous`: codes of concepts of two vocabularies; `shape_vocab`,
 * `shape_code`: the vocabulary when the value has the shape of exactly one; `shape_ambiguous`.
 */
export const SOURCE_VALUES = sqlIdent('_omop_sv');

/** Concept ids used by the loaded tables (non-zero), then the concept rows for them. */
export async function loadConcepts(
  ctx: OmopContext,
  conceptFile: CdmFile,
  tables: Map<OmopTable, LoadedTable>,
  missing: string[],
): Promise<LoadedTable> {
  const parts = CONCEPT_REFS.filter(([t, c]) => tables.get(t)?.present.has(c)).map(
    ([t, , parsed]) => `SELECT DISTINCT ${parsed} AS id FROM ${tables.get(t)!.name}`,
  );
  const used = await tempTable(
    ctx,
    '_omop_used',
    parts.length === 0
      ? 'SELECT NULL::BIGINT AS id WHERE false'
      : `SELECT DISTINCT id FROM (${parts.join(' UNION ALL ')}) WHERE id IS NOT NULL AND id <> 0`,
  );
  const concept = await loadCdmTable(
    ctx.conn,
    conceptFile,
    { required: ['concept_id', 'concept_name', 'vocabulary_id', 'concept_code'], optional: [] },
    missing,
    `_omop_id(concept_id) IN (SELECT id FROM ${used}) OR vocabulary_id IN (${ICD_LIST})`,
  );
  ctx.temps.push(['TABLE', concept.name.slice(1, -1)]);
  await refuseDuplicates(ctx, concept, 'concept_id', '_omop_id(concept_id)', parseConceptId);
  await tempTable(
    ctx,
    '_omop_c',
    `SELECT _omop_id(concept_id) AS concept_id, concept_name, vocabulary_id, concept_code FROM ${concept.name}
     WHERE _omop_id(concept_id) IS NOT NULL`,
  );
  await refuseMissingConcepts(ctx, used, conceptFile.file, tables);
  return concept;
}

/** InputError at the first row that uses a concept id absent from `concept`. */
async function refuseMissingConcepts(
  ctx: OmopContext,
  used: string,
  conceptFile: string,
  tables: Map<OmopTable, LoadedTable>,
): Promise<void> {
  const absent = await tempTable(
    ctx,
    '_omop_absent',
    `SELECT u.id FROM ${used} u ANTI JOIN ${CONCEPTS} c ON c.concept_id = u.id`,
  );
  const n = await ctx.conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM ${absent}`);
  if (Number(n.getRowObjectsJS()[0].n) === 0) return;
  for (const [table, column, parsed] of CONCEPT_REFS) {
    const t = tables.get(table);
    if (!t?.present.has(column)) continue;
    const hit = await ctx.conn.runAndReadAll(
      `SELECT DISTINCT CAST(${parsed} AS VARCHAR) AS id FROM ${t.name}
       WHERE ${parsed} IN (SELECT id FROM ${absent}) LIMIT 1000`,
    );
    const ids = hit.getRowObjectsJS().map((x) => String(x.id));
    if (ids.length === 0) continue;
    const messages = new Map(ids.map((id) => [id, `concept ${id} is not in ${conceptFile}`]));
    await failAtRow(ctx, t, column, messages, {
      norm: parseConceptId,
      hint: 'deliver the vocabulary tables the CDM was built with (concept ids other than 0 must be in concept)',
    });
  }
}

/** Canonical codes of one ICD vocabulary present in `concept`. */
type IcdCodes = Record<Vocabulary, Set<string>>;

/** Build `_omop_icd` from the ICD concepts (codes normalised by `icd.ts`); returns the codes. */
export async function loadIcdConcepts(ctx: OmopContext): Promise<IcdCodes> {
  const codes: IcdCodes = { ICD9CM: new Set(), ICD10CM: new Set(), ICD10: new Set() };
  const r = await ctx.conn.runAndReadAll(
    `SELECT concept_id, vocabulary_id, concept_code FROM ${CONCEPTS}
     WHERE vocabulary_id IN (${ICD_LIST}) AND concept_code IS NOT NULL`,
  );
  await tempTable(
    ctx,
    '_omop_icd',
    'SELECT NULL::BIGINT AS concept_id, NULL::VARCHAR AS vocabulary, NULL::VARCHAR AS code, NULL::BOOLEAN AS shaped WHERE false',
  );
  await append(ctx, '_omop_icd', (app) => {
    for (const row of r.getRows()) {
      const vocabulary = String(row[1]) as Vocabulary;
      const raw = String(row[2]);
      const code = normalizeIcd(raw, vocabulary);
      if (code !== null) codes[vocabulary].add(code);
      app.appendBigInt(row[0] as bigint);
      app.appendVarchar(vocabulary);
      app.appendVarchar(code ?? raw.toUpperCase());
      app.appendBoolean(code !== null);
      app.endRow();
    }
  });
  return codes;
}

/** What a source value says as an ICD code (see `SOURCE_VALUES`). */
interface ValueReading {
  c9: string | null;
  c10: string | null;
  byCode: [Vocabulary, string] | null;
  codeAmbiguous: boolean;
  byShape: [Vocabulary, string] | null;
  shapeAmbiguous: boolean;
}

/**
 * Read a source value as an ICD code: as the code of an ICD concept (exactly one vocabulary;
 * an ICD-10 code found in both ICD10CM and WHO ICD10 is ICD10CM), and by shape alone
 * (ICD-9-CM shape only → ICD9CM; ICD-10 shape only → ICD10CM).
 */
export function readSourceValue(value: string, codes: IcdCodes): ValueReading {
  const c9 = normalizeIcd(value, 'ICD9CM');
  const c10 = normalizeIcd(value, 'ICD10CM');
  const hits: Array<[Vocabulary, string]> = [];
  if (c9 !== null && codes.ICD9CM.has(c9)) hits.push(['ICD9CM', c9]);
  if (c10 !== null && codes.ICD10CM.has(c10)) hits.push(['ICD10CM', c10]);
  else if (c10 !== null && codes.ICD10.has(c10)) hits.push(['ICD10', c10]);
  return {
    c9,
    c10,
    byCode: hits.length === 1 ? hits[0] : null,
    codeAmbiguous: hits.length > 1,
    byShape:
      c9 !== null && c10 === null ? ['ICD9CM', c9] : c10 !== null && c9 === null ? ['ICD10CM', c10] : null,
    shapeAmbiguous: c9 !== null && c10 !== null,
  };
}

/** Build `_omop_sv` for the distinct values of `valueSql` (a query of one VARCHAR column `v`). */
export async function loadSourceValues(ctx: OmopContext, valueSql: string, codes: IcdCodes): Promise<void> {
  const r = await ctx.conn.runAndReadAll(`SELECT DISTINCT v FROM (${valueSql}) WHERE v IS NOT NULL`);
  await tempTable(
    ctx,
    '_omop_sv',
    `SELECT NULL::VARCHAR AS value, NULL::VARCHAR AS c9, NULL::VARCHAR AS c10, NULL::VARCHAR AS code_vocab,
            NULL::VARCHAR AS code, NULL::BOOLEAN AS code_ambiguous, NULL::VARCHAR AS shape_vocab,
            NULL::VARCHAR AS shape_code, NULL::BOOLEAN AS shape_ambiguous WHERE false`,
  );
  const put = (app: DuckDBAppender, v: string | null) =>
    v === null ? app.appendNull() : app.appendVarchar(v);
  await append(ctx, '_omop_sv', (app) => {
    for (const [v] of r.getRows()) {
      const value = String(v);
      const s = readSourceValue(value, codes);
      app.appendVarchar(value);
      put(app, s.c9);
      put(app, s.c10);
      put(app, s.byCode?.[0] ?? null);
      put(app, s.byCode?.[1] ?? null);
      app.appendBoolean(s.codeAmbiguous);
      put(app, s.byShape?.[0] ?? null);
      put(app, s.byShape?.[1] ?? null);
      app.appendBoolean(s.shapeAmbiguous);
      app.endRow();
    }
  });
}

async function append(ctx: OmopContext, table: string, fill: (app: DuckDBAppender) => void): Promise<void> {
  const app = await ctx.conn.createAppender(table, 'main', 'temp');
  try {
    fill(app);
  } finally {
    app.closeSync();
  }
}
