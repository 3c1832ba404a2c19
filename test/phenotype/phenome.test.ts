import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeDb, sqlString, withCompute, withEngineDb } from '../../engine/duckdb.js';
import { buildPhenome, recordPhenomeCounts } from '../../phenotype/build.js';
import { explainPhenotype } from '../../phenotype/explain.js';
import { loadPhecodeMaps } from '../../phenotype/maps.js';
import { computePhenome, phecodeStatusSql, phenomeSources, REASON } from '../../phenotype/phenome.js';
import { releaseTables } from '../../phenotype/release.js';
import type { EngineConfig } from '../../temporal.config.js';
import { CONDITIONS, EXPECTED_12, PERSONS } from './ehr-fixture.js';
import { MAPS_12, MAPS_X, testConfig, writeRelease } from './fixture.js';

let config: EngineConfig;
let releaseDir: string;
/** One connection for the file, with both map versions loaded once. */
let shared: DuckDBConnection;

type Row = { person_id: string; n_dates: number; status: string; reason?: number };

/** Status (from the phenome bitsets) and code-date count of every fixture person for the given phecodes. */
async function statuses(
  version: '1.2' | 'X',
  phecodes: string[],
  opts: { minCodeCount?: number; exclusions?: boolean } = {},
): Promise<Map<string, Row>> {
  return (async (conn: DuckDBConnection) => {
    const rel = releaseTables(releaseDir);
    await computePhenome(conn, { conditions: rel.conditions, persons: rel.persons }, { version, ...opts });
    const out = new Map<string, Row>();
    for (const p of phecodes) {
      const r = await conn.runAndReadAll(
        `SELECT s.person_id, s.status, coalesce(c.n_dates, 0)::INTEGER AS n_dates
         FROM (${phecodeStatusSql('_ph_bits', '_ph_cohort')}) s
         LEFT JOIN _ph_counts c ON c.person_idx = s.person_idx AND c.phecode = $1`,
        [p],
      );
      for (const row of r.getRowObjectsJS() as Row[]) out.set(`${row.person_id}|${p}`, row);
    }
    return out;
  })(shared);
}

/** The reason bits `explain` gives for one decision. */
async function reasonOf(person: string, phecode: string, version: '1.2' | 'X' = '1.2', minCodeCount = 2) {
  return withCompute(config, async (conn) => {
    await loadPhecodeMaps(conn, version === '1.2' ? MAPS_12 : MAPS_X, version);
    return (
      await explainPhenotype(conn, releaseTables(releaseDir), person, phecode, { version, minCodeCount })
    ).reason;
  });
}

beforeAll(async () => {
  config = await testConfig();
  releaseDir = join(config.dataDir, 'releases', 'fixture-1', 'aaaaaaaaaaaa');
  await mkdir(releaseDir, { recursive: true });
  await withCompute(config, (conn) =>
    writeRelease(conn, releaseDir, { persons: PERSONS, conditions: CONDITIONS }),
  );
  shared = await (await computeDb(config)).connect();
  await loadPhecodeMaps(shared, MAPS_12, '1.2');
  await loadPhecodeMaps(shared, MAPS_X, 'X');
});

afterAll(async () => {
  shared?.closeSync();
  await rm(config.dataDir, { recursive: true, force: true });
});

