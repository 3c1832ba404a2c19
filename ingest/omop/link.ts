/**
 * Linking genotype samples to OMOP persons (`ehr.sampleId`):
 * - `person_id` (default; All of Us): the sample id is the person's `person_id`;
 * - `person_source_value`: the sample id is the person's `person_source_value` (which must then
 *   be unique among persons);
 * - `linkage`: the table `ehr.linkage` maps person ids (`personColumn`) to sample ids
 *   (`sampleColumn`). A sample id may occur once; two samples of the release may not name one
 *   person. Linkage rows for persons not in `person` link nothing.
 * A sample without a person gets null; the release ingest refuses those. `unlinkedPersons` counts
 * the persons no sample names (persons without genotypes).
 */
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { InputError } from '../../engine/errors.js';
import { omopFiles } from '../../engine/release.js';
import { missingTokens, type OmopEhr } from '../../schemas/release.js';
import { RowErrors } from '../ehr/ehr-rows.js';
import { openTable, requireColumn } from '../ehr/table.js';
import { createMacros, dropTemps, type OmopContext, refuseDuplicates } from './checks.js';
import { loadCdmTable, openCdmFile } from './source.js';

export interface SampleLinks {
  /** Per sample (in the given order): its person_id, or null. */
  personIds: (string | null)[];
  /** Persons that no sample names. */
  unlinkedPersons: number;
}

/** The person of every genotype sample id in `samples`. */
export async function omopSampleLinks(
  conn: DuckDBConnection,
  baseDir: string,
  ehr: OmopEhr,
  samples: string[],
): Promise<SampleLinks> {
  const mode = ehr.sampleId ?? 'person_id';
  const rel = (await omopFiles(baseDir, ehr)).get('person');
  if (!rel)
    throw new InputError(`the OMOP folder has no person table`, { file: ehr.path, field: 'ehr.path' });
  const ctx: OmopContext = {
    conn,
    errors: new RowErrors(false),
    quarantine: false,
    today: '',
    todaySql: '',
    notes: [],
    temps: [],
  };
  try {
    await createMacros(ctx);
    const missing = missingTokens(ehr);
    const f = await openCdmFile(conn, baseDir, 'person', rel);
    const psv = mode === 'person_source_value';
    const t = await loadCdmTable(
      conn,
      f,
      { required: psv ? ['person_id', 'person_source_value'] : ['person_id'], optional: [] },
      missing,
    );
    ctx.temps.push(['TABLE', t.name.slice(1, -1)]);
    await refuseDuplicates(ctx, t, 'person_id', 'person_id');
    if (psv) await refuseDuplicates(ctx, t, 'person_source_value', 'person_source_value');
    const r = await conn.runAndReadAll(
      `SELECT person_id, ${psv ? 'person_source_value' : 'person_id'} AS k FROM ${t.name} WHERE person_id IS NOT NULL`,
    );
    const persons = new Set<string>();
    const byKey = new Map<string, string>();
    for (const [id, k] of r.getRows()) {
      persons.add(String(id));
      if (k !== null) byKey.set(String(k), String(id));
    }
    const personIds =
      mode === 'linkage'
        ? await linkageIds(conn, baseDir, ehr, samples, persons)
        : samples.map((s) => byKey.get(s) ?? null);
    const linked = new Set(personIds.filter((p): p is string => p !== null));
    return { personIds, unlinkedPersons: persons.size - linked.size };
  } finally {
    await dropTemps(ctx);
  }
}

/** The person of each sample by the linkage table. */
async function linkageIds(
  conn: DuckDBConnection,
  baseDir: string,
  ehr: OmopEhr,
  samples: string[],
  persons: Set<string>,
): Promise<(string | null)[]> {
  const l = ehr.linkage;
  if (!l)
    throw new InputError(
      'sampleId "linkage" needs a linkage table',
      { field: 'ehr.linkage' },
      'add "linkage": { "path", "format", "personColumn", "sampleColumn" }',
    );
  const table = await openTable(conn, join(baseDir, l.path), l.format, missingTokens(ehr), l.path);
  const pi = requireColumn(table.columns, l.personColumn, l.path, 'ehr.linkage.personColumn');
  const si = requireColumn(table.columns, l.sampleColumn, l.path, 'ehr.linkage.sampleColumn');
  const bySample = new Map<string, { person: string; line: number }>();
  for await (const row of table.rows) {
    const person = row.values[pi];
    const sample = row.values[si];
    if (person === null || sample === null)
      throw new InputError('empty value', {
        file: l.path,
        line: row.line,
        field: person === null ? l.personColumn : l.sampleColumn,
      });
    const prev = bySample.get(sample);
    if (prev && prev.person !== person)
      throw new InputError(
        `sample ${sample} is linked to person ${prev.person} (line ${prev.line}) and to person ${person}`,
        { file: l.path, line: row.line, field: l.sampleColumn },
      );
    if (!prev) bySample.set(sample, { person, line: row.line });
  }
  const sampleOf = new Map<string, { sample: string; line: number }>();
  return samples.map((s) => {
    const link = bySample.get(s);
    if (!link || !persons.has(link.person)) return null;
    const other = sampleOf.get(link.person);
    if (other)
      throw new InputError(
        `person ${link.person} is linked to two samples of the release: ${other.sample} (line ${other.line}) and ${s}`,
        { file: l.path, line: link.line, field: l.sampleColumn },
      );
    sampleOf.set(link.person, { sample: s, line: link.line });
    return link.person;
  });
}
