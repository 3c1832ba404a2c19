/**
 * An OMOP CDM v5.4 folder (`"ehr": { "format": "omop", "path": … }`) → the canonical release
 * tables `persons`, `conditions`, `measurements` (the same schemas and rules as the flat path,
 * `ingest/ehr/ehr.ts`, so phenome, phecodes, measurements and covariates work unchanged), plus
 * the user tables `tables/omop_person.parquet` (race, ethnicity) and
 * `tables/omop_visits.parquet` (visit counts, EHR length), `rejects.parquet` and
 * `unknown_codes.parquet`. The mapping rules are in docs/omop.md and in each module:
 * `person.ts`, `events.ts` (conditions, measurements), `visits.ts`, `concepts.ts`; file reading
 * and line-exact errors in `source.ts` and `checks.ts`; sample linkage in `link.ts`.
 *
 * Tables read: `person` and `concept` (required); `condition_occurrence`, `observation`,
 * `procedure_occurrence`, `measurement`, `visit_occurrence` (each optional). The work is done in
 * DuckDB SQL over temp tables (joins, validation); JS only normalises the distinct ICD codes and
 * source values (`icd.ts`) and, on the error path, scans a file for the lines of bad rows.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { InputError } from '../../engine/errors.js';
import { omopFiles } from '../../engine/release.js';
import { missingTokens, type OmopTable } from '../../schemas/release.js';
import type { EhrInput, EhrResult } from '../ehr/ehr.js';
import { ingestExtraTable } from '../ehr/ehr-extra.js';
import { RowErrors } from '../ehr/ehr-rows.js';
import { writeRejects } from '../ehr/ehr-write.js';
import { createMacros, dropTemps, type OmopContext, refuseDuplicates } from './checks.js';
import { loadConcepts } from './concepts.js';
import {
  CONDITION_SOURCES,
  conditionColumns,
  ingestConditions,
  ingestMeasurements,
  MEASUREMENT_COLUMNS,
} from './events.js';
import { ingestPersons, PERSON_COLUMNS, personBirths } from './person.js';
import { type CdmColumns, type CdmFile, type LoadedTable, loadCdmTable, openCdmFile } from './source.js';
import { ingestVisits, VISIT_COLUMNS } from './visits.js';

export { omopSampleLinks, type SampleLinks } from './link.js';

/** Heartbeat interval while SQL runs (the activities' heartbeat timeout is 30 s). */
const HEARTBEAT_MS = 5_000;

/** User tables the OMOP ingest writes (a manifest table may not use these names). */
export const OMOP_USER_TABLES = ['omop_person', 'omop_visits'] as const;

/** The columns read from each event table. */
const COLUMNS: ReadonlyArray<[OmopTable, CdmColumns]> = [
  ['person', PERSON_COLUMNS],
  ...CONDITION_SOURCES.map((s): [OmopTable, CdmColumns] => [s.table, conditionColumns(s)]),
  ['measurement', MEASUREMENT_COLUMNS],
  ['visit_occurrence', VISIT_COLUMNS],
];

/** Ingest the manifest's OMOP folder into `input.outDir` (see the module comment). */
export async function ingestOmop(conn: DuckDBConnection, input: EhrInput): Promise<EhrResult> {
  const { manifest, baseDir, outDir, today } = input;
  const ehr = manifest.ehr;
  if (!ehr) throw new InputError('the manifest has no "ehr" folder', { field: 'ehr' });
  if (!/^\d{4}-\d{2}-\d{2}$/.test(today)) throw new RangeError(`today must be YYYY-MM-DD, got ${today}`);
  manifest.tables.forEach((t, i) => {
    if ((OMOP_USER_TABLES as readonly string[]).includes(t.name))
      throw new InputError(`the table name ${t.name} is reserved for the OMOP ingest`, {
        field: `tables.${i}.name`,
      });
  });
  const files = await omopFiles(baseDir, ehr);
  for (const required of ['person', 'concept'] as const)
    if (!files.has(required))
      throw new InputError(
        `the OMOP folder has no ${required} table`,
        { file: ehr.path, field: 'ehr.path' },
        `add ${required}.csv, .tsv, .csv.gz, .tsv.gz or .parquet`,
      );
  const errors = new RowErrors(input.quarantine);
  const ctx: OmopContext = {
    conn,
    errors,
    quarantine: input.quarantine,
    today,
    todaySql: `DATE '${today}'`,
    notes: [],
    temps: [],
  };
  // The last step finished (heartbeats name it): one SQL statement over a large CDM can outlast
  // the activity's heartbeat timeout, so a timer heartbeats while DuckDB works.
  let progress = { table: 'start', rows: 0 };
  const beat = (table: string, rows: number) => {
    progress = { table, rows };
    input.heartbeat?.(progress);
  };
  const timer = setInterval(() => input.heartbeat?.(progress), HEARTBEAT_MS);
  timer.unref();
  const missing = missingTokens(ehr);
  try {
    await createMacros(ctx);
    const tables = new Map<OmopTable, LoadedTable>();
    for (const [table, cols] of COLUMNS) {
      const rel = files.get(table);
      if (!rel) continue;
      const f: CdmFile = await openCdmFile(conn, baseDir, table, rel);
      const t = await loadCdmTable(conn, f, cols, missing);
      ctx.temps.push(['TABLE', t.name.slice(1, -1)]);
      tables.set(table, t);
      beat(table, t.rows);
    }
    const person = tables.get('person')!;
    await refuseDuplicates(ctx, person, 'person_id', 'person_id');
    const conceptFile = await openCdmFile(conn, baseDir, 'concept', files.get('concept')!);
    await loadConcepts(ctx, conceptFile, tables, missing);
    beat('concept', 0);

    const nPersons = await ingestPersons(ctx, person, outDir);
    beat('persons', nPersons);
    const { nConditions, nUnknownCodes } = await ingestConditions(ctx, tables, outDir);
    beat('conditions', nConditions);
    const nMeasurements = await ingestMeasurements(ctx, tables.get('measurement'), outDir);
    beat('measurements', nMeasurements);
    const result: Record<string, number> = {};
    result.omop_person = nPersons;
    const visits = tables.get('visit_occurrence');
    if (visits) result.omop_visits = await ingestVisits(ctx, visits, outDir);

    if (manifest.tables.length > 0) {
      const births = await personBirths(ctx);
      let rows = 0;
      const tick = (table: string) => {
        if ((++rows & 0xffff) === 0) beat(table, rows);
      };
      for (const t of manifest.tables)
        result[t.name] = await ingestExtraTable(
          conn,
          t,
          baseDir,
          outDir,
          births,
          errors,
          tick,
          input.quarantine,
          ctx.notes,
        );
    }
    await writeRejects(conn, errors, outDir);
    return {
      nPersons,
      nConditions,
      nMeasurements,
      nRejects: errors.rows.length,
      nUnknownCodes,
      tables: result,
      notes: ctx.notes,
    };
  } finally {
    clearInterval(timer);
    await dropTemps(ctx);
  }
}