describe('phecode 1.2 case/control/exclusion rules (hand-built fixture)', () => {
  it('matches the hand-written expected statuses', async () => {
    const s = await statuses('1.2', Object.keys(EXPECTED_12));
    for (const [phecode, byPerson] of Object.entries(EXPECTED_12)) {
      for (const [person, status] of Object.entries(byPerson)) {
        expect(s.get(`${person}|${phecode}`)?.status, `${person} × ${phecode}`).toBe(status);
      }
    }
  });

  it('count = distinct dates: same-day ICD-9 and ICD-10 codes count once', async () => {
    const s = await statuses('1.2', ['250.2']);
    expect(s.get('p02|250.2')).toMatchObject({ n_dates: 1, status: 'excluded' });
    expect((await reasonOf('p02', '250.2')) & REASON.belowMinCount).toBeTruthy();
    expect(s.get('p12|250.2')).toMatchObject({ n_dates: 2, status: 'case' });
  });

  it('case: count >= minCodeCount (default 2; configurable)', async () => {
    const two = await statuses('1.2', ['250.2']);
    expect(two.get('p01|250.2')).toMatchObject({ n_dates: 2, status: 'case' });
    const three = await statuses('1.2', ['250.2'], { minCodeCount: 3 });
    // p01 also has 250 (rollup), which is in 250.2's exclusion set: both reasons apply once not a case.
    expect(three.get('p01|250.2')?.status).toBe('excluded');
    expect(await reasonOf('p01', '250.2', '1.2', 3)).toBe(REASON.belowMinCount | REASON.exclusionRange);
    expect(three.get('p11|250.2')).toMatchObject({ n_dates: 3, status: 'case' });
  });

  it('excluded: 0 < count < minCodeCount', async () => {
    const s = await statuses('1.2', ['250.1']);
    expect(s.get('p14|250.1')).toMatchObject({ n_dates: 1, status: 'excluded' });
    expect((await reasonOf('p14', '250.1')) & REASON.belowMinCount).toBeTruthy();
  });

  it('excluded: a phecode in the exclusion set, unless a case; exclusions can be turned off', async () => {
    const on = await statuses('1.2', ['250.2']);
    expect(on.get('p03|250.2')).toMatchObject({ n_dates: 0, status: 'excluded' });
    expect(await reasonOf('p03', '250.2')).toBe(REASON.exclusionRange);
    expect(on.get('p11|250.2')).toMatchObject({ status: 'case' });
    const off = await statuses('1.2', ['250.2'], { exclusions: false });
    expect(off.get('p03|250.2')?.status).toBe('control');
  });

  it('excluded: sex does not match a sex-restricted phecode (unknown sex included), even with codes', async () => {
    const s = await statuses('1.2', ['185']);
    expect(s.get('p06|185')).toMatchObject({ status: 'case' });
    expect(s.get('p04|185')).toMatchObject({ n_dates: 2, status: 'excluded' });
    expect(s.get('p05|185')).toMatchObject({ status: 'excluded' });
    expect(s.get('p07|185')).toMatchObject({ n_dates: 0, status: 'excluded' });
    expect(await reasonOf('p04', '185')).toBe(REASON.sexMismatch);
    expect(await reasonOf('p07', '185')).toBe(REASON.sexMismatch);
  });

  it('control: everyone else in the cohort, including persons with no codes; undated records do not count', async () => {
    const s = await statuses('1.2', ['250.2']);
    expect(s.get('p07|250.2')).toMatchObject({ n_dates: 0, status: 'control' });
    expect([...s.keys()].some((k) => k.startsWith('zz99'))).toBe(false);
    expect(s.size).toBe(PERSONS.length);
  });

  it('WHO ICD-10 uses the 1.2 WHO map; the same code labelled ICD-10-CM does not map', async () => {
    const s = await statuses('1.2', ['250.2']);
    expect(s.get('p08|250.2')?.status).toBe('case');
    expect(s.get('p09|250.2')?.status).toBe('control');
  });

  it("phecodes stay strings: '008' is not '8'", async () => {
    const s = await statuses('1.2', ['008', '8']);
    expect(s.get('p10|008')?.status).toBe('case');
    expect(s.get('p10|8')?.status).toBe('control');
  });
});

describe('phecodeX rules', () => {
  it('applies no exclusion ranges; sex restriction and minCodeCount still apply', async () => {
    const s = await statuses('X', ['EM_202.2', 'EM_202.1', 'CA_107.2', 'EM_202']);
    expect(s.get('p01|EM_202.2')?.status).toBe('case');
    expect(s.get('p03|EM_202.2')?.status).toBe('control'); // T1D only: no exclusion range in X
    expect(s.get('p14|EM_202.2')?.status).toBe('control');
    expect(s.get('p14|EM_202.1')).toMatchObject({ status: 'excluded' });
    expect(await reasonOf('p14', 'EM_202.1', 'X')).toBe(REASON.belowMinCount);
    expect(s.get('p02|EM_202.2')).toMatchObject({ n_dates: 1, status: 'excluded' });
    expect(s.get('p06|CA_107.2')?.status).toBe('case');
    expect(s.get('p04|CA_107.2')).toMatchObject({ status: 'excluded' });
    expect(s.get('p08|EM_202')?.status).toBe('case'); // WHO E14.9 → EM_202.4 → EM_202
  });
});

