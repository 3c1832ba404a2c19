/**
 * Typing of user columns (ingest/ehr/ehr.ts, NUMERIC_COLUMN_MIN_SHARE): one stray word in a
 * numeric column never turns the column into text. Without --quarantine the ingest fails naming
 * the first bad value (file, line, column) and how many there are; with it those rows are
 * rejected and the column stays DOUBLE. Mostly-text columns stay text; the manifest's `types`
 * overrides the rule.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import { listReleases } from '../../engine/release.js';
import { NUMERIC_COLUMN_MIN_SHARE } from '../../ingest/ehr/ehr.js';
import { ingestInProcess, makeReleaseFolder, PERSONS_TSV, tempDir, testConfig } from './helpers.js';

const N = 150;
const ids = Array.from({ length: N }, (_, i) => `X${String(i).padStart(4, '0')}`);
const PERSONS = [
  PERSONS_TSV,
  ...ids.map((id, i) => `${id}\t${i % 2 ? 'M' : 'F'}\t${1940 + (i % 50)}\tEUR`),
].join('\n');

/** A user table of N persons: bmi numeric but for `bad` (1-based row → value), site mostly codes. */
function covarTable(bad: Record<number, string>): string {
  const lines = ['IID,bmi,site,score'];
  ids.forEach((id, i) => {
    const bmi = bad[i + 1] ?? (20 + (i % 17) * 0.5).toFixed(1);
    // site: digits for most rows, letters for a third of them (a code, not a number)
    const site = i % 3 === 0 ? `S${i % 7}` : String(10 + (i % 5));
    lines.push(`${id},${bmi},${site},${i % 11}`);
  });
  return lines.join('\n');
}

function release(table: string, types?: Record<string, string>) {
  const made = makeReleaseFolder({
    personsText: PERSONS,
    manifestPatch: {
      tables: [
        { name: 'covar', path: 'covar.csv', format: 'csv', idColumn: 'IID', ...(types ? { types } : {}) },
      ],
    },
  });
  writeFileSync(join(made.dir, 'covar.csv'), table);
  return made;
}

