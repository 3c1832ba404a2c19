/**
 * Why is a person a case, control or excluded for a phecode? Re-derives the decision for one
 * person × phecode from the source records (not from the stored phenome), listing the dated
 * codes behind it, so an analyst can check it against the chart.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { mapTables } from './maps.js';
import { type PhenomeOptions, REASON, resolveOptions } from './phenome.js';

export interface CodeEvent {
  date: string;
  vocabulary: string;
  code: string;
  /** The phecode this code maps to (after rollup) that made it count. */
  phecode: string;
}

export interface Explanation {
  personId: string;
  phecode: string;
  description: string | null;
  version: PhenomeOptions['version'];
  minCodeCount: number;
  exclusions: boolean;
  sex: string | null;
  sexRestriction: 'male_only' | 'female_only' | null;
  /** Codes mapping to the phecode, one per record. */
  events: CodeEvent[];
  /** Distinct dates of `events`. */
  nDates: number;
  /** Codes mapping to a phecode in the exclusion set (1.2 with exclusions on). */
  exclusionEvents: CodeEvent[];
  status: 'case' | 'control' | 'excluded';
  reason: number;
  /** Human-readable lines. */
  text: string[];
}

/** Named statements of `explain`: $1 = person_id, $2 = phecode (`phecode`: $1 = phecode). */
const EXPLAIN_SQL = {
  person: (persons: string) =>
    `SELECT sex FROM read_parquet(${sqlString(persons)}) WHERE person_id = $1 LIMIT 1`,
  events: (conditions: string, map: string) => `
    SELECT strftime(c.date, '%Y-%m-%d') AS date, c.vocabulary, c.code, m.phecode
    FROM read_parquet(${sqlString(conditions)}) c JOIN ${map} m ON m.vocabulary = c.vocabulary AND m.code = c.code
    WHERE c.person_id = $1 AND m.phecode = $2 AND c.date IS NOT NULL ORDER BY c.date, c.vocabulary, c.code`,
  exclusionEvents: (conditions: string, map: string, exclude: string) => `
    SELECT DISTINCT strftime(c.date, '%Y-%m-%d') AS date, c.vocabulary, c.code, m.phecode
    FROM read_parquet(${sqlString(conditions)}) c
    JOIN ${map} m ON m.vocabulary = c.vocabulary AND m.code = c.code
    JOIN ${exclude} e ON e.excl = m.phecode
    WHERE c.person_id = $1 AND e.phecode = $2 AND c.date IS NOT NULL ORDER BY 1, 2, 3, 4`,
  phecode: (info: string, sex: string) => `
    SELECT i.description, s.male_only, s.female_only
    FROM (SELECT $1::VARCHAR AS phecode) q LEFT JOIN ${info} i USING (phecode) LEFT JOIN ${sex} s USING (phecode)`,
};

/** Explain one decision. The maps of `options.version` must be loaded in `conn`. */
export async function explainPhenotype(
  conn: DuckDBConnection,
  inputs: { conditions: string; persons: string },
  personId: string,
  phecode: string,
  options: PhenomeOptions,
): Promise<Explanation> {
  const o = resolveOptions(options);
  const t = mapTables(o.version);
  const params = [personId, phecode];
  const person = (
    await conn.runAndReadAll(EXPLAIN_SQL.person(inputs.persons), [personId])
  ).getRowObjectsJS()[0];
  if (!person)
    throw new InputError(`person '${personId}' is not in the release`, {
      file: inputs.persons,
      field: 'person_id',
    });
  const info = (await conn.runAndReadAll(EXPLAIN_SQL.phecode(t.info, t.sex), [phecode])).getRowObjectsJS()[0];
  const mapped = (
    await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM ${t.map} WHERE phecode = $1`, [phecode])
  ).getRowObjectsJS()[0].n as number;
  if (info.description == null && mapped === 0) {
    throw new InputError(`phecode '${phecode}' does not exist in phecode ${o.version}`, { field: 'phecode' });
  }
  const events = (
    await conn.runAndReadAll(EXPLAIN_SQL.events(inputs.conditions, t.map), params)
  ).getRowObjectsJS() as unknown as CodeEvent[];
  const exclusionEvents = o.exclusions
    ? ((
        await conn.runAndReadAll(EXPLAIN_SQL.exclusionEvents(inputs.conditions, t.map, t.exclude), params)
      ).getRowObjectsJS() as unknown as CodeEvent[])
    : [];
  const sex = (person.sex as string | null) ?? null;
  const sexRestriction = info.male_only ? 'male_only' : info.female_only ? 'female_only' : null;
  const nDates = new Set(events.map((e) => e.date)).size;
  const sexBad =
    (sexRestriction === 'male_only' && sex !== 'M') || (sexRestriction === 'female_only' && sex !== 'F');
  let reason = 0;
  if (nDates > 0 && nDates < o.minCodeCount) reason |= REASON.belowMinCount;
  if (exclusionEvents.length > 0 && nDates < o.minCodeCount) reason |= REASON.exclusionRange;
  if (sexBad) reason |= REASON.sexMismatch;
  const status = nDates >= o.minCodeCount && !sexBad ? 'case' : reason !== 0 ? 'excluded' : 'control';

  const label = `${phecode}${info.description ? ` (${info.description})` : ''}`;
  const text: string[] = [`person ${personId} is ${status.toUpperCase()} for phecode ${o.version} ${label}`];
  text.push(
    `  codes mapping to ${phecode} (after rollup) on ${nDates} distinct date(s); a case needs >= ${o.minCodeCount}`,
  );
  for (const e of events) text.push(`    ${e.date}  ${e.vocabulary.padEnd(7)} ${e.code}`);
  if (reason & REASON.belowMinCount)
    text.push(`  excluded: ${nDates} date(s) is more than 0 but fewer than ${o.minCodeCount}`);
  if (o.exclusions) {
    if (exclusionEvents.length > 0) {
      const codes = [...new Set(exclusionEvents.map((e) => e.phecode))].join(', ');
      text.push(
        status === 'case'
          ? `  has phecode(s) in the exclusion set (${codes}), which does not matter for a case`
          : `  excluded: has phecode(s) in ${phecode}'s exclusion set: ${codes}`,
      );
      for (const e of exclusionEvents)
        text.push(`    ${e.date}  ${e.vocabulary.padEnd(7)} ${e.code} → ${e.phecode}`);
    } else text.push(`  no phecode in ${phecode}'s exclusion set`);
  } else
    text.push(`  exclusion ranges: not applied (${o.version === 'X' ? 'phecodeX has none' : 'turned off'})`);
  if (sexRestriction) {
    text.push(
      sexBad
        ? `  excluded: ${phecode} is ${sexRestriction.replace('_', ' ')} and the person's sex is ${sex ?? 'unknown'}`
        : `  ${phecode} is ${sexRestriction.replace('_', ' ')}; the person's sex (${sex}) matches`,
    );
  }
  if (status === 'control') text.push('  control: no code for this phecode and no exclusion applies');
  return {
    personId,
    phecode,
    description: (info.description as string | null) ?? null,
    version: o.version,
    minCodeCount: o.minCodeCount,
    exclusions: o.exclusions,
    sex,
    sexRestriction,
    events,
    nDates,
    exclusionEvents,
    status,
    reason,
    text,
  };
}