describe('materialised phenome, counts and explain', () => {
  it('builds Parquet + counts, reports unmapped codes, reuses on rebuild, records counts in the engine DB', async () => {
    const res = await withCompute(config, (conn) =>
      buildPhenome(conn, { releaseId: 'fixture-1', releaseDir, version: '1.2', mapsDir: MAPS_12 }),
    );
    expect(res.reused).toBe(false);
    expect(res.nPersons).toBe(PERSONS.length);
    expect(res.maps.files.map((f) => f.name)).toContain('phecode_map.csv');
    expect(res.maps.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256))).toBe(true);
    expect(res.unmapped.top).toContainEqual({ vocabulary: 'ICD10CM', code: 'E14.9', records: 2, persons: 1 });
    expect(res.unmapped.distinctCodes).toBe(1);
    const again = await withCompute(config, (conn) =>
      buildPhenome(conn, { releaseId: 'fixture-1', releaseDir, version: '1.2', mapsDir: MAPS_12 }),
    );
    expect(again.reused).toBe(true);
    expect(again.dir).toBe(res.dir);

    const counts = await withCompute(config, async (conn) => {
      const r = await conn.runAndReadAll(
        `SELECT phecode, n_cases::INTEGER AS c, n_controls::INTEGER AS k, n_excluded::INTEGER AS x
         FROM read_parquet(${sqlString(res.counts)}) WHERE phecode IN ('250.2', '185', '008')`,
      );
      return Object.fromEntries(r.getRowObjectsJS().map((o) => [o.phecode, [o.c, o.k, o.x]]));
    });
    const tally = (p: string) =>
      ['case', 'control', 'excluded'].map(
        (st) => PERSONS.filter((q) => (EXPECTED_12[p][q.person_id] ?? 'control') === st).length,
      );
    expect(counts['250.2']).toEqual(tally('250.2'));
    expect(counts['008']).toEqual([1, PERSONS.length - 1, 0]);

    // One phecode's statuses from the stored form, controls explicit.
    const rows = await withCompute(config, async (conn) =>
      (
        await conn.runAndReadAll(phecodeStatusSql(...phenomeSources(res.phenome, res.cohort)), ['250.2'])
      ).getRowObjectsJS(),
    );
    expect(rows).toHaveLength(PERSONS.length);
    for (const r of rows) expect(r.status).toBe(EXPECTED_12['250.2'][r.person_id as string]);

    await withEngineDb(config, (conn) => recordPhenomeCounts(conn, res.counts, 'fixture-1', '1.2'));
    await withEngineDb(config, (conn) => recordPhenomeCounts(conn, res.counts, 'fixture-1', '1.2'));
    const db = await withEngineDb(
      config,
      async (conn) =>
        (
          await conn.runAndReadAll(
            `SELECT count(*)::INTEGER AS n, sum(n_cases)::INTEGER AS c FROM phenome_counts WHERE release_id = 'fixture-1'`,
          )
        ).getRowObjectsJS()[0],
    );
    const nPhecodes = await withCompute(config, async (conn) => {
      const csv = (f: string) => `read_csv(${sqlString(join(MAPS_12, `${f}.gz`))}, all_varchar = true)`;
      const r = await conn.runAndReadAll(
        `SELECT count(*)::INTEGER AS n FROM (SELECT phecode FROM ${csv('pheinfo.csv')}
           UNION SELECT phecode FROM ${csv('phecode_map.csv')}
           UNION SELECT phecode FROM ${csv('phecode_map_icd10.csv')} WHERE phecode IS NOT NULL)`,
      );
      return r.getRowObjectsJS()[0].n;
    });
    expect(db.n).toBe(nPhecodes);
    expect(db.c).toBe(res.nCasePairs);
  });

  it('explain gives the same decision as the phenome for every person × phecode, with reasons', async () => {
    const phecodes = ['250.2', '250.1', '185', 'EM_202.2'];
    const s12 = await statuses('1.2', ['250.2', '250.1', '185']);
    const sx = await statuses('X', ['EM_202.2']);
    await (async (conn: DuckDBConnection) => {
      const rel = releaseTables(releaseDir);
      for (const p of PERSONS) {
        for (const phecode of phecodes) {
          const version = phecode.startsWith('EM') ? 'X' : '1.2';
          const e = await explainPhenotype(conn, rel, p.person_id, phecode, { version });
          const want = (version === 'X' ? sx : s12).get(`${p.person_id}|${phecode}`);
          expect(e.status, `${p.person_id} × ${phecode}`).toBe(want?.status);
          expect(e.nDates).toBe(want?.n_dates);
        }
      }
      const e = await explainPhenotype(conn, rel, 'p03', '250.2', { version: '1.2' });
      expect(e.text.join('\n')).toMatch(/exclusion set: .*250\.1/);
      expect(e.exclusionEvents.map((x) => x.code)).toContain('E10.9');
      const f = await explainPhenotype(conn, rel, 'p04', '185', { version: '1.2' });
      expect(f.text.join('\n')).toMatch(/male only and the person's sex is F/);
      await expect(explainPhenotype(conn, rel, 'nobody', '250.2', { version: '1.2' })).rejects.toThrow(
        /not in the release/,
      );
      await expect(explainPhenotype(conn, rel, 'p01', '999.99', { version: '1.2' })).rejects.toThrow(
        /does not exist/,
      );
    })(shared);
  });
});