describe('numeric user columns', () => {
  it('the rule is stated as a named constant', () => {
    expect(NUMERIC_COLUMN_MIN_SHARE).toBe(0.99);
  });

  it('one non-number in a numeric column fails the ingest naming file, line, column and count', async () => {
    const data = tempDir('data');
    const config = testConfig(data);
    // Row 57 of the data is line 58 of the file (the header is line 1).
    const { manifestPath } = release(covarTable({ 57: 'abc' }));
    const err = (await ingestInProcess(config, { manifestPath }).catch((e) => e)) as InputError;
    expect(err).toBeInstanceOf(InputError);
    expect(err.location).toEqual({ file: 'covar.csv', line: 58, field: 'bmi' });
    expect(err.message).toMatch(/"abc" is not a number in column bmi/);
    expect(err.message).toMatch(/149 of 150 present values .* are numbers/);
    expect(err.message).toMatch(/1 of 150 present values .* are not numbers/);
    expect(err.hint).toMatch(/--quarantine/);
    expect(await listReleases(config)).toEqual([]);
    const releases = join(data, 'releases');
    expect(existsSync(releases) ? readdirSync(releases) : []).toEqual([]);
  });

  it('with --quarantine the bad rows are rejected with their line and the column stays DOUBLE', async () => {
    const data = tempDir('data');
    const config = testConfig(data);
    const { manifestPath } = release(covarTable({ 57: 'abc' }));
    const res = await ingestInProcess(config, { manifestPath, quarantine: true });
    expect(res.nRejects).toBe(1);
    // The ingest says what it did with the column, and that site (2/3 digits) stayed text.
    expect(res.notes).toEqual([
      'tables/covar column bmi is numeric; 1 of 150 present values (0.67 %) are not numbers and their rows were rejected (first "abc", covar.csv line 58)',
      'tables/covar column site is text: only 100 of 150 present values (66.67 %) are numbers (numeric needs 99 %); first non-number "S0", covar.csv line 2',
    ]);
    await withCompute(config, async (conn) => {
      const q = async (sql: string) => (await conn.runAndReadAll(sql)).getRowsJson();
      const t = `'${res.dataPath}/tables/covar.parquet'`;
      const types = await q(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM ${t})`);
      expect(types).toEqual([
        ['person_id', 'VARCHAR'],
        ['bmi', 'DOUBLE'],
        ['site', 'VARCHAR'],
        ['score', 'DOUBLE'],
      ]);
      expect(await q(`SELECT count(*) FROM ${t}`)).toEqual([[String(N - 1)]]);
      expect(await q(`SELECT count(*) FROM ${t} WHERE person_id = '${ids[56]}'`)).toEqual([['0']]);
      const rejects = await q(
        `SELECT table_name, file, line, field, reason FROM '${res.dataPath}/rejects.parquet'`,
      );
      expect(rejects).toEqual([
        ['tables/covar', 'covar.csv', '58', 'bmi', '"abc" is not a number in numeric column bmi'],
      ]);
    });
  });

  it('below the share a column is text; the manifest types override the rule both ways', async () => {
    // 2 bad values of 150 (98.7 % numbers): below the rule, bmi is text, nothing rejected.
    const data = tempDir('data');
    const config = testConfig(data);
    const below = await ingestInProcess(config, {
      manifestPath: release(covarTable({ 3: 'x', 9: 'y' })).manifestPath,
    });
    expect(below.nRejects).toBe(0);
    expect(below.notes?.[0]).toBe(
      'tables/covar column bmi is text: only 148 of 150 present values (98.67 %) are numbers (numeric needs 99 %); first non-number "x", covar.csv line 4',
    );
    // Declared a number: the same table fails at the first bad value (line 4).
    const declared = (await ingestInProcess(testConfig(tempDir('data')), {
      manifestPath: release(covarTable({ 3: 'x', 9: 'y' }), { bmi: 'number' }).manifestPath,
    }).catch((e) => e)) as InputError;
    expect(declared).toBeInstanceOf(InputError);
    expect(declared.location).toEqual({ file: 'covar.csv', line: 4, field: 'bmi' });
    expect(declared.message).toMatch(/manifest declares it a number/);
    // Declared text: score (all digits) stays VARCHAR.
    const data3 = tempDir('data');
    const config3 = testConfig(data3);
    const text = await ingestInProcess(config3, {
      manifestPath: release(covarTable({}), { score: 'text' }).manifestPath,
    });
    await withCompute(config, async (conn) => {
      const q = async (sql: string) => (await conn.runAndReadAll(sql)).getRowsJson();
      expect(
        await q(
          `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '${below.dataPath}/tables/covar.parquet')`,
        ),
      ).toEqual([
        ['person_id', 'VARCHAR'],
        ['bmi', 'VARCHAR'],
        ['site', 'VARCHAR'],
        ['score', 'DOUBLE'],
      ]);
      expect(
        await q(
          `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '${text.dataPath}/tables/covar.parquet')`,
        ),
      ).toEqual([
        ['person_id', 'VARCHAR'],
        ['bmi', 'DOUBLE'],
        ['site', 'VARCHAR'],
        ['score', 'VARCHAR'],
      ]);
    });
  });

  it('a type for a column the table does not have is named', async () => {
    const err = (await ingestInProcess(testConfig(tempDir('data')), {
      manifestPath: release(covarTable({}), { weight: 'number' }).manifestPath,
    }).catch((e) => e)) as InputError;
    expect(err).toBeInstanceOf(InputError);
    expect(err.location).toEqual({ file: 'covar.csv', line: 1, field: 'weight' });
    expect(err.message).toMatch(/tables\[covar\]\.types/);
  });
});