describe('reference: PheWAS createPhenotypes semantics re-implemented in R', () => {
  it('gives the same case/control/exclude matrix over all 1.2 phecodes', async () => {
    const dir = join(config.dataDir, 'rref');
    await mkdir(dir, { recursive: true });
    const rel = releaseTables(releaseDir);
    const ours = await withCompute(config, async (conn) => {
      await conn.run(
        `COPY (SELECT person_id, vocabulary, code, strftime(date, '%Y-%m-%d') AS date FROM read_parquet(${sqlString(rel.conditions)}))
         TO ${sqlString(join(dir, 'conditions.csv'))} (HEADER)`,
      );
      await conn.run(
        `COPY (SELECT person_id, sex FROM read_parquet(${sqlString(rel.persons)})) TO ${sqlString(join(dir, 'persons.csv'))} (HEADER)`,
      );
      await loadPhecodeMaps(conn, MAPS_12, '1.2');
      await computePhenome(conn, { conditions: rel.conditions, persons: rel.persons }, { version: '1.2' });
      const r = await conn.runAndReadAll(
        `WITH b AS (SELECT * FROM _ph_bits WHERE phecode IN (SELECT phecode FROM phecode_info_v12))
         SELECT c.person_id, b.phecode, CASE WHEN get_bit(b.cases, c.person_idx) = 1 THEN 'case' ELSE 'excluded' END AS status
         FROM b, _ph_cohort c
         WHERE get_bit(b.cases, c.person_idx) = 1 OR get_bit(b.excluded, c.person_idx) = 1`,
      );
      return r.getRowObjectsJS().map((o) => `${o.person_id},${o.phecode},${o.status}`);
    });
    execFileSync(
      'Rscript',
      [
        join(import.meta.dirname, 'reference', 'create_phenotypes.R'),
        join(dir, 'conditions.csv'),
        join(dir, 'persons.csv'),
        MAPS_12,
        '2',
        join(dir, 'r.csv'),
      ],
      { stdio: 'pipe' },
    );
    const theirs = (await readFile(join(dir, 'r.csv'), 'utf8'))
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.replaceAll('"', ''));
    const sort = (a: string[]) => [...a].sort();
    expect(theirs.length).toBeGreaterThan(100); // sex restrictions alone give many rows
    expect(sort(ours)).toEqual(sort(theirs));
  });
});
